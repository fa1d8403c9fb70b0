"""Each dataflow's inner loop alone in Amaranth's simulator: what it feeds the array for one
chunk, vector by vector, against the convolution's windows computed here from the layer's
shape (not from the descriptor's precomputed steps)."""

from dataclasses import replace

import numpy as np
import pytest
from amaranth import Module, Value
from amaranth.lib import memory, wiring
from amaranth.sim import Simulator

from models.golden import operand_range
from models.mapper import ConvShape, map_conv
from models.registers import DESCRIPTOR
from models.spec import ArchSpec
from pyhdl.array import SystolicArray
from pyhdl.os_array import OutputStationaryArray
from pyhdl.os_loop import OutputStationaryLoop
from pyhdl.ws_loop import WeightStationaryLoop

OUTPUT_ADDR_BITS = 8
INPUT_ADDR_BITS = 10
WEIGHT_ADDR_BITS = 8
SHAPES = (
    ConvShape(1, 3, 5, 4, 4, 3, 3, 2, 1, pad_value=-7),     # stride 2, channels of 2 blocks
    ConvShape(1, 2, 4, 5, 3, 3, 2, 1, 1, pad_value=5),      # non-square kernel
    ConvShape(1, 5, 3, 3, 2, 1, 1, 1, 0),                   # 1x1, three channel blocks
    # A tile of 3 whole images; from an image's last output row to the next image's first
    # the window steps 1 input row (h - (p - 1) * stride), not the stride of 2.
    ConvShape(3, 3, 5, 3, 2, 3, 3, 2, 1, pad_value=-3),
)


def field_value(name, word):
    """A descriptor register word as the field's value (signed fields sign-extended)."""
    field = DESCRIPTOR[name]
    return word - (1 << 32) if field.signed and word >= 1 << 31 else word


class Harness(wiring.Component):
    """The inner loop with its array and its input and weight buffers as real memories."""

    def __init__(self, loop, input_words, weight_words):
        self.loop = loop
        self.input_words = input_words
        self.weight_words = weight_words
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.loop = loop = self.loop
        m.submodules.array = array = loop.array
        spec = loop.spec
        m.d.comb += [array.x.eq(loop.x), loop.gated.eq(array.gated)]
        if isinstance(loop, WeightStationaryLoop):
            m.d.comb += [array.w_data.eq(loop.w_data), array.w_shift.eq(loop.w_shift),
                         array.w_commit.eq(loop.w_commit), array.w_slot.eq(loop.w_slot)]
        else:
            m.d.comb += [array.w.eq(loop.w), loop.array_busy.eq(array.busy)]
        m.submodules.ibuf = ibuf = memory.Memory(
            shape=spec.rows * spec.operand_bits, depth=1 << INPUT_ADDR_BITS,
            init=self.input_words)
        m.submodules.wbuf = wbuf = memory.Memory(
            shape=spec.weight_lanes * spec.operand_bits, depth=1 << WEIGHT_ADDR_BITS,
            init=self.weight_words)
        wiring.connect(m, self.loop.input_read, ibuf.read_port())
        wiring.connect(m, self.loop.weight_read, wbuf.read_port())
        return m


def pack(values, bits):
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (i * bits) for i, v in enumerate(values))


def input_buffer(spec, mapping, x):
    """The tile's band as the DMA lays it: one word per (pixel, channel block), the images
    of a tile of whole images one after the other."""
    shape, d = mapping.shape, mapping.descriptor
    band = min(shape.h, (mapping.tile_p - 1) * shape.stride + shape.r)
    words = []
    for image in range(mapping.tile_images):
        for row in range(band):
            for col in range(shape.w):
                for cb in range(d["c_blocks"]):
                    lanes = [x[image, ch, row, col] if ch < shape.c else 0
                             for ch in range(cb * spec.rows, (cb + 1) * spec.rows)]
                    words.append(pack(lanes, spec.operand_bits))
    return words


def reduction_blocks(shape, c_blocks):
    """The chunk's reduction blocks in the loops' order: channel block fastest, then kernel
    column, then kernel row."""
    return [(tr, ts, cb) for tr in range(shape.r) for ts in range(shape.s)
            for cb in range(c_blocks)]


def window_vector(spec, shape, x, tile_rows, pixel, block):
    """The input vector of output pixel `pixel` (tile order: image, row, column) at
    reduction block `block`."""
    tr, ts, cb = block
    image, pixel = divmod(pixel, shape.p * shape.q)
    pr, pq = divmod(pixel, shape.q)
    hh, ww = pr * shape.stride - shape.pad + tr, pq * shape.stride - shape.pad + ts
    if not (0 <= hh < shape.h and 0 <= ww < shape.w):
        return [shape.pad_value] * spec.rows
    return [int(x[image, ch, hh, ww]) if ch < shape.c else 0
            for ch in range(cb * spec.rows, (cb + 1) * spec.rows)]


def one_chunk(spec, shape):
    """The layer's mapping (one tile, of every image, and one chunk) and random inputs."""
    mapping = map_conv(spec, shape)
    d = mapping.descriptor
    assert d["tiles"] == 1 and d["c_chunks"] == 1, "the test wants one tile and one chunk"
    assert mapping.tile_images == shape.n, "the test wants every image in the tile"
    low, high = operand_range(spec.operand_bits)
    x = np.random.default_rng(sum(shape.__dict__.values())).integers(
        low, high + 1, (shape.n, shape.c, shape.h, shape.w))
    return mapping, x


def simulate(loop, mapping, x, weight_words, sample, cycles):
    """Run `loop` on the mapping's first chunk (filter block 0); `sample(ctx, loop)` every
    cycle; returns after `chunk_done` and `cycles` more cycles."""
    spec, d = loop.spec, mapping.descriptor
    dut = Harness(loop, input_buffer(spec, mapping, x), weight_words)
    shape = mapping.shape
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        for name, word in d.items():
            ctx.set(Value.cast(getattr(loop.descriptor, name)), field_value(name, word))
        chunk = loop.chunk
        for name, value in {
            "first": 1, "first_cb": 0, "last_cb": d["c_blocks"] - 1, "red": d["chunk_red"],
            "last_k": int(d["k_blocks"] == 1), "w_base": 0, "shift_first": d["shift_first"],
            "out_base": 0, "out_step": 1, "tile_rows": d["tile_p"],
            "tile_pixels": d["tile_pixels"], "h_start": -shape.pad,
            "window_base": -shape.pad * d["line_words"] - shape.pad * d["c_blocks"],
        }.items():
            ctx.set(getattr(chunk, name), value)
        ctx.set(loop.run, 1)
        await ctx.tick()
        ctx.set(loop.run, 0)
        for _ in range(20_000):
            sample(ctx, loop)
            if ctx.get(loop.chunk_done):
                break
            await ctx.tick()
        else:
            raise AssertionError("the chunk never finished")
        for _ in range(cycles):
            await ctx.tick()
            sample(ctx, loop)

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("rows, cols", [(2, 3), (3, 2)])
def test_weight_stationary_loop_feeds_every_window(shape, rows, cols):
    spec = ArchSpec(rows=rows, cols=cols, rf_depth=2)
    mapping, x = one_chunk(spec, shape)
    # Blocks one at a time (tests/test_paired_blocks.py has them in pairs).
    mapping = replace(mapping, descriptor={**mapping.descriptor, "paired": 0, "pair_alone": 0})
    d = mapping.descriptor
    array = SystolicArray(spec)
    loop = WeightStationaryLoop(spec, array, INPUT_ADDR_BITS, WEIGHT_ADDR_BITS,
                                OUTPUT_ADDR_BITS)
    fed, weight_reads, commits = [], [], []

    def sample(ctx, loop):
        if ctx.get(loop.x.valid):
            tag = ctx.get(loop.tag)
            fed.append(([ctx.get(loop.x.values[i]) for i in range(rows)],
                        tag["addr"], tag["first"]))
        if ctx.get(loop.weight_read.en):
            weight_reads.append(ctx.get(loop.weight_read.addr))
        if ctx.get(loop.w_commit):
            commits.append(ctx.get(loop.w_slot))

    simulate(loop, mapping, x, list(range(1 << WEIGHT_ADDR_BITS)), sample, cycles=3)
    blocks = reduction_blocks(mapping.shape, d["c_blocks"])
    pixels = d["tile_pixels"]
    expected = [(window_vector(spec, mapping.shape, x, d["tile_p"], pixel, block), pixel,
                 int(index == 0))
                for index, block in enumerate(blocks) for pixel in range(pixels)]
    assert fed == expected
    # Each block's weights: column cols-1's word first, one word per column, a chunk apart.
    red = len(blocks)
    assert weight_reads == [(cols - 1 - j) * red + b for b in range(red) for j in range(cols)]
    assert commits == [b % 2 for b in range(red)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("rows, cols", [(2, 3), (3, 2)])
def test_output_stationary_loop_loads_every_window(shape, rows, cols):
    spec = ArchSpec(rows=rows, cols=cols, dataflow="os")
    mapping, x = one_chunk(spec, shape)
    d = mapping.descriptor
    array = OutputStationaryArray(spec, OUTPUT_ADDR_BITS)
    loop = OutputStationaryLoop(spec, array, INPUT_ADDR_BITS, WEIGHT_ADDR_BITS,
                                OUTPUT_ADDR_BITS)
    loads, weight_reads = [], []

    def sample(ctx, loop):
        if ctx.get(loop.x.valid):
            zero = ctx.get(loop.x.zero)
            tag = ctx.get(loop.x.tag)
            values = None if zero else [ctx.get(loop.x.values[i]) for i in range(rows)]
            loads.append((ctx.get(loop.x.row), zero, values, ctx.get(loop.x.active),
                          ctx.get(loop.x.last), tag["valid"], tag["addr"] if tag["valid"]
                          else None))
        if ctx.get(loop.weight_read.en):
            weight_reads.append(ctx.get(loop.weight_read.addr))

    simulate(loop, mapping, x, list(range(1 << WEIGHT_ADDR_BITS)), sample, cycles=3)
    blocks = reduction_blocks(mapping.shape, d["c_blocks"])
    pixels = d["tile_pixels"]
    expected, expected_reads, read = [], [], 0
    for group in range(0, pixels, rows):
        for index, block in enumerate(blocks):
            last = int(index == len(blocks) - 1)
            channels = d["c_last"] if block[2] == d["c_blocks"] - 1 else rows
            for lane in range(rows):
                pixel = group + lane
                valid = pixel < pixels
                values = window_vector(spec, mapping.shape, x, d["tile_p"], pixel, block) \
                    if valid else None
                expected.append((lane, int(not valid), values, channels if valid else 0, last,
                                 int(valid and bool(last)), pixel if valid and last else None))
                if lane < channels:
                    expected_reads.append(read)
                    read += 1
        read = 0
    assert loads == expected
    assert weight_reads == expected_reads
