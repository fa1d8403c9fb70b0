"""The activity counters, one per row of models.counters.COUNTERS."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from models.counters import COUNTER_BITS, COUNTER_NAMES
from models.hardware import COUNTER_EVENT_LATENCY, EVENT_BITS


def event_layout():
    """Per-cycle increments, one field per counter except `cycles`, which counts itself."""
    return data.StructLayout({name: EVENT_BITS for name in COUNTER_NAMES if name != "cycles"})


class ActivityCounters(wiring.Component):
    """A bank of COUNTER_BITS-bit counters, cleared at start and counting while running.

    A cycle's `events` are registered before they reach the counters' adders, so whatever
    computes them (popcounts, sums of strobes) and the wide adders sit in different cycles.

    Ports:
        clear: In(1), zero every counter and drop the events registered in this cycle (takes
            priority over counting).
        running: In(1), `cycles` counts every cycle it is high; other counters add `events`.
        events: In(event_layout()), this cycle's increment of each counter.
        values: Out, every counter, in COUNTER_NAMES order.
    Latency: `cycles` shows a running cycle in `values` one cycle later; an event shows
    `event_latency` cycles later.  Counters wrap at 2**48.
    """

    values: Out(data.ArrayLayout(unsigned(COUNTER_BITS), len(COUNTER_NAMES)))
    clear: In(1)
    running: In(1)
    events: In(event_layout())

    @property
    def event_latency(self):
        """Cycles from `events` to `values`: the event register and the counter
        (models.hardware.COUNTER_EVENT_LATENCY)."""
        return COUNTER_EVENT_LATENCY

    def elaborate(self, platform):
        m = Module()
        registered = Signal(event_layout())
        with m.If(self.clear):
            m.d.sync += registered.eq(0)
        with m.Else():
            m.d.sync += registered.eq(self.events)
        for index, name in enumerate(COUNTER_NAMES):
            value = self.values[index]
            increment = self.running if name == "cycles" else getattr(registered, name)
            with m.If(self.clear):
                m.d.sync += value.eq(0)
            with m.Elif(self.running | (name != "cycles")):
                m.d.sync += value.eq(value + increment)
        return m
