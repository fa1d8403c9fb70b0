"""The cocotb test that runs every job of a run directory on the simulated accelerator.

The directory comes in PEFORGE_RUN_DIR.  Jobs run back to back without a reset between them.  Each job's output is compared with the golden model
(the scoreboard) and every result is saved before the test fails on a mismatch.
"""

import os

import cocotb

from models import golden

from .jobs import JobResult, read_jobs, write_results
from .tb import AcceleratorTB


def expected_output(spec, job):
    if job.op == "fc":
        acc = golden.fc(job.inputs, job.weights, spec.acc_bits)
    elif job.op == "conv":
        acc = golden.conv2d(job.inputs, job.weights, job.stride, job.pad, job.groups,
                            acc_bits=spec.acc_bits)
    else:
        raise ValueError(f"unknown op {job.op!r}")
    return golden.postprocess(acc, bits=spec.operand_bits, **job.post)


async def run_job(tb, job):
    if job.op == "fc":
        return await tb.run_fc(job.inputs, job.weights, **job.post)
    return await tb.run_conv(job.inputs, job.weights, job.stride, job.pad, job.groups,
                             **job.post)


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
        output, counters = await run_job(tb, job)
        results.append(JobResult(job.name, output, expected_output(spec, job), counters))
        write_results(run_dir, results)
        dut._log.info("%s: %s, %d cycles", job.name,
                      "match" if results[-1].matches else "MISMATCH", counters["cycles"])
    bad = [result.name for result in results if not result.matches]
    assert not bad, f"RTL differs from the golden model on {', '.join(bad)}"
