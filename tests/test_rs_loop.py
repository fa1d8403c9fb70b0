# amaranth: UnusedElaboratable=no
"""The row-stationary inner loop's parts in Amaranth's simulator, against the model's pass
layouts (models.row_stationary.Pass)."""

import random
from collections import Counter

import numpy as np
import pytest

from amaranth.back import rtlil

from models.row_stationary import ConvShape, RowStationaryArray, RowStationaryMapping
from amaranth import Cat, Module, Value
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from models.golden import conv2d, wrap
from models.mapper import map_conv as map_layer, weight_rows
from models.registers import DESCRIPTOR
from models.row_stationary import (ARRAY_EVENTS, PE_EVENTS, array_of, chunk_cycles,
                                   chunk_mapping, choice_of,
                                   run_conv)
from models.rs_perf import PREFETCH_LATENCY
from models.spec import ArchSpec
from pyhdl.rs_array import RowStationaryPEArray
from pyhdl.rs_loop import (RowStationaryFilterFeed, RowStationaryInputFeed,
                           RowStationaryInputWalk, RowStationaryLoop, RowStationaryPassWalk,
                           RowStationaryPsumCollector)
from testbench.amaranth_sim import add_events, simulate
from testbench.rs_passes import (array_config, collector_config, filter_feed_config,
                                 input_walk_config, pass_walk_config)

ARRAYS = {"nonsquare_3x5": RowStationaryArray(3, 5, 24, 6, 2),
          "even_4x6": RowStationaryArray(4, 6, 40, 8, 4)}


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
        got = run_walk(array, input_walk_config(mapping, plan), len(expected), stalls)
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
        got = run_walk(array, input_walk_config(mapping, plan), len(expected), stalls)
        assert got == expected, f"pass {plan}"


@pytest.mark.parametrize("unit", [
    RowStationaryInputWalk(4, 6), RowStationaryInputFeed(4, 6, 8, 10),
    RowStationaryFilterFeed(4, 6, 8, 10, psum_depth=4, input_depth=8),
    RowStationaryPsumCollector(6, 32, psum_depth=4, output_addr_bits=10),
    RowStationaryPassWalk(4, 6, psum_depth=4, input_depth=8, filter_depth=40,
                          output_addr_bits=10)], ids=lambda unit: type(unit).__name__)
def test_the_loop_parts_have_no_multiplier(unit):
    """Every address, lane and count of the loop's parts steps by adders."""
    assert "$mul" not in rtlil.convert(unit)


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
            await start_unit(ctx, feed, input_walk_config(mapping, plan), pad_value=-5)
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
        config = filter_feed_config(mapping, plan, base)

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


def datapath(array, image_words, weight_words, acc_bits=32):
    """Input and weight buffers, the two feeds, the RS array and the psum collector, joined
    as the inner loop joins them (the array's columns start from zero: the collector's
    accumulator adds the passes), configured and started by the pass walk."""
    top = Module()
    units = {
        "input_feed": RowStationaryInputFeed(array.rows, array.cols, 8,
                                             (len(image_words) - 1).bit_length()),
        "filter_feed": RowStationaryFilterFeed(array.rows, array.cols, 8,
                                               (len(weight_words) - 1).bit_length(),
                                               array.psum_depth, array.input_depth),
        "array": RowStationaryPEArray(array.rows, array.cols, 8, acc_bits, array.filter_depth,
                                      array.input_depth, array.psum_depth),
        "collector": RowStationaryPsumCollector(array.cols, acc_bits, array.psum_depth, 16),
    }
    walk = RowStationaryPassWalk(array.rows, array.cols, array.psum_depth, array.input_depth,
                                 array.filter_depth, 16)
    top.submodules.walk = walk
    for name, unit in units.items():
        top.submodules[name] = unit
        top.d.comb += unit.start.eq(walk.pass_start)
    for name, words in (("input_feed", image_words), ("filter_feed", weight_words)):
        top.submodules[f"{name}_buffer"] = buffer = Memory(shape=array.rows * 8,
                                                           depth=len(words), init=words)
        port, unit = buffer.read_port(), units[name]
        top.d.comb += [port.addr.eq(unit.read.addr), port.en.eq(unit.read.en),
                       unit.read.data.eq(port.data)]
    dut = units["array"]
    top.d.comb += [dut.config.eq(walk.array_config),
                   units["input_feed"].config.eq(walk.walk_config),
                   units["filter_feed"].config.eq(walk.filter_config),
                   units["collector"].config.eq(walk.collector_config),
                   walk.filter_end.eq(units["filter_feed"].end),
                   walk.units_busy.eq(Cat(unit.busy for unit in units.values()).any())]
    wiring.connect(top, units["input_feed"].bus, dut.input_in)
    for a in range(array.rows):
        wiring.connect(top, units["filter_feed"].bus[a], dut.filter_in[a])
    for b in range(array.cols):
        wiring.connect(top, dut.psum_out[b], units["collector"].column[b])
        top.d.comb += dut.psum_in[b].valid.eq(0)
    return top, walk, units


@pytest.mark.parametrize("array_name", ARRAYS)
@pytest.mark.parametrize("kernel,stride,pad", [(3, 1, 1), (3, 2, 0), (1, 1, 0), (4, 1, 2)])
def test_the_datapath_runs_whole_convolutions_bit_exactly(array_name, kernel, stride, pad):
    """A random conv (folds, strips, channel and filter tiles, padding of a zero point) from
    the buffers through the array into output words, every pass configured and started by
    the pass walk: the passes' configurations are the host's (testbench/rs_passes.py), the
    outputs the golden model's bit for bit, the array's events summed over the run the
    executor's counts."""
    array = ARRAYS[array_name]
    rng = np.random.default_rng([kernel, stride, pad, array.rows])
    c, k = int(rng.integers(2, 6)), int(rng.integers(2, array.cols + 1))
    h, w = (int(v) for v in rng.integers(kernel + 1, kernel + 5, size=2))
    shape = ConvShape(1, c, h, w, k, kernel, kernel, stride, pad, pad_value=3)
    x = rng.integers(-128, 128, size=(1, c, h, w))
    x[rng.random(x.shape) < 0.2] = 0
    weights = rng.integers(-128, 128, size=(k, c, kernel, kernel))
    channels = int(rng.integers(1, min(c, array.input_depth // kernel) + 1))
    filters = int(rng.integers(1, min(k, array.psum_depth,
                                      array.filter_depth // (channels * kernel)) + 1))
    mapping = RowStationaryMapping(shape, array, channels, filters,
                                   int(rng.integers(1, min(kernel, array.rows) + 1)),
                                   int(rng.integers(1, min(shape.p, array.cols) + 1)))
    plans = [mapping.plan(*start) for start in mapping.passes()]
    weight_base = 2
    lanes, bases = mapping.filter_buffer(weights)
    top, walk, units = datapath(array, buffer_image(x, array.rows),
                                [0] * weight_base + [pack(word) for word in lanes])
    out = np.zeros((shape.p * shape.q, array.cols), dtype=np.int64)
    configs, counts = [], Counter()
    array_events = units["array"].events

    async def bench(ctx):
        ctx.set(units["input_feed"].pad_value, 3)
        await start_unit(ctx, walk, pass_walk_config(mapping, weight_base))
        for _ in range(50000 * len(plans)):
            add_events(counts, ctx.get(array_events), PE_EVENTS + ARRAY_EVENTS)
            if ctx.get(walk.pass_start):
                configs.append([ctx.get(port) for port in (
                    walk.array_config, walk.walk_config, walk.filter_config,
                    walk.collector_config)])
            collector = units["collector"]
            if ctx.get(collector.tag.valid):
                tag, values = ctx.get(collector.tag), ctx.get(collector.y.values)
                vector = np.array([values[lane] for lane in range(array.cols)])
                out[tag.addr] = vector if tag.first else out[tag.addr] + vector
            if not ctx.get(walk.busy):
                break
            await ctx.tick()
        assert not ctx.get(walk.busy), "the chunk did not finish"
        for _ in range(units["array"].EVENT_LATENCY):      # the last strobes reach `events`
            await ctx.tick()
            add_events(counts, ctx.get(array_events), PE_EVENTS + ARRAY_EVENTS)

    simulate(top, bench)
    assert len(configs) == len(plans)
    for plan, base, got in zip(plans, bases, configs):
        expected = (array_config(mapping, plan, accumulate=False),
                    input_walk_config(mapping, plan),
                    filter_feed_config(mapping, plan, weight_base + base),
                    collector_config(mapping, plan))
        for view, want in zip(got, expected):
            assert used(as_dict(view)) == used(want), plan
    y = wrap(out[:, :k], 32).reshape(shape.p, shape.q, k).transpose(2, 0, 1)
    np.testing.assert_array_equal(y, conv2d(x, weights, stride, pad, pad_value=3)[0])
    # The array's counts are the executor's, but that no column reads the global buffer's
    # partial sums: the accumulator reads the output words instead.
    _, executed, _ = run_conv(x, weights, array, stride, pad, mapping=mapping, pad_value=3)
    assert counts == dict(executed, glb_psum_reads=0)
    assert counts["macs"] == shape.macs


def as_dict(value):
    """A simulator's struct or array value as plain Python (dicts and lists of ints)."""
    if isinstance(value, int):
        return value
    members = getattr(value.shape(), "members", None)
    if members is not None:
        return {name: as_dict(getattr(value, name)) for name in members}
    return [as_dict(value[index]) for index in range(value.shape().length)]


def used(config):
    """An array configuration without the entries of vertical and horizontal sets the pass
    leaves idle (their values do not matter)."""
    if "vertical_sets" in config and isinstance(config.get("filters"), list):
        config = dict(config, channels=config["channels"][:config["vertical_sets"]],
                      filters=config["filters"][:config["horizontal_sets"]])
    return config


def descriptor_value(name, word):
    """A descriptor register word as the field's value (signed fields sign-extended)."""
    field = DESCRIPTOR[name]
    return word - (1 << 32) if field.signed and word >= 1 << 31 else word


LOOP_SPECS = {
    "nonsquare_3x5": ArchSpec(dataflow="rs", rows=3, cols=5, rs_filter_depth=24,
                              rs_input_depth=6, rs_psum_depth=2),
    "odd_5x4": ArchSpec(dataflow="rs", rows=5, cols=4, rs_filter_depth=40, rs_input_depth=8,
                        rs_psum_depth=3),
}


@pytest.mark.parametrize("spec_name", LOOP_SPECS)
@pytest.mark.parametrize("kernel,stride,pad", [(3, 1, 1), (3, 2, 0), (1, 1, 0), (5, 2, 2)])
def test_the_loop_runs_a_layers_filter_blocks_bit_exactly(spec_name, kernel, stride, pad):
    """`RowStationaryLoop` on the mapper's descriptor, chunk by chunk as the sequencer hands
    them over (one filter block each, its weights resident in the weight buffer): the output
    words are the golden model's bit for bit (a zero point as padding), the events it counts
    the executor's, and each chunk's cycles from `run` to `chunk_done` the model's
    (models.rs_perf.chunk_cycles), and its `prefetch` pulse PREFETCH_LATENCY after each
    `run` (models.rs_perf)."""
    spec = LOOP_SPECS[spec_name]
    rng = np.random.default_rng([kernel, stride, pad, spec.rows])
    c, k = int(rng.integers(2, 8)), int(rng.integers(spec.cols + 1, 2 * spec.cols + 3))
    h, w = (int(v) for v in rng.integers(kernel + 1, kernel + 6, size=2))
    shape = ConvShape(1, c, h, w, k, kernel, kernel, stride, pad, pad_value=-3)
    x = rng.integers(-128, 128, size=(1, c, h, w))
    x[rng.random(x.shape) < 0.2] = 0
    weights = rng.integers(-128, 128, size=(k, c, kernel, kernel))
    mapping = map_layer(spec, shape)
    d = mapping.descriptor
    choice = choice_of(spec, mapping)
    assert (d["tiles"], d["c_chunks"]) == (1, 1)     # a chunk per filter block, one image
    rows = weight_rows(spec, mapping, weights)
    image, weight_words = buffer_image(x, spec.rows), [pack(row) for row in rows]
    loop = RowStationaryLoop(spec, None, (len(image) - 1).bit_length(),
                             (len(weight_words) - 1).bit_length(), 12)
    top = Module()
    top.submodules.loop = loop
    for name, words in (("input", image), ("weight", weight_words)):
        top.submodules[name] = buffer = Memory(shape=spec.rows * 8, depth=len(words),
                                               init=words)
        port, loop_port = buffer.read_port(), getattr(loop, f"{name}_read")
        top.d.comb += [port.addr.eq(loop_port.addr), port.en.eq(loop_port.en),
                       loop_port.data.eq(port.data)]
    k_blocks = d["k_blocks"]
    out = np.zeros((shape.p * shape.q * k_blocks, spec.cols), dtype=np.int64)
    events = Counter()
    lengths = []        # cycles from each chunk's `run` to its `chunk_done`
    prefetches = []     # (chunk, cycles from its `run`) of each `prefetch` pulse

    async def bench(ctx):
        for name, word in d.items():
            ctx.set(Value.cast(getattr(loop.descriptor, name)), descriptor_value(name, word))
        for kb in range(k_blocks):
            ctx.set(loop.chunk, {
                "first": 1, "last_k": int(kb == k_blocks - 1), "w_base": kb * d["w_rows"],
                "first_cb": 0, "last_cb": d["c_blocks"] - 1, "tile_rows": shape.p,
                "out_base": kb, "out_step": k_blocks, "h_start": -pad,
                "window_base": -pad * d["line_words"] - d["pad_words"]})
            ctx.set(loop.run, 1)
            await ctx.tick()
            ctx.set(loop.run, 0)
            lengths.append(1)
            for _ in range(200000):
                tag = ctx.get(loop.tag)
                if tag.valid:
                    values = ctx.get(loop.y.values)
                    vector = np.array([values[lane] for lane in range(spec.cols)])
                    out[tag.addr] = vector if tag.first else out[tag.addr] + vector
                e = ctx.get(loop.events)
                events.update(macs=e.macs, macs_gated=e.macs_gated, rf_writes=e.rf_writes,
                              array_transfers=e.array_transfers, busy_cycles=e.busy_cycles,
                              rf_reads=ctx.get(loop.rf_reads))
                if ctx.get(loop.prefetch):
                    prefetches.append((kb, lengths[-1]))
                done = ctx.get(loop.chunk_done)
                await ctx.tick()
                if done:
                    break
                lengths[-1] += 1
            assert ctx.get(loop.idle), f"filter block {kb} did not finish"

    simulate(top, bench)
    y = wrap(out[:, :spec.cols], 32).reshape(shape.p, shape.q, k_blocks * spec.cols)[:, :, :k]
    np.testing.assert_array_equal(y.transpose(2, 0, 1),
                                  conv2d(x, weights, stride, pad, pad_value=-3)[0])
    executed = Counter()
    for k0 in range(0, k, spec.cols):
        block = weights[k0:k0 + spec.cols]
        executed.update(run_conv(x, block, array_of(spec), stride, pad, pad_value=-3,
                                 mapping=chunk_mapping(spec, shape, choice,
                                                       last_k=k0 + spec.cols >= k))[1])
    operands = ("filter", "input", "psum")
    assert events == {
        "macs": shape.macs, "macs_gated": executed["gated_macs"],
        "rf_reads": sum(executed[f"{o}_rf_reads"] for o in operands),
        "rf_writes": sum(executed[f"{o}_rf_writes"] for o in operands),
        "array_transfers": executed["psum_hops"], "busy_cycles": executed["input_bus_sends"]}
    assert lengths == [chunk_cycles(chunk_mapping(spec, shape, choice,
                                                  last_k=k0 + spec.cols >= k))
                       for k0 in range(0, k, spec.cols)]
    assert prefetches == [(kb, PREFETCH_LATENCY) for kb in range(k_blocks)]


@pytest.mark.parametrize("spec_name", LOOP_SPECS)
def test_the_loops_only_multipliers_are_the_pes_macs(spec_name):
    """The whole inner loop (feeds, walks, collector, array) multiplies only in the PEs' MACs:
    one `$mul` a PE, none on an address path."""
    spec = LOOP_SPECS[spec_name]
    text = rtlil.convert(RowStationaryLoop(spec, None, 10, 10, 12))
    assert text.count("cell $mul") == spec.rows * spec.cols
