"""2:4 weights on the output-stationary array (pyhdl/sparse_os_array.py, docs/sparsity.md).

A 2:4 array's input word holds `2 * rows` channels of a pixel, `rows / 2` groups of four.  Its
row serializer presents each group for two steps, so step u of a word carries group u // 2;
the weight word entering the columns at step u holds each of the `cols` filters' kept weight
u mod 2 of that group and its index (which of the group's four inputs it multiplies).  A
weight-buffer word is one step: `cols` values, then their indices, INDEX_BITS each, column
j's at bit INDEX_BITS * j (`spec.weight_lanes` operands).

- A 2:4 layer (models.sparsity.runs_sparse) visits each input word once, in `rows` steps
  when the word is full: a reduction of C channels takes C / 2 steps a tap.
- A dense layer runs in dense lanes, as on the weight-stationary 2:4 array
  (models/sparsity.py): the loop hands the array a word's half of `rows` channels two per
  group, so step u of half h multiplies channel h * rows + u, at index u mod 2.  A word is
  visited once per half (`word_blocks` 2), or once for a layer of at most `rows` channels,
  so a dense layer takes C steps a tap, as many as on a dense output-stationary array of
  `rows` rows, and as many loads.

The last word of a reduction takes only the steps of its channels (models.sparsity.active_rows:
a dense word's first `rows` channels in half 0, the rest in half 1).  W's steps follow the order
the output-stationary loop reads them: filter block, weight chunk, tap (r, s), word, half,
step.  In DRAM a chunk's steps (of one filter block) are one row, back to back, so a chunk
rounds up to a whole beat once, not every step (`chunk_loads`): the sequencer's load of a
chunk reads that one row and its gearbox cuts it into weight-buffer words.
"""

from typing import NamedTuple

import numpy as np

from .hardware import COUNT_LIMIT
from .layout import row_beats
from .sparsity import GROUP, KEPT, active_rows, kept_weights
from .spec import INDEX_BITS


def weight_steps(spec, channels, sparse):
    """Weight-buffer words (steps) a tap of `channels` channels, from a word's first, takes on
    output-stationary `spec`: half of them for a 2:4 layer on a 2:4 array, else all."""
    return channels // KEPT if spec.skips_weights and sparse else channels


class ChunkLoad(NamedTuple):
    """The DRAM rows one chunk of a filter block's weights takes, which its load reads."""

    rows: int
    row_elems: int
    row_beats: int
    packed: bool
    """Whether the chunk's steps are one row (else one row each)."""

    @property
    def beats(self):
        """The chunk's DRAM beats (its rows are back to back)."""
        return self.rows * self.row_beats


def chunk_loads(spec, taps, channels, chunk_words, sparse):
    """(a full chunk's ChunkLoad, a filter block's last chunk's) for a layer of `channels`
    channels, `taps` taps and chunks of `chunk_words` input words on output-stationary
    `spec`.  On a 2:4 array a chunk is one DRAM row of its steps back to back, unless a full
    chunk's operands pass COUNT_LIMIT (a DMA row's count): then, as on a dense array, every
    step is a row of its own (`weight_lanes` operands, rounded to whole beats)."""
    lanes, bits, bus = spec.input_lanes, spec.operand_bits, spec.dram_bus_bytes
    chunk_channels = min(channels, chunk_words * lanes)
    last_channels = channels - (-(-channels // chunk_channels) - 1) * chunk_channels
    packed = (spec.skips_weights
              and taps * weight_steps(spec, chunk_channels, sparse) * spec.weight_lanes
              <= COUNT_LIMIT)

    def load(chunk):
        steps = taps * weight_steps(spec, chunk, sparse)
        if packed:
            elems = steps * spec.weight_lanes
            return ChunkLoad(1, elems, row_beats(elems, bits, bus), True)
        return ChunkLoad(steps, spec.weight_lanes, row_beats(spec.weight_lanes, bits, bus), False)
    return load(chunk_channels), load(last_channels)


def block_beats(spec, taps, channels, chunk_words, sparse):
    """DRAM beats of one filter block's weights: its chunks' rows, one after the other."""
    full, last = chunk_loads(spec, taps, channels, chunk_words, sparse)
    words = -(-channels // spec.input_lanes)
    return (-(-words // chunk_words) - 1) * full.beats + last.beats


def _word_steps(spec, channels, sparse):
    """(channel, index or None, kept) of each step of one input word holding `channels`
    channels, over its halves: a 2:4 layer's step u takes the kept weight `kept` (u mod 2)
    of the group from `channel` (index None: chosen per filter), a dense layer's step u of
    half h `channel` h * rows + u, which reaches the array at `index` u mod 2."""
    steps = []
    for half, active in enumerate(active_rows(spec, channels, sparse)):
        for u in range(active):
            steps.append((GROUP * (u // KEPT), None, u % KEPT) if sparse
                         else (half * spec.rows + u, u % KEPT, None))
    return steps


def _step_row(spec, filters, index, kept):
    """One step's DRAM row: each of the `cols` filters' kept weight `kept` of its group
    (`filters`: cols x GROUP, `index` None), or its weight at the step's channel (`filters`:
    cols x 1) with the array's `index`; then the packed indices."""
    cols, bits = spec.cols, spec.operand_bits
    row = np.zeros(spec.weight_lanes, dtype=np.int64)
    indices = np.zeros(cols, dtype=np.int64)
    for j in range(cols):
        if index is None:
            positions, values = kept_weights(filters[j])
            row[j], indices[j] = values[kept], positions[kept]
        else:
            row[j], indices[j] = filters[j, 0], index
    lanes = cols + INDEX_BITS * np.arange(cols) // bits
    np.add.at(row, lanes, indices << (INDEX_BITS * np.arange(cols) % bits))
    return row


def weight_rows(spec, descriptor, weights):
    """W (K x C x R x S) as an output-stationary 2:4 array reads it (see the module's
    docstring), for a mapping with `descriptor`'s filter blocks, chunks and `dense_lanes`
    (0: a 2:4 layer): a matrix of one DRAM beat a line when each chunk is one row (its last
    beat zero-padded), else of one step (row) a line."""
    k, c, r, s = weights.shape
    cols, lanes = spec.cols, spec.input_lanes
    sparse = not descriptor["dense_lanes"]
    words = -(-c // lanes)
    padded = np.zeros((descriptor["k_blocks"] * cols, words * lanes, r, s),
                      dtype=np.int64)
    padded[:k, :c] = weights
    chunk_words = descriptor["c_chunk_blocks"]
    beat_elems = 8 * spec.dram_bus_bytes // spec.operand_bits
    packed = chunk_loads(spec, r * s, c, chunk_words, sparse)[0].packed
    lines = []
    for kb in range(descriptor["k_blocks"]):
        block = padded[kb * cols:(kb + 1) * cols]
        for first_word in range(0, words, chunk_words):
            steps = []
            for rr in range(r):
                for ss in range(s):
                    for word in range(first_word, min(words, first_word + chunk_words)):
                        base = word * lanes
                        for channel, index, kept in _word_steps(spec, min(lanes, c - base),
                                                                sparse):
                            width = GROUP if index is None else 1
                            filters = block[:, base + channel:base + channel + width, rr, ss]
                            steps.append(_step_row(spec, filters, index, kept))
            if packed:
                row = np.concatenate(steps)
                row = np.concatenate([row, np.zeros(-len(row) % beat_elems, dtype=np.int64)])
                lines.extend(row.reshape(-1, beat_elems))
            else:
                lines.extend(steps)
    return np.array(lines)
