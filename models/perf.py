"""The analytical performance model: what the RTL will do for a mapping, without simulating.

`predict_counters` gives MACs, buffer accesses, register-file writes and DRAM traffic exactly
as the controller's loops generate them; `predict_cycles` the cycles, phase by phase.  The
tests hold both to the RTL's counters on every layer they simulate.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    """One tile of output rows: its image, first output row, rows, and input band rows."""

    image: int
    p0: int
    rows: int
    band_rows: int


def tiles(mapping):
    """The tiles the controller walks, in order."""
    shape = mapping.shape
    for image in range(shape.n):
        for p0 in range(0, shape.p, mapping.tile_p):
            rows = min(mapping.tile_p, shape.p - p0)
            h_start = p0 * shape.stride - shape.pad
            first = max(0, h_start)
            last = min(shape.h, h_start + (rows - 1) * shape.stride + shape.r)
            yield Tile(image, p0, rows, last - first)


def predict_counters(spec, mapping):
    """The counters that follow from the loop nest alone (not from timing or data): MACs,
    buffer accesses, register-file traffic, inter-PE transfers and DRAM traffic."""
    shape, d = mapping.shape, mapping.descriptor
    bus = spec.dram_bus_bytes
    walk = list(tiles(mapping))
    band_pixels = sum(t.band_rows * shape.w for t in walk)
    out_pixels = shape.n * shape.p * shape.q
    weight_rows = shape.k * shape.r * shape.s
    vectors = out_pixels * d["k_blocks"] * mapping.red_blocks
    commits = len(walk) * d["k_blocks"] * mapping.red_blocks
    pes = spec.rows * spec.cols
    return {
        "macs": shape.macs,
        "rf_reads": shape.macs,
        "busy_cycles": vectors,
        "rf_writes": commits * pes,
        # Each vector moves every PE's input and partial sum; each weight shift every chain.
        "array_transfers": 2 * vectors * pes + commits * spec.cols * pes,
        "glb_input_writes": band_pixels * d["c_blocks"],
        "glb_weight_writes": len(walk) * weight_rows * d["c_blocks"],
        "glb_weight_reads": len(walk) * d["k_blocks"] * mapping.red_blocks * spec.cols,
        "glb_output_writes": vectors,
        "glb_input_reads": shape.n * d["k_blocks"] * d["c_blocks"]
        * sum(_inside(shape.p, shape.stride, r - shape.pad, shape.h) for r in range(shape.r))
        * sum(_inside(shape.q, shape.stride, s - shape.pad, shape.w) for s in range(shape.s)),
        # Accumulating reads every block but the first; writing back reads each word once.
        "glb_output_reads": vectors,
        "dram_bytes_read": (band_pixels * mapping.x_row_beats
                            + len(walk) * weight_rows * mapping.w_row_beats
                            + (d["b_row_beats"] if mapping.post.bias else 0)) * bus,
        "dram_bytes_written": out_pixels * mapping.y_row_beats * bus,
    }



def _inside(outputs, stride, offset, size):
    """How many of `outputs` windows, stepping by `stride` from `offset`, start inside
    [0, size): the taps of one kernel row or column that read real input, not padding."""
    return sum(0 <= i * stride + offset < size for i in range(outputs))


DRAM_LATENCY = 20
"""Cycles from a read request to its first beat in the simulated DRAM, unless told otherwise."""
READ_OVERHEAD = 3
"""Cycles a DMA read adds to its transfer: the request, the gearbox and the last write."""
TILE_END_OVERHEAD = 7
"""Cycles between a tile's last vector leaving the array and its write-back finishing, beyond
the array latency and the beats: accumulator stages, drain check, writer FIFO and gearbox."""


def predict_cycles(spec, mapping, dram_latency=DRAM_LATENCY):
    """Cycles from start to done, phase by phase as the controller walks the loops.

    Assumes the DRAM of testbench/dram_model.sv: `dram_latency` cycles to a read burst's
    first beat, then one beat a cycle, with enough requests in flight (32) to cover the
    latency, and no random stalls.
    """
    shape, d = mapping.shape, mapping.descriptor
    cols = spec.cols
    latency = spec.rows + spec.cols - 1
    depth = spec.rf_depth

    def read(rows, beats, words):
        # One beat a cycle from DRAM, one word a cycle into the buffer: the slower wins.
        return dram_latency + rows * max(beats, words) + READ_OVERHEAD

    cycles = used = 0
    freed = [0] * depth
    if mapping.post.bias:
        cycles += 1 + read(1, d["b_row_beats"], d["k_blocks"])
    double = d["w_half_words"] != 0
    for tile in tiles(mapping):
        pixels = tile.rows * shape.q
        cycles += 2 + read(tile.band_rows * shape.w, mapping.x_row_beats, d["c_blocks"])
        ready = None          # when a prefetched chunk's weights are in, if one was fetched
        for first_kb in range(0, d["k_blocks"], d["k_group_blocks"]):
            group = min(d["k_group_blocks"], d["k_blocks"] - first_kb)
            if first_kb:
                cycles += 1  # the next group waits for the write-back to end
            for kb in range(first_kb, first_kb + group):
                for chunk in range(d["c_chunks"]):
                    blocks = min(d["c_chunk_blocks"], d["c_blocks"] - chunk * d["c_chunk_blocks"])
                    if ready is None:
                        cycles += 1 + read(*_weight_load(spec, mapping, kb, chunk))
                    else:
                        cycles = max(cycles, ready) + 1
                    # Commit times of the chunk's reduction blocks: the next block's weights
                    # shift in while the current one streams; a register-file slot frees
                    # `latency` after its last use.  Slots keep alternating throughout.
                    loaded = cycles + cols + 1
                    ready = None
                    for block in range(shape.r * shape.s * blocks):
                        slot = used % depth
                        commit = max(cycles, loaded, freed[slot])
                        if block == 0 and double:
                            following = _following(d, kb, chunk)
                            if following:
                                ready = commit + read(*_weight_load(spec, mapping, *following))
                        freed[slot] = commit + pixels + 3 + latency
                        loaded = commit + cols + 2
                        cycles = commit + 1 + pixels
                        used += 1
            beats = min(d["y_group_beats"], mapping.y_row_beats - first_kb // d["k_group_blocks"]
                        * d["y_group_beats"])
            cycles += 1 + latency + pixels * max(beats, group) + TILE_END_OVERHEAD
    return cycles


def _weight_load(spec, mapping, kb, chunk):
    """(rows, beats per row, words per row) of the weight load of block `kb`, chunk `chunk`."""
    d, shape = mapping.descriptor, mapping.shape
    active = d["k_last"] if kb == d["k_blocks"] - 1 else spec.cols
    blocks = min(d["c_chunk_blocks"], d["c_blocks"] - chunk * d["c_chunk_blocks"])
    beats = min(d["w_chunk_beats"], mapping.w_row_beats - chunk * d["w_chunk_beats"])
    return active * shape.r * shape.s, beats, blocks


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
    (a filter reading only `nonzero_channels` of the run's channels, as in a grouped layer)."""
    shape = mapping.shape
    counters = predict_counters(spec, mapping)
    taps = sum(_inside(shape.p, shape.stride, r - shape.pad, shape.h) for r in range(shape.r)) \
        * sum(_inside(shape.q, shape.stride, s - shape.pad, shape.w) for s in range(shape.s))
    nonzero = shape.n * shape.k * (nonzero_channels or shape.c) * taps
    counters.update(cycles=predict_cycles(spec, mapping, dram_latency), stall_cycles=0,
                    macs_gated=shape.macs - nonzero)
    return counters
