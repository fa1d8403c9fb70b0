"""The cocotb test that runs every job of a run directory on the simulated accelerator.

The directory comes in PEFORGE_RUN_DIR.  Jobs run back to back without a reset between them,
except that a job with `interrupt` is first started and cut by a reset mid-layer.  Each job's
output is compared with the golden model (the scoreboard) and every result is saved before the
test fails on a mismatch.
"""

import os

import cocotb
from cocotb.triggers import ClockCycles

from models.registers import DESCRIPTOR_NAMES

from .jobs import JobResult, expected_output, read_jobs, write_results
from .tb import AcceleratorTB


async def run_job(tb, job):
    if job.op == "fc":
        return await tb.run_fc(job.inputs, job.weights, x_compressed=job.x_compressed,
                               **job.post)
    return await tb.run_conv(job.inputs, job.weights, job.stride, job.pad, job.groups,
                             pad_value=job.pad_value, x_compressed=job.x_compressed, **job.post)


START_CYCLES = 1 + len(DESCRIPTOR_NAMES) + 1
"""Cycles from the start of a job to its start register write: the DRAM load, one write per
descriptor register, the CONTROL write (AcceleratorTB.run_conv's order)."""


async def cut_by_reset(tb, job):
    """Start `job`, reset the accelerator (and the DRAM model) `job.interrupt` cycles after
    its start register is written, and abandon that attempt."""
    attempt = cocotb.start_soon(run_job(tb, job))
    await ClockCycles(tb.dut.clk, START_CYCLES + job.interrupt)
    attempt.cancel()
    await tb.reset(job.timing)


@cocotb.test()
async def run_jobs(dut):
    run_dir = os.environ["PEFORGE_RUN_DIR"]
    spec, jobs = read_jobs(run_dir)
    tb = AcceleratorTB(dut, spec, run_dir)
    results = []
    for index, job in enumerate(jobs):
        if index == 0:
            await tb.start(job.timing)
        else:
            tb.configure(job.timing)
        if job.interrupt is not None:
            await cut_by_reset(tb, job)
        output, counters = await run_job(tb, job)
        results.append(JobResult(job.name, output, expected_output(spec, job), counters))
        write_results(run_dir, results)
        dut._log.info("%s: %s, %d cycles", job.name,
                      "match" if results[-1].matches else "MISMATCH", counters["cycles"])
    bad = [result.name for result in results if not result.matches]
    assert not bad, f"RTL differs from the golden model on {', '.join(bad)}"
