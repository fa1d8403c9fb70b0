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


def drain_lead(shape):
    """Cycles by which a block's last window enters the array before its last pixel is
    presented (the loop issues a window the cycle after its first pixel): s - 2."""
    return shape.s - 2


def w_row_beats(spec, shape):
    """DRAM beats of one weight row (one (k, r): s taps)."""
    return row_beats(shape.s, spec.operand_bits, spec.dram_bus_bytes)


def block_words(spec, shape):
    """Weight-buffer words of one filter block: a word per column and kernel row."""
    return spec.cols * shape.r


def weight_buffering(spec, shape, k_blocks):
    """(half size or 0, resident block words or 0): every block resident when all fit the
    weight buffer, else a block per chunk, fetched per tile into halves when it fits one."""
    words = block_words(spec, shape)
    if k_blocks * words <= spec.weight_words:
        return 0, words
    half = spec.weight_words // 2 if k_blocks > 1 and words <= spec.weight_words // 2 else 0
    return half, 0


def descriptor_fields(spec, shape, d):
    """The descriptor fields that differ from the dense mapping `d` of the same tiling,
    besides the weight loads and DRAM addresses, which the mapper recomputes.  The inner
    loop sees each output row as `positions` pixels of a 1 x 1 kernel (`q`, `s`), and each
    filter block as one chunk of `r` reduction blocks."""
    cols, s, k_last = spec.cols, shape.s, d["k_last"]
    return {
        "q": positions(shape), "s": 1, "taps": shape.r, "col_step": d["c_blocks"],
        "c_chunk_blocks": 1, "c_chunks": 1, "chunk_red": shape.r, "last_chunk_red": shape.r,
        "chunk_elems": s, "last_chunk_elems": s, "word_blocks": 1,
        "macs_k_last": s * k_last, "macs_c_last": s * cols, "macs_ck_last": s * k_last,
        "macs_h1_c_last": s * cols, "macs_h1_ck_last": s * k_last,
        "depthwise": 1, "dw_q": shape.q, "dw_s": s,
    }


def weight_rows(dense):
    """The DRAM rows of W from its block-diagonal dense form (K x K x R x S): one row of s
    taps per (k, r)."""
    k, _, r, s = dense.shape
    return np.einsum("kkrs->krs", dense).reshape(k * r, s)


def inside_rows(shape):
    """(output row, kernel row) pairs whose input row lies inside the image, per image."""
    return sum(0 <= i * shape.stride + r - shape.pad < shape.h
               for r in range(shape.r) for i in range(shape.p))


def block_cycles(pixels, shape):
    """Cycles a reduction block streams a tile of `pixels` output pixels: `positions` per
    output row."""
    return pixels // shape.q * positions(shape)


def counters(spec, mapping, walk, fetches):
    """The loop-nest counters (models/perf.py `predict_counters`) that differ from a dense
    layer's for a depthwise `mapping` of tiles `walk`, weights fetched `fetches` times:
    a vector per output pixel, filter block and kernel row; an input-buffer read per
    streamed pixel inside the image (for each kernel row over a real input row)."""
    shape, d = mapping.shape, mapping.descriptor
    bus, pes = spec.dram_bus_bytes, spec.rows * spec.cols
    k_blocks = d["k_blocks"]
    vectors = shape.n * shape.p * shape.q * k_blocks * shape.r
    commits = len(walk) * k_blocks * shape.r
    band_pixels = sum(t.band_rows * shape.w for t in walk)
    bias_beats = d["b_row_beats"] if mapping.post.bias else 0
    return {
        "busy_cycles": vectors,
        "rf_writes": commits * pes,
        "array_transfers": 2 * vectors * pes + commits * spec.cols * pes,
        "glb_input_reads": shape.n * k_blocks * inside_rows(shape)
        * min(positions(shape) - shape.pad, shape.w),
        "glb_weight_writes": fetches * shape.k * shape.r,
        "glb_weight_reads": commits * spec.cols,
        "glb_output_writes": vectors,
        "glb_output_reads": vectors,
        "dram_bytes_read": (band_pixels * mapping.x_row_beats
                            + fetches * shape.k * shape.r * d["w_row_beats"] + bias_beats) * bus,
    }
