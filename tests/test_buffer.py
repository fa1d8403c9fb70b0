# amaranth: UnusedElaboratable=no
"""GlobalBuffer in Amaranth's simulator: banked storage, one-cycle reads, activity strobes."""

import random

import pytest

from pyhdl.buffer import GlobalBuffer
from testbench.amaranth_sim import simulate

WIDTH = 16


async def write(ctx, buf, addr, data):
    ctx.set(buf.write.addr, addr)
    ctx.set(buf.write.data, data)
    ctx.set(buf.write.en, 1)
    await ctx.tick()
    ctx.set(buf.write.en, 0)


GEOMETRIES = [
    pytest.param(1, 8, id="1bank-8"),
    pytest.param(2, 16, id="2banks-16"),
    pytest.param(4, 16, id="4banks-16"),
    pytest.param(4, 12, id="4banks-12"),  # depth not a power of two: 3 rows per bank
]


@pytest.mark.parametrize("banks,depth", GEOMETRIES)
def test_write_then_read_back_every_address(banks, depth):
    rng = random.Random(banks * 100 + depth)
    buf = GlobalBuffer(WIDTH, depth, banks)
    contents = [rng.getrandbits(WIDTH) for _ in range(depth)]

    async def bench(ctx):
        order = list(range(depth))
        rng.shuffle(order)
        for addr in order:
            await write(ctx, buf, addr, contents[addr])
        # Back-to-back reads, one per cycle, in a random order that hops between banks.
        rng.shuffle(order)
        ctx.set(buf.read.en, 1)
        for addr in order:
            ctx.set(buf.read.addr, addr)
            await ctx.tick()
            assert ctx.get(buf.read.data) == contents[addr], f"addr {addr}"

    simulate(buf, bench)


@pytest.mark.parametrize("banks,depth", GEOMETRIES)
def test_sequential_write_read_stream(banks, depth):
    """Sequential addresses walk across the banks; every word comes back in order."""
    rng = random.Random(7 + banks)
    buf = GlobalBuffer(WIDTH, depth, banks)
    contents = [rng.getrandbits(WIDTH) for _ in range(depth)]

    async def bench(ctx):
        for addr, word in enumerate(contents):
            await write(ctx, buf, addr, word)
        got = []
        ctx.set(buf.read.en, 1)
        for addr in range(depth):
            ctx.set(buf.read.addr, addr)
            await ctx.tick()
            got.append(ctx.get(buf.read.data))
        assert got == contents

    simulate(buf, bench)


@pytest.mark.parametrize("banks,depth", GEOMETRIES)
def test_read_latency_is_one_cycle(banks, depth):
    rng = random.Random(11 + banks)
    buf = GlobalBuffer(WIDTH, depth, banks)
    contents = [rng.getrandbits(WIDTH) | 1 for _ in range(depth)]   # never zero

    async def bench(ctx):
        for addr, word in enumerate(contents):
            await write(ctx, buf, addr, word)
        ctx.set(buf.read.addr, depth - 1)
        ctx.set(buf.read.en, 1)
        await ctx.tick()
        last = contents[depth - 1]
        assert ctx.get(buf.read.data) == last
        for addr in rng.sample(range(depth - 1), depth - 1):
            ctx.set(buf.read.addr, addr)
            # Not combinational: the data port still shows the previous read this cycle.
            assert ctx.get(buf.read.data) == last
            await ctx.tick()
            assert ctx.get(buf.read.data) == contents[addr]
            last = contents[addr]

    simulate(buf, bench)


@pytest.mark.parametrize("banks,depth", GEOMETRIES)
def test_read_of_address_written_same_cycle_returns_old_word(banks, depth):
    rng = random.Random(13 + banks)
    buf = GlobalBuffer(WIDTH, depth, banks)
    old = [rng.getrandbits(WIDTH) for _ in range(depth)]
    new = [word ^ 0xffff for word in old]

    async def bench(ctx):
        for addr, word in enumerate(old):
            await write(ctx, buf, addr, word)
        for addr in range(depth):
            ctx.set(buf.read.addr, addr)
            ctx.set(buf.read.en, 1)
            ctx.set(buf.write.addr, addr)
            ctx.set(buf.write.data, new[addr])
            ctx.set(buf.write.en, 1)
            await ctx.tick()
            assert ctx.get(buf.read.data) == old[addr], f"addr {addr}"
            ctx.set(buf.write.en, 0)
            await ctx.tick()
            assert ctx.get(buf.read.data) == new[addr], f"addr {addr} after the write"

    simulate(buf, bench)


@pytest.mark.parametrize("banks,depth", GEOMETRIES)
def test_write_with_en_low_does_not_store(banks, depth):
    buf = GlobalBuffer(WIDTH, depth, banks)

    async def bench(ctx):
        for addr in range(depth):
            await write(ctx, buf, addr, 0x1234 + addr)
        for addr in range(depth):
            ctx.set(buf.write.addr, addr)
            ctx.set(buf.write.data, 0xdead)
            ctx.set(buf.write.en, 0)
            await ctx.tick()
        ctx.set(buf.read.en, 1)
        for addr in range(depth):
            ctx.set(buf.read.addr, addr)
            await ctx.tick()
            assert ctx.get(buf.read.data) == 0x1234 + addr

    simulate(buf, bench)


@pytest.mark.parametrize("banks,depth", GEOMETRIES)
def test_read_and_write_strobes_follow_enables(banks, depth):
    rng = random.Random(17 + banks)
    buf = GlobalBuffer(WIDTH, depth, banks)

    async def bench(ctx):
        reads = writes = 0
        for _ in range(50):
            read_en, write_en = rng.randrange(2), rng.randrange(2)
            ctx.set(buf.read.addr, rng.randrange(depth))
            ctx.set(buf.read.en, read_en)
            ctx.set(buf.write.addr, rng.randrange(depth))
            ctx.set(buf.write.data, rng.getrandbits(WIDTH))
            ctx.set(buf.write.en, write_en)
            # One strobe per word accessed, in the same cycle as the enable.
            assert ctx.get(buf.reads) == read_en
            assert ctx.get(buf.writes) == write_en
            reads += ctx.get(buf.reads)
            writes += ctx.get(buf.writes)
            await ctx.tick()
        assert reads > 0 and writes > 0

    simulate(buf, bench)


def test_depth_must_be_multiple_of_banks():
    with pytest.raises(ValueError, match="multiple of banks"):
        GlobalBuffer(WIDTH, 10, 4)
