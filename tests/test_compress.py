# amaranth: UnusedElaboratable=no
"""The bitmask (de)compressor of pyhdl/compress.py in Amaranth's simulator, held to the format
of models/compression.py: beats encoded and decoded byte for byte, and rows written to DRAM
(encoded or dense, and the length tables) exactly as the model's image, and stored rows back
dense, under random stalls; the spec, mapper and energy model around them."""

import random
from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from models.compression import (compress_rows, compressed_writes, decode_row, encode_beat,
                                encode_row, output_slices, stored_beats)
from models.counters import COUNTER_NAMES
from models.energy import activity, postprocess_words
from models.inventory import item_bits
from models.mapper import ConvShape, PostProcess, map_conv, map_grouped_conv
from models.perf import predict_counters
from models.spec import COMPRESSED_ROW_BYTES, ArchSpec, SpecError
from pyhdl.compress import BitmaskDecoder, BitmaskEncoder, RowCompressor, RowDecompressor
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


def test_row_codec_round_trips_and_never_grows():
    """The model's own contract: decode(encode(row)) == row, and a stored row is never longer
    than the dense one (all-zero, no-zero and every sparsity between)."""
    rng = np.random.default_rng(3)
    for bus_bytes in (8, 16, 32):
        for beats in (1, 2, 5):
            for zeros in (0.0, 0.3, 0.6, 0.95, 1.0):
                row = sparse_bytes(rng, beats * bus_bytes, zeros)
                stored = encode_row(row, bus_bytes)
                assert len(stored) % bus_bytes == 0 and len(stored) <= len(row)
                np.testing.assert_array_equal(decode_row(stored, beats, bus_bytes), row)
    no_zero = sparse_bytes(rng, 32, 0.0)
    assert len(encode_row(no_zero, 16)) == 32       # longer encoded: stored dense
    assert len(encode_row(np.zeros(32, np.uint8), 16)) == 16


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


def run_compressor(seed, bus_bytes, p_in, p_dram):
    """A layer of two tiles and two output groups (each group a slice of every pixel's slot,
    with a table of its own), rows of every sparsity: the DRAM image equals the model's."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    row_beats, table_addr, group_table_beats = rng.randint(1, 3), 200, 3
    pitch = 2 * row_beats
    dut = RowCompressor(bus_bytes, 2 * 4)
    dram = WriteDram(rng, p_dram)
    row_bytes = row_beats * bus_bytes
    count = bus_bytes + 5
    zeros = [1.0, 0.0] + [nprng.random() for _ in range(count - 2)]
    groups = [np.stack([sparse_bytes(nprng, row_bytes, z) for z in nprng.permutation(zeros)])
              for _ in range(2)]
    tiles = [(0, bus_bytes), (bus_bytes, count - bus_bytes)]    # (first row, rows)
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
                await ctx.tick()
                ctx.set(dut.start, 0)
                pending = [(data[r][b * bus_bytes:(b + 1) * bus_bytes], b == row_beats - 1)
                           for r in range(first, first + rows) for b in range(row_beats)]
                for _ in range(3000):
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
        slots, table = compress_rows(data, bus_bytes, pitch)
        beats, _ = stored_beats(data, bus_bytes)
        # Every row beat is written once, and only the stored ones.
        for r, stored in enumerate(beats):
            for b in range(row_beats):
                addr = r * pitch + g * row_beats + b
                if b < stored:
                    [value] = written.pop(addr)
                    chunk = slots[(r * pitch + b) * bus_bytes:(r * pitch + b + 1) * bus_bytes]
                    assert value == as_int(chunk), (g, r, b)
                else:
                    assert addr not in written, (g, r, b)
        # Each table beat once (the tiles start on a beat), the group's own table.
        for beat in range(len(table) // bus_bytes):
            [value] = written.pop(table_addr + g * group_table_beats + beat)
            assert value == as_int(table[beat * bus_bytes:(beat + 1) * bus_bytes]), (g, beat)
    assert not written
    assert sum(encoded) == 2 * count * row_beats


@pytest.mark.parametrize("bus_bytes", [8, 16])
@pytest.mark.parametrize("p_in,p_dram", [(1.0, 1.0), (0.5, 0.4)])
def test_compressor_writes_the_model_image(bus_bytes, p_in, p_dram):
    run_compressor(bus_bytes * 7 + int(10 * p_in + p_dram), bus_bytes, p_in, p_dram)


def run_decompressor(seed, bus_bytes, p_in, p_out):
    """Rows of every sparsity (all-zero, no-zero), stored as the model stores them, come
    back dense and in order under random stalls on both sides."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    row_beats = rng.randint(1, 4)
    dut = RowDecompressor(bus_bytes, 4)
    zeros = [1.0, 0.0] + [nprng.random() for _ in range(12)]
    rows = np.stack([sparse_bytes(nprng, row_beats * bus_bytes, z) for z in zeros])
    stored = [encode_row(row, bus_bytes) for row in rows]
    lengths = [len(s) // bus_bytes for s in stored]
    beats = [(s[j * bus_bytes:(j + 1) * bus_bytes], j == len(s) // bus_bytes - 1)
             for s in stored for j in range(len(s) // bus_bytes)]
    out, decoded = [], []

    async def bench(ctx):
        ctx.set(dut.row_beats, row_beats)
        pending_lengths, pending_beats = list(lengths), list(beats)
        for _ in range(3000):
            offer_length = bool(pending_lengths) and rng.random() < p_in
            ctx.set(dut.length.valid, offer_length)
            if offer_length:
                ctx.set(dut.length.payload, pending_lengths[0])
            offer_beat = bool(pending_beats) and rng.random() < p_in
            ctx.set(dut.i.valid, offer_beat)
            if offer_beat:
                ctx.set(dut.i.payload.data, as_int(pending_beats[0][0]))
                ctx.set(dut.i.payload.last, pending_beats[0][1])
            ready = rng.random() < p_out
            ctx.set(dut.o.ready, ready)
            if ready and ctx.get(dut.o.valid):
                out.append((ctx.get(dut.o.payload.data), ctx.get(dut.o.payload.last)))
            if offer_length and ctx.get(dut.length.ready):
                pending_lengths.pop(0)
            if offer_beat and ctx.get(dut.i.ready):
                pending_beats.pop(0)
            decoded.append(ctx.get(dut.decoded))
            await ctx.tick()
            if not pending_beats and not pending_lengths:
                break
        else:
            raise AssertionError("decompressor never took every row")

    simulate(dut, bench)
    expected = [(as_int(row[j * bus_bytes:(j + 1) * bus_bytes]), j == row_beats - 1)
                for row in rows for j in range(row_beats)]
    assert out == expected
    assert sum(decoded) == row_beats * sum(length < row_beats for length in lengths)


@pytest.mark.parametrize("bus_bytes", [8, 16])
@pytest.mark.parametrize("p_in,p_out", [(1.0, 1.0), (0.5, 0.6)])
def test_decompressor_restores_the_rows(bus_bytes, p_in, p_out):
    run_decompressor(bus_bytes * 5 + int(10 * p_in + p_out), bus_bytes, p_in, p_out)


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
