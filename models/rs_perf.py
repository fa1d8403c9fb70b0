"""The analytical performance model of a layer on a row-stationary (Eyeriss) array (issue 14).

`rs_layer_figures(spec, shape, groups, batch)` gives a conv, depthwise / grouped or fully
connected layer's counters, named as models/counters.py names them, plus the row-stationary
array's own events (`RS_COUNTERS`: register-file accesses split by operand, the multicast
buses, the psum hops), and its cycles.

Where each figure comes from:
- The array's events are `models.row_stationary.expected_counts` (the closed forms the NumPy
  executor `run_conv` is held to); gated MACs are the MACs on zero padding (data without
  zeros, as `models.perf.model_counters` assumes).
- Global-buffer traffic follows the inner loop's units (pyhdl/rs_loop.py): every input-bus
  word inside the image is one input-buffer read (padding reads nothing); every filter-bus
  word of a horizontal set is one weight-buffer word (`rows` lanes) read; every output
  vector the psum collector hands over (one per strip column and output of a pass) is one
  output-buffer write and one read (accumulating reads every pass but the first; the
  write-back reads each word once).  The input buffer is loaded with each image's pixels
  (`c_blocks` words each), the weight buffer once with the layer's weights
  (`RowStationaryMapping.filter_buffer`, kept for the whole batch).
- DRAM: X once (its rows as the other dataflows store them), the weight-buffer words once
  (a DRAM row per word), the bias once if any, Y once.
- Cycles (the schedule of the current inner loop, until the accelerator runs it: issue 14
  step 3 makes them exact): the DRAM loads, then the passes one after the other, each as
  long as its slowest stream (a PE's p q S MACs per output, the input bus's words, a filter
  bus's words, the collector's one sum a cycle) plus the array's fill and drain, then the
  write-back of the outputs.
"""

from collections import Counter
from dataclasses import replace

from .layout import row_beats
from .mapper import ConvShape, PostProcess
from .perf import DRAM_LATENCY, READ_OVERHEAD, WRITE_OVERHEAD, _inside
from .row_stationary import layer_counts, window_words
from .spec import DRAM_WORD_BITS

RS_COUNTERS = (
    ("filter_rf_reads", "filter-scratchpad reads: one per MAC"),
    ("filter_rf_writes", "filter-scratchpad writes: every weight a PE loads from its filter bus"),
    ("input_rf_reads", "input-window reads: one per (output, channel, tap) a PE convolves"),
    ("input_rf_writes", "input-window writes: every input word a PE takes from the input bus"),
    ("psum_rf_reads", "psum register-file reads: one per MAC (the drain's read included)"),
    ("psum_rf_writes", "psum register-file writes: one per MAC"),
    ("filter_bus_words", "weights put on the horizontal filter buses (one per PE row and word)"),
    ("filter_bus_deliveries", "weights the filter buses deliver (a word reaches a row's PEs)"),
    ("input_bus_sends", "words put on the diagonal input bus"),
    ("input_bus_deliveries", "input words the bus delivers (a word reaches its diagonal's PEs)"),
    ("psum_hops", "partial sums passed from a PE to the one above it"),
    ("passes", "array passes (image, filter tile, channel tile, fold, strip)"),
)
"""The row-stationary array's events beyond models/counters.py, each (name, one count)."""

RS_COUNTER_NAMES = tuple(name for name, _ in RS_COUNTERS)

PASS_FILL = 8
"""Cycles a pass adds beyond its slowest stream: the feeds' two-cycle latency, the first
operands' way into the PEs, the last sums' climb and the collector's last vector."""


def rs_layer_figures(spec, shape, groups=1, batch=1, post=PostProcess()):
    """The counters and cycles of a layer of `shape` on the row-stationary array of `spec`.

    shape: a `models.mapper.ConvShape` (a grouped or depthwise layer: C and K of the whole
    layer, `groups` of them; a fully-connected layer: `models.mapper.fc_shape`, M samples as
    M rows of one column, run as one row of M columns as `run_fc` does); batch: the layer
    runs on `batch` times shape.n images (or samples); post: the post-processing (its
    requantization makes the outputs operands instead of int32).

    Returns (counters: every name of models.counters plus RS_COUNTER_NAMES, cycles)."""
    shape = replace(shape, n=shape.n * batch)
    if shape.r == shape.s == shape.w == 1 and shape.stride == 1 and shape.pad == 0:
        shape = ConvShape(1, shape.c, 1, shape.n * shape.h, shape.k, pad_value=shape.pad_value)
    events, mapping = layer_counts(spec, shape, groups)
    group = mapping.shape
    passes = [mapping.plan(*start) for start in mapping.passes() if start[0] == 0]
    traffic = _pass_traffic(spec, group, passes)
    bus, operands = spec.dram_bus_bytes, spec.operand_bits
    c_blocks = -(-shape.c // spec.input_lanes)
    weight_words = sum(words for words, fold_start in zip(traffic["filter_words"],
                                                          _fold_starts(passes)) if fold_start)
    x_bytes = shape.n * shape.h * shape.w * row_beats(shape.c, operands, bus) * bus
    w_bytes = groups * weight_words * row_beats(spec.rows, operands, bus) * bus
    b_bytes = row_beats(shape.k, DRAM_WORD_BITS, bus) * bus if post.bias else 0
    out_bits = operands if post.requant is not None else DRAM_WORD_BITS
    y_beats = shape.n * group.p * group.q * row_beats(shape.k, out_bits, bus)
    vectors = groups * shape.n * sum(traffic["vectors"])
    taps = sum(_inside(group.p, group.stride, r - group.pad, group.h) for r in range(group.r)) \
        * sum(_inside(group.q, group.stride, s - group.pad, group.w) for s in range(group.s))
    counters = {name: 0 for name in ("stall_cycles", "macs_skipped", "compressor_beats",
                                     "compressed_bytes_written", "decompressor_beats",
                                     "compressed_bytes_read")}
    counters.update({
        "busy_cycles": events["input_bus_sends"],
        "macs": events["macs"],
        "macs_gated": (events["macs"] - shape.n * shape.k * group.c * taps
                       if shape.pad_value == 0 else 0),
        "rf_reads": sum(events[f"{operand}_rf_reads"] for operand in _OPERANDS),
        "rf_writes": sum(events[f"{operand}_rf_writes"] for operand in _OPERANDS),
        "array_transfers": events["psum_hops"],
        "glb_input_reads": groups * shape.n * sum(traffic["input_reads"]),
        "glb_input_writes": shape.n * shape.h * shape.w * c_blocks,
        "glb_weight_reads": groups * shape.n * sum(traffic["filter_words"]),
        "glb_weight_writes": groups * weight_words,
        "glb_output_reads": vectors,
        "glb_output_writes": vectors,
        "dram_bytes_read": x_bytes + w_bytes + b_bytes,
        "dram_bytes_written": y_beats * bus,
    })
    counters.update({name: events[name] for name in RS_COUNTER_NAMES
                     if name != "filter_bus_words"})
    counters["filter_bus_words"] = events["glb_filter_reads"]
    load_beats = (x_bytes + w_bytes + b_bytes) // bus
    cycles = (DRAM_LATENCY + load_beats + READ_OVERHEAD
              + groups * shape.n * sum(traffic["cycles"])
              + y_beats + WRITE_OVERHEAD)
    return counters, cycles


_OPERANDS = ("filter", "input", "psum")


def _fold_starts(passes):
    """Whether each pass is its fold's first strip (the strips of a fold re-read its weights)."""
    return [p.strip.start == 0 for p in passes]


def _pass_traffic(spec, shape, passes):
    """Per pass of one image: input-buffer reads, weight-buffer words, output vectors and
    cycles (`rs_layer_figures`)."""
    u, s, pad = shape.stride, shape.s, shape.pad
    window = window_words(shape)
    columns = [column for f in range(shape.q)
               for column in range(f * u + s - (s if f == 0 else min(u, s)), f * u + s)]
    columns_inside = sum(pad <= column < pad + shape.w for column in columns)
    traffic = {"input_reads": [], "filter_words": [], "vectors": [], "cycles": []}
    for the_pass in passes:
        rows = {the_pass.strip.start * u + the_pass.fold.start + j * u + i
                for j in range(len(the_pass.strip)) for i in range(len(the_pass.fold))}
        rows_inside = sum(pad <= row < pad + shape.h for row in rows)
        channels = sum(len(cs) for cs in the_pass.channel_sets)
        widest = max(len(cs) for cs in the_pass.channel_sets)
        filters = [len(ks) for ks in the_pass.filter_sets]
        filter_words = sum(filters) * widest * s
        vectors = len(the_pass.strip) * shape.q
        sends = len(rows) * channels * window
        pe_macs = max(filters) * widest * s * shape.q
        traffic["input_reads"].append(channels * rows_inside * columns_inside)
        traffic["filter_words"].append(filter_words)
        traffic["vectors"].append(vectors)
        traffic["cycles"].append(max(pe_macs, sends, filter_words, vectors * sum(filters))
                                 + PASS_FILL)
    return traffic
