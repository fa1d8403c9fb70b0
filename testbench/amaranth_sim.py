"""Amaranth-simulator runs for the unit tests of single blocks."""

from amaranth.sim import Simulator


def simulate(dut, bench):
    """Run the async testbench `bench(ctx)` against `dut` on a 1 MHz clock until it returns."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


async def load_weights(ctx, dut, port, words, slot=0):
    """Shift `words` into a weight-stationary block's weight chain through `port` (`w_data`
    of an array, `w_in` of a PE; the last word first, so words[c] lands in column c), then
    commit the chain to register-file `slot` and wait until the commit has landed (the
    block's `load_latency`, if it has one)."""
    ctx.set(dut.w_shift, 1)
    for word in reversed(words):
        ctx.set(port, word)
        await ctx.tick()
    ctx.set(dut.w_shift, 0)
    ctx.set(dut.w_commit, 1)
    ctx.set(dut.w_slot, slot)
    await ctx.tick()
    ctx.set(dut.w_commit, 0)
    for _ in range(getattr(dut, "load_latency", 0)):
        await ctx.tick()


def stream_os_array(dut, inputs, idle, active_cols):
    """Feed an output-stationary array one (x, w) of `inputs` a cycle (None: the `idle`
    pair), then idle until every sum has drained.  Returns the output words by tag address
    (the first `active_cols(address)` sums of each) and the total gated count; an address
    seen twice, or an array still busy at the end, fails."""
    got, gated = {}, []

    async def bench(ctx):
        for step in inputs + [None] * (4 * dut.rows + 2 * dut.cols):
            x, w = step or idle
            ctx.set(dut.x, x)
            ctx.set(dut.w, w)
            gated.append(ctx.get(dut.gated))
            y, tag = ctx.get(dut.y), ctx.get(dut.y_tag)
            if y.valid:
                assert tag.addr not in got, f"output {tag.addr} twice"
                got[tag.addr] = [y.values[c] for c in range(active_cols(tag.addr))]
            await ctx.tick()
        assert not ctx.get(dut.busy)

    simulate(dut, bench)
    return got, sum(gated)


def add_events(totals, events, names):
    """Add one cycle's `events` (a simulator value of a struct with a count per name in
    `names`) to the Counter `totals`, as the accelerator's counter block adds them up."""
    totals.update({name: getattr(events, name) for name in names})
