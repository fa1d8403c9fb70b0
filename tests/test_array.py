"""SystolicArray in Amaranth's simulator against the golden x @ W, plus the gated count."""

import random
import zlib

import numpy as np
import pytest

from models.golden import operand_range, wrap
from models.spec import ArchSpec
from pyhdl.array import SystolicArray
from testbench.amaranth_sim import load_weights, simulate


def random_operands(rng, bits, shape, zero_fraction=0.25):
    """Random signed operands with the extremes and a good share of zeros."""
    lo, hi = operand_range(bits)
    flat = [0 if rng.random() < zero_fraction else rng.choice([lo, hi, rng.randint(lo, hi)])
            for _ in range(int(np.prod(shape)))]
    return np.array(flat, dtype=np.int64).reshape(shape)


async def load_matrix(ctx, array, weights, slot):
    """Load a rows x cols weight matrix into register-file `slot`, column c into column c."""
    await load_weights(ctx, array, array.w_data,
                       [[int(v) for v in column] for column in weights.T], slot)


def expected_gated(x_values, weights, valid):
    if not valid:
        return 0
    return int(np.sum((x_values[:, None] == 0) | (weights == 0)))


async def stream(ctx, array, acc_bits, inputs, weights_by_slot, check_gated=True):
    """Feed `inputs` (valid, slot, values) one per cycle; check y `latency` cycles later
    against the golden x @ W wrapped at `acc_bits` (the spec's accumulators: the array's
    narrower partial sums must give the same values).

    Returns how many valid results were compared.
    """
    rows, cols = array.rows, array.cols
    latency = array.latency
    idle = (0, 0, np.zeros(rows, dtype=np.int64))
    schedule = list(inputs) + [idle] * latency
    compared = 0
    for t, (valid, slot, x_values) in enumerate(schedule):
        ctx.set(array.x, {"valid": valid, "slot": slot, "values": [int(v) for v in x_values]})
        counted = t - array.gated_latency   # `gated` shows the count of input t - latency
        if check_gated and counted >= 0:
            c_valid, c_slot, c_values = schedule[counted]
            got = ctx.get(array.gated)
            want = expected_gated(c_values, weights_by_slot[c_slot], c_valid)
            assert got == want, f"gated at t={t}: x={c_values} slot={c_slot} valid={c_valid}"
        # y is combinational off the deskew registers: it shows the result of input t-latency.
        y = ctx.get(array.y)
        source = t - latency
        want_valid = source >= 0 and schedule[source][0]
        assert y.valid == want_valid, f"y.valid at t={t} (input {source})"
        if want_valid:
            _, src_slot, src_x = schedule[source]
            want = wrap(src_x @ weights_by_slot[src_slot], acc_bits)
            got = [y.values[c] for c in range(cols)]
            assert got == want.tolist(), f"y at t={t} for x={src_x} slot={src_slot}"
            compared += 1
        await ctx.tick()
    return compared


SPECS = [
    pytest.param(dict(rows=3, cols=2, rf_depth=1), id="3x2-rf1"),
    pytest.param(dict(rows=3, cols=2, rf_depth=2), id="3x2-rf2"),
    pytest.param(dict(rows=2, cols=4, rf_depth=1), id="2x4-rf1"),
    pytest.param(dict(rows=2, cols=4, rf_depth=2), id="2x4-rf2"),
    pytest.param(dict(rows=1, cols=1, rf_depth=2), id="1x1-rf2"),
    pytest.param(dict(rows=4, cols=3, rf_depth=3, operand_bits=4, acc_bits=8), id="4x3-rf3-int4"),
    pytest.param(dict(rows=2, cols=2, rf_depth=1, operand_bits=16, acc_bits=32), id="2x2-int16"),
]


def seed_of(params):
    return zlib.crc32(repr(sorted(params.items())).encode())


def make_inputs(rng, spec, count, valid_fraction=0.75):
    return [(int(rng.random() < valid_fraction), rng.randrange(spec.rf_depth),
             random_operands(rng, spec.operand_bits, (spec.rows,)))
            for _ in range(count)]


@pytest.mark.parametrize("params", SPECS)
def test_stream_matches_golden(params):
    spec = ArchSpec(**params)
    rng = random.Random(seed_of(params))
    array = SystolicArray(spec)
    weights = [random_operands(rng, spec.operand_bits, (spec.rows, spec.cols))
               for _ in range(spec.rf_depth)]
    inputs = make_inputs(rng, spec, 40)
    assert array.latency == spec.rows + spec.cols - 1

    async def bench(ctx):
        for slot, w in enumerate(weights):
            await load_matrix(ctx, array, w, slot)
        compared = await stream(ctx, array, spec.acc_bits, inputs, weights, check_gated=False)
        assert compared == sum(v for v, _, _ in inputs)

    simulate(array, bench)


@pytest.mark.parametrize("params", SPECS)
def test_gated_counts_zero_operands(params):
    spec = ArchSpec(**params)
    rng = random.Random(1000 + seed_of(params))
    array = SystolicArray(spec)
    weights = [random_operands(rng, spec.operand_bits, (spec.rows, spec.cols), zero_fraction=0.4)
               for _ in range(spec.rf_depth)]
    inputs = make_inputs(rng, spec, 40)
    # Make sure the edge cases are there: an all-zero input, an all-nonzero one, and invalid
    # tokens that carry zeros (they must count nothing).
    inputs[0] = (1, 0, np.zeros(spec.rows, dtype=np.int64))
    inputs[1] = (1, 0, np.full(spec.rows, 1, dtype=np.int64))
    inputs[2] = (0, 0, np.zeros(spec.rows, dtype=np.int64))

    async def bench(ctx):
        for slot, w in enumerate(weights):
            await load_matrix(ctx, array, w, slot)
        await stream(ctx, array, spec.acc_bits, inputs, weights, check_gated=True)

    simulate(array, bench)


@pytest.mark.parametrize("acc_bits", [16, 17, 32])
def test_extreme_operands_wrap_accumulator(acc_bits):
    """-128 * -128 summed over 3 rows overflows a 16-bit accumulator; y must wrap like golden."""
    spec = ArchSpec(rows=3, cols=2, rf_depth=1, acc_bits=acc_bits)
    array = SystolicArray(spec)
    weights = np.array([[-128, 127], [-128, -128], [-128, 127]], dtype=np.int64)
    inputs = [(1, 0, np.array(x, dtype=np.int64))
              for x in ([-128, -128, -128], [127, 127, 127], [-128, 127, -128], [127, -128, 127])]

    async def bench(ctx):
        await load_matrix(ctx, array, weights, 0)
        assert await stream(ctx, array, spec.acc_bits, inputs, [weights]) == len(inputs)

    simulate(array, bench)
    # The test is only meaningful if 16 bits actually overflow.
    assert np.any(wrap(np.stack([x for _, _, x in inputs]) @ weights, 16)
                  != np.stack([x for _, _, x in inputs]) @ weights)


@pytest.mark.parametrize("operand_bits, rows", [(8, 16), (4, 16), (8, 5)])
def test_full_columns_of_extreme_products_fit_the_partial_sum_width(operand_bits, rows):
    """Full columns of lo * lo products (every x and w the most negative operand) and of
    mixed hi/lo ones reach the ends of the column's sum range: y equals the exact sums at
    acc_bits 32, although the partial sums travel at spec.psum_bits, and one bit less
    would overflow on them."""
    spec = ArchSpec(rows=rows, cols=3, rf_depth=1, operand_bits=operand_bits)
    lo, hi = operand_range(operand_bits)
    array = SystolicArray(spec)
    mixed = np.array([hi if r % 2 else lo for r in range(rows)], dtype=np.int64)
    weights = np.stack([np.full(rows, lo), mixed, np.full(rows, hi)], axis=1).astype(np.int64)
    vectors = [np.full(rows, lo), np.full(rows, hi), mixed, -mixed - 1, np.roll(mixed, 1)]
    inputs = [(1, 0, x.astype(np.int64)) for x in vectors]

    async def bench(ctx):
        await load_matrix(ctx, array, weights, 0)
        assert await stream(ctx, array, spec.acc_bits, inputs, [weights]) == len(inputs)

    simulate(array, bench)
    exact = np.stack(vectors) @ weights
    assert spec.psum_bits < spec.acc_bits
    assert exact.max() == rows * lo * lo
    assert np.any(wrap(exact, spec.psum_bits - 1) != exact)


def test_weight_reload_replaces_slot():
    """Committing a new matrix into a slot replaces it; the other slot is untouched."""
    spec = ArchSpec(rows=3, cols=2, rf_depth=2)
    rng = random.Random(7)
    array = SystolicArray(spec)
    first = [random_operands(rng, 8, (3, 2)) for _ in range(2)]
    second = [random_operands(rng, 8, (3, 2)), first[1]]

    async def bench(ctx):
        for slot, w in enumerate(first):
            await load_matrix(ctx, array, w, slot)
        await stream(ctx, array, spec.acc_bits, make_inputs(rng, spec, 10), first)
        await load_matrix(ctx, array, second[0], 0)
        await stream(ctx, array, spec.acc_bits, make_inputs(rng, spec, 10), second)

    simulate(array, bench)


def test_gated_for_never_committed_slot():
    """Register files start at zero (they have no reset; zero is their initial value): all
    multiplies of slot 1 are gated."""
    spec = ArchSpec(rows=3, cols=2, rf_depth=2)
    array = SystolicArray(spec)
    w0 = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int64)
    zeros = np.zeros((3, 2), dtype=np.int64)
    inputs = [(1, 1, np.array([1, 2, 3], dtype=np.int64)),   # slot 1: never committed
              (1, 0, np.array([1, 2, 3], dtype=np.int64))]

    async def bench(ctx):
        await load_matrix(ctx, array, w0, 0)
        await stream(ctx, array, spec.acc_bits, inputs, [w0, zeros], check_gated=True)

    simulate(array, bench)


@pytest.mark.parametrize("rows, cols, lane", [(4, 4, 0), (5, 1, 3), (6, 3, 1)])
def test_depthwise_mode_slides_each_columns_lane_past_the_taps(rows, cols, lane):
    """DepthwiseSystolicArray in its depthwise mode: pixels presented one a cycle, a window
    issued the cycle after its first pixel, each column's partial sum is the 1-D convolution
    of its own lane with its column of taps (rows below `dw_rows` hold taps); its gated
    count is that of the products on those rows and the `dw_cols` columns."""
    from pyhdl.depthwise_array import DepthwiseSystolicArray
    spec = ArchSpec(name="dw", rows=rows, cols=cols, operand_bits=8)
    rng = random.Random(rows * 7 + cols)
    taps, active = min(3, rows), cols - (cols > 1)
    array = DepthwiseSystolicArray(spec)
    weights = random_operands(rng, 8, (rows, cols))
    weights[taps:] = 0
    weights[:, active:] = 0
    pixels = random_operands(rng, 8, (12, spec.input_lanes))
    windows = len(pixels) - taps + 1
    channel = [lane * cols + c for c in range(cols)]
    want = [[int(sum(weights[i, c] * pixels[j + i, channel[c]] for i in range(taps)))
             for c in range(cols)] for j in range(windows)]
    want_gated = sum(int(weights[i, c] == 0 or pixels[j + i, channel[c]] == 0)
                     for j in range(windows) for i in range(taps) for c in range(active))

    async def bench(ctx):
        ctx.set(array.depthwise, 1)
        ctx.set(array.dw_lane, lane)
        ctx.set(array.dw_rows, taps)
        ctx.set(array.dw_cols, active)
        await load_matrix(ctx, array, weights, 0)
        got, gated = [], 0
        for t in range(len(pixels) + array.latency + 4):
            values = pixels[t] if t < len(pixels) else np.zeros(spec.input_lanes, np.int64)
            ctx.set(array.x, {"valid": 1 <= t <= windows, "slot": 0,
                              "values": [int(v) for v in values]})
            y = ctx.get(array.y)
            if y.valid:
                got.append([int(v) for v in y.values])
            gated += ctx.get(array.gated)
            await ctx.tick()
        assert got == want
        assert gated == want_gated

    simulate(array, bench)
