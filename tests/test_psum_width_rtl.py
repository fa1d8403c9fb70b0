"""The weight-stationary array's narrow partial sums on the Verilator-simulated RTL: layers
whose every product is an extreme one (every x and w the most negative operand, or mixed
most negative and most positive) over full columns, so each column's sum reaches the end of
its range that one bit less than spec.psum_bits would not hold; outputs bit for bit against
the golden model (accumulating at acc_bits), every counter and the cycles against the model.
Builds shared with the other RTL tests: default (16 rows, 20-bit sums), fold-8x4 (non-square,
with the depthwise mode) and test_sparse24_rtl.py's 2:4 s24-8x4."""

from pathlib import Path

import numpy as np
import pytest

from models.golden import operand_range
from models.sparsity import GROUP
from models.spec import ArchSpec, load_spec
from testbench.jobs import Job
from testbench.layer_checks import assert_every_counter_checks, assert_outputs_match_golden
from testbench.layer_values import layer_run_fixture

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

pytestmark = pytest.mark.rtl

SPECS = (
    load_spec(CONFIGS / "default.yaml"),
    load_spec(CONFIGS / "fold-8x4.yaml"),
    ArchSpec(name="s24-8x4", rows=8, cols=4, weight_sparsity="2:4", glb_input_bytes=8192,
             glb_weight_bytes=2048, glb_output_bytes=4096, glb_banks=2, dram_bus_bytes=8),
)


def extremes(rng, shape, low, high):
    """Every element the most negative or the most positive operand, at random."""
    return np.where(rng.random(shape) < 0.5, low, high).astype(np.int64)


def keep_first_two(weights):
    """2:4 weights (K x C x R x S): the first two of each group of four channels kept."""
    kept = weights.copy()
    for j in range(2, GROUP):
        kept[:, j::GROUP] = 0
    return kept


def make_jobs(spec, seed):
    """Layers of extreme operands: full reduction blocks of lo * lo (the largest column sum),
    lo * hi (the most negative) and mixed; 1x1, 3x3, fc and depthwise."""
    rng = np.random.default_rng(seed)
    low, high = operand_range(spec.operand_bits)
    rows, cols = spec.rows, spec.cols
    per_word = spec.input_lanes              # channels a reduction block takes
    # Filters alternate all-lo and all-hi: with inputs all lo, column sums of +rows*lo*lo and
    # rows*lo*hi.
    signs = np.where(np.arange(cols + 1) % 2 == 0, low, high)

    def filters(c, r):
        return np.broadcast_to(signs[:, None, None, None], (cols + 1, c, r, r)).copy()

    def maybe_2to4(weights):
        return keep_first_two(weights) if spec.skips_weights else weights

    c = 2 * per_word
    jobs = [
        Job("lo_times_lo_and_hi_1x1", "conv", np.full((1, c, 3, 4), low),
            maybe_2to4(filters(c, 1))),
        Job("lo_times_lo_and_hi_3x3", "conv", np.full((1, per_word, 4, 5), low),
            maybe_2to4(filters(per_word, 3)), stride=1, pad=1),
        Job("mixed_3x3_two_images", "conv", extremes(rng, (2, c, 4, 4), low, high),
            maybe_2to4(extremes(rng, (cols, c, 3, 3), low, high)), stride=1, pad=0),
        Job("lo_fc", "fc", np.full((3, c), low),
            maybe_2to4(filters(c, 1)).reshape(cols + 1, c)),
        Job("mixed_fc", "fc", extremes(rng, (5, c + per_word), low, high),
            maybe_2to4(extremes(rng, (cols, c + per_word, 1, 1), low, high)).reshape(
                cols, c + per_word)),
    ]
    if not spec.skips_weights:
        jobs.append(Job("depthwise_extremes", "conv", extremes(rng, (1, cols + 1, 5, 5), low,
                                                                high),
                        extremes(rng, (cols + 1, 1, 3, 3), low, high), stride=1, pad=1,
                        groups=cols + 1))
    return jobs


extreme_run = layer_run_fixture("extreme_run", SPECS, make_jobs, seed=0)


def test_column_sums_reach_what_one_bit_less_cannot_hold(extreme_run):
    """The largest column sum of the lo * lo blocks, rows products of lo * lo, is above the
    largest value of psum_bits - 1 bits (so these layers would fail a width one bit too
    narrow), and within psum_bits, which is narrower than acc_bits."""
    spec, jobs, _ = extreme_run
    low, _ = operand_range(spec.operand_bits)
    largest = spec.rows * low * low
    assert spec.psum_bits < spec.acc_bits
    assert operand_range(spec.psum_bits - 1)[1] < largest <= operand_range(spec.psum_bits)[1]
    [job] = [j for j in jobs if j.name == "lo_times_lo_and_hi_1x1"]
    assert job.inputs.shape[1] % spec.input_lanes == 0      # full reduction blocks only


def test_outputs_match_golden_bit_for_bit(extreme_run):
    _, jobs, results = extreme_run
    assert_outputs_match_golden(jobs, results)


def test_counters_and_cycles_match_the_model(extreme_run):
    assert_every_counter_checks(*extreme_run)
