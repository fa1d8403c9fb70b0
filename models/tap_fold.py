"""Few-channel convolutions with their kernel taps folded into the array rows
(weight-stationary; pyhdl/tap_fold_loop.py runs them).

A layer of C input channels and S kernel columns reads, for output pixel (p, q) and kernel row
r, the run of S x C consecutive elements of input row p stride + r - pad that starts at
element (q stride - pad) C: X packed, one DRAM row of W x C elements per input row
(models/layout.py `packed_rows`), so the run is contiguous.  A reduction block is a kernel row
and a segment of `rows` elements of that run: array row i of segment b takes element
b rows + i of the run (channel j mod C of kernel column j div C, j = b rows + i), so
ceil(S C / rows) segments of R kernel rows cover the reduction instead of R x S taps of one
channel block each.  The inner loop builds each input vector on the way from the input buffer
into the array from the two buffer words the segment spans (no copy of X anywhere); elements
outside the row (the padding) become `pad_value`.

The mapper lays W out as one DRAM row of S x C elements per (k, r) (`weight_rows`), read into
ceil(S C / rows) weight words with zeros after the run.

Cycles: every output row of a tile costs one more cycle per reduction block than the dense
walk (the segment's first buffer word is read ahead), and the input buffer is read once more
per output row (`input_reads`).
"""

import numpy as np

from .layout import row_beats


def segments(spec, shape):
    """Reduction blocks per kernel row: segments of an input word's elements (`rows`, or
    `2 * rows` on a 2:4 array) of the S x C run."""
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


def line_words(spec, shape):
    """Input-buffer words of one packed input row."""
    return -(-shape.w * shape.c // spec.input_lanes)


def x_row_beats(spec, shape):
    """DRAM beats of one packed input row."""
    return row_beats(shape.w * shape.c, spec.operand_bits, spec.dram_bus_bytes)


def w_row_beats(spec, shape):
    """DRAM beats of one weight row (one (k, r): the S x C run)."""
    return row_beats(shape.s * shape.c, spec.operand_bits, spec.dram_bus_bytes)


def weight_rows(weights):
    """W (K x C x R x S) as its DRAM rows: one per (k, r), element s C + c."""
    k, c, r, s = weights.shape
    return np.asarray(weights).transpose(0, 2, 3, 1).reshape(k * r, s * c)


def descriptor_fields(spec, shape, d, tile_images):
    """The descriptor fields that differ from the dense mapping `d` of the same tiling (tiles
    of `d["tile_p"]` output rows, or of `tile_images` whole images), besides the weight loads
    and DRAM addresses, which the mapper recomputes."""
    rows, cols = spec.rows, spec.cols
    nseg = segments(spec, shape)
    run = shape.s * shape.c
    c_last = run - (nseg - 1) * spec.input_lanes
    words = line_words(spec, shape)
    x_row = x_row_beats(spec, shape)
    p, stride, pad = shape.p, shape.stride, shape.pad
    tile_p = d["tile_p"] if tile_images == 1 else p
    last_tile_p = d["last_tile_p"] if tile_images == 1 else p
    first_pos = -pad * shape.c

    def span(tile_rows):
        return (tile_rows - 1) * stride + shape.r

    fields = {
        # The sequencer sees each packed input row as one pixel of w x c elements.
        "c": shape.w * shape.c, "s": 1, "taps": shape.r,
        "c_blocks": nseg, "c_last": c_last, "c_chunk_blocks": nseg, "c_chunks": 1,
        "chunk_red": shape.r * nseg, "last_chunk_red": shape.r * nseg,
        "chunk_elems": run, "last_chunk_elems": run,
        "macs_c_last": c_last * cols, "macs_ck_last": c_last * d["k_last"],
        "line_words": words, "row_step": stride * words, "col_step": 0, "pad_words": 0,
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
    }
    if tile_images > 1:
        band = tile_images * shape.h
        fields.update(band_span_px=band + pad, last_band_span_px=band + pad, image_px=band,
                      x_image_beats=band * x_row)
    return fields


def weight_words(spec, shape):
    """Weight-buffer words of one filter block's weights."""
    return spec.cols * shape.r * segments(spec, shape)


def weight_options(spec, shape, k_blocks, sparse=False):
    """The weight buffering a folded layer may use, as the mapper's (channel blocks per
    chunk, half size or 0, resident block words or 0): one chunk per filter block, fetched
    per tile (into halves when a block fits one), or every block resident."""
    words = weight_words(spec, shape)
    if not foldable(spec, shape, sparse) or words > spec.weight_words:
        return []
    half = spec.weight_words // 2 if k_blocks > 1 and words <= spec.weight_words // 2 else 0
    resident = [(1, 0, words)] if k_blocks * words <= spec.weight_words else []
    return [(1, half, 0)] + resident


def inside_rows(shape):
    """(output row, kernel row) pairs whose input row lies inside the image, per image."""
    return sum(0 <= i * shape.stride + r - shape.pad < shape.h
               for r in range(shape.r) for i in range(shape.p))


def input_reads(spec, shape, k_blocks):
    """Input-buffer reads: per filter block, segment and output row over a real input row,
    the segment's first word and one word per output column."""
    return shape.n * k_blocks * segments(spec, shape) * inside_rows(shape) * (shape.q + 1)


def block_cycles(pixels, tile_rows):
    """Cycles a reduction block streams: one per pixel, and one per output row (the read of
    its first window's first word)."""
    return pixels + tile_rows


def counters(spec, mapping, walk, fetches):
    """The loop-nest counters (models/perf.py `predict_counters`) that differ from a dense
    layer's for a folded `mapping` of tiles `walk`, weights fetched `fetches` times."""
    shape, d = mapping.shape, mapping.descriptor
    bus = spec.dram_bus_bytes
    band_rows = sum(t.band_rows for t in walk)
    bias_beats = d["b_row_beats"] if mapping.post.bias else 0
    return {
        "glb_input_writes": band_rows * d["line_words"],
        "glb_input_reads": input_reads(spec, shape, d["k_blocks"]),
        "glb_weight_writes": fetches * shape.k * shape.r * d["c_blocks"],
        "dram_bytes_read": (band_rows * d["x_row_beats"]
                            + fetches * shape.k * shape.r * d["w_row_beats"] + bias_beats) * bus,
    }
