"""The testbench for `sim_top`: clock, reset, registers, DRAM image in and out, counters."""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, with_timeout

from models.compression import compress_rows, dense_image
from models.counters import COUNTER_NAMES
from models.layout import pack_rows, packed_rows, pixel_rows, unpack_rows
from models.mapper import (ConvShape, PostProcess, block_diagonal_weights,
                           weight_rows)
from models.perf import DRAM_LATENCY
from models.spec import DRAM_WORD_BITS
from models.registers import (CONTROL, COUNTER_WORDS, STATUS, STATUS_DONE,
                              counter_address, descriptor_address)

from .dram_image import read_image, write_image
from .placement import layer_parts

CLOCK_NS = 2
POISON = 0xA5
"""Byte written over the output region before a layer, so a missing write cannot pass."""
MAIN_CLOCK_ENV = "PEFORGE_MAIN_CLOCK"
"""Set when the simulator's main loop clocks sim_top itself (testbench/runner.py's
clocked_main); without it the testbench clocks it with a cocotb Clock."""
LOAD_FILE, DUMP_FILE = "dram_load.bin", "dram_dump.bin"
"""The DRAM images a run directory holds (+dram_load= and +dram_dump= of dram_model.sv)."""


@dataclass(frozen=True)
class DramTiming:
    """The simulated DRAM's behaviour (see dram_model.sv): latency and idle gap in cycles,
    stall probability in 1/256ths per cycle, and the seed of its random stalls."""

    latency: int = DRAM_LATENCY
    gap: int = 0
    stall: int = 0
    seed: int = 1


class AcceleratorTB:
    """Drives one `sim_top`: every layer is loaded into DRAM from a binary file, started
    through the registers, awaited on `done` and read back, so Python does no work per clock
    cycle."""

    def __init__(self, dut, spec, work_dir):
        self.dut = dut
        self.spec = spec
        self.work_dir = Path(work_dir)
        self.load_path = self.work_dir / LOAD_FILE
        self.dump_path = self.work_dir / DUMP_FILE

    async def start(self, timing=DramTiming()):
        """Start the clock (unless the simulator's main loop drives it) and reset the design
        with the given DRAM timing; DRAM writes are unguarded until `guard_writes`."""
        self.dut.guard_writes.value = 0
        if not os.environ.get(MAIN_CLOCK_ENV):
            Clock(self.dut.clk, CLOCK_NS, unit="ns").start()
        await self.reset(timing)

    def guard_writes(self, first_beat, beats):
        """From the next cycle on, a DRAM write outside beats [first_beat, first_beat + beats)
        stops the simulation (dram_model.sv)."""
        self.dut.write_first.value = first_beat
        self.dut.write_last.value = first_beat + beats - 1
        self.dut.guard_writes.value = 1

    def configure(self, timing):
        """Set the DRAM's timing; it applies from the next cycle (the seed at reset)."""
        self.dut.cfg_latency.value = timing.latency
        self.dut.cfg_gap.value = timing.gap
        self.dut.cfg_stall.value = timing.stall
        self.dut.cfg_seed.value = timing.seed

    async def reset(self, timing):
        dut = self.dut
        for name in ("bus_w_stb", "load_stb", "dump_stb", "bus_addr", "bus_w_data"):
            getattr(dut, name).value = 0
        self.configure(timing)
        dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    async def write_register(self, addr, value):
        self.dut.bus_addr.value = addr
        self.dut.bus_w_data.value = value
        self.dut.bus_w_stb.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.bus_w_stb.value = 0

    async def read_register(self, addr):
        self.dut.bus_addr.value = addr
        await RisingEdge(self.dut.clk)
        await RisingEdge(self.dut.clk)
        return int(self.dut.bus_r_data.value)

    async def read_counters(self):
        counters = {}
        for name in COUNTER_NAMES:
            base = counter_address(name)
            words = [await self.read_register(base + i) for i in range(COUNTER_WORDS)]
            counters[name] = sum(word << (32 * i) for i, word in enumerate(words))
        return counters

    async def load_dram(self, regions):
        """Write `regions` [(first_beat, bytes)] into DRAM (one cycle)."""
        write_image(self.load_path, regions, self.spec.dram_bus_bytes)
        self.dut.load_stb.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.load_stb.value = 0

    async def dump_dram(self, first_beat, beats):
        """The bytes of DRAM beats [first_beat, first_beat + beats) (two cycles)."""
        self.dut.dump_first.value = first_beat
        self.dut.dump_last.value = first_beat + beats - 1
        self.dut.dump_stb.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.dump_stb.value = 0
        await RisingEdge(self.dut.clk)
        return read_image(self.dump_path)

    async def run_descriptor(self, descriptor, timeout_cycles):
        """Write the descriptor, start, and wait for done; return the counters."""
        for name, value in descriptor.items():
            await self.write_register(descriptor_address(name), value)
        await self.write_register(CONTROL, 1)
        await with_timeout(RisingEdge(self.dut.done), timeout_cycles * CLOCK_NS, "ns")
        await RisingEdge(self.dut.clk)
        status = await self.read_register(STATUS)
        if not status & STATUS_DONE:
            raise AssertionError(f"done pin rose but STATUS reads {status:#x}")
        return await self.read_counters()

    async def run_conv(self, x, w, stride=1, pad=0, groups=1, bias=None, requant=None,
                       relu=False, pad_value=0, x_compressed=False):
        """Run a convolution (x NCHW, w K x C/groups x R x S, padding of `pad_value`,
        optional int32 bias of K, requantization (mult, shift, zero point), ReLU) on the RTL;
        a grouped one runs as several hardware runs over channel slices; with `x_compressed`,
        X placed compressed when it can be (testbench/placement.py).  Return (Y as NKPQ,
        summed counters)."""
        spec = self.spec
        (n, c, h, width), (k, _, r, s) = x.shape, w.shape
        post = PostProcess(bias is not None, requant, relu)
        layer = ConvShape(n, c, h, width, k, r, s, stride, pad, pad_value)
        parts = layer_parts(spec, layer, groups, post, w, x_compressed)
        first = parts[0].mapping
        # The layer's own output shape: a mapping may run the layer as another convolution
        # with the same pixels in the same order (row-stationary runs one pixel wide images
        # as one row, models.row_stationary.fc_row).
        p, q = layer.p, layer.q
        # Y's slots, and its length table when the hardware writes Y compressed.
        y_beats = n * p * q * first.y_pitch + first.y_table_beats
        bits = spec.operand_bits if requant is not None else DRAM_WORD_BITS
        regions = input_regions(spec, x, first) + [poison_region(spec, first.y_addr,
                                                                y_beats)]
        if bias is not None:
            regions.append(bias_region(spec, first.b_addr, bias))
        regions += weight_regions(spec, w, groups, parts)
        await self.load_dram(regions)
        self.guard_writes(first.y_addr, y_beats)
        totals = {}
        for part in parts:
            counters = await self.run_descriptor(part.mapping.descriptor,
                                                 timeout_cycles(spec, part.mapping))
            totals = {name: totals.get(name, 0) + value for name, value in counters.items()}
        image = dense_image(await self.dump_dram(first.y_addr, y_beats), first, spec)
        y = unpack_rows(image, n * p * q, k, bits, spec.dram_bus_bytes).reshape(n, p, q, k)
        return y.transpose(0, 3, 1, 2), totals

    async def run_fc(self, x, w, **post):
        """Run Y = X . W^T (x is M x C, w is K x C) on the RTL; return (Y, counters)."""
        (m, c), k = x.shape, w.shape[0]
        y, counters = await self.run_conv(x.T.reshape(1, c, m, 1), w.reshape(k, c, 1, 1),
                                          **post)
        return y.reshape(k, m).T, counters


def input_region(spec, x, first_beat=0, packed=False):
    """The DRAM region of NCHW inputs `x`: one row of operands per pixel (NHWC), or with
    `packed` one per image row (models/layout.py `packed_rows`)."""
    rows = packed_rows(x) if packed else pixel_rows(x)
    return first_beat, pack_rows(rows, spec.operand_bits, spec.dram_bus_bytes)


def input_regions(spec, x, mapping):
    """The DRAM regions of a layer's NCHW inputs `x` as `mapping` reads them: dense from
    beat 0, or compressed (models/compression.py `compress_rows`) with the length table at
    the descriptor's `x_table_addr`."""
    d = mapping.descriptor
    if not d["x_compressed"]:
        return [input_region(spec, x, mapping.x_addr, packed=bool(d["fold"]))]
    bus = spec.dram_bus_bytes
    _, rows = input_region(spec, x)
    slots, table = compress_rows(rows.reshape(-1, mapping.x_row_beats * bus), bus,
                                 mapping.x_pitch, mapping.shape.w)
    return [(mapping.x_addr, slots), (d["x_table_addr"], table)]


def weight_regions(spec, w, groups, parts):
    """The DRAM regions of weights `w` (K x C/groups x R x S), one per hardware run."""
    regions = []
    for part in parts:
        dense = block_diagonal_weights(w, groups, part) if groups > 1 else w
        regions.append((part.mapping.w_addr, pack_rows(
            weight_rows(spec, part.mapping, dense), spec.operand_bits, spec.dram_bus_bytes)))
    return regions


def bias_region(spec, first_beat, bias):
    """The DRAM region of an int32 bias of K."""
    return first_beat, pack_rows(bias.reshape(1, -1), DRAM_WORD_BITS, spec.dram_bus_bytes)


def poison_region(spec, first_beat, beats):
    """POISON over an output region, so a beat the layer fails to write cannot pass."""
    return first_beat, np.full(beats * spec.dram_bus_bytes, POISON, dtype=np.uint8)


def timeout_cycles(spec, mapping):
    """A generous bound on a layer's cycles: every MAC serial, every beat slow, and every
    reduction block paying the array's full latency."""
    d = mapping.descriptor
    blocks = mapping.tiles * d["k_blocks"] * mapping.red_blocks
    beats = mapping.dram_beats * mapping.tiles
    return 10_000 + 4 * mapping.shape.macs // spec.peak_macs_per_cycle + 64 * beats \
        + 4 * blocks * (spec.rows + spec.cols + 4)
