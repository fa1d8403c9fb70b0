"""Few-channel convolutions with their kernel taps folded into the array rows
(weight-stationary; pyhdl/tap_fold_loop.py runs them).

A layer of C input channels and S kernel columns reads, for output pixel (p, q) and kernel row
r, the run of S x C consecutive elements of input row p stride + r - pad that starts at
element (q stride - pad) C: X packed, one DRAM row of W x C elements per input row
(models/layout.py `packed_rows`), so the run is contiguous.  The inner loop builds each input
vector on the way from the input buffer into the array (no copy of X anywhere); elements
outside the row (the padding) become `pad_value`.  A reduction block takes either

- one kernel row (`fold_rows` 1): a segment of `rows` elements of its run (array row i of
  segment b takes element b rows + i of the run, channel j mod C of kernel column j div C,
  j = b rows + i), so ceil(S C / rows) segments of R kernel rows cover the reduction instead
  of R x S taps of one channel block each; the loop streams the two buffer words a segment
  spans, reading one a cycle; or
- `fold_rows` = R' > 1 kernel rows (when S C <= L' and R' input rows fit the loop's
  line buffer, `ArchSpec.fold_line_rows` rows of FOLD_LINE_WORDS words): input lanes j L' to
  j L' + S C - 1 take kernel row j's run, so ceil(R / R') blocks cover the reduction.  L' is
  `rows // R'` (on a 2:4 array a dense layer's lanes are the word's first `rows`, fed in
  dense lanes), or for a 2:4 layer on a 2:4 array `2 rows // R'` rounded down to whole
  groups of four, so each PE pair holds its group's kept weights of one kernel row
  (`ArchSpec.fold_lane_groups`).  At the start of every output row the loop reads the `fold_words` words each
  of the block's input rows spans into the line buffer, one a cycle, then streams the
  row's pixels from it without reading the input buffer.

The mapper lays W out as one DRAM row per (k, block of kernel rows) (`weight_rows`): kernel
row j of the block at elements j L' on, zeros between, read into ceil(elements / rows)
weight words.

Cycles: every output row of a tile costs `fold_words` more cycles per kernel row of the
block than the dense walk (the words read ahead; one for a streamed row), and the input
buffer is read that many times more per output row (`input_reads`).
"""

from dataclasses import dataclass

import numpy as np

from .layout import row_beats
from .sparsity import active_rows, descriptor_is_sparse
from .spec import FOLD_LINE_WORDS


def segments(spec, shape):
    """Reduction blocks per kernel row streamed alone: segments of an input word's elements
    (`rows`, or `2 * rows` on a 2:4 array) of the S x C run."""
    return -(-shape.s * shape.c // spec.input_lanes)


def foldable(spec, shape, sparse=False):
    """Whether the layer may run folded on `spec`: a weight-stationary array, fewer channels
    than half an input word, a window step of at most one word (stride x C <= its
    elements), and fewer segments than kernel columns.  On a 2:4 array a 2:4 layer's segment
    is a whole word (its groups of four are along the run: C is a multiple of 4), a dense
    layer's the word's first `rows` elements, fed in dense lanes (models/sparsity.py), so
    its S x C run must fit them."""
    word = spec.input_lanes
    if spec.skips_weights and not sparse and shape.s * shape.c > spec.rows:
        return False
    return (spec.dataflow == "ws" and 2 * shape.c <= word and shape.stride * shape.c <= word
            and segments(spec, shape) < shape.s)


def row_words(spec, shape):
    """Input-buffer words one output row's windows span in each input row: from the first
    window's first element to the last window's last."""
    first = -shape.pad * shape.c
    last = first + (shape.q - 1) * shape.stride * shape.c + shape.s * shape.c - 1
    word = spec.input_lanes
    return last // word - first // word + 1


def lane_width(spec, fold_rows, sparse):
    """Input lanes from one kernel row's run to the next in a block of `fold_rows` > 1 kernel
    rows of a 2:4 (`sparse`) or dense layer, or 0 if the line buffer has no such choice."""
    return dict(((rows, kind), width) for rows, kind, width in spec.fold_lane_groups).get(
        (fold_rows, sparse), 0)


def row_options(spec, shape, sparse=False):
    """The kernel rows a folded block of the layer may take: 1, and every R' > 1 whose runs
    fit R' lane groups (`lane_width`) and whose input rows fit the line buffer."""
    if not foldable(spec, shape, sparse):
        return []
    run = shape.s * shape.c
    return [1] + [rows for rows in range(2, min(shape.r, spec.fold_line_rows) + 1)
                  if lane_width(spec, rows, sparse) >= run
                  and row_words(spec, shape) <= FOLD_LINE_WORDS]


@dataclass(frozen=True)
class Fold:
    """A folded layer's blocks: `rows` kernel rows each (the last `rows_last`), `blocks` of
    them, their runs `lanes` input lanes apart, `segments` reduction blocks each, `words` input words
    read per kernel row and output row, `row_elems` elements per weight row."""

    rows: int
    rows_last: int
    blocks: int
    lanes: int
    segments: int
    words: int
    row_elems: int


def plan(spec, shape, fold_rows, sparse=False):
    """The blocks of `shape` (2:4 weights running sparse: `sparse`) folded `fold_rows`
    kernel rows a block."""
    run = shape.s * shape.c
    blocks = -(-shape.r // fold_rows)
    if fold_rows == 1:
        return Fold(1, 1, shape.r, spec.rows, segments(spec, shape), 1, run)
    lanes = lane_width(spec, fold_rows, sparse)
    return Fold(fold_rows, shape.r - (blocks - 1) * fold_rows, blocks, lanes, 1,
                row_words(spec, shape), (fold_rows - 1) * lanes + run)


def plan_for(spec, shape, descriptor):
    """The blocks of a folded layer's descriptor."""
    return plan(spec, shape, descriptor["fold_rows"], descriptor_is_sparse(spec, descriptor))


def plan_of(spec, mapping):
    """A folded mapping's blocks."""
    return plan_for(spec, mapping.shape, mapping.descriptor)


def line_words(spec, shape):
    """Input-buffer words of one packed input row."""
    return -(-shape.w * shape.c // spec.input_lanes)


def x_row_beats(spec, shape):
    """DRAM beats of one packed input row."""
    return row_beats(shape.w * shape.c, spec.operand_bits, spec.dram_bus_bytes)


def w_row_beats(spec, fold):
    """DRAM beats of one weight row (one (k, block of kernel rows))."""
    return row_beats(fold.row_elems, spec.operand_bits, spec.dram_bus_bytes)


def weight_rows(weights, spec, fold):
    """W (K x C x R x S) as its DRAM rows: one per (k, block of kernel rows), kernel row j of
    the block at element j lanes + s C + c, zeros between and after."""
    k, c, r, s = weights.shape
    runs = np.zeros((k, fold.blocks * fold.rows, s * c), dtype=np.asarray(weights).dtype)
    runs[:, :r] = np.asarray(weights).transpose(0, 2, 3, 1).reshape(k, r, s * c)
    if fold.rows == 1:
        return runs.reshape(k * r, s * c)
    rows = np.zeros((k, fold.blocks, fold.rows, fold.lanes), dtype=runs.dtype)
    rows[..., :s * c] = runs.reshape(k, fold.blocks, fold.rows, s * c)
    return rows.reshape(k * fold.blocks, fold.rows * fold.lanes)[:, :fold.row_elems]


def descriptor_fields(spec, shape, d, tile_images, fold_rows=1):
    """The descriptor fields that differ from the dense mapping `d` of the same tiling (tiles
    of `d["tile_p"]` output rows, or of `tile_images` whole images), folded `fold_rows`
    kernel rows a block, besides the weight loads and DRAM addresses, which the mapper
    recomputes."""
    rows, cols = spec.rows, spec.cols
    sparse = descriptor_is_sparse(spec, d)
    fold = plan(spec, shape, fold_rows, sparse)
    run = shape.s * shape.c
    nseg = fold.segments
    c_last = run - (nseg - 1) * spec.input_lanes if fold.rows == 1 else fold.rows * run
    words = line_words(spec, shape)
    x_row = x_row_beats(spec, shape)
    p, stride, pad = shape.p, shape.stride, shape.pad
    tile_p = d["tile_p"] if tile_images == 1 else p
    last_tile_p = d["last_tile_p"] if tile_images == 1 else p
    first_pos = -pad * shape.c
    last_lanes = c_last if fold.rows == 1 else fold.rows_last * run

    def macs(elements, filters):
        """Active PEs of a vector of `elements` real elements (2:4: half of them)."""
        return active_rows(spec, elements, sparse)[0] * filters

    def span(tile_rows):
        return (tile_rows - 1) * stride + shape.r

    fields = {
        # The sequencer sees each packed input row as one pixel of w x c elements.
        "c": shape.w * shape.c, "s": 1, "taps": fold.blocks,
        "c_blocks": nseg, "c_last": c_last, "c_chunk_blocks": nseg, "c_chunks": 1,
        "chunk_red": fold.blocks * nseg, "last_chunk_red": fold.blocks * nseg,
        "chunk_elems": fold.row_elems, "last_chunk_elems": fold.row_elems,
        "macs_c_last": macs(c_last, cols), "macs_ck_last": macs(c_last, d["k_last"]),
        "line_words": fold.rows * words, "row_step": stride * words, "col_step": 0,
        "pad_words": 0,
        "pad_line_words": pad * words, "tile_words": tile_p * stride * words,
        "image_step_words": (shape.h - (p - 1) * stride) * words,
        "band_span_px": span(tile_p), "last_band_span_px": span(last_tile_p),
        "image_px": shape.h, "pad_px": pad, "tile_px_step": tile_p * stride,
        "x_row_beats": x_row, "x_pitch": x_row, "x_line_beats": x_row,
        "x_image_beats": shape.h * x_row, "pad_line_beats": pad * x_row,
        "tile_x_beats": tile_p * stride * x_row,
        "fold": 1, "fold_first_word": first_pos // spec.input_lanes,
        "fold_first_shift": first_pos % spec.input_lanes,
        "fold_first_pos": first_pos, "fold_step": stride * shape.c,
        "fold_rows": fold.rows, "fold_rows_last": fold.rows_last, "fold_words": fold.words,
        "fold_line_words": words, "fold_macs_g_last": macs(last_lanes, cols),
        "fold_macs_gk_last": macs(last_lanes, d["k_last"]),
    }
    if tile_images > 1:
        band = tile_images * shape.h
        fields.update(band_span_px=band + pad, last_band_span_px=band + pad, image_px=band,
                      x_image_beats=band * x_row)
    return fields


def weight_words(spec, fold):
    """Weight-buffer words of one filter block's weights."""
    return spec.cols * fold.blocks * fold.segments


def weight_options(spec, shape, k_blocks, fold):
    """The weight buffering a folded layer may use, as the mapper's (channel blocks per
    chunk, half size or 0, resident block words or 0): one chunk per filter block, fetched
    per tile (into halves when a block fits one), or every block resident."""
    words = weight_words(spec, fold)
    if words > spec.weight_words:
        return []
    half = spec.weight_words // 2 if k_blocks > 1 and words <= spec.weight_words // 2 else 0
    resident = [(1, 0, words)] if k_blocks * words <= spec.weight_words else []
    return [(1, half, 0)] + resident


def inside_rows(shape):
    """(output row, kernel row) pairs whose input row lies inside the image, per image."""
    return sum(0 <= i * shape.stride + r - shape.pad < shape.h
               for r in range(shape.r) for i in range(shape.p))


def input_reads(spec, shape, k_blocks, fold):
    """Input-buffer reads: per filter block and output row over a real input row, streamed
    (one kernel row a block), each segment's first word and one word per output column;
    from the line buffer, the row's `words` words."""
    if fold.rows == 1:
        return shape.n * k_blocks * fold.segments * inside_rows(shape) * (shape.q + 1)
    return shape.n * k_blocks * inside_rows(shape) * fold.words


def block_cycles(fold, block, pixels, tile_rows):
    """Cycles reduction block `block` (of a chunk) streams: one per pixel, and per output row
    the words read ahead, `words` per kernel row of the block."""
    last = block // fold.segments == fold.blocks - 1
    return pixels + tile_rows * fold.words * (fold.rows_last if last else fold.rows)


def counters(spec, mapping, walk, fetches):
    """The loop-nest counters (models/perf.py `predict_counters`) that differ from a dense
    layer's for a folded `mapping` of tiles `walk`, weights fetched `fetches` times."""
    shape, d = mapping.shape, mapping.descriptor
    fold = plan_of(spec, mapping)
    bus = spec.dram_bus_bytes
    band_rows = sum(t.band_rows for t in walk)
    bias_beats = d["b_row_beats"] if mapping.post.bias else 0
    weight_rows_read = fetches * shape.k * fold.blocks
    return {
        "glb_input_writes": band_rows * d["fold_line_words"],
        "glb_input_reads": input_reads(spec, shape, d["k_blocks"], fold),
        "glb_weight_writes": weight_rows_read * fold.segments,
        "dram_bytes_read": (band_rows * d["x_row_beats"]
                            + weight_rows_read * d["w_row_beats"] + bias_beats) * bus,
    }
