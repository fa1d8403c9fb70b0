"""The analytical performance model: what the RTL will do for a mapping, without simulating.

`predict_counters` gives MACs, buffer accesses, register-file writes and DRAM traffic exactly
as the controller's loops generate them; `predict_cycles` the cycles, phase by phase.  The
tests hold both to the RTL's counters on every layer they simulate.
"""

import functools
from dataclasses import dataclass

from .compression import (band_read_cycles, compressed_input_rows, compressed_reads,
                          compressed_write_end, compressed_writes)
from .counters import RS_COUNTER_NAMES
from .hardware import POSTPROCESS_LATENCY
from .spec import DRAM_WORD_BITS, os_drain_spacing_ok
from .sparsity import mapping_is_sparse, skipped_macs
from .sparse_os import weight_steps
from . import band_prefetch, depthwise, paired_blocks, tap_fold


@dataclass(frozen=True)
class Tile:
    """One tile of output rows: its image, first output row, rows, and input band rows."""

    image: int
    p0: int
    rows: int
    band_rows: int


def tiles(mapping):
    """The tiles the controller walks, in order (a tile of whole images: `rows` and
    `band_rows` count those of all its images)."""
    shape = mapping.shape
    if mapping.tile_images > 1:
        for image in range(0, shape.n, mapping.tile_images):
            yield Tile(image, 0, mapping.tile_images * shape.p, mapping.tile_images * shape.h)
        return
    for image in range(shape.n):
        for p0 in range(0, shape.p, mapping.tile_p):
            rows = min(mapping.tile_p, shape.p - p0)
            h_start = p0 * shape.stride - shape.pad
            first = max(0, h_start)
            last = min(shape.h, h_start + (rows - 1) * shape.stride + shape.r)
            yield Tile(image, p0, rows, last - first)


def predict_counters(spec, mapping, inputs=None):
    """The counters that follow from the loop nest alone (not from timing or data): MACs,
    buffer accesses, register-file traffic, inter-PE transfers and DRAM traffic.  A layer
    reading X compressed reads what its int8 `inputs` (N x C x H x W) store, or without them
    the most it can (models/compression.py)."""
    if spec.dataflow == "rs":
        from .rs_perf import accelerator_counters   # it builds on this module
        return accelerator_counters(spec, mapping)
    shape, d = mapping.shape, mapping.descriptor
    bus = spec.dram_bus_bytes
    walk = list(tiles(mapping))
    fetches = weight_fetches(mapping)
    w_rows = weight_dram_rows(spec, shape, mapping_is_sparse(spec, mapping))
    band_pixels = sum(t.band_rows * shape.w for t in walk)
    x_reads = compressed_reads(spec, mapping, inputs)
    x_bytes = (x_reads["compressed_bytes_read"] if d["x_compressed"]
               else band_pixels * mapping.x_row_beats * bus)
    out_pixels = shape.n * shape.p * shape.q
    pes = spec.rows * spec.cols
    counters = {
        "macs": shape.macs,
        "rf_reads": shape.macs,
        "glb_input_writes": band_pixels * d["c_blocks"],
        "glb_input_reads": shape.n * d["k_blocks"] * d["c_blocks"] * d["word_blocks"]
        * sum(_inside(shape.p, shape.stride, r - shape.pad, shape.h) for r in range(shape.r))
        * sum(_inside(shape.q, shape.stride, s - shape.pad, shape.w) for s in range(shape.s)),
        "dram_bytes_read": x_bytes + (fetched_weight_beats(spec, mapping, w_rows)
                                      + (d["b_row_beats"] if mapping.post.bias else 0)) * bus,
        "dram_bytes_written": out_pixels * mapping.y_row_beats * bus,
        "macs_skipped": skipped_macs(spec, mapping),
    }
    counters["rf_reads"] -= counters["macs_skipped"]
    counters.update(compressed_writes(spec, mapping))
    counters.update(x_reads)
    counters.update(dict.fromkeys(RS_COUNTER_NAMES, 0))     # no row-stationary array
    counters["line_buffer_steps"] = 0                        # no depthwise line buffer
    if spec.dataflow == "os":
        # Every output pixel's word is written once per chunk and read back before every
        # chunk but the first and once for the write-back.
        groups = sum(_ceil_div(t.rows * shape.q, spec.rows) for t in walk)
        loads = groups * d["k_blocks"] * mapping.red_blocks * spec.rows
        weights = w_rows     # steps: one buffer word each
        drains = groups * d["k_blocks"] * d["c_chunks"]
        outputs = out_pixels * d["k_blocks"] * d["c_chunks"]
        counters.update({
            "busy_cycles": loads,
            "rf_writes": shape.macs - counters["macs_skipped"],
            # Inputs hop along rows and weights down columns every load cycle; each finished
            # sum climbs its column to the top (rows x (rows + 1) / 2 hops a column).
            "array_transfers": 2 * loads * pes
            + drains * spec.cols * spec.rows * (spec.rows + 1) // 2,
            "glb_weight_writes": fetches * weights,
            "glb_weight_reads": groups * weights,
            "glb_output_writes": outputs,
            "glb_output_reads": outputs,
        })
        return counters
    vectors = out_pixels * d["k_blocks"] * mapping.red_blocks
    written = vectors - paired_blocks.held_vectors(mapping, walk)
    commits = len(walk) * d["k_blocks"] * mapping.red_blocks
    counters.update({
        "busy_cycles": vectors,
        "rf_writes": commits * pes,
        # Each vector moves every PE's input and partial sum; each weight shift every chain.
        "array_transfers": 2 * vectors * pes + commits * spec.cols * pes,
        "glb_weight_writes": fetched_weight_rows(spec, mapping, shape.k * shape.r * shape.s)
        * d["c_blocks"] * d["word_blocks"],
        "glb_weight_reads": len(walk) * d["k_blocks"] * mapping.red_blocks * spec.cols,
        "glb_output_writes": written,
        # Accumulating reads every block but the first; writing back reads each word once
        # (a pair's held vector neither reads nor writes).
        "glb_output_reads": written,
    })
    if d["fold"]:
        counters.update(tap_fold.counters(spec, mapping, walk, fetches))
    if d["depthwise"]:
        counters.update(depthwise.counters(spec, mapping, walk, fetches))
        if d["dw_line"]:
            # Early weight shifts bring some blocks' words within `cols` cycles of the
            # block before's: their line-buffer steps overlap (at the model's DRAM timing).
            counters["line_buffer_steps"] -= _walk(spec, mapping, inputs=inputs)[1].line_overlap
    return counters


def line_buffer_step_bounds(spec, mapping):
    """(least, most) depthwise line-buffer steps of a weight-stationary run at any DRAM
    timing.  The ring steps in the `cols` cycles after each presented word, so consecutive
    blocks share steps only when an early weight shift brings the next block's words within
    `cols` cycles of the last block's, which depends on when its weights arrive: at most every
    block's steps apart (most), at least that less `cols` - 1 per consecutive pair of blocks.
    At the default timing `predict_counters` gives the exact count."""
    d = mapping.descriptor
    if spec.dataflow != "ws" or not d["dw_line"]:
        return 0, 0
    walk = list(tiles(mapping))
    most = depthwise.counters(spec, mapping, walk, weight_fetches(mapping))["line_buffer_steps"]
    return most - (len(walk) * d["k_blocks"] - 1) * (spec.cols - 1), most


def weight_fetches(mapping):
    """How many times the layer's weights cross DRAM: once if they stay resident, else once
    per tile."""
    return 1 if mapping.descriptor["w_resident"] else mapping.tiles


def fetched_weight_rows(spec, mapping, rows):
    """Rows of the layer's weights (`rows` in all) that cross DRAM: all of them at every
    fetch (`weight_fetches`); with streamed blocks (weight-stationary, descriptor
    `w_stream_blocks`), every row once and the streamed blocks' filters' again every tile
    after the first."""
    d = mapping.descriptor
    if not d["w_stream_blocks"]:
        return weight_fetches(mapping) * rows
    streamed = (d["w_stream_blocks"] - 1) * spec.cols + d["k_last"]
    return rows + (mapping.tiles - 1) * rows // mapping.shape.k * streamed


def fetched_weight_beats(spec, mapping, w_rows):
    """DRAM beats of the layer's weights (`w_rows` rows, `weight_dram_rows`) that cross DRAM:
    output-stationary, every filter block's (models/sparse_os.py `chunk_loads`) at every
    fetch; else the `fetched_weight_rows` of `w_row_beats` each."""
    d = mapping.descriptor
    if spec.dataflow == "os":
        return weight_fetches(mapping) * d["k_blocks"] * d["w_block_beats"]
    return fetched_weight_rows(spec, mapping, w_rows) * mapping.w_row_beats


def weight_dram_rows(spec, shape, sparse=False, rs_choice=None):
    """Rows of W in the dataflow's layout (models.mapper.weight_rows), which each tile reads
    once: one per (k, r, s) for weight-stationary; for output-stationary one weight-buffer
    word (step) per (filter block, r, s, c), a DRAM row each (a 2:4 layer on a 2:4 array:
    per kept-weight step, half as many, and a chunk's steps one DRAM row:
    models/sparse_os.py); row-stationary: `rs_choice`'s layout, or the layer's own."""
    if spec.dataflow == "os":
        return _ceil_div(shape.k, spec.cols) * shape.r * shape.s \
            * weight_steps(spec, shape.c, sparse)
    if spec.dataflow == "rs":
        from .row_stationary import weight_rows_count   # it imports the mapper, which imports us
        return weight_rows_count(spec, shape, rs_choice)
    return shape.k * shape.r * shape.s


def _ceil_div(a, b):
    return -(-a // b)


def _inside(outputs, stride, offset, size):
    """How many of `outputs` windows, stepping by `stride` from `offset`, start inside
    [0, size): the taps of one kernel row or column that read real input, not padding."""
    return sum(0 <= i * stride + offset < size for i in range(outputs))


DRAM_LATENCY = 20
"""Cycles from a read request to its first beat in the simulated DRAM, unless told otherwise."""
READ_OVERHEAD = 3
"""Cycles a DMA read adds to its transfer: the request, the gearbox and the last write."""
WRITE_OVERHEAD = 5 + POSTPROCESS_LATENCY
"""Cycles from the writer taking a write-back job to its being idle again, beyond the beats:
buffer read, post-processor pipeline, FIFO, gearbox and the last beat's handshake."""


def predict_cycles(spec, mapping, dram_latency=DRAM_LATENCY, outputs=None, inputs=None):
    """Cycles from start to done, phase by phase as the controller walks the loops; for a
    layer whose outputs are written compressed, exact only given its int8 `outputs`, and for
    one reading its inputs compressed, only given its int8 `inputs` (models/compression.py).

    Assumes the DRAM of testbench/dram_model.sv: `dram_latency` cycles to a read burst's
    first beat, then one beat a cycle, with enough requests in flight (32) to cover the
    latency, and no random stalls.
    """
    return _walk(spec, mapping, dram_latency, outputs, inputs)[0]


def early_shifts(spec, mapping):
    """The chunks of a weight-stationary layer whose first block's weights shift in while
    the chunk before them streams (`_WeightStationary`): {"prefetched": n, "resident": n}."""
    return _walk(spec, mapping)[1].early_shifts


def _walk(spec, mapping, dram_latency=DRAM_LATENCY, outputs=None, inputs=None):
    """predict_cycles' walk: (cycles, the inner loops' streamer at the end)."""
    shape, d = mapping.shape, mapping.descriptor

    bus_bits = 8 * spec.dram_bus_bytes

    def read(rows, row_elems, elem_bits, word_elems):
        # One beat a cycle from DRAM, one word a cycle into the buffer, through the gearbox.
        beat_elems = bus_bits // elem_bits
        beats = [beat_elems] * ((row_elems - 1) // beat_elems) \
            + [row_elems - (row_elems - 1) // beat_elems * beat_elems]
        return dram_latency + rows * gearbox_row_cycles(tuple(beats), word_elems) \
            + READ_OVERHEAD

    if spec.dataflow == "rs":
        from .rs_perf import RowStationaryStreamer as streamer_class   # it imports us
    else:
        streamer_class = _OutputStationary if spec.dataflow == "os" else _WeightStationary
    streamer = streamer_class(spec, mapping)
    cycles = writer_free = 0     # writer_free: the first cycle the DMA writer is idle
    halves = d["y_half_words"] != 0
    if mapping.post.bias:
        cycles += 1 + read(1, shape.k, DRAM_WORD_BITS, spec.cols)
    x_rows = compressed_input_rows(spec, mapping, inputs)
    walk = list(tiles(mapping))
    band_in = None        # when a band loaded ahead is in, if this tile's was
    for index, tile in enumerate(walk):
        pixels = tile.rows * shape.q
        if band_in is None:
            cycles += 2 + band_read_cycles(spec, mapping, x_rows, tile, dram_latency,
                                           read(tile.band_rows * (1 if d["fold"] else shape.w),
                                                d["c"], spec.operand_bits, spec.input_lanes))
        else:
            cycles = max(cycles + 3, band_in)
        following_tile = walk[index + 1] if index + 1 < len(walk) else None
        ahead = band_prefetch.loads_ahead(mapping, tile, following_tile)
        trigger = band_prefetch.trigger_chunk(mapping, index == 0) if ahead else None
        band_in = None
        resident = index and d["w_resident"]
        first_streamed = d["k_blocks"] - d["w_stream_blocks"]
        ready = None          # when a prefetched chunk's weights are in, if one was fetched
        for first_kb in range(0, d["k_blocks"], d["k_group_blocks"]):
            group = min(d["k_group_blocks"], d["k_blocks"] - first_kb)
            if first_kb:
                cycles += 1  # the next group waits for the write-back to end
            for kb in range(first_kb, first_kb + group):
                for chunk in range(d["c_chunks"]):
                    if resident and kb < first_streamed:
                        cycles += 1
                    elif ready is None:
                        cycles += 1 + read(*_weight_load(spec, mapping, kb, chunk))
                    else:
                        cycles = max(cycles, ready) + 1
                    if not halves:
                        # One output buffer: streaming waits for the last write-back.
                        cycles = max(cycles, writer_free + 2)
                    following = _following(d, kb, chunk)
                    prefetch = read(*_weight_load(spec, mapping, *following)) \
                        if following and d["w_half_words"] else None
                    streamer.next_resident = bool(resident and following
                                                  and following[0] < first_streamed)
                    if (kb, chunk) == trigger:
                        band_in = cycles + band_prefetch.PREFETCH_STEPS + read(
                            following_tile.band_rows * (1 if d["fold"] else shape.w), d["c"],
                            spec.operand_bits, spec.input_lanes)
                    cycles, ready = streamer.chunk(cycles, pixels, chunk, prefetch)
            last_group = first_kb + group == d["k_blocks"]
            words = (d["y_word_elems"],) * (group - 1) \
                + (d["y_last_elems"] if last_group else d["y_word_elems"],)
            per_pixel = gearbox_row_cycles(words, bus_bits // spec.operand_bits)
            # The write-back starts once the writer is free and runs beside what follows.
            accepted = max(streamer.drained(cycles) + 1, writer_free)
            writer_free = compressed_write_end(spec, mapping, outputs, tile, first_kb, words,
                                               accepted,
                                               accepted + pixels * per_pixel + WRITE_OVERHEAD)
            cycles = accepted + 2
    return writer_free + 1, streamer


class _WeightStationary:
    """The weight-stationary inner loops: commit a block's weights, stream the tile's pixels.
    The next block's weights shift in while the current one streams; a register-file slot
    frees `latency` after its last use; slots keep alternating throughout the layer.  A
    chunk's last block's commit starts the next chunk's first shift too, when that chunk's
    weights are in by then: prefetched, or resident (`next_resident`, set before each chunk:
    the chunk after it in the tile is)."""

    def __init__(self, spec, mapping):
        self.spec, self.mapping = spec, mapping
        self.latency = spec.rows + spec.cols - 1
        d = mapping.descriptor
        self.lead = depthwise.drain_lead(mapping.shape, d["dw_line"]) if d["depthwise"] else 0
        self.freed = [0] * spec.rf_depth
        self.used = 0
        self.next_resident = False
        self.early = None     # when the next chunk's first block, shifted early, is loaded
        self.early_shifts = {"prefetched": 0, "resident": 0}
        self.line_overlap = 0     # line-buffer steps two blocks' step tails share
        self.last_word = None     # when the last block's last word reached the array

    def chunk(self, cycles, pixels, chunk, prefetch):
        """Stream one chunk from `cycles`; return (end, when the prefetch is in or None)."""
        spec, shape, d = self.spec, self.mapping.shape, self.mapping.descriptor
        blocks = min(d["c_chunk_blocks"], d["c_blocks"] - chunk * d["c_chunk_blocks"])
        loaded = cycles + spec.cols + 1 if self.early is None else self.early
        self.early = None
        if d["paired"]:
            cycles, ready, commit = paired_blocks.stream_chunk(
                self, cycles, loaded, pixels, d["taps"] * blocks * d["word_blocks"], prefetch)
        else:
            cycles, ready, commit = self._stream_blocks(cycles, loaded, pixels, blocks,
                                                        prefetch)
        weights_in = ready if prefetch is not None else 0 if self.next_resident else None
        if weights_in is not None and weights_in <= commit:
            self.early = commit + spec.cols + 2
            self.early_shifts["prefetched" if prefetch is not None else "resident"] += 1
        return cycles, ready

    def _stream_blocks(self, cycles, loaded, pixels, blocks, prefetch):
        """The unpaired blocks of a chunk of `blocks` channel blocks: (end, when the prefetch
        is in or None, the last block's commit)."""
        spec, shape, d = self.spec, self.mapping.shape, self.mapping.descriptor
        ready = None
        fold = tap_fold.plan_of(spec, self.mapping) if d["fold"] else None
        for block in range(d["taps"] * blocks * d["word_blocks"]):
            stream = tap_fold.block_cycles(fold, block, pixels, pixels // shape.q) if fold \
                else pixels
            if d["depthwise"]:
                stream = depthwise.block_cycles(pixels, shape, d["dw_line"])
            slot = self.used % spec.rf_depth
            commit = max(cycles, loaded, self.freed[slot])
            if block == 0 and prefetch is not None:
                ready = commit + prefetch
            self.freed[slot] = commit + stream + 3 + self.latency
            if d["dw_line"]:
                # The line buffer steps in the `cols` cycles after each word presented
                # (commit + 2 to commit + stream + 1): a block's first steps may be the
                # block before's last.
                if self.last_word is not None:
                    self.line_overlap += max(0, spec.cols - (commit + 2 - self.last_word))
                self.last_word = commit + stream + 1
            loaded = commit + spec.cols + 2
            cycles = commit + 1 + stream
            self.used += 1
        return cycles, ready, commit

    def drained(self, cycles):
        """The cycle before the drain of a group entering it at `cycles` ends (the write-back
        job is offered the cycle after)."""
        return cycles + 1 + self.latency - self.lead


class _OutputStationary:
    """The output-stationary inner loops: groups of `rows` pixels, each streaming the
    chunk's reduction blocks one pixel (array row) a cycle.  A group whose reduction is one
    block may wait for the array's drain spacing after the group before it."""

    def __init__(self, spec, mapping):
        self.spec, self.mapping = spec, mapping
        self.last_load = None
        self.drain_end = 0

    def chunk(self, cycles, pixels, chunk, prefetch):
        spec, shape, d = self.spec, self.mapping.shape, self.mapping.descriptor
        rows = spec.rows
        blocks = min(d["c_chunk_blocks"], d["c_blocks"] - chunk * d["c_chunk_blocks"])
        steps = shape.r * shape.s * blocks * d["word_blocks"]
        ready = None
        for first in range(0, pixels, rows):
            start = cycles
            if steps == 1 and self.last_load is not None:
                while not os_drain_spacing_ok(rows + 1 + min(start - self.last_load - 1,
                                                           2 * rows), rows):
                    start += 1
            if first == 0 and prefetch is not None:
                ready = start + prefetch
            self.last_load = start + steps * rows
            cycles = self.last_load + 1
            # The drain may end once the last valid row's output word (row r's leaves the
            # array 2 r + cols + 2 cycles after the group's last load) is in the output buffer
            # and the last row's serializer is empty; a short group can end before the group
            # ahead of it has drained.
            last_row = min(rows, pixels - first) - 1
            self.drain_end = max(self.drain_end, self.last_load
                                 + max(2 * last_row + spec.cols + 4, rows + 2))
        return cycles, ready

    def drained(self, cycles):
        return self.drain_end - 1


def _weight_load(spec, mapping, kb, chunk):
    """(rows, elements per row, element bits, elements per buffer word) of the weight load of
    block `kb`, chunk `chunk`."""
    d, shape = mapping.descriptor, mapping.shape
    if spec.dataflow == "rs":
        last_kb, last_chunk = kb == d["k_blocks"] - 1, chunk == d["c_chunks"] - 1
        rows = d[("w_rows", "w_rows_last_chunk", "w_rows_last_k",
                  "w_rows_last_both")[2 * last_kb + last_chunk]]
        return rows, spec.rows, spec.operand_bits, spec.rows
    channels = min(d["c_chunk_blocks"] * spec.input_lanes, shape.c - chunk * d["c_chunk_blocks"]
                   * spec.input_lanes)
    if spec.dataflow == "os":
        last = chunk == d["c_chunks"] - 1
        return (d["w_rows_last_chunk" if last else "w_rows"],
                d["w_last_row_elems" if last else "w_row_elems"], spec.operand_bits,
                spec.weight_lanes)
    active = d["k_last"] if kb == d["k_blocks"] - 1 else spec.cols
    if spec.skips_weights:
        # Packed 2:4 rows (models/sparsity.py): the chunk's weight blocks, a buffer word each
        # (a folded layer's rows are one per (k, r): its `taps` are the kernel rows).
        row_elems = d["w_last_row_elems" if chunk == d["c_chunks"] - 1 else "w_row_elems"]
        return active * d["taps"], row_elems, spec.operand_bits, spec.weight_lanes
    if d["fold"]:
        return active * d["taps"], d["chunk_elems"], spec.operand_bits, spec.rows
    if d["depthwise"]:
        return (active * depthwise.filter_rows(shape, d["dw_line"]), d["chunk_elems"],
                spec.operand_bits, spec.rows)
    return active * shape.r * shape.s, channels, spec.operand_bits, spec.rows


@functools.lru_cache(maxsize=None)
def gearbox_row_cycles(chunks, out_elems):
    """Cycles per row through pyhdl/gearbox.py's RowGearbox, one input chunk offered a cycle:
    each row is the input chunks of `chunks` elements, repacked into `out_elems` a cycle.
    Every row starts from an empty gearbox, so the cost of a row is that of the second of two
    (the first also pays the one-cycle latency)."""
    return _gearbox_cycles(chunks, 2, out_elems) - _gearbox_cycles(chunks, 1, out_elems)


def _gearbox_cycles(chunks, rows, out_elems):
    """Cycles until the gearbox has taken and emitted `rows` rows of input chunks of
    `chunks` elements, mirroring its ready/valid rules."""
    stream = chunks * rows
    fill, row_end, taken, cycles = 0, False, 0, 0
    while taken < len(stream) or fill or row_end:
        emit = fill >= out_elems or (row_end and fill != 0)
        after = (fill - out_elems if fill >= out_elems else 0) if emit else fill
        if taken < len(stream) and (not row_end or after == 0) and after <= out_elems:
            fill, row_end = after + stream[taken], (taken + 1) % len(chunks) == 0
            taken += 1
        else:
            fill, row_end = after, row_end and after != 0
        cycles += 1
    return cycles


def _following(d, kb, chunk):
    """The (block, chunk) of weights after this one within a tile, or None."""
    if chunk + 1 < d["c_chunks"]:
        return kb, chunk + 1
    if kb + 1 < d["k_blocks"]:
        return kb + 1, 0
    return None


def model_counters(spec, mapping, nonzero_channels=None, dram_latency=DRAM_LATENCY):
    """Every counter of models.counters for data without zeros: the loop nest's counters, the
    cycles, no stalls, and as gated MACs those on padding or on structurally zero weights
    (a filter reading only `nonzero_channels` of the run's channels, as in a grouped layer).
    For a 2:4 run, the pruned weights are the skipped MACs and the kept ones non-zero, so the
    gated MACs are the same."""
    shape = mapping.shape
    counters = predict_counters(spec, mapping)
    taps = sum(_inside(shape.p, shape.stride, r - shape.pad, shape.h) for r in range(shape.r)) \
        * sum(_inside(shape.q, shape.stride, s - shape.pad, shape.w) for s in range(shape.s))
    nonzero = shape.n * shape.k * (nonzero_channels or shape.c) * taps
    counters.update(cycles=predict_cycles(spec, mapping, dram_latency), stall_cycles=0,
                    macs_gated=shape.macs - nonzero)
    return counters
