"""One layer whose output region is declared a beat short: the DRAM model must stop the
simulation when the accelerator writes that last beat (tests/test_regression.py checks that
the write guard of dram_model.sv is live)."""

import os

import cocotb

from .cocotb_layers import run_job
from .jobs import read_jobs
from .tb import AcceleratorTB


class ShortRegionTB(AcceleratorTB):
    """Declares every output region one beat shorter than it is."""

    def guard_writes(self, first_beat, beats):
        super().guard_writes(first_beat, beats - 1)


@cocotb.test()
async def write_past_the_region(dut):
    run_dir = os.environ["PEFORGE_RUN_DIR"]
    spec, jobs = read_jobs(run_dir)
    tb = ShortRegionTB(dut, spec, run_dir)
    await tb.start(jobs[0].timing)
    await run_job(tb, jobs[0])
    dut._log.info("the layer finished: no write stopped the simulation")
