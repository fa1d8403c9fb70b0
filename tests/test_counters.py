"""ActivityCounters in Amaranth's simulator: clear, running, and the events' latency."""

import random


from models.counters import COUNTER_NAMES
from pyhdl.counters import EVENT_BITS, ActivityCounters
from testbench.amaranth_sim import simulate

EVENTS = [name for name in COUNTER_NAMES if name != "cycles"]


def values(ctx, dut):
    return dict(zip(COUNTER_NAMES, (ctx.get(dut.values[i]) for i in range(len(COUNTER_NAMES)))))


def set_events(ctx, dut, events):
    for name in EVENTS:
        ctx.set(getattr(dut.events, name), events.get(name, 0))


def test_random_events_sum_up_after_the_event_latency():
    """A cycle's events count exactly `event_latency` cycles later; `cycles` one later."""
    dut = ActivityCounters()
    rng = random.Random(3)
    steps = [({name: rng.getrandbits(EVENT_BITS) for name in EVENTS}, rng.random() < 0.7)
             for _ in range(60)]

    async def bench(ctx):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        history = []
        for events, running in steps + [({}, False)] * dut.event_latency:
            set_events(ctx, dut, events)
            ctx.set(dut.running, running)
            history.append((events, running))
            await ctx.tick()
            seen = values(ctx, dut)
            counted = history[:len(history) - dut.event_latency + 1]
            assert seen["cycles"] == sum(r for _, r in history)
            for name in EVENTS:
                assert seen[name] == sum(e.get(name, 0) for e, _ in counted), name

    simulate(dut, bench)


def test_one_event_shows_at_the_event_latency_and_not_before():
    dut = ActivityCounters()

    async def bench(ctx):
        set_events(ctx, dut, {"macs": 5})
        await ctx.tick()
        set_events(ctx, dut, {})
        for _ in range(dut.event_latency - 1):
            assert values(ctx, dut)["macs"] == 0
            await ctx.tick()
        assert values(ctx, dut)["macs"] == 5

    simulate(dut, bench)


def test_cycles_counts_only_while_running():
    dut = ActivityCounters()
    pattern = [1, 1, 0, 1, 0, 0, 1, 1, 1, 0]

    async def bench(ctx):
        for running in pattern:
            ctx.set(dut.running, running)
            await ctx.tick()
        ctx.set(dut.running, 0)
        await ctx.tick().repeat(3)
        assert values(ctx, dut)["cycles"] == sum(pattern)

    simulate(dut, bench)


def test_clear_zeroes_every_counter_and_drops_its_cycles_events():
    dut = ActivityCounters()
    full = {name: 1000 + i for i, name in enumerate(EVENTS)}

    async def bench(ctx):
        ctx.set(dut.running, 1)
        set_events(ctx, dut, full)
        await ctx.tick().repeat(5)
        assert all(v != 0 for v in values(ctx, dut).values())
        ctx.set(dut.clear, 1)           # events offered with clear are dropped
        await ctx.tick()
        assert set(values(ctx, dut).values()) == {0}
        ctx.set(dut.clear, 0)
        ctx.set(dut.running, 0)
        set_events(ctx, dut, {})
        await ctx.tick().repeat(dut.event_latency + 1)
        assert set(values(ctx, dut).values()) == {0}

    simulate(dut, bench)
