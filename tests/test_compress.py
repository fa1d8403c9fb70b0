# amaranth: UnusedElaboratable=no
"""The bitmask (de)compressor of pyhdl/compress.py in Amaranth's simulator, held to the format
of models/compression.py: beats encoded and decoded byte for byte, units of pixels written to
DRAM packed (pixels encoded or dense, and the length tables) exactly as the model's image, and
packed units back dense, under random stalls; the spec, mapper and energy model around them."""

import random
from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from models.compression import (DENSE_ENTRY, compress_rows, compressed_writes, decode_unit,
                                encode_beat, encode_row, encode_unit, output_slices,
                                stored_bytes, unit_beats)
from models.counters import COUNTER_NAMES
from models.energy import activity, postprocess_words
from models.inventory import item_bits
from models.mapper import ConvShape, PostProcess, map_conv, map_grouped_conv
from models.perf import predict_counters
from models.spec import COMPRESSED_ROW_BYTES, ArchSpec, SpecError
from pyhdl.compress import BitmaskDecoder, BitmaskEncoder, PackedDecompressor, RowCompressor
from testbench.amaranth_sim import simulate


def settle(dut, bench):
    """Run `bench(ctx)` against a combinational `dut` (no clock)."""
    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


def sparse_bytes(rng, count, zeros):
    """`count` random bytes, each zero with probability `zeros` (and never zero otherwise)."""
    values = rng.integers(1, 256, count)
    return np.where(rng.random(count) < zeros, 0, values).astype(np.uint8)


def as_int(values):
    return int.from_bytes(np.asarray(values, dtype=np.uint8).tobytes(), "little")


def as_bytes(value, count):
    return np.frombuffer(int(value).to_bytes(count, "little"), dtype=np.uint8)


@pytest.mark.parametrize("bus_bytes", [8, 16])
def test_encoder_matches_the_format(bus_bytes):
    rng = np.random.default_rng(bus_bytes)
    dut = BitmaskEncoder(bus_bytes)
    width = bus_bytes + bus_bytes // 8
    beats = [sparse_bytes(rng, bus_bytes, zeros) for zeros in np.linspace(0, 1, 40)]

    async def bench(ctx):
        for beat in beats:
            ctx.set(dut.dense, as_int(beat))
            expected = encode_beat(beat)
            count = ctx.get(dut.count)
            assert count == len(expected)
            assert ctx.get(dut.nonzero) == np.count_nonzero(beat)
            chunk = as_bytes(ctx.get(dut.chunk), width)
            np.testing.assert_array_equal(chunk[:count], expected)
            assert not chunk[count:].any()

    settle(dut, bench)


@pytest.mark.parametrize("bus_bytes", [8, 16])
def test_decoder_inverts_the_encoder(bus_bytes):
    rng = np.random.default_rng(bus_bytes + 1)
    dut = BitmaskDecoder(bus_bytes)
    width = bus_bytes + bus_bytes // 8
    beats = [sparse_bytes(rng, bus_bytes, zeros) for zeros in np.linspace(0, 1, 40)]

    async def bench(ctx):
        for beat in beats:
            encoded = encode_beat(beat)
            # What follows the beat's encoding in the window is another beat's: garbage here.
            window = np.concatenate([encoded, rng.integers(0, 256, width - len(encoded))])
            ctx.set(dut.window, as_int(window))
            assert ctx.get(dut.used) == len(encoded)
            np.testing.assert_array_equal(as_bytes(ctx.get(dut.dense), bus_bytes), beat)

    settle(dut, bench)


def test_unit_codec_round_trips_and_never_grows():
    """The model's own contract: a unit's stream decodes back to its rows, a pixel is stored
    encoded only when shorter, and a unit is never longer than its dense beats (all-zero,
    no-zero and every sparsity between, units of one pixel and several)."""
    rng = np.random.default_rng(3)
    for bus_bytes in (8, 16, 32):
        for beats in (1, 2, 5):
            for unit in (1, 3, 7):
                zeros = rng.permutation([0.0, 1.0, 0.3, 0.6, 0.95, 0.1, 0.8])[:unit]
                rows = np.stack([sparse_bytes(rng, beats * bus_bytes, z) for z in zeros])
                stream = encode_unit(rows, bus_bytes)
                stored, encoded = stored_bytes(rows, bus_bytes)
                assert len(stream) == unit_beats(stored, unit, bus_bytes)[0] * bus_bytes
                assert len(stream) <= rows.size
                assert (stored <= beats * bus_bytes).all()
                entries = np.where(encoded, stored, DENSE_ENTRY)
                np.testing.assert_array_equal(
                    decode_unit(stream, entries, beats, bus_bytes), rows)
    no_zero = sparse_bytes(rng, 32, 0.0)
    assert len(encode_row(no_zero, 16)) == 32       # longer encoded: stored dense
    assert len(encode_row(np.zeros(32, np.uint8), 16)) == 4
    # Two all-zero 2-beat pixels of a 16-byte bus share one beat (4 bytes each).
    assert len(encode_unit(np.zeros((2, 32), np.uint8), 16)) == 16


class WriteDram:
    """Write bursts by command, every write of a beat kept in order; ready at random
    (probability `p`)."""

    def __init__(self, rng, p):
        self.rng, self.p = rng, p
        self.beats, self.bursts = {}, []

    def step(self, ctx, dut):
        ready = self.rng.random() < self.p
        ctx.set(dut.dram_cmd.ready, ready)
        if ready and ctx.get(dut.dram_cmd.valid):
            self.bursts.append([ctx.get(dut.dram_cmd.payload.addr),
                                ctx.get(dut.dram_cmd.payload.length)])
        ready = bool(self.bursts) and self.rng.random() < self.p
        ctx.set(dut.dram_data.ready, ready)
        if ready and ctx.get(dut.dram_data.valid):
            burst = self.bursts[0]
            self.beats.setdefault(burst[0], []).append(ctx.get(dut.dram_data.payload))
            burst[0] += 1
            burst[1] -= 1
            if burst[1] == 0:
                self.bursts.pop(0)


def run_compressor(seed, bus_bytes, p_in, p_dram, unit):
    """A layer of two tiles and two output groups (each group a slice of every pixel's slot,
    with a table of its own), pixels of every sparsity in units of `unit`: the DRAM image
    equals the model's."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    row_beats = rng.randint(1, 3)
    pitch = 2 * row_beats
    dut = RowCompressor(bus_bytes, 2 * 4)
    dram = WriteDram(rng, p_dram)
    row_bytes = row_beats * bus_bytes
    first_tile = unit * bus_bytes               # whole units and whole table beats
    count = first_tile + 2 * unit
    table_addr, group_table_beats = count * pitch + 3, -(-count // bus_bytes)
    zeros = [1.0, 0.0] + [nprng.random() for _ in range(count - 2)]
    groups = [np.stack([sparse_bytes(nprng, row_bytes, z) for z in nprng.permutation(zeros)])
              for _ in range(2)]
    tiles = [(0, first_tile), (first_tile, count - first_tile)]    # (first row, rows)
    encoded = []

    async def bench(ctx):
        ctx.set(dut.table_addr, table_addr)
        ctx.set(dut.groups, 2)
        ctx.set(dut.group_table_beats, group_table_beats)
        ctx.set(dut.layer_start, 1)
        await ctx.tick()
        ctx.set(dut.layer_start, 0)
        for first, rows in tiles:
            for g, data in enumerate(groups):
                ctx.set(dut.start, 1)
                ctx.set(dut.addr, first * pitch + g * row_beats)
                ctx.set(dut.pitch, pitch)
                ctx.set(dut.rows, rows)
                ctx.set(dut.row_beats, row_beats)
                ctx.set(dut.unit_rows, unit)
                await ctx.tick()
                ctx.set(dut.start, 0)
                pending = [(data[r][b * bus_bytes:(b + 1) * bus_bytes], b == row_beats - 1)
                           for r in range(first, first + rows) for b in range(row_beats)]
                for _ in range(6000):
                    offer = bool(pending) and rng.random() < p_in
                    ctx.set(dut.i.valid, offer)
                    if offer:
                        ctx.set(dut.i.payload.data, as_int(pending[0][0]))
                        ctx.set(dut.i.payload.last, pending[0][1])
                    dram.step(ctx, dut)
                    if offer and ctx.get(dut.i.ready):
                        pending.pop(0)
                    encoded.append(ctx.get(dut.encoded))
                    await ctx.tick()
                    if not pending and not ctx.get(dut.busy):
                        break
                else:
                    raise AssertionError("compressor never went idle")
                assert not dram.bursts

    simulate(dut, bench)
    written = dict(dram.beats)
    for g, data in enumerate(groups):
        slots, table = compress_rows(data, bus_bytes, pitch, unit)
        slots = slots.reshape(-1, bus_bytes)
        stored = unit_beats(stored_bytes(data, bus_bytes)[0], unit, bus_bytes)
        # Every stream beat is written once, in the group's slices, and nothing else.
        for u, beats in enumerate(stored):
            for k in range(unit * row_beats):
                at = (u * unit + k // row_beats) * pitch + k % row_beats
                if k < beats:
                    [value] = written.pop(at + g * row_beats)
                    assert value == as_int(slots[at]), (g, u, k)
                else:
                    assert at + g * row_beats not in written, (g, u, k)
        # Each table beat once (the tiles start on a beat), the group's own table.
        for beat in range(len(table) // bus_bytes):
            [value] = written.pop(table_addr + g * group_table_beats + beat)
            assert value == as_int(table[beat * bus_bytes:(beat + 1) * bus_bytes]), (g, beat)
    assert not written
    assert sum(encoded) == 2 * count * row_beats


@pytest.mark.parametrize("bus_bytes", [8, 16])
@pytest.mark.parametrize("p_in,p_dram,unit", [(1.0, 1.0, 3), (0.5, 0.4, 1), (0.7, 0.9, 5)])
def test_compressor_writes_the_model_image(bus_bytes, p_in, p_dram, unit):
    run_compressor(bus_bytes * 7 + int(10 * p_in + p_dram), bus_bytes, p_in, p_dram, unit)


def run_decompressor(seed, bus_bytes, p_in, p_out, unit):
    """Pixels of every sparsity (all-zero, no-zero) in units of `unit`, stored as the model
    stores them, come back dense and in order under random stalls on both sides."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    row_beats = rng.randint(1, 4)
    dut = PackedDecompressor(bus_bytes)
    count = 4 * unit
    zeros = [1.0, 0.0] + [nprng.random() for _ in range(count - 2)]
    rows = np.stack([sparse_bytes(nprng, row_beats * bus_bytes, z) for z in zeros])
    _, encoded = stored_bytes(rows, bus_bytes)
    pixels = [(not e, i % unit == unit - 1) for i, e in enumerate(encoded)]
    beats = []
    for first in range(0, count, unit):
        stream = encode_unit(rows[first:first + unit], bus_bytes).reshape(-1, bus_bytes)
        beats += [(beat, j == len(stream) - 1) for j, beat in enumerate(stream)]
    out = []

    async def bench(ctx):
        ctx.set(dut.row_beats, row_beats)
        pending_pixels, pending_beats = list(pixels), list(beats)
        for _ in range(3000):
            offer_pixel = bool(pending_pixels) and rng.random() < p_in
            ctx.set(dut.pixels.valid, offer_pixel)
            if offer_pixel:
                ctx.set(dut.pixels.payload.dense, pending_pixels[0][0])
                ctx.set(dut.pixels.payload.last, pending_pixels[0][1])
            offer_beat = bool(pending_beats) and rng.random() < p_in
            ctx.set(dut.i.valid, offer_beat)
            if offer_beat:
                ctx.set(dut.i.payload.data, as_int(pending_beats[0][0]))
                ctx.set(dut.i.payload.last, pending_beats[0][1])
            ready = rng.random() < p_out
            ctx.set(dut.o.ready, ready)
            if ready and ctx.get(dut.o.valid):
                assert ctx.get(dut.decoded)
                out.append((ctx.get(dut.o.payload.data), ctx.get(dut.o.payload.last)))
            if offer_pixel and ctx.get(dut.pixels.ready):
                pending_pixels.pop(0)
            if offer_beat and ctx.get(dut.i.ready):
                pending_beats.pop(0)
            await ctx.tick()
            if not pending_beats and not pending_pixels and not ctx.get(dut.busy):
                break
        else:
            raise AssertionError("decompressor never restored every pixel")

    simulate(dut, bench)
    expected = [(as_int(row[j * bus_bytes:(j + 1) * bus_bytes]), j == row_beats - 1)
                for row in rows for j in range(row_beats)]
    assert out == expected


@pytest.mark.parametrize("bus_bytes", [8, 16])
@pytest.mark.parametrize("p_in,p_out,unit", [(1.0, 1.0, 3), (0.5, 0.6, 1), (0.8, 0.5, 6)])
def test_decompressor_restores_the_rows(bus_bytes, p_in, p_out, unit):
    run_decompressor(bus_bytes * 5 + int(10 * p_in + p_out) + unit, bus_bytes, p_in, p_out,
                     unit)


def test_energy_prices_the_compressor_and_keeps_the_post_processor_dense():
    """The same layer's write-back, compressed: DRAM bytes written fall, the compressor's
    actions appear (one entry beat, two encoders, a gearbox load a beat in and out), and the
    post-processor still works on every dense word."""
    spec = ArchSpec(name="e", rows=4, cols=16, glb_input_bytes=4096, glb_weight_bytes=2048,
                    glb_output_bytes=4096, glb_banks=2, dram_bus_bytes=8,
                    activation_compression="bitmask")
    dense_spec = replace(spec, activation_compression="none")
    shape, post = ConvShape(1, 4, 8, 8, 16, 3, 3, 1, 1), PostProcess(requant=(1, 0, 0),
                                                                      relu=True)
    mapping = map_conv(spec, shape, post)
    assert mapping.descriptor["y_compressed"]
    outputs = np.zeros((1, 16, 8, 8), dtype=np.int64)
    outputs[:, :3] = 5                        # 3 of 16 bytes a row not zero: 1 beat of 2
    counters = dict.fromkeys(COUNTER_NAMES, 0)
    counters.update(predict_counters(spec, mapping), cycles=1000)
    counters.update(compressed_writes(spec, mapping, outputs))
    dense = dict.fromkeys(COUNTER_NAMES, 0)
    dense.update(predict_counters(dense_spec, map_conv(dense_spec, shape, post)), cycles=1000)
    assert counters["dram_bytes_written"] < dense["dram_bytes_written"]
    assert postprocess_words(counters, spec, True) == postprocess_words(dense, dense_spec, True)
    uses = {u.what: u.count for u in activity(counters, spec, True)}
    beats = counters["compressor_beats"]
    assert beats == 64 * 2
    assert uses["compressor row buffer loads"] == beats * item_bits(spec, "compressor row buffer")
    assert uses["bitmask zero detects"] == beats * 2 * 8 * 8
    assert not any(what.startswith(("compressor", "bitmask"))
                   for what in (u.what for u in activity(dense, dense_spec, True)))


def test_spec_refuses_what_it_cannot_build():
    with pytest.raises(SpecError, match=r"^activation_compression: must be one of none, "
                                        r"bitmask, not 'rle'$"):
        ArchSpec(activation_compression="rle")
    with pytest.raises(SpecError, match=r"^activation_compression: 'bitmask' needs "
                                        r"operand_bits 8 and dram_bus_bytes 8 or more, not "
                                        r"16 and 16$"):
        ArchSpec(activation_compression="bitmask", operand_bits=16, acc_bits=32)


def test_mapper_compresses_only_whole_requantized_rows():
    """Requantized outputs are written compressed, each output group's slice of a pixel a row
    of its own; int32 outputs, the channel slices of a grouped layer and rows of one beat are
    written dense."""
    spec = ArchSpec(name="m", activation_compression="bitmask")
    requant = PostProcess(requant=(1, 0, 0), relu=True)
    shape = ConvShape(1, 32, 8, 8, 64, 3, 3, 1, 1)
    compressed = map_conv(spec, shape, requant)
    d = compressed.descriptor
    assert d["y_compressed"] == 1
    assert d["y_groups"] == -(-d["k_blocks"] // d["k_group_blocks"])
    assert d["y_table_addr"] == compressed.y_addr + compressed.y_beats
    assert compressed.y_table_beats == d["y_groups"] * -(-64 // spec.dram_bus_bytes)
    assert compressed.tile_p * 8 % spec.dram_bus_bytes == 0 or compressed.tile_p == 8
    assert compressed.dram_beats == (compressed.y_addr + compressed.y_beats
                                     + compressed.y_table_beats)
    assert map_conv(spec, shape).descriptor["y_compressed"] == 0
    one_beat_rows = ConvShape(1, 32, 4, 4, spec.dram_bus_bytes, 1, 1)
    assert map_conv(spec, one_beat_rows, requant).descriptor["y_compressed"] == 0
    for part in map_grouped_conv(spec, shape, 1, requant):
        assert part.mapping.descriptor["y_compressed"] == 1
    slices = output_slices(spec, compressed)
    assert 2 <= slices[0][3] <= COMPRESSED_ROW_BYTES // spec.dram_bus_bytes
    assert all(beats <= slices[0][3] for _, _, _, beats in slices)
    assert sum(beats for _, _, _, beats in slices) == compressed.y_row_beats
    for part in map_grouped_conv(spec, ConvShape(1, 64, 6, 6, 64, 3, 3, 1, 1), 64, requant):
        assert part.mapping.descriptor["y_compressed"] == 0
