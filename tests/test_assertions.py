# amaranth: UnusedElaboratable=no
"""The RTL's Amaranth `Assert`s (pyhdl/buffer.py, accumulator.py, gearbox.py, dma.py) fire
when their invariant breaks: in Amaranth's simulator (which raises AssertionError) and in the
project's Verilator builds, where they become immediate `assert`s that stop the simulation
(every regression run would then report the case as a crash)."""

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator
from cocotb_tools.runner import Verilator

from models.spec import ArchSpec
from pyhdl.accumulator import Accumulator
from pyhdl.buffer import GlobalBuffer
from testbench.runner import DEFAULT_BUILD_ROOT, VERILATOR_ARGS
from testbench.toolchain import use_verilator


def simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("port", ["read", "write"])
def test_buffer_refuses_an_address_past_its_end(port):
    buf = GlobalBuffer(8, 6, 2)

    async def bench(ctx):
        chosen = getattr(buf, port)
        ctx.set(chosen.addr, 5)
        ctx.set(chosen.en, 1)
        await ctx.tick()
        ctx.set(chosen.addr, 6)
        await ctx.tick()

    with pytest.raises(AssertionError, match=f"global buffer: {port} past its 6 words"):
        simulate(buf, bench)


def test_accumulator_refuses_a_read_of_the_word_being_written():
    """Two partial sums for one output word on consecutive cycles: the second would read the
    word before the first one's sum is written (the controller must space them)."""
    acc = Accumulator(ArchSpec(rows=2, cols=2), latency=3, addr_bits=4)

    async def bench(ctx):
        ctx.set(acc.y.valid, 1)
        for first in (1, 0, 0):
            ctx.set(acc.tag, {"valid": 1, "addr": 3, "first": first})
            await ctx.tick()
        ctx.set(acc.tag, {"valid": 0, "addr": 0, "first": 0})
        for _ in range(6):
            await ctx.tick()

    with pytest.raises(AssertionError, match="read of the word being written"):
        simulate(acc, bench)


def test_accumulator_accepts_partial_sums_two_cycles_apart():
    acc = Accumulator(ArchSpec(rows=2, cols=2), latency=3, addr_bits=4)

    async def bench(ctx):
        ctx.set(acc.y.valid, 1)
        for first in (1, None, 0, None, 0):
            valid = first is not None
            ctx.set(acc.tag, {"valid": valid, "addr": 3, "first": bool(first)})
            await ctx.tick()
        ctx.set(acc.tag, {"valid": 0, "addr": 0, "first": 0})
        for _ in range(6):
            await ctx.tick()

    simulate(acc, bench)


@pytest.mark.rtl
def test_assertions_stop_the_verilator_simulation(tmp_path):
    """Built with the options of every simulation model (testbench.runner.VERILATOR_ARGS),
    inside the repository like them (its .python-version selects the Python that
    Verilator's build scripts run under pyenv)."""
    depth = 6
    build_dir = DEFAULT_BUILD_ROOT / "assertion-check"
    rtl = tmp_path / "buffer.v"
    rtl.write_text(verilog.convert(GlobalBuffer(8, depth, 2), name="buffer", emit_src=False))
    assert "assert (" in rtl.read_text()
    use_verilator()
    runner = Verilator()
    runner.build(sources=[rtl], hdl_toplevel="buffer", build_dir=build_dir,
                 build_args=list(VERILATOR_ARGS), log_file=tmp_path / "build.log", always=True)
    with pytest.raises((RuntimeError, SystemExit)):
        runner.test(test_module="testbench.cocotb_buffer", hdl_toplevel="buffer",
                    build_dir=build_dir, test_dir=tmp_path,
                    plusargs=[f"+depth={depth}"], log_file=tmp_path / "sim.log")
    log = (tmp_path / "sim.log").read_text()
    assert "wrote word 3" in log
    assert "global buffer: write past its 6 words" in log
    assert "Assertion failed" in log
    assert "no assertion stopped the simulation" not in log
