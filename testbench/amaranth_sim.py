"""Amaranth-simulator runs for the unit tests of single blocks."""

from amaranth.sim import Simulator


def simulate(dut, bench):
    """Run the async testbench `bench(ctx)` against `dut` on a 1 MHz clock until it returns."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
