"""The row-stationary inner loop's parts in Amaranth's simulator, against the model's pass
layouts (models.row_stationary.Pass)."""

import random

import numpy as np
import pytest

from amaranth.back import rtlil

from models.row_stationary import ConvShape, RowStationaryArray, RowStationaryMapping
from amaranth import Module
from amaranth.lib.memory import Memory

from pyhdl.rs_loop import (RowStationaryFilterFeed, RowStationaryInputFeed,
                           RowStationaryInputWalk)
from testbench.amaranth_sim import simulate

ARRAYS = {"nonsquare_3x5": RowStationaryArray(3, 5, 24, 6, 2),
          "even_4x6": RowStationaryArray(4, 6, 40, 8, 4)}


def walk_config(mapping, plan, rows):
    """The walk's configuration of `plan` over an input buffer holding the whole image:
    pixel (hh, ww) block b at word (hh * w + ww) * c_blocks + b."""
    sh = mapping.shape
    u, s, pad = sh.stride, sh.s, sh.pad
    c_blocks = -(-sh.c // rows)
    line_words = sh.w * c_blocks
    row_hh = plan.strip.start * u + plan.fold.start - pad
    q = mapping.channels
    c0 = plan.channel_sets[0].start
    return {"outputs": sh.q, "taps": s, "step": min(u, s), "stride": u,
            "fold_len": len(plan.fold), "strip_len": len(plan.strip),
            "vertical_sets": len(plan.channel_sets), "channels": q,
            "channels_last": len(plan.channel_sets[-1]), "first_lane": c0 % rows,
            "first_block": c0 // rows, "q_lanes": q % rows, "q_blocks": q // rows,
            "row_addr": row_hh * line_words - pad * c_blocks, "row_hh": row_hh,
            "line_words": line_words, "c_blocks": c_blocks, "row_step": u * line_words,
            "col_skip": max(u - s, 0), "col_skip_words": max(u - s, 0) * c_blocks,
            "h": sh.h, "w": sh.w, "pad": pad}


async def start_unit(ctx, unit, config, **inputs):
    """Give `unit` its configuration (and other inputs) and pulse its `start`."""
    ctx.set(unit.config, config)
    for name, value in inputs.items():
        ctx.set(getattr(unit, name), value)
    ctx.set(unit.start, 1)
    await ctx.tick()
    ctx.set(unit.start, 0)


def with_buffer(unit, words, width):
    """A module of `unit` reading a buffer memory holding `words` through its `read` port."""
    top = Module()
    top.submodules.buffer = buffer = Memory(shape=width, depth=len(words), init=words)
    top.submodules.unit = unit
    port = buffer.read_port()
    top.d.comb += [port.addr.eq(unit.read.addr), port.en.eq(unit.read.en),
                   unit.read.data.eq(port.data)]
    return top


def expected_words(mapping, plan, rows):
    """`Pass.input_sends` as (vset, diagonal, word, lane, pad); word None in the padding."""
    sh = mapping.shape
    c_blocks = -(-sh.c // rows)
    words = []
    for v, y, c, row, column in plan.input_sends(sh):
        hh, ww = row - sh.pad, column - sh.pad
        inside = 0 <= hh < sh.h and 0 <= ww < sh.w
        word = (hh * sh.w + ww) * c_blocks + c // rows if inside else None
        words.append((v, y, word, c % rows, int(not inside)))
    return words


def run_walk(array, config, count, stalls):
    dut = RowStationaryInputWalk(array.rows, array.cols)
    words = []

    async def bench(ctx):
        await start_unit(ctx, dut, config)
        for _ in range(4 * count + 10):
            if not ctx.get(dut.busy):
                break
            ready = stalls.random() >= 0.3
            ctx.set(dut.word.ready, ready)
            if ready and ctx.get(dut.word.valid):
                p = ctx.get(dut.word.payload)
                words.append((p.vset, p.diagonal, None if p.pad else p.addr, p.lane, p.pad))
            await ctx.tick()
        assert not ctx.get(dut.busy), "the walk did not finish"

    simulate(dut, bench)
    return words


@pytest.mark.parametrize("array_name", ARRAYS)
@pytest.mark.parametrize("kernel,stride,pad", [(3, 1, 1), (2, 2, 0), (1, 1, 0), (3, 2, 1),
                                               (1, 3, 0), (4, 1, 2)])
def test_input_walk_sends_the_models_words(array_name, kernel, stride, pad):
    """Every pass of a random mapping (partial folds, strips and channel sets; strides
    below, at and above the fold; channel sets across blocks), with the consumer stalling."""
    array = ARRAYS[array_name]
    rng = np.random.default_rng([kernel, stride, pad, array.rows])
    c, k = int(rng.integers(2, 8)), int(rng.integers(1, 4))
    h, w = (int(v) for v in rng.integers(kernel + 2, kernel + 7, size=2))
    shape = ConvShape(1, c, h, w, k, kernel, kernel, stride, pad)
    channels = int(rng.integers(1, min(c, array.input_depth // kernel) + 1))
    mapping = RowStationaryMapping(shape, array, channels, 1,
                                   fold_rows=int(rng.integers(1, min(kernel, array.rows) + 1)),
                                   strip_cols=int(rng.integers(1, min(shape.p, array.cols) + 1)))
    stalls = random.Random(kernel * 10 + stride)
    for start in mapping.passes():
        plan = mapping.plan(*start)
        expected = expected_words(mapping, plan, array.rows)
        got = run_walk(array, walk_config(mapping, plan, array.rows), len(expected), stalls)
        assert got == expected, f"pass {start}"


@pytest.mark.parametrize("fold_rows,strip_cols,stride", [(3, 2, 2), (2, 3, 3), (3, 4, 1)])
def test_input_walk_on_partial_folds_and_wide_channel_sets(fold_rows, strip_cols, stride):
    """A 5x5 kernel in folds of 3 or 2 filter rows (the last one partial), five channels a
    set on 3-lane words (a set spans two blocks), diagonals overlapping or leaving gaps."""
    array = RowStationaryArray(3, 5, filter_depth=60, input_depth=25, psum_depth=2)
    shape = ConvShape(1, 11, 13, 9, 2, 5, 5, stride, 2)
    mapping = RowStationaryMapping(shape, array, 5, 1, fold_rows, strip_cols)
    stalls = random.Random(fold_rows)
    plans = [mapping.plan(*start) for start in mapping.passes()]
    assert any(len(plan.fold) < fold_rows for plan in plans)
    for plan in plans:
        expected = expected_words(mapping, plan, array.rows)
        got = run_walk(array, walk_config(mapping, plan, array.rows), len(expected), stalls)
        assert got == expected, f"pass {plan}"


def test_the_input_walk_has_no_multiplier():
    assert "$mul" not in rtlil.convert(RowStationaryInputWalk(4, 6))


def buffer_image(x, rows, operand_bits=8):
    """Image n=0 of x (C x H x W) as input-buffer words: pixel by pixel, `rows` channels a
    word (zero past C), lane 0 in the low bits."""
    c, h, w = x.shape[1:]
    blocks = -(-c // rows)
    channels = np.zeros((h, w, blocks * rows), dtype=np.int64)
    channels[:, :, :c] = x[0].transpose(1, 2, 0)
    return [pack(word, operand_bits) for word in channels.reshape(-1, rows)]


@pytest.mark.parametrize("kernel,stride,pad", [(3, 1, 1), (3, 2, 1), (1, 3, 0), (5, 2, 2)])
def test_input_feed_puts_the_passes_operands_on_the_bus(kernel, stride, pad):
    """Walk, input buffer and lane select: the bus carries `Pass.input_sends`' operands (the
    padding value outside the image) while the bus stalls at random."""
    array = RowStationaryArray(3, 5, filter_depth=60, input_depth=10, psum_depth=2)
    rng = np.random.default_rng([kernel, stride, pad])
    shape = ConvShape(1, 7, 9, 8, 2, kernel, kernel, stride, pad, pad_value=-5)
    x = rng.integers(-128, 128, size=(1, 7, 9, 8))
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-5)
    mapping = RowStationaryMapping(shape, array, min(7, 10 // kernel), 1,
                                   min(kernel, 2), min(shape.p, 3))
    words = buffer_image(x, array.rows)
    stalls = random.Random(kernel + stride)
    for start in list(mapping.passes())[:4]:
        plan = mapping.plan(*start)
        expected = [(v, y, int(padded[0, c, row, column]))
                    for v, y, c, row, column in plan.input_sends(shape)]
        feed = RowStationaryInputFeed(array.rows, array.cols, 8, (len(words) - 1).bit_length())
        top = with_buffer(feed, words, array.rows * 8)
        got = []

        async def bench(ctx):
            await start_unit(ctx, feed, walk_config(mapping, plan, array.rows), pad_value=-5)
            for _ in range(4 * len(expected) + 10):
                if not ctx.get(feed.busy):
                    break
                ready = stalls.random() >= 0.3
                ctx.set(feed.bus.ready, ready)
                if ready and ctx.get(feed.bus.valid):
                    b = ctx.get(feed.bus.payload)
                    got.append((b.vset, b.diagonal, b.data))
                await ctx.tick()
            assert not ctx.get(feed.busy), "the feed did not finish"

        simulate(top, bench)
        assert got == expected, f"pass {start}"


def pack(lanes, operand_bits=8):
    """One buffer word of `lanes` operands, lane 0 in the low bits."""
    mask = (1 << operand_bits) - 1
    return sum((int(v) & mask) << (operand_bits * lane) for lane, v in enumerate(lanes))


@pytest.mark.parametrize("array_name", ARRAYS)
@pytest.mark.parametrize("kernel,fold_rows,channels", [(3, 1, 2), (3, 2, 1), (1, 1, 3),
                                                       (5, 3, 1)])
def test_filter_feed_puts_each_rows_weights_on_its_bus(array_name, kernel, fold_rows, channels):
    """The words of `Pass.filter_words` at a base in the weight buffer: each PE row's bus
    carries its lane's weights of every horizontal set in order (partial vertical and
    horizontal sets, idle rows carry nothing), with every bus stalling at random."""
    array = ARRAYS[array_name]
    fold_rows = min(fold_rows, array.rows)
    rng = np.random.default_rng([kernel, fold_rows, channels, array.rows])
    c, k = 7, 5
    shape = ConvShape(1, c, 8, 8, k, kernel, kernel)
    filters = min(array.psum_depth, array.filter_depth // (channels * kernel))
    mapping = RowStationaryMapping(shape, array, channels, filters, fold_rows, 2)
    w = rng.integers(-128, 128, size=(k, c, kernel, kernel))
    stalls = random.Random(kernel * fold_rows)
    for start in list(mapping.passes())[:6]:
        plan = mapping.plan(*start)
        layout = plan.filter_words(w, mapping)
        base = 3
        words = [0] * base + [pack(word) for _, lanes, _ in layout for word in lanes]
        expected = {a: [(h, int(lanes[t, a])) for h, lanes, lengths in layout
                        for t in range(lengths[a])] for a in range(array.rows)}
        feed = RowStationaryFilterFeed(array.rows, array.cols, 8,
                                       (len(words) - 1).bit_length(), array.psum_depth,
                                       array.input_depth)
        top = with_buffer(feed, words, array.rows * 8)
        got = {a: [] for a in range(array.rows)}
        config = {"fold_rows": fold_rows, "fold_len": len(plan.fold),
                  "vertical_sets": len(plan.channel_sets), "channels": channels,
                  "channels_last": len(plan.channel_sets[-1]),
                  "horizontal_sets": len(plan.filter_sets), "filters": filters,
                  "filters_last": len(plan.filter_sets[-1]), "taps": kernel, "base": base}

        async def bench(ctx):
            await start_unit(ctx, feed, config)
            for _ in range(8 * len(words) + 10):
                if not ctx.get(feed.busy):
                    break
                for a, bus in enumerate(feed.bus):
                    ready = stalls.random() >= 0.3
                    ctx.set(bus.ready, ready)
                    if ready and ctx.get(bus.valid):
                        b = ctx.get(bus.payload)
                        got[a].append((b.hset, b.data))
                await ctx.tick()
            assert not ctx.get(feed.busy), "the feed did not finish"

        simulate(top, bench)
        assert got == expected, f"pass {start}"
