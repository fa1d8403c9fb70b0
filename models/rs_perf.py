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
  write-back reads each word once).  The input buffer is loaded with each tile's band
  (the rows its windows read; `c_blocks` words a pixel), the weight buffer with each chunk's
  weights (`RowStationaryMapping.filter_buffer`) once for the layer when they stay
  resident, else once a tile.
- DRAM: each tile's band (its rows as the other dataflows store them), the weight-buffer
  words as loaded (a DRAM row per word), the bias once if any, Y once.
- Cycles: `models.perf.predict_cycles` walks the sequencer's phases (DMA loads, chunks,
  write-backs) as for the other dataflows, with `RowStationaryStreamer` for the inner loop:
  each chunk (a filter block's passes over a chunk of channels of a tile's band) lasts
  `models.row_stationary.chunk_cycles`, every pass followed cycle by cycle through the units
  (`pass_cycles` there).
"""

import functools
from collections import Counter
from dataclasses import replace

from .counters import RS_COUNTER_NAMES
from .mapper import MappingError, PostProcess
from .perf import _inside, predict_cycles, tiles
from .row_stationary import (choice_of, chunk_cycles, chunk_kinds, chunk_mapping,
                             expected_counts, fc_row, map_layer, tile_weight_words)


def rs_layer_figures(spec, shape, groups=1, batch=1, post=PostProcess()):
    """The counters and cycles of a layer of `shape` on the row-stationary array of `spec`.

    shape: a `models.mapper.ConvShape` (a grouped or depthwise layer: C and K of the whole
    layer, `groups` of them, run group after group; a fully-connected layer:
    `models.mapper.fc_shape`, M samples as M rows of one column, run as one row of M columns
    as `run_fc` does); batch: the layer runs on `batch` times shape.n images (or samples);
    post: the post-processing (its requantization makes the outputs operands instead of
    int32).  The figures are the accelerator's (`accelerator_counters`, `predict_cycles`)
    for the layer as it maps it (models.row_stationary.map_layer); a layer whose smallest
    tile does not fit the buffers (`rs_layer_fits` False) is priced as the whole-image
    schedule on buffers large enough.

    Returns (counters: every name of models.counters but `cycles`, cycles)."""
    group = _group_shape(shape, groups, batch)
    fits = rs_layer_fits(spec, shape, groups, batch)
    mapping = map_layer(spec, group, post, None, bounded=fits)
    figures = _Figures(spec, mapping)
    counters = figures.counters()
    counters.update(stall_cycles=0, macs_gated=figures.padding_macs())
    return ({name: groups * value for name, value in counters.items()},
            groups * predict_cycles(spec, mapping))


def rs_layer_fits(spec, shape, groups=1, batch=1):
    """Whether the accelerator maps the layer of `rs_layer_figures` on the spec's buffers."""
    try:
        map_layer(spec, _group_shape(shape, groups, batch), PostProcess(), None)
    except MappingError:
        return False
    return True


def _group_shape(shape, groups, batch):
    """One group's convolution of the batch (a fully-connected layer: `fc_row`)."""
    shape = replace(shape, n=shape.n * batch)
    return fc_row(replace(shape, c=shape.c // groups, k=shape.k // groups))


def accelerator_counters(spec, mapping):
    """The counters the loop nest of a row-stationary mapping implies (as
    `models.perf.predict_counters`): for each tile of output rows, each block of `cols`
    filters, each chunk of channels runs its passes over the tile's band
    (models.row_stationary.chunk_mapping)."""
    return _Figures(spec, mapping).counters()


class _Figures:
    """A row-stationary layer's traffic, from its tiles' chunks' passes."""

    def __init__(self, spec, mapping):
        shape = mapping.shape
        self.spec, self.shape, self.post = spec, shape, mapping.post
        choice = choice_of(spec, mapping)
        self.events = Counter()
        self.traffic = Counter()
        walk = list(tiles(mapping))
        for tile in walk:
            for kind, count in chunk_kinds(spec, shape, choice):
                chunk = chunk_mapping(spec, shape, choice, *kind, tile.rows)
                for name, value in _chunk_events(chunk).items():
                    self.events[name] += count * value
                for name, value in _chunk_traffic(chunk, tile.p0).items():
                    self.traffic[name] += count * value
        self.events["filter_bus_words"] = self.events["glb_filter_reads"]
        self.tile_words = tile_weight_words(spec, shape, choice)
        self.fetches = 1 if choice.resident else len(walk)
        # Each tile's band: the input rows its windows read (the padding rows are not loaded).
        self.band_pixels = sum(tile.band_rows * shape.w for tile in walk)
        # A grouped layer's run reads and writes channel slices of every pixel.
        self.x_row_beats, self.w_row_beats, self.y_row_beats = (
            mapping.x_row_beats, mapping.w_row_beats, mapping.y_row_beats)
        self.b_beats = mapping.descriptor["b_row_beats"] if mapping.post.bias else 0

    def padding_macs(self):
        """MACs on padding: the gated ones of data without zeros and a zero pad value."""
        sh = self.shape
        taps = sum(_inside(sh.p, sh.stride, r - sh.pad, sh.h) for r in range(sh.r)) \
            * sum(_inside(sh.q, sh.stride, s - sh.pad, sh.w) for s in range(sh.s))
        return sh.macs - sh.n * sh.k * sh.c * taps if sh.pad_value == 0 else 0

    def counters(self):
        spec, sh, ev, traffic = self.spec, self.shape, self.events, self.traffic
        bus = spec.dram_bus_bytes
        counters = {name: 0 for name in ("macs_skipped", "compressor_beats",
                                         "compressed_bytes_written", "decompressor_beats",
                                         "compressed_bytes_read", "line_buffer_steps")}
        counters.update({
            "busy_cycles": ev["input_bus_sends"],
            "macs": ev["macs"],
            "rf_reads": sum(ev[f"{operand}_rf_reads"] for operand in _OPERANDS),
            "rf_writes": sum(ev[f"{operand}_rf_writes"] for operand in _OPERANDS),
            "array_transfers": ev["psum_hops"],
            "glb_input_reads": traffic["input_reads"],
            "glb_input_writes": self.band_pixels * -(-sh.c // spec.input_lanes),
            "glb_weight_reads": traffic["filter_words"],
            "glb_weight_writes": self.fetches * self.tile_words,
            "glb_output_reads": traffic["vectors"],
            "glb_output_writes": traffic["vectors"],
            "dram_bytes_read": (self.band_pixels * self.x_row_beats
                                + self.fetches * self.tile_words * self.w_row_beats
                                + self.b_beats) * bus,
            "dram_bytes_written": sh.n * sh.p * sh.q * self.y_row_beats * bus,
        })
        counters.update({name: ev[name] for name in RS_COUNTER_NAMES})
        return counters

_OPERANDS = ("filter", "input", "psum")


@functools.lru_cache(maxsize=4096)
def _chunk_events(chunk):
    """The array's events of one chunk's passes (`expected_counts`)."""
    return expected_counts(chunk)


@functools.lru_cache(maxsize=65536)
def _chunk_traffic(chunk, p0):
    """Input-buffer reads, weight-buffer words read and output vectors of one chunk's passes
    over the tile whose first output row is `p0`."""
    shape = chunk.shape
    u, s, pad = shape.stride, shape.s, shape.pad
    columns = [column for f in range(shape.q)
               for column in range(f * u + s - (s if f == 0 else min(u, s)), f * u + s)]
    columns_inside = sum(pad <= column < pad + shape.w for column in columns)
    traffic = Counter()
    for start in chunk.passes():
        the_pass = chunk.plan(*start)
        rows = {(p0 + the_pass.strip.start) * u + the_pass.fold.start + j * u + i
                for j in range(len(the_pass.strip)) for i in range(len(the_pass.fold))}
        rows_inside = sum(pad <= row < pad + shape.h for row in rows)
        channels = sum(len(cs) for cs in the_pass.channel_sets)
        widest = max(len(cs) for cs in the_pass.channel_sets)
        traffic["input_reads"] += channels * rows_inside * columns_inside
        traffic["filter_words"] += sum(len(ks) for ks in the_pass.filter_sets) * widest * s
        traffic["vectors"] += len(the_pass.strip) * shape.q
    return traffic


DRAIN_CYCLES = -1
"""`RowStationaryStreamer.drained`'s cycles after a chunk's end: the loop's `chunk_done`
already waits for the collector's last vector (a weight-stationary drain waits for the
array's latency)."""


PREFETCH_LATENCY = 1
"""Cycles from a chunk's `run` to the loop's `prefetch` pulse: its registered start."""


class RowStationaryStreamer:
    """The row-stationary inner loop as `models.perf.predict_cycles` walks it: each chunk is
    the next (filter block, channel chunk)'s passes over the tile's band (`chunk_cycles`)."""

    def __init__(self, spec, mapping):
        self.spec, self.shape = spec, mapping.shape
        self.choice = choice_of(spec, mapping)
        self.k_blocks = mapping.descriptor["k_blocks"]
        self.c_chunks = mapping.descriptor["c_chunks"]
        self.chunks = 0

    def chunk(self, cycles, pixels, chunk, prefetch):
        """Run the next chunk from `cycles` (its `run`); return (its end, when the next
        chunk's weights are in or None).  A prefetch (`prefetch` cycles of load) starts with
        the pass walk, PREFETCH_LATENCY after `run` (pyhdl/rs_loop.py `prefetch`)."""
        kb = self.chunks // self.c_chunks % self.k_blocks
        self.chunks += 1
        ready = None if prefetch is None else cycles + PREFETCH_LATENCY + prefetch
        return cycles + _chunk_length(chunk_mapping(
            self.spec, self.shape, self.choice, kb == self.k_blocks - 1,
            chunk == self.c_chunks - 1, pixels // self.shape.q)), ready

    def drained(self, cycles):
        return cycles + DRAIN_CYCLES


@functools.lru_cache(maxsize=4096)
def _chunk_length(chunk):
    return chunk_cycles(chunk)
