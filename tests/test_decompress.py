# amaranth: UnusedElaboratable=no
"""The DMA reader reading compressed rows (pyhdl/dma.py DmaReader with a
CompressedRowFetcher, pyhdl/compress.py) in Amaranth's simulator: rows the host placed with
`compress_rows` (encoded, stored dense, all-zero, no-zero) land in the buffer exactly as their
dense values, for jobs starting anywhere in the length table, between dense jobs, under a
DRAM that stalls and returns data late; the table is fetched once per beat of entries."""

import random
from types import SimpleNamespace

import numpy as np
import pytest

from models.compression import (band_rows, compress_rows, compressed_read_cycles,
                                stored_bytes, table_beats, unit_beats)
from pyhdl.dma import DmaReader
from testbench.amaranth_sim import simulate

BUS = 8
ELEMS_PER_WORD = 4


def sparse_rows(rng, count, row_bytes):
    """Rows with zeros from 0 to 100 %: the first all zero, the second with none."""
    zeros = [1.0, 0.0] + list(rng.random(count - 2))
    values = rng.integers(1, 256, (count, row_bytes))
    return np.stack([np.where(rng.random(row_bytes) < z, 0, v)
                     for z, v in zip(zeros, values)]).astype(np.uint8)


class Dram:
    """Beats by address; read commands answered in order after `latency` cycles, each beat
    of the data stream offered with probability `p_data`; commands recorded."""

    def __init__(self, beats, latency, p_data, rng):
        self.beats, self.latency, self.p_data, self.rng = beats, latency, p_data, rng
        self.pending, self.commands = [], []

    def command(self, cycle, addr, length):
        self.commands.append((addr, length))
        self.pending += [(cycle + self.latency, addr + i) for i in range(length)]

    def offer(self, cycle):
        """The beat offered this cycle, or None."""
        if self.pending and self.pending[0][0] <= cycle and self.rng.random() < self.p_data:
            return self.pending[0][1]
        return None


def set_job(ctx, dut, addr, count, row_beats, pitch, row_elems, first, compressed, unit):
    """Offer the reader a job of `count` rows to buffer word 0 (`first`: the first row's
    length-table entry; units of `unit` rows)."""
    ctx.set(dut.job.valid, 1)
    p = dut.job.payload
    for field, value in (("base", 0), ("addr", addr), ("rows", count),
                         ("row_beats", row_beats), ("pitch", pitch), ("row_elems", row_elems)):
        ctx.set(getattr(p, field), value)
    ctx.set(dut.table_row, first)
    ctx.set(dut.unit_rows, unit)
    ctx.set(dut.decompress, compressed)
    ctx.set(dut.dram_cmd.ready, 1)


async def run_job(ctx, dut, dram, cycle, words):
    """Run the offered job against `dram` from `cycle` until the reader is idle, recording
    buffer writes in `words`; return (the first idle cycle, the cycles from acceptance)."""
    accepted_at = None
    for _ in range(5000):
        offered = dram.offer(cycle)
        ctx.set(dut.dram_data.valid, offered is not None)
        if offered is not None:
            ctx.set(dut.dram_data.payload, dram.beats[offered])
        if ctx.get(dut.dram_cmd.valid):
            dram.command(cycle, ctx.get(dut.dram_cmd.payload.addr),
                         ctx.get(dut.dram_cmd.payload.length))
        if offered is not None and ctx.get(dut.dram_data.ready):
            dram.pending.pop(0)
        if ctx.get(dut.buffer.en):
            words[ctx.get(dut.buffer.addr)] = ctx.get(dut.buffer.data)
        accepted = ctx.get(dut.job.valid) and ctx.get(dut.job.ready)
        await ctx.tick()
        cycle += 1
        if accepted:
            accepted_at = cycle - 1
            ctx.set(dut.job.valid, 0)
        elif accepted_at is not None and not ctx.get(dut.busy):
            return cycle, cycle - accepted_at
    raise AssertionError("the read job did not finish")


def stream_addresses(rows, bus, first, count, unit, pitch, row_beats):
    """The slot beats (from the tensor's first) a band's units' streams occupy, in order."""
    stored = unit_beats(stored_bytes(rows, bus)[0], unit, bus)
    return [u * unit * pitch + (k // row_beats) * pitch + k % row_beats
            for u in range(first // unit, (first + count) // unit) for k in range(stored[u])]


@pytest.mark.parametrize("seed,latency,p_data,unit", [(1, 3, 1.0, 5), (2, 20, 0.6, 1),
                                                      (3, 1, 0.3, 7)])
def test_reader_restores_compressed_rows(seed, latency, p_data, unit):
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    row_beats, row_elems, pixels, pitch = 3, 3 * BUS - 2, 70, 4
    rows = sparse_rows(nprng, pixels, row_beats * BUS)
    rows[:, row_elems:] = 0
    slots, table = compress_rows(rows, BUS, pitch, unit)
    x_addr, table_addr, dense_addr = 16, 16 + pixels * pitch + 3, 1000
    image = {}
    for base, payload in ((x_addr, slots), (table_addr, table),
                          (dense_addr, rows.reshape(-1))):
        for i, beat in enumerate(payload.reshape(-1, BUS)):
            image[base + i] = int.from_bytes(beat.tobytes(), "little")
    assert len(table) == table_beats(pixels, BUS) * BUS
    # (compressed, first row, rows): bands of whole units starting inside a table beat and
    # on one.
    jobs = [(True, unit, 4 * unit), (False, 0, 4), (True, 0, pixels), (True, 5 * unit, unit),
            (True, 9 * unit, pixels - 9 * unit)]
    dut = DmaReader(BUS, 8, ELEMS_PER_WORD, 10, decompress_row_beats=4)
    dram = Dram(image, latency, p_data, rng)
    words = {}

    async def bench(ctx):
        ctx.set(dut.table_addr, table_addr)
        cycle = 0
        for compressed, first, count in jobs:
            words.clear()
            set_job(ctx, dut, (x_addr + first * pitch) if compressed
                    else dense_addr + first * row_beats, count, row_beats,
                    pitch if compressed else row_beats, row_elems, first, compressed, unit)
            cycle, _ = await run_job(ctx, dut, dram, cycle, words)
            assert not dram.pending
            word_bytes = ELEMS_PER_WORD
            per_row = -(-row_elems // word_bytes)
            got = np.zeros((count, per_row * word_bytes), dtype=np.uint8)
            for addr, value in words.items():
                got.reshape(-1)[addr * word_bytes:(addr + 1) * word_bytes] = np.frombuffer(
                    value.to_bytes(word_bytes, "little"), dtype=np.uint8)
            assert sorted(words) == list(range(count * per_row))
            np.testing.assert_array_equal(got[:, :row_elems],
                                          rows[first:first + count, :row_elems])
            if compressed:
                fetched = [a - table_addr for a, n in dram.commands if a >= table_addr
                           and a < table_addr + len(table) // BUS]
                assert fetched == list(range(first // BUS, (first + count - 1) // BUS + 1))
                stored = [a + i - x_addr for a, n in dram.commands if a < table_addr
                          for i in range(n)]
                assert stored == stream_addresses(rows, BUS, first, count, unit, pitch,
                                                  row_beats)
            dram.commands.clear()

    simulate(dut, bench)


@pytest.mark.parametrize("bus,lanes,row_beats,row_elems,latency,unit", [
    (8, 4, 3, 22, 3, 5), (8, 8, 3, 24, 20, 7), (16, 16, 2, 32, 20, 10), (16, 8, 4, 60, 7, 1),
    (8, 5, 2, 16, 1, 14), (16, 16, 1, 16, 5, 5)])
def test_read_cycles_match_the_model(bus, lanes, row_beats, row_elems, latency, unit):
    """The model's mirror of the reader (models.compression.compressed_read_cycles) takes as
    many cycles as the simulated reader, job by job, on testbench/dram_model.sv's timing
    (first beat `latency` + 1 cycles after its command, no stalls): rows of 0 to 100 % zeros
    read from every table position, with several bus widths, words and DRAM latencies."""
    nprng = np.random.default_rng(bus * latency + row_beats)
    pixels, pitch = 70, row_beats + 1
    rows = sparse_rows(nprng, pixels, row_beats * bus)
    rows[:, row_elems:] = 0
    slots, table = compress_rows(rows, bus, pitch, unit)
    x_addr, table_addr = 16, 16 + pixels * pitch + 3
    image = {base + i: int.from_bytes(beat.tobytes(), "little")
             for base, payload in ((x_addr, slots), (table_addr, table))
             for i, beat in enumerate(payload.reshape(-1, bus))}
    jobs = [(unit, 2 * unit), (0, pixels), (pixels - 2 * unit, unit), (pixels - unit, unit)]
    dut = DmaReader(bus, 8, lanes, 12, decompress_row_beats=row_beats)
    dram = Dram(image, latency + 1, 1.0, random.Random(0))
    measured = []

    async def bench(ctx):
        ctx.set(dut.table_addr, table_addr)
        cycle = 0
        for first, count in jobs:
            set_job(ctx, dut, x_addr + first * pitch, count, row_beats, pitch, row_elems,
                    first, True, unit)
            cycle, taken = await run_job(ctx, dut, dram, cycle, {})
            measured.append(taken)

    simulate(dut, bench)
    spec = SimpleNamespace(dram_bus_bytes=bus, input_lanes=lanes)
    x_rows = band_rows(rows.reshape(pixels, 1, 1, -1).transpose(1, 3, 0, 2), bus)
    assert measured == [compressed_read_cycles(spec, x_rows[first:first + count], first,
                                               row_elems, latency, unit)
                        for first, count in jobs]
