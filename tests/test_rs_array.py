# amaranth: UnusedElaboratable=no
"""The RS PE array in Amaranth's simulator: one pass of a random conv, driven from
RowStationaryMapping, against the NumPy executor's partial sums and counts for that pass."""

import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from amaranth.back import rtlil

from models.golden import operand_range
from models.row_stationary import (ARRAY_EVENTS, PE_EVENTS, ConvShape, RowStationaryArray,
                                   RowStationaryMapping, run_conv)
from pyhdl.rs_array import RS_ARRAY_EVENTS, RowStationaryPEArray
from pyhdl.rs_pe import RS_PE_EVENTS
from testbench.amaranth_sim import add_events, simulate
from testbench.rs_passes import array_config

ACC_BITS = 32
EVENTS = RS_PE_EVENTS + RS_ARRAY_EVENTS
DEADLOCK_CYCLES = 1000  # far beyond a PE's compute between two stream words (p*q*S + 3)


@dataclass(frozen=True)
class FirstPasses(RowStationaryMapping):
    """The mapping cut after its first `count` passes: run_conv of it is the executor's state
    after those passes."""
    count: int = 0

    def passes(self):
        return itertools.islice(super().passes(), self.count)


class Pass:
    """One pass of `mapping` (models.row_stationary.Pass) as the host drives it: the array's
    configuration and every stream word the array takes and gives."""

    def __init__(self, mapping, index, padded, w):
        self.mapping = mapping
        start = next(itertools.islice(mapping.passes(), index, None))
        self.plan = mapping.plan(*start)
        self.n = self.plan.n
        self.fold, self.strip = self.plan.fold, self.plan.strip
        self.channel_sets, self.filter_sets = self.plan.channel_sets, self.plan.filter_sets
        self.accumulate = self.plan.accumulate
        self.padded, self.w = padded, w

    def filter_bus_words(self):
        """Each PE row's filter bus words: lane a of the pass's weight-buffer words
        (`Pass.filter_words`), tagged with the horizontal set."""
        words = {a: [] for a in range(self.mapping.array.rows)}
        for h, lanes, lengths in self.plan.filter_words(self.w, self.mapping):
            for a, length in enumerate(lengths):
                words[a] += [{"hset": h, "data": int(v)} for v in lanes[:length, a]]
        return {a: lane for a, lane in words.items() if lane}

    def input_words(self):
        """The input bus's words (`Pass.input_sends`), tagged (set, diagonal)."""
        return [{"vset": v, "diagonal": y, "data": int(self.padded[self.n, c, row, column])}
                for v, y, c, row, column in self.plan.input_sends(self.mapping.shape)]

    def column_sums(self, out, column):
        """`out`'s sums of the column's output row and filter set, in (output, filter) order;
        None for a column the pass leaves idle."""
        h, j = divmod(column, self.mapping.strip_cols)
        if h >= len(self.filter_sets) or j >= len(self.strip):
            return None
        ks = self.filter_sets[h]
        return out[self.n, ks.start:ks.stop, self.strip.start + j].T.reshape(-1).tolist()


def drive(array, dut, the_pass, before, pause):
    """Run one pass on `dut`: feed the buses and the columns' psum_in (`before`'s sums),
    `pause(port)` holding a word back or stalling an output this cycle. Returns (the words out
    of each column, the array's `events` summed over every cycle up to EVENT_LATENCY after
    the pass)."""
    sources = {dut.filter_in[a]: words for a, words in the_pass.filter_bus_words().items()}
    sources[dut.input_in] = the_pass.input_words()
    for b in range(array.cols):
        sums = the_pass.column_sums(before, b)
        if the_pass.accumulate and sums is not None:
            sources[dut.psum_in[b]] = sums
    outputs = {b: [] for b in range(array.cols)}
    sums_per_column = [len(the_pass.column_sums(before, b) or []) for b in range(array.cols)]
    counts = Counter()

    async def bench(ctx):
        ctx.set(dut.config, array_config(the_pass.mapping, the_pass.plan))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        add_events(counts, ctx.get(dut.events), EVENTS)
        idle = 0
        while ctx.get(dut.busy):
            assert idle < DEADLOCK_CYCLES, f"no stream moved for {idle} cycles"
            offered = {}
            for port, words in sources.items():
                offered[port] = bool(words) and not pause(port)
                ctx.set(port.valid, offered[port])
                if words:
                    ctx.set(port.payload, words[0])
            taking = {b: not pause(dut.psum_out[b]) for b in range(array.cols)}
            for b, take in taking.items():
                ctx.set(dut.psum_out[b].ready, take)
            moved = [port for port, offer in offered.items() if offer and ctx.get(port.ready)]
            delivered = [b for b, take in taking.items()
                         if take and ctx.get(dut.psum_out[b].valid)]
            for b in delivered:
                outputs[b].append(ctx.get(dut.psum_out[b].payload))
                assert len(outputs[b]) <= sums_per_column[b], f"column {b}: too many sums"
            idle = 0 if moved or delivered else idle + 1
            await ctx.tick()
            add_events(counts, ctx.get(dut.events), EVENTS)
            for port in moved:
                sources[port].pop(0)
        assert not any(sources.values()), "stream words left unread"
        for port in sources:
            ctx.set(port.valid, 0)
        for _ in range(dut.EVENT_LATENCY):      # the last strobes reach `events`
            await ctx.tick()
            add_events(counts, ctx.get(dut.events), EVENTS)

    simulate(dut, bench)
    return outputs, counts


ARRAYS = {
    "nonsquare_3x4": RowStationaryArray(3, 4, filter_depth=24, input_depth=6, psum_depth=2),
    "odd_5x2": RowStationaryArray(5, 2, filter_depth=12, input_depth=6, psum_depth=3),
}

LAYERS = [(3, 1, 1), (2, 2, 0), (1, 1, 0), (4, 1, 0), (1, 2, 0)]  # (kernel, stride, pad)


def test_events_are_the_models():
    assert RS_PE_EVENTS == PE_EVENTS
    assert RS_ARRAY_EVENTS == ARRAY_EVENTS


def random_conv(rng, c, k, kernel):
    """Input 1 x c x H x W (a fifth zeros) and weights k x c x kernel x kernel."""
    lo, hi = operand_range(8)
    h, width = (int(v) for v in rng.integers(kernel + 1, kernel + 5, size=2))
    x = rng.integers(lo, hi + 1, size=(1, c, h, width))
    x[rng.random(x.shape) < 0.2] = 0
    return x, rng.integers(lo, hi + 1, size=(k, c, kernel, kernel))


def check_last_pass(x, w, stride, pad, mapping):
    """Run `mapping`'s last pass on the RTL array with random stalls on every stream: the
    columns' sums equal the executor's after that pass bit for bit (the columns read its sums
    before the pass when the pass reduces into them), the counts equal the executor's for
    that pass."""
    array = mapping.array
    index = len(list(mapping.passes())) - 1
    before_out, before_counts, _ = run_conv(x, w, array, stride, pad,
                                            mapping=FirstPasses(**fields(mapping), count=index))
    after_out, after_counts, _ = run_conv(x, w, array, stride, pad,
                                          mapping=FirstPasses(**fields(mapping),
                                                              count=index + 1))
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    the_pass = Pass(mapping, index, padded, w)
    dut = RowStationaryPEArray(array.rows, array.cols, 8, ACC_BITS, array.filter_depth,
                               array.input_depth, array.psum_depth)
    stalls = random.Random(index)
    outputs, counts = drive(array, dut, the_pass, before_out,
                            pause=lambda port: stalls.random() < 0.25)
    for b in range(array.cols):
        expected = the_pass.column_sums(after_out, b)
        assert outputs[b] == (expected or []), f"column {b}"
    pass_counts = {name: after_counts[name] - before_counts[name] for name in counts}
    assert counts == pass_counts
    assert counts["macs"] > 0


@pytest.mark.parametrize("array_name", ARRAYS)
@pytest.mark.parametrize("kernel,stride,pad", LAYERS)
def test_last_pass_of_a_random_conv_equals_the_executor(array_name, kernel, stride, pad):
    """The last pass (partial tiles, fold and strip; reducing into earlier passes' sums when
    channel tiles or folds come before it) of a random conv on a random mapping."""
    array = ARRAYS[array_name]
    rng = np.random.default_rng([kernel, stride, pad, array.rows])
    c, k = int(rng.integers(2, 5)), int(rng.integers(2, 6))
    x, w = random_conv(rng, c, k, kernel)
    shape = ConvShape(1, c, x.shape[2], x.shape[3], k, kernel, kernel, stride, pad)
    check_last_pass(x, w, stride, pad, random_mapping(rng, shape, array))


def test_idle_rows_between_vertical_sets_are_bypassed():
    """5 rows, sets of 2 filter rows, last fold of 1 row: rows 0 and 2 work, the psum of
    row 0 climbs past idle row 1 into row 2, past rows 3 and 4 to the top."""
    array = ARRAYS["odd_5x2"]
    x, w = random_conv(np.random.default_rng(3), c=4, k=3, kernel=3)
    shape = ConvShape(1, 4, x.shape[2], x.shape[3], 3, 3, 3, 1, 1)
    mapping = RowStationaryMapping(shape, array, channels=1, filters=2, fold_rows=2,
                                   strip_cols=2)
    check_last_pass(x, w, 1, 1, mapping)


def random_mapping(rng, shape, array):
    """Channels, filters, fold and strip drawn within the register files and the array."""
    channels = int(rng.integers(1, min(shape.c, array.input_depth // shape.s) + 1))
    filters = int(rng.integers(1, min(shape.k, array.psum_depth,
                                      array.filter_depth // (channels * shape.s)) + 1))
    return RowStationaryMapping(shape, array, channels, filters,
                                fold_rows=int(rng.integers(1, min(shape.r, array.rows) + 1)),
                                strip_cols=int(rng.integers(1, min(shape.p, array.cols) + 1)))


def fields(mapping):
    """The mapping's fields, not recursed into (the shape and array stay dataclasses)."""
    return {name: getattr(mapping, name) for name in
            ("shape", "array", "channels", "filters", "fold_rows", "strip_cols")}


def test_the_only_multipliers_are_the_pes_macs():
    dut = RowStationaryPEArray(3, 4, 16, ACC_BITS, filter_depth=24, input_depth=6,
                               psum_depth=2)
    assert len(re.findall(r"cell \$mul ", rtlil.convert(dut))) == 3 * 4


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match="cols must be a positive integer, not 0"):
        RowStationaryPEArray(3, 0, 8, ACC_BITS, 24, 6, 2)
