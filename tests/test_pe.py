"""ProcessingElement in Amaranth's simulator: weight chain, register file, MAC, gating, x relay."""

import random

import pytest
from amaranth import ClockDomain, Module

from models.golden import operand_range, wrap
from pyhdl.pe import ProcessingElement
from testbench.amaranth_sim import load_weights, simulate


def token(value, valid=1, slot=0):
    return {"valid": valid, "slot": slot, "value": value}


async def load_weight(ctx, pe, weight, slot=0):
    """Shift `weight` into the chain register, then commit it into register-file `slot`."""
    await load_weights(ctx, pe, pe.w_in, [weight], slot)


async def mac(ctx, pe, x, psum, valid=1, slot=0):
    """Present one token and partial sum; return `psum_out` after the clock edge."""
    ctx.set(pe.x_in, token(x, valid, slot))
    ctx.set(pe.psum_in, psum)
    await ctx.tick()
    return ctx.get(pe.psum_out)


def test_weight_chain_shifts_only_on_w_shift():
    rng = random.Random(1)
    pe = ProcessingElement(operand_bits=8, psum_bits=32, rf_depth=1)
    lo, hi = operand_range(8)

    async def bench(ctx):
        chain = 0
        assert ctx.get(pe.w_out) == 0
        for _ in range(60):
            w_in, shift = rng.randint(lo, hi), rng.random() < 0.5
            ctx.set(pe.w_in, w_in)
            ctx.set(pe.w_shift, shift)
            # w_out is the chain register: it does not follow w_in within the cycle.
            assert ctx.get(pe.w_out) == chain
            await ctx.tick()
            if shift:
                chain = w_in
            assert ctx.get(pe.w_out) == chain

    simulate(pe, bench)


@pytest.mark.parametrize("rf_depth", [1, 2, 4])
def test_commit_writes_chain_into_selected_slot(rf_depth):
    rng = random.Random(2 + rf_depth)
    pe = ProcessingElement(operand_bits=8, psum_bits=32, rf_depth=rf_depth)
    lo, hi = operand_range(8)

    async def bench(ctx):
        weights = [0] * rf_depth
        for _ in range(3 * rf_depth):
            slot = rng.randrange(rf_depth)
            weights[slot] = rng.choice([lo, hi, rng.randint(lo, hi)])
            await load_weight(ctx, pe, weights[slot], slot)
            # Read every slot back through the multiplier: x = 1, psum 0 gives the weight.
            for s in range(rf_depth):
                assert await mac(ctx, pe, 1, 0, slot=s) == weights[s], (s, weights)
        # Shifting without committing leaves the register file alone.
        ctx.set(pe.w_in, 77)
        ctx.set(pe.w_shift, 1)
        await ctx.tick()
        ctx.set(pe.w_shift, 0)
        for s in range(rf_depth):
            assert await mac(ctx, pe, 1, 0, slot=s) == weights[s]

    simulate(pe, bench)


@pytest.mark.parametrize("operand_bits,psum_bits", [(4, 8), (8, 16), (8, 20), (8, 32), (16, 32)])
def test_mac_random_valid_tokens(operand_bits, psum_bits):
    rng = random.Random(operand_bits * 100 + psum_bits)
    rf_depth = 2
    pe = ProcessingElement(operand_bits, psum_bits, rf_depth)
    lo, hi = operand_range(operand_bits)
    psum_lo, psum_hi = operand_range(psum_bits)

    async def bench(ctx):
        weights = [rng.randint(lo, hi) or 1 for _ in range(rf_depth)]
        for s, w in enumerate(weights):
            await load_weight(ctx, pe, w, s)
        for _ in range(100):
            slot = rng.randrange(rf_depth)
            x = rng.randint(lo, hi)
            psum = rng.randint(psum_lo, psum_hi)
            expected = int(wrap(psum + x * weights[slot], psum_bits))
            assert await mac(ctx, pe, x, psum, slot=slot) == expected, (x, weights[slot], psum)

    simulate(pe, bench)


@pytest.mark.parametrize("psum_bits", [16, 32])
@pytest.mark.parametrize("x,w", [(-128, -128), (127, 127), (-128, 127), (127, -128)])
@pytest.mark.parametrize("psum_kind", ["zero", "max", "min"])
def test_mac_8bit_extremes(psum_bits, x, w, psum_kind):
    pe = ProcessingElement(operand_bits=8, psum_bits=psum_bits, rf_depth=1)
    psum_lo, psum_hi = operand_range(psum_bits)
    psum = {"zero": 0, "max": psum_hi, "min": psum_lo}[psum_kind]

    async def bench(ctx):
        await load_weight(ctx, pe, w)
        got = await mac(ctx, pe, x, psum)
        assert got == int(wrap(psum + x * w, psum_bits))

    simulate(pe, bench)


def test_partial_sum_wraps_at_16_bits():
    pe = ProcessingElement(operand_bits=8, psum_bits=16, rf_depth=1)

    async def bench(ctx):
        await load_weight(ctx, pe, -128)
        # 32767 + 16384 = 49151 wraps to 49151 - 65536.
        assert await mac(ctx, pe, -128, 32767) == 49151 - 65536
        # -32768 + -16256 wraps to a positive sum.
        assert await mac(ctx, pe, 127, -32768) == -32768 - 16256 + 65536
        # 16384 + 16384 = 32768 wraps to the most negative value.
        assert await mac(ctx, pe, -128, 16384) == -32768

    simulate(pe, bench)


@pytest.mark.parametrize("zero", ["x", "weight", "both"])
def test_zero_operand_passes_psum_unchanged(zero):
    rng = random.Random({"x": 10, "weight": 11, "both": 12}[zero])
    rf_depth = 2
    pe = ProcessingElement(operand_bits=8, psum_bits=16, rf_depth=rf_depth)
    psum_lo, psum_hi = operand_range(16)

    async def bench(ctx):
        zero_w = zero in ("weight", "both")
        await load_weight(ctx, pe, 0 if zero_w else -128, slot=1)
        for _ in range(30):
            x = 0 if zero in ("x", "both") else rng.choice([-128, 127, rng.randint(-128, 127) or 5])
            psum = rng.choice([psum_lo, psum_hi, rng.randint(psum_lo, psum_hi)])
            assert await mac(ctx, pe, x, psum, slot=1) == psum

    simulate(pe, bench)


def test_invalid_token_passes_psum_unchanged():
    rng = random.Random(20)
    rf_depth = 2
    pe = ProcessingElement(operand_bits=8, psum_bits=16, rf_depth=rf_depth)
    psum_lo, psum_hi = operand_range(16)

    async def bench(ctx):
        await load_weight(ctx, pe, -128, slot=0)
        await load_weight(ctx, pe, 127, slot=1)
        for _ in range(40):
            x = rng.choice([-128, 127, rng.randint(-128, 127) or 3])
            psum = rng.randint(psum_lo, psum_hi)
            slot = rng.randrange(rf_depth)
            assert await mac(ctx, pe, x, psum, valid=0, slot=slot) == psum, (x, slot, psum)

    simulate(pe, bench)


def test_x_out_is_x_in_delayed_one_cycle():
    rng = random.Random(30)
    pe = ProcessingElement(operand_bits=8, psum_bits=32, rf_depth=4)

    async def bench(ctx):
        previous = {"valid": 0, "slot": 0, "value": 0}
        for _ in range(60):
            current = {"valid": rng.randrange(2), "slot": rng.randrange(4),
                       "value": rng.randint(-128, 127)}
            ctx.set(pe.x_in, current)
            # Registered: x_out still shows last cycle's token while the new one is on x_in.
            out = ctx.get(pe.x_out)
            assert (out.valid, out.slot, out.value) == tuple(previous.values())
            await ctx.tick()
            out = ctx.get(pe.x_out)
            assert (out.valid, out.slot, out.value) == tuple(current.values())
            previous = current

    simulate(pe, bench)


def test_reset_clears_valid_bits_only():
    """Under reset the token's valid bit clears; weights, operands and the partial sum are
    data registers without a reset and load as they would without it."""
    pe = ProcessingElement(operand_bits=8, psum_bits=32, rf_depth=2)
    m = Module()
    m.domains.sync = domain = ClockDomain()
    m.submodules.pe = pe

    async def bench(ctx):
        await load_weight(ctx, pe, 7, slot=1)
        ctx.set(pe.w_in, -3)
        ctx.set(pe.w_shift, 1)                  # the chain now holds -3, slot 1 holds 7
        await ctx.tick()
        ctx.set(pe.w_shift, 0)
        ctx.set(pe.x_in, token(5, slot=1))
        ctx.set(pe.psum_in, 100)
        await ctx.tick()
        assert ctx.get(pe.psum_out) == 135 and ctx.get(pe.x_out.valid)
        ctx.set(domain.rst, 1)                  # the same token again, under reset
        await ctx.tick()
        ctx.set(domain.rst, 0)
        assert not ctx.get(pe.x_out.valid)
        assert (ctx.get(pe.x_out.slot), ctx.get(pe.x_out.value)) == (1, 5)
        assert ctx.get(pe.psum_out) == 135
        assert ctx.get(pe.w_out) == -3
        ctx.set(pe.x_in, token(2, slot=1))
        ctx.set(pe.psum_in, 0)
        await ctx.tick()
        assert ctx.get(pe.psum_out) == 14       # slot 1 still holds 7

    simulate(m, bench)
