"""RegisterBlock in Amaranth's simulator: descriptor write and read-back, the start pulse,
sticky done and the counters' read-out, at the addresses of models.registers."""

import random


from models.counters import COUNTER_BITS, COUNTER_NAMES
from amaranth import Value

from models.registers import (CONTROL, COUNTER_WORDS, DESCRIPTOR, DESCRIPTOR_NAMES, STATUS,
                              STATUS_BUSY, STATUS_DONE, counter_address, descriptor_address)
from pyhdl.csr import RegisterBlock
from testbench.amaranth_sim import simulate


async def write(ctx, dut, addr, value):
    ctx.set(dut.bus.addr, addr)
    ctx.set(dut.bus.w_data, value)
    ctx.set(dut.bus.w_stb, 1)
    await ctx.tick()
    ctx.set(dut.bus.w_stb, 0)


async def read(ctx, dut, addr):
    """The register at `addr`, one cycle after the address."""
    ctx.set(dut.bus.addr, addr)
    await ctx.tick()
    return ctx.get(dut.bus.r_data)


def kept(name, word):
    """What a descriptor field keeps of a 32-bit register word: its low bits, as the field's
    value (signed fields sign-extended)."""
    field = DESCRIPTOR[name]
    value = word & ((1 << field.bits) - 1)
    if field.signed and value >> (field.bits - 1):
        value -= 1 << field.bits
    return value


def test_descriptor_writes_read_back_and_reach_the_port():
    """Each field keeps its own width; a register reads back that value, zero- or
    sign-extended to 32 bits."""
    dut = RegisterBlock()
    rng = random.Random(5)
    written = {name: rng.getrandbits(32) for name in DESCRIPTOR_NAMES}

    async def bench(ctx):
        for name in rng.sample(DESCRIPTOR_NAMES, len(DESCRIPTOR_NAMES)):
            await write(ctx, dut, descriptor_address(name), written[name])
        for name in DESCRIPTOR_NAMES:
            value = kept(name, written[name])
            assert await read(ctx, dut, descriptor_address(name)) == value & 0xFFFFFFFF, name
            assert ctx.get(Value.cast(getattr(dut.descriptor, name))) == value, name

    simulate(dut, bench)


def test_start_is_a_one_cycle_pulse_on_writing_one_to_control():
    dut = RegisterBlock()

    async def bench(ctx):
        ctx.set(dut.bus.addr, CONTROL)
        ctx.set(dut.bus.w_data, 0)
        ctx.set(dut.bus.w_stb, 1)
        assert not ctx.get(dut.start)           # writing 0 starts nothing
        ctx.set(dut.bus.w_data, 1)
        assert ctx.get(dut.start)
        await ctx.tick()
        ctx.set(dut.bus.w_stb, 0)
        assert not ctx.get(dut.start)
        ctx.set(dut.bus.addr, STATUS)           # a write elsewhere starts nothing either
        ctx.set(dut.bus.w_stb, 1)
        assert not ctx.get(dut.start)

    simulate(dut, bench)


def test_done_is_sticky_until_the_next_start_and_busy_is_live():
    dut = RegisterBlock()

    async def bench(ctx):
        assert await read(ctx, dut, STATUS) == 0
        ctx.set(dut.busy, 1)
        assert await read(ctx, dut, STATUS) == STATUS_BUSY
        ctx.set(dut.busy, 0)
        ctx.set(dut.done, 1)                    # a one-cycle done pulse
        await ctx.tick()
        ctx.set(dut.done, 0)
        for _ in range(3):
            assert await read(ctx, dut, STATUS) == STATUS_DONE
        await write(ctx, dut, CONTROL, 1)
        assert await read(ctx, dut, STATUS) == 0

    simulate(dut, bench)


def test_counters_read_out_as_low_then_high_word():
    dut = RegisterBlock()
    rng = random.Random(9)
    counts = [rng.getrandbits(COUNTER_BITS) for _ in COUNTER_NAMES]
    counts[0] = (1 << COUNTER_BITS) - 1     # every bit of both words

    async def bench(ctx):
        for index, value in enumerate(counts):
            ctx.set(dut.counters[index], value)
        for index, name in enumerate(COUNTER_NAMES):
            words = [await read(ctx, dut, counter_address(name) + w)
                     for w in range(COUNTER_WORDS)]
            assert sum(word << (32 * i) for i, word in enumerate(words)) == counts[index], name

    simulate(dut, bench)
