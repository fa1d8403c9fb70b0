"""The analytical performance model of a layer on a row-stationary (Eyeriss) array (issue 14).

`rs_layer_figures(spec, shape, groups, batch)` gives a conv, depthwise / grouped or fully
connected layer's counters, named as models/counters.py names them, plus the row-stationary
array's own events (models/counters.py `RS_COUNTERS`: register-file accesses split by
operand, the multicast buses, the psum hops), and its cycles.

Where each figure comes from:
- The array's events are `models.row_stationary.expected_counts` (the closed forms the NumPy
  executor `run_conv` is held to); gated MACs are the MACs on zero padding (data without
  zeros, as `models.perf.model_counters` assumes).
- Global-buffer traffic follows the inner loop's units (pyhdl/rs_loop.py): every input-bus
  word inside the image is one input-buffer read (padding reads nothing); every filter-bus
  word of a horizontal set is one weight-buffer word (`rows` lanes) read; every output
  vector the psum collector hands over (one per strip column and output of a pass) is one
  output-buffer write and one read (accumulating reads every pass but the first; the
  write-back reads each word once).  The input buffer is loaded with each image's band
  (the rows its windows read; `c_blocks` words a pixel), the weight buffer with the layer's
  weights (`RowStationaryMapping.filter_buffer`) once when they stay resident, else once an
  image.
- DRAM: each image's band (its rows as the other dataflows store them), the weight-buffer
  words as loaded (a DRAM row per word), the bias once if any, Y once.
- Cycles: `models.perf.predict_cycles` walks the sequencer's phases (DMA loads, chunks,
  write-backs) as for the other dataflows, with `RowStationaryStreamer` for the inner loop:
  each chunk (a filter block's passes over an image) lasts
  `models.row_stationary.chunk_cycles`, every pass followed cycle by cycle through the units
  (`pass_cycles` there).
"""

from collections import Counter
from dataclasses import replace

from . import mapper as layer_mapper
from .counters import RS_COUNTER_NAMES
from .mapper import PostProcess
from .perf import _inside, predict_cycles, tiles
from .row_stationary import (block_filter_words, buffer_words, chunk_cycles, expected_counts,
                             fc_row, filter_block_mapping, window_words)


def rs_layer_figures(spec, shape, groups=1, batch=1, post=PostProcess()):
    """The counters and cycles of a layer of `shape` on the row-stationary array of `spec`.

    shape: a `models.mapper.ConvShape` (a grouped or depthwise layer: C and K of the whole
    layer, `groups` of them, run group after group; a fully-connected layer:
    `models.mapper.fc_shape`, M samples as M rows of one column, run as one row of M columns
    as `run_fc` does); batch: the layer runs on `batch` times shape.n images (or samples);
    post: the post-processing (its requantization makes the outputs operands instead of
    int32).  The figures are the accelerator's (`accelerator_counters`, `accelerator_cycles`)
    for the layer as it maps it, whether or not an image fits the spec's buffers (the weights
    stay resident when they fit the weight buffer).

    Returns (counters: every name of models.counters but `cycles`, cycles)."""
    shape = replace(shape, n=shape.n * batch)
    group = fc_row(replace(shape, c=shape.c // groups, k=shape.k // groups))
    mapping = unchecked_mapping(spec, group, post)
    figures = _Figures(spec, group, post, mapping)
    counters = figures.counters()
    counters.update(stall_cycles=0, macs_gated=figures.padding_macs())
    return ({name: groups * value for name, value in counters.items()},
            groups * predict_cycles(spec, mapping))


def unchecked_mapping(spec, shape, post):
    """The accelerator's mapping of a layer (models.row_stationary.map_layer) whether or not
    its image, outputs and weights fit the spec's buffers: the figures of the same schedule on
    larger buffers."""
    k_blocks = -(-shape.k // spec.cols)
    full, _ = block_filter_words(spec, shape)
    return layer_mapper.rs_mapping(spec, shape, post, None, -(-shape.c // spec.input_lanes),
                                   k_blocks, full if k_blocks * full <= spec.weight_words else 0)


def accelerator_counters(spec, mapping):
    """The counters the loop nest of a row-stationary mapping implies (as
    `models.perf.predict_counters`): a whole image a tile, for each image each block of
    `cols` filters runs its passes (models.row_stationary.filter_block_mapping)."""
    return _Figures(spec, mapping.shape, mapping.post, mapping).counters()


class _Figures:
    """A row-stationary layer's traffic, from its filter blocks' passes."""

    def __init__(self, spec, shape, post, mapping):
        self.spec, self.shape, self.post = spec, shape, post
        self.blocks = [filter_block_mapping(spec, shape, min(spec.cols, shape.k - k0))
                       for k0 in range(0, shape.k, spec.cols)]
        self.traffic = [_pass_traffic(spec, block.shape,
                                      [block.plan(*start) for start in block.passes()])
                        for block in self.blocks]
        self.events = Counter()
        for block in self.blocks:
            for name, value in expected_counts(block).items():
                self.events[name] += shape.n * value
        self.events["filter_bus_words"] = self.events["glb_filter_reads"]
        self.block_words = [buffer_words(block) for block in self.blocks]
        self.resident = mapping.descriptor["w_resident"]
        # Each image's band: the input rows its windows read (the padding rows are not loaded).
        self.band_pixels = sum(tile.band_rows * shape.w for tile in tiles(mapping))
        # A grouped layer's run reads and writes channel slices of every pixel.
        self.x_row_beats, self.w_row_beats, self.y_row_beats = (
            mapping.x_row_beats, mapping.w_row_beats, mapping.y_row_beats)
        self.b_beats = mapping.descriptor["b_row_beats"] if post.bias else 0

    def padding_macs(self):
        """MACs on padding: the gated ones of data without zeros and a zero pad value."""
        sh = self.shape
        taps = sum(_inside(sh.p, sh.stride, r - sh.pad, sh.h) for r in range(sh.r)) \
            * sum(_inside(sh.q, sh.stride, s - sh.pad, sh.w) for s in range(sh.s))
        return sh.macs - sh.n * sh.k * sh.c * taps if sh.pad_value == 0 else 0

    def counters(self):
        spec, sh, ev = self.spec, self.shape, self.events
        bus = spec.dram_bus_bytes
        fetches = 1 if self.resident else sh.n
        weight_words = sum(self.block_words)
        vectors = sh.n * sum(sum(t["vectors"]) for t in self.traffic)
        counters = {name: 0 for name in ("macs_skipped", "compressor_beats",
                                         "compressed_bytes_written", "decompressor_beats",
                                         "compressed_bytes_read")}
        counters.update({
            "busy_cycles": ev["input_bus_sends"],
            "macs": ev["macs"],
            "rf_reads": sum(ev[f"{operand}_rf_reads"] for operand in _OPERANDS),
            "rf_writes": sum(ev[f"{operand}_rf_writes"] for operand in _OPERANDS),
            "array_transfers": ev["psum_hops"],
            "glb_input_reads": sh.n * sum(sum(t["input_reads"]) for t in self.traffic),
            "glb_input_writes": self.band_pixels * -(-sh.c // spec.input_lanes),
            "glb_weight_reads": sh.n * sum(sum(t["filter_words"]) for t in self.traffic),
            "glb_weight_writes": fetches * weight_words,
            "glb_output_reads": vectors,
            "glb_output_writes": vectors,
            "dram_bytes_read": (self.band_pixels * self.x_row_beats
                                + fetches * weight_words * self.w_row_beats
                                + self.b_beats) * bus,
            "dram_bytes_written": sh.n * sh.p * sh.q * self.y_row_beats * bus,
        })
        counters.update({name: ev[name] for name in RS_COUNTER_NAMES})
        return counters

_OPERANDS = ("filter", "input", "psum")


def _pass_traffic(spec, shape, passes):
    """Per pass of one image: input-buffer reads, weight-buffer words read, output vectors."""
    u, s, pad = shape.stride, shape.s, shape.pad
    window = window_words(shape)
    columns = [column for f in range(shape.q)
               for column in range(f * u + s - (s if f == 0 else min(u, s)), f * u + s)]
    columns_inside = sum(pad <= column < pad + shape.w for column in columns)
    traffic = {"input_reads": [], "filter_words": [], "vectors": []}
    for the_pass in passes:
        rows = {the_pass.strip.start * u + the_pass.fold.start + j * u + i
                for j in range(len(the_pass.strip)) for i in range(len(the_pass.fold))}
        rows_inside = sum(pad <= row < pad + shape.h for row in rows)
        channels = sum(len(cs) for cs in the_pass.channel_sets)
        widest = max(len(cs) for cs in the_pass.channel_sets)
        filters = [len(ks) for ks in the_pass.filter_sets]
        filter_words = sum(filters) * widest * s
        vectors = len(the_pass.strip) * shape.q
        traffic["input_reads"].append(channels * rows_inside * columns_inside)
        traffic["filter_words"].append(filter_words)
        traffic["vectors"].append(vectors)
    return traffic


DRAIN_CYCLES = -1
"""`RowStationaryStreamer.drained`'s cycles after a chunk's end: the loop's `chunk_done`
already waits for the collector's last vector (a weight-stationary drain waits for the
array's latency)."""


class RowStationaryStreamer:
    """The row-stationary inner loop as `models.perf.predict_cycles` walks it: each chunk is
    the next filter block's passes over the tile's image (`chunk_cycles`)."""

    def __init__(self, spec, mapping):
        shape = mapping.shape
        self.lengths = [chunk_cycles(filter_block_mapping(spec, shape,
                                                          min(spec.cols, shape.k - k0)))
                        for k0 in range(0, shape.k, spec.cols)]
        self.chunks = 0

    def chunk(self, cycles, pixels, chunk, prefetch):
        """Run the next filter block from `cycles`; return (its end, None: no prefetch)."""
        length = self.lengths[self.chunks % len(self.lengths)]
        self.chunks += 1
        return cycles + length, None

    def drained(self, cycles):
        return cycles + DRAIN_CYCLES
