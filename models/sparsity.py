"""2:4 structured weight sparsity: which layers qualify, how their weights are packed, and
what the weight-stationary array then does (docs/sparsity.md).

On an architecture with `weight_sparsity: 2:4` an input-buffer word holds `2 * rows` channels:
group g (channels 4g..4g+3 of the word) feeds array rows 2g and 2g+1, and each PE selects one
of its group's four inputs by the 2-bit index stored beside its weight.  A weight-buffer word
(one column of a reduction block) is `rows` int8 values, then the rows' indices, INDEX_BITS
each, row r at bit 2r, in `index_lanes` bytes.

- A 2:4 layer (every group of four weights along the reduction with at most two non-zeros,
  and whole groups: c a multiple of 4) has one weight block per input word: each PE pair
  holds the group's two kept weights, so the array covers `2 * rows` channels a pass and
  performs half the layer's MACs; the other half are `macs_skipped`.
- Any other layer runs dense on the same array with its channels two per group (descriptor
  `dense_lanes`): the inner loop feeds half h of an input word (channels h rows .. h rows +
  rows - 1 of it) with channels h rows + 2g and h rows + 2g + 1 in lanes 0 and 1 of group g,
  so array row r takes channel h rows + r (index r mod 2).  A word of more than `rows` channels
  takes two weight blocks (its halves), one of at most `rows` a single block: a dense layer
  takes the passes, vectors and cycles of a dense array with `rows` rows.
"""

import numpy as np

from .spec import INDEX_BITS

GROUP = 4
"""Weights along the reduction per 2:4 group."""
KEPT = 2
"""Weights a 2:4 group keeps (the PE rows serving it)."""


def is_2to4(weights):
    """Whether K x C x R x S `weights` are 2:4 along C: C a multiple of 4 and at most two
    non-zeros in every group of four channels at each (k, r, s)."""
    k, c, r, s = weights.shape
    if c % GROUP:
        return False
    groups = (weights.transpose(0, 2, 3, 1).reshape(k, r, s, c // GROUP, GROUP) != 0)
    return bool((groups.sum(axis=-1) <= KEPT).all())


def magnitude_mask(weights):
    """1 where `weights` (K x C [x R x S], C a multiple of 4) keep one of the two largest
    magnitudes of their group of four consecutive channels at each (k, r, s), else 0: 2:4
    magnitude pruning (the first of equal magnitudes is pruned first)."""
    k, c = weights.shape[:2]
    taps = weights.reshape(k, c, -1).transpose(0, 2, 1)            # k, taps, c
    groups = np.abs(taps).reshape(k, taps.shape[1], c // GROUP, GROUP)
    order = np.argsort(groups, axis=-1, kind="stable")
    mask = np.ones_like(groups)
    np.put_along_axis(mask, order[..., :GROUP - KEPT], 0, axis=-1)
    return mask.reshape(k, taps.shape[1], c).transpose(0, 2, 1).reshape(weights.shape)


def runs_sparse(spec, weights, groups=1):
    """Whether a layer with these weights runs as 2:4 on `spec` (grouped and depthwise layers
    run dense: their block-diagonal runs are not 2:4 along the array's channels)."""
    return spec.skips_weights and groups == 1 and weights is not None and is_2to4(weights)


def dense_lanes(spec, sparse):
    """Whether a layer runs dense on a 2:4 array, its channels two per group."""
    return spec.skips_weights and not sparse


def word_blocks(spec, sparse, channels):
    """Weight blocks per input word of a layer of `channels` input channels: 1 on a dense
    array, for a 2:4 layer, or for a dense layer of at most `rows` channels on a 2:4 array;
    2 for a wider dense layer there (each word's two halves of `rows` channels; on an
    output-stationary array too: models/sparse_os.py)."""
    if not dense_lanes(spec, sparse):
        return 1
    return 2 if channels > spec.rows else 1


def block_elems(spec, blocks):
    """Operands of one reduction block in a weight DRAM row: `rows` channels on a dense
    array; on a 2:4 array the `blocks` weight blocks of an input word, each a weight-buffer
    word."""
    if not spec.skips_weights:
        return spec.rows
    return blocks * spec.weight_lanes


def active_rows(spec, channels, sparse):
    """(first, second half) array rows holding real channels when an input word holds
    `channels` of them; on a dense array (channels, 0)."""
    if not spec.skips_weights:
        return channels, 0
    if sparse:
        return channels // KEPT, 0
    return min(channels, spec.rows), max(0, channels - spec.rows)


def kept_weights(group):
    """(positions, values): the two weights a 2:4 `group` of four keeps, in channel order
    (its non-zeros, completed with its first zeros)."""
    nonzero = [i for i in range(GROUP) if group[i]]
    positions = sorted(nonzero + [i for i in range(GROUP) if not group[i]][:KEPT - len(nonzero)])
    return positions, group[positions]


def pack_weight_rows(spec, weights, sparse):
    """The DRAM rows of K x C x R x S `weights` on a 2:4 array, one per (k, r, s): for each
    input word of channels, `word_blocks` weight-buffer words of `rows` values and their
    packed indices (as unsigned operands): a 2:4 layer's PE pairs hold their group's kept
    weights, a dense layer's row r channel h rows + r of the word's half h (index r mod 2)."""
    k, c, r, s = weights.shape
    lanes, rows = spec.input_lanes, spec.rows
    words = -(-c // lanes)
    flat = np.zeros((k * r * s, words * lanes), dtype=np.int64)
    flat[:, :c] = weights.transpose(0, 2, 3, 1).reshape(-1, c)
    blocks = word_blocks(spec, sparse, c)
    out = np.zeros((k * r * s, words, blocks, spec.weight_lanes), dtype=np.int64)
    index_weights = 1 << (INDEX_BITS * np.arange(rows) % spec.operand_bits)
    for row in range(k * r * s):
        for word in range(words):
            for half in range(blocks):
                indices = np.zeros(rows, dtype=np.int64)
                if sparse:
                    for g in range(rows // KEPT):
                        first = word * lanes + GROUP * g
                        positions, values = kept_weights(flat[row, first:first + GROUP])
                        out[row, word, half, KEPT * g:KEPT * g + KEPT] = values
                        indices[KEPT * g:KEPT * g + KEPT] = positions
                else:
                    first = word * lanes + half * rows
                    out[row, word, half, :rows] = flat[row, first:first + rows]
                    indices[:] = np.arange(rows) % KEPT
                packed = indices * index_weights
                lane = rows + INDEX_BITS * np.arange(rows) // spec.operand_bits
                np.add.at(out[row, word, half], lane, packed)
    return out.reshape(k * r * s, -1)


def pack_folded_weight_rows(spec, rows, sparse):
    """The DRAM rows of a folded layer's weight rows (models/tap_fold.py: one per (k, r), its
    S x C run) on a 2:4 array: a 2:4 layer's run packed as channels (C a multiple of 4, so
    every group of four is one tap's), a weight block per segment of `2 * rows` elements; a
    dense layer's (at most `rows` elements) one block, array row i taking element i."""
    return pack_weight_rows(spec, rows[:, :, None, None], sparse)


def descriptor_is_sparse(spec, descriptor):
    """Whether a layer's descriptor runs it as 2:4 (a 2:4 array, its channels not in dense
    lanes)."""
    return spec.skips_weights and not descriptor["dense_lanes"]


def mapping_is_sparse(spec, mapping):
    """Whether the mapped run is a 2:4 one."""
    return descriptor_is_sparse(spec, mapping.descriptor)


def skipped_macs(spec, mapping):
    """MACs a run does not perform: half of a 2:4 layer's (each group of four keeps two)."""
    return mapping.shape.macs // 2 if mapping_is_sparse(spec, mapping) else 0
