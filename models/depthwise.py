"""Depthwise convolutions across the whole weight-stationary array (pyhdl/depthwise_loop.py
runs them; the mapper chooses them per layer over block-diagonal runs by cycles).

Column c of filter block kb holds channel kb cols + c, array row i tap (r, i) of one kernel
row r: a reduction block is a kernel row.  An output row streams the input pixels of its
windows' row one a cycle (the band's words, `pad_value` over the padding), and the
window of output column j enters the array with pixel j: the input skew then hands array row
i pixel j + i in the cycle it reaches it, so every row takes the pixel streaming at that
moment, and column c its own channel (lane kb cols + c mod lanes) of it, through a delay of
c + 1 cycles (the registered lane select of pyhdl/depthwise_array.py).  So one buffer read a
cycle keeps s x cols PEs busy: s cols MACs a cycle against the `min(rows, cols)` of
block-diagonal dense weights.

With stride t an output row streams (q - 1) t + s pixels and a window enters with every
t-th.  Kernels of 2 <= s <= rows columns only (a kernel row wider than the array would need
segments); other depthwise layers run block-diagonal.

W lies in DRAM as one row of s taps per (k, r), read into one weight word each (the kernel
row's taps on rows 0..s-1, zeros below).

With the line buffer (`dw_line`; R x S within the rows, R up to `spec.depthwise_line_rows`,
stride 1 or 2), array row r S + s holds tap (r, s): a filter block is one reduction block, W
one row of R S taps per filter.  A tile streams its band an input row at a time (the R - 1
rows before its first output row prime the buffer; then stride new rows per output row), one
pixel a cycle: the rows r = R - 1 take the streamed pixel through the registered lane select
as before, and rows r < R - 1 the same words delayed k D cycles (k = R - 1 - r, D = (q - 1)
stride: one input row, less the S taps the skew already spans) by the array's line buffer, a
ring of D - 1 words after the lane select (pyhdl/depthwise_array.py).  Window x of an output
row enters the array (R - 1) S - 1 cycles before its newest row's pixel x stride + 1 (so
(R - 1) D stream cycles after the block's first); the input skew then hands PE row r S + s
pixel (x stride + s) of input row r of the window.  A block streams (T - 1) stride + R input
rows of `positions` pixels for T output rows: each input row once, against R per output row.
"""

import numpy as np

from .layout import row_beats


def eligible(spec, shape, groups):
    """Whether a grouped layer may run depthwise on `spec`: one channel per group and filter,
    a kernel row of 2 to `rows` taps, an array with the mode."""
    return (spec.depthwise_columns != 0 and groups == shape.c == shape.k
            and 2 <= shape.s <= spec.rows)


def positions(shape):
    """Input pixels an output row streams: (q - 1) stride + s."""
    return (shape.q - 1) * shape.stride + shape.s


def line_delay(shape):
    """Stream cycles by which the line buffer delays a kernel row's pixels behind the next
    row's: (q - 1) stride."""
    return (shape.q - 1) * shape.stride


def line_eligible(spec, shape):
    """Whether a depthwise layer may run with the line buffer: 2 to `depthwise_line_rows`
    kernel rows whose R x S taps fit the rows, stride 1 or 2, and a delay the ring holds
    (at least 2 cycles: a ring of one word or more)."""
    return (2 <= shape.r <= spec.depthwise_line_rows and shape.r * shape.s <= spec.rows
            and shape.stride in (1, 2)
            and 2 <= line_delay(shape) <= spec.depthwise_line_words + 1)


def taps_down_rows(shape, line):
    """Array rows holding taps: s, or r s with the line buffer."""
    return shape.r * shape.s if line else shape.s


def filter_rows(shape, line):
    """DRAM rows (and weight words) of one filter: a kernel row each, or one."""
    return 1 if line else shape.r


def drain_lead(shape, line=False):
    """Cycles by which a block's last window enters the array before its last pixel is
    presented: s - 2 (the loop issues a window the cycle after its first pixel), r s - 2 with
    the line buffer."""
    return taps_down_rows(shape, line) - 2


def w_row_beats(spec, shape, line=False):
    """DRAM beats of one weight row (one (k, r): s taps; with the line buffer one k: r s)."""
    return row_beats(taps_down_rows(shape, line), spec.operand_bits, spec.dram_bus_bytes)


def block_words(spec, shape, line=False):
    """Weight-buffer words of one filter block: a word per column and filter row."""
    return spec.cols * filter_rows(shape, line)


def weight_region_beats(spec, shape):
    """DRAM beats of the most the layer's W takes in either layout (a row per kernel row, or
    one per filter with the line buffer)."""
    return shape.k * max(filter_rows(shape, line) * w_row_beats(spec, shape, line)
                         for line in (False, True))


def slice_widths(spec, shape, aligned):
    """Channel-slice widths to try running the layer over, narrower than all its channels:
    for each number of slices, the narrowest multiple of the columns and of `aligned`
    channels (a slice of every pixel starting on a DRAM beat) that needs no more; widest
    first."""
    unit = np.lcm(spec.cols, aligned)
    widths = {-(-shape.c // (slices * unit)) * unit
              for slices in range(2, -(-shape.c // unit) + 1)}
    return sorted((int(width) for width in widths if width < shape.c), reverse=True)


def weight_buffering(spec, shape, k_blocks, line=False):
    """(half size or 0, resident block words or 0): every block resident when all fit the
    weight buffer, else a block per chunk, fetched per tile into halves when it fits one."""
    words = block_words(spec, shape, line)
    if k_blocks * words <= spec.weight_words:
        return 0, words
    half = spec.weight_words // 2 if k_blocks > 1 and words <= spec.weight_words // 2 else 0
    return half, 0


def descriptor_fields(spec, shape, d, line=False):
    """The descriptor fields that differ from the dense mapping `d` of the same tiling,
    besides the weight loads and DRAM addresses, which the mapper recomputes.  The inner
    loop sees each output row (with the line buffer: each streamed input row) as `positions`
    pixels of a 1 x 1 kernel (`q`, `s`), and each filter block as one chunk of `r` reduction
    blocks (with the line buffer: one)."""
    cols, k_last = spec.cols, d["k_last"]
    taps, blocks = taps_down_rows(shape, line), filter_rows(shape, line)
    fields = {
        "q": positions(shape), "s": 1, "taps": blocks, "col_step": d["c_blocks"],
        "c_chunk_blocks": 1, "c_chunks": 1, "chunk_red": blocks, "last_chunk_red": blocks,
        "chunk_elems": taps, "last_chunk_elems": taps, "word_blocks": 1,
        "macs_k_last": taps * k_last, "macs_c_last": taps * cols, "macs_ck_last": taps * k_last,
        "macs_h1_c_last": taps * cols, "macs_h1_ck_last": taps * k_last,
        "depthwise": 1, "dw_q": shape.q, "dw_s": taps,
    }
    if line:
        delay = line_delay(shape)
        fields.update({
            "row_step": d["line_words"], "dw_line": 1,
            "dw_first_window": (shape.r - 1) * delay,
            "dw_row_gap": shape.stride * (positions(shape) - shape.q + 1) - 1,
            "dw_line_last": delay - 2, "dw_new_row": (shape.r - 1) * shape.s,
            "dw_mid_row": max(shape.r - 2, 0) * shape.s, "dw_band_extra": shape.r - shape.stride,
        })
    return fields


def weight_rows(dense, line=False):
    """The DRAM rows of W from its block-diagonal dense form (K x K x R x S): one row of s
    taps per (k, r), or with the line buffer one of r s taps per k (row-major)."""
    k, _, r, s = dense.shape
    taps = np.einsum("kkrs->krs", dense)
    return taps.reshape(k, r * s) if line else taps.reshape(k * r, s)


def inside_rows(shape):
    """(output row, kernel row) pairs whose input row lies inside the image, per image."""
    return sum(0 <= i * shape.stride + r - shape.pad < shape.h
               for r in range(shape.r) for i in range(shape.p))


def streamed_rows(tile_rows, shape, line=False):
    """Input rows a reduction block streams for a tile of `tile_rows` output rows: one per
    output row, or with the line buffer the tile's band, padding rows included."""
    return (tile_rows - 1) * shape.stride + shape.r if line else tile_rows


def block_cycles(pixels, shape, line=False):
    """Cycles a reduction block streams a tile of `pixels` output pixels: `positions` per
    streamed row."""
    return streamed_rows(pixels // shape.q, shape, line) * positions(shape)


def counters(spec, mapping, walk, fetches):
    """The loop-nest counters (models/perf.py `predict_counters`) that differ from a dense
    layer's for a depthwise `mapping` of tiles `walk`, weights fetched `fetches` times:
    a vector per output pixel, filter block and reduction block (kernel row, or all taps
    with the line buffer); an input-buffer read per streamed pixel inside the image (for
    each kernel row over a real input row, or each real input row of a tile's band); a
    line-buffer step per cycle a block's words pass the lane select (its streamed pixels
    and `cols` - 1 more)."""
    shape, d = mapping.shape, mapping.descriptor
    line = bool(d["dw_line"])
    bus, pes = spec.dram_bus_bytes, spec.rows * spec.cols
    k_blocks, blocks = d["k_blocks"], filter_rows(shape, line)
    vectors = shape.n * shape.p * shape.q * k_blocks * blocks
    commits = len(walk) * k_blocks * blocks
    band_pixels = sum(t.band_rows * shape.w for t in walk)
    bias_beats = d["b_row_beats"] if mapping.post.bias else 0
    row_reads = min(positions(shape) - shape.pad, shape.w)
    rows_read = (sum(t.band_rows for t in walk) if line
                 else shape.n * inside_rows(shape))
    steps = sum(streamed_rows(t.rows, shape, line) * positions(shape) + spec.cols - 1
                for t in walk) if line else 0
    return {
        "busy_cycles": vectors,
        "rf_writes": commits * pes,
        "array_transfers": 2 * vectors * pes + commits * spec.cols * pes,
        "glb_input_reads": k_blocks * rows_read * row_reads,
        "glb_weight_writes": fetches * shape.k * blocks,
        "glb_weight_reads": commits * spec.cols,
        "glb_output_writes": vectors,
        "glb_output_reads": vectors,
        "dram_bytes_read": (band_pixels * mapping.x_row_beats
                            + fetches * shape.k * blocks * d["w_row_beats"] + bias_beats) * bus,
        "line_buffer_steps": k_blocks * steps,
    }
