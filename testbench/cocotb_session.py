"""The cocotb test of a simulation session (testbench/session.py): it serves layer jobs from
the host process one at a time, for as long as the host sends them, in one simulation.

The host's address comes in PEFORGE_SESSION.  The first message is the architecture; each one
after it is a Job, answered with (output, counters) once the layer is done; None ends the
test.  Jobs run back to back without a reset between them (except a job's own `interrupt`),
as in testbench.cocotb_layers, so a whole network costs one simulator start-up.
"""

import os
from multiprocessing.connection import Client

import cocotb

from .cocotb_layers import cut_by_reset, run_job
from .tb import AcceleratorTB

SESSION_ENV = "PEFORGE_SESSION"


@cocotb.test()
async def serve_jobs(dut):
    with Client(os.environ[SESSION_ENV], family="AF_UNIX") as host:
        tb = AcceleratorTB(dut, host.recv(), os.environ["PEFORGE_RUN_DIR"])
        started = False
        while (job := host.recv()) is not None:
            if started:
                tb.configure(job.timing)
            else:
                await tb.start(job.timing)
                started = True
            dut._log.info("%s: running", job.name)
            if job.interrupt is not None:
                await cut_by_reset(tb, job)
            host.send(await run_job(tb, job))
