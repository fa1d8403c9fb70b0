"""A lone GlobalBuffer in Verilator, written past its last word: its Amaranth `Assert` must
stop the simulation (tests/test_assertions.py checks that RTL assertions are live in the
project's Verilator builds)."""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

LEGAL_WRITES = 4
"""Writes inside the buffer before the bad one, so the test sees the simulation running."""


@cocotb.test()
async def write_past_the_end(dut):
    Clock(dut.clk, 2, unit="ns").start()
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    depth = int(cocotb.plusargs["depth"])
    for addr in [*range(LEGAL_WRITES), depth + 1]:
        dut.write__addr.value = addr
        dut.write__data.value = addr
        dut.write__en.value = 1
        await RisingEdge(dut.clk)
        dut._log.info("wrote word %d", addr)
    await RisingEdge(dut.clk)
    dut._log.info("no assertion stopped the simulation")
