"""Faults and limits on the RTL: accumulator overflow, a reset in the middle of a layer,
layers back to back, and a DRAM that is slow, narrow and stalls.

All on one small architecture with a 16-bit accumulator (int8 operands), so sums overflow
with a handful of products; one Verilator build serves every test here.
"""

import numpy as np
import pytest

from models import golden
from models.golden import operand_range
from models.perf import predict_cycles
from models.spec import ArchSpec
from testbench.jobs import Job, expected_output
from testbench.regress import check_result
from testbench.runner import SimulationModel
from testbench.tb import DramTiming

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("acc16")]

SPEC = ArchSpec(name="acc16", rows=2, cols=4, acc_bits=16, glb_input_bytes=512,
                glb_weight_bytes=256, glb_output_bytes=1536, glb_banks=2, dram_bus_bytes=8)
LOW, HIGH = operand_range(SPEC.operand_bits)
SLOW_DRAM = DramTiming(latency=90, gap=3, stall=200, seed=11)


def cycles_of(job):
    return sum(predict_cycles(SPEC, part.mapping) for part in job.parts(SPEC))


def overflow_jobs():
    rng = np.random.default_rng(16)
    return [
        # 7 products of 127 * 127 = 112,903: past int16 on the first two channel blocks.
        Job("fc_all_max", "fc", np.full((5, 7), HIGH), np.full((4, 7), HIGH)),
        Job("fc_min_times_max", "fc", np.full((3, 9), LOW), np.full((5, 9), HIGH)),
        Job("conv_extremes_bias", "conv", rng.choice([LOW, HIGH], (1, 5, 6, 5)),
            rng.choice([LOW, HIGH], (4, 5, 3, 3)), pad=1,
            bias=rng.integers(-2**31, 2**31, 4)),
        Job("conv_extremes_requant", "conv", rng.choice([LOW, HIGH], (2, 3, 5, 5)),
            rng.choice([LOW, HIGH], (5, 3, 3, 3)), stride=2,
            requant=(19000, 21, 3), relu=True),
    ]


@pytest.fixture(scope="module")
def overflow_run(tmp_path_factory):
    jobs = overflow_jobs()
    return jobs, SimulationModel(SPEC).run(jobs, tmp_path_factory.mktemp("overflow"))


def test_accumulator_wraps_at_acc_bits_like_the_golden_model(overflow_run):
    """The accumulator is acc_bits wide and wraps (two's complement); outputs are its value
    sign-extended to int32, then bias (wrapping at 32 bits), requantization and ReLU."""
    jobs, results = overflow_run
    for job, result in zip(jobs, results):
        assert check_result(SPEC, job, result) is None, job.name
        assert result.output.min() >= -2**15 or job.bias is not None, job.name


def test_the_overflow_cases_really_overflow(overflow_run):
    jobs, results = overflow_run
    wide = ArchSpec(**{**SPEC.to_dict(), "acc_bits": 32})
    for job, result in zip(jobs, results):
        assert not np.array_equal(expected_output(wide, job), result.output), job.name
    all_max = results[0].output
    assert (all_max == golden.wrap(7 * HIGH * HIGH, 16)).all()


def test_reset_in_the_middle_of_a_layer_leaves_the_next_layers_correct(tmp_path):
    """A layer is cut by a reset early, in the middle, during its last cycles (its
    write-back) and while the DRAM stalls; each time the layer then runs again, and a
    different one after it, both bit-exact and with counters (and, with the DRAM's default
    timing, cycles) exactly as the analytical model predicts."""
    rng = np.random.default_rng(3)

    def layer(name, **extra):
        return Job(name, "conv", rng.integers(LOW, HIGH + 1, (1, 5, 7, 6)),
                   rng.integers(LOW, HIGH + 1, (7, 5, 3, 3)), pad=1, **extra)

    probe = layer("probe")
    cycles = cycles_of(probe)
    jobs = [layer("cut_early", interrupt=5), layer("after_early"),
            layer("cut_midway", interrupt=cycles // 2), layer("after_midway"),
            layer("cut_in_write_back", interrupt=cycles - 10), layer("after_write_back"),
            layer("cut_while_dram_stalls", interrupt=cycles // 3, timing=SLOW_DRAM),
            layer("after_stalls", timing=SLOW_DRAM)]
    results = SimulationModel(SPEC).run(jobs, tmp_path)
    assert [r.name for r in results] == [j.name for j in jobs]
    for job, result in zip(jobs, results):
        assert check_result(SPEC, job, result) is None, job.name


def chain_jobs(rng):
    """conv 3x3 -> conv 3x3 stride 2 -> fc over every pixel, each layer's input the golden
    output of the one before (requantized to int8 but the last)."""
    x = rng.integers(LOW, HIGH + 1, (2, 3, 7, 6))
    first = Job("conv_a", "conv", x, rng.integers(LOW, HIGH + 1, (5, 3, 3, 3)), pad=1,
                bias=rng.integers(-3000, 3000, 5), requant=(21000, 20, -4), relu=True)
    y = expected_output(SPEC, first)
    second = Job("conv_b", "conv", y, rng.integers(LOW, HIGH + 1, (4, 5, 3, 3)), stride=2,
                 requant=(17000, 20, 2))
    y = expected_output(SPEC, second)
    pixels = y.transpose(0, 2, 3, 1).reshape(-1, y.shape[1])
    third = Job("fc_c", "fc", pixels, rng.integers(LOW, HIGH + 1, (6, pixels.shape[1])),
                timing=SLOW_DRAM)
    return [first, second, third]


@pytest.mark.parametrize("timing", [DramTiming(), SLOW_DRAM], ids=["dram_default", "dram_slow"])
def test_layers_back_to_back_read_each_others_output(tmp_path, timing):
    jobs = chain_jobs(np.random.default_rng(21))
    for job in jobs:
        job.timing = timing
    results = SimulationModel(SPEC).run(jobs, tmp_path, test_module="testbench.cocotb_chain")
    assert [r.name for r in results] == [j.name for j in jobs]
    for job, result in zip(jobs, results):
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)
        assert len(np.unique(result.expected)) > 4, job.name
    assert results[-1].counters["macs"] == np.prod(jobs[-1].inputs.shape) * 6
    if timing != DramTiming():
        assert results[-1].counters["stall_cycles"] > 0
