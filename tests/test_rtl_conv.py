"""Convolutions on the Verilator-simulated RTL, bit for bit against the golden model, with
the counters checked against the analytical model's exact predictions."""

from dataclasses import replace

import numpy as np
import pytest

from models.golden import conv_output_size, operand_range
from models.mapper import block_diagonal_weights, map_conv
from testbench.jobs import expected_output
from testbench.layer_checks import (assert_counters_match_the_model,
                                    assert_cycles_match_the_model,
                                    assert_outputs_match_golden, input_windows)
from testbench.layer_values import conv_job, layer_run_fixture
from testbench.tb import DramTiming

pytestmark = pytest.mark.rtl

ARCHS = ("micro", "tiny", "wide", "micro-os", "odd-os")


def make_jobs(spec, seed):
    rng = np.random.default_rng(seed)
    r, c = spec.rows, spec.cols
    return [
        conv_job(rng, spec, "3x3_pad1", 1, r + 1, 6, 5, c + 1, 3, 1, 1),
        conv_job(rng, spec, "1x1", 2, 2 * r + 1, 4, 3, 2 * c - 1, 1, 1, 0),
        conv_job(rng, spec, "1x1_one_block", 1, max(r - 1, 1), 4, 7, c + 1, 1, 1, 0),
        conv_job(rng, spec, "5x5_stride2", 1, r - 1 or 1, 9, 8, c, 5, 2, 2),
        conv_job(rng, spec, "7x7_stride2_pad3", 1, 3, 11, 10, c + 2, 7, 2, 3),
        conv_job(rng, spec, "4x4_stride4", 2, r + 2, 8, 9, 3, 4, 4, 0),
        conv_job(rng, spec, "sparse_3x3", 2, r + 3, 5, 6, c + 1, 3, 1, 1, zeros=0.5),
        conv_job(rng, spec, "stalling_3x3", 1, r, 7, 4, c, 3, 2, 1,
                 timing=DramTiming(latency=60, gap=1, stall=100, seed=3)),
        conv_job(rng, spec, "3x3_requant", 1, r + 2, 5, 6, c + 3, 3, 1, 1, post=True),
        conv_job(rng, spec, "1x1_requant_stride2", 2, 2 * r, 6, 5, 2 * c + 1, 1, 2, 0,
                 post=True),
        conv_job(rng, spec, "depthwise_3x3", 1, 2 * c + 3, 6, 5, 2 * c + 3, 3, 1, 1,
                 groups=2 * c + 3),
        conv_job(rng, spec, "depthwise_requant_s2", 2, c + 1, 7, 6, c + 1, 3, 2, 1, post=True,
                 groups=c + 1),
        conv_job(rng, spec, "grouped_3", 1, 3 * r, 5, 4, 6 * c, 3, 1, 1, groups=3),
        conv_job(rng, spec, "weights_in_chunks", 1, r * (spec.weight_words // (9 * c) + 3), 4, 4,
                 c + 1, 3, 1, 1),
        conv_job(rng, spec, "pad_value_5x5", 1, r + 1, 6, 7, c + 1, 5, 1, 2,
                 pad_value=operand_range(spec.operand_bits)[0] // 3),
        conv_job(rng, spec, "pad_value_depthwise", 2, c + 1, 5, 5, c + 1, 3, 2, 1,
                 groups=c + 1, pad_value=operand_range(spec.operand_bits)[1] // 2),
        conv_job(rng, spec, "tall_image", 1, 2 * r + 1, 2 * spec.input_words // (3 * 6), 6,
                 c + 3, 3, 1, 1),
    ]


def dense_weights(job, part):
    if job.groups == 1:
        return job.weights
    return block_diagonal_weights(job.weights, job.groups, part)


conv_run = layer_run_fixture("conv_run", ARCHS, make_jobs, seed=7)


def test_requantized_outputs_are_not_trivial(conv_run):
    """The random requantization spreads values over the range, not all to one clamp."""
    _, jobs, results = conv_run
    for job, result in zip(jobs, results):
        if job.requant is not None:
            assert len(np.unique(result.expected)) > 8, job.name


def test_pad_value_reaches_the_border_outputs(conv_run):
    """A non-zero pad value changes the border outputs (so the RTL really pads with it)."""
    spec, jobs, results = conv_run
    padded = [(job, result) for job, result in zip(jobs, results) if job.pad_value]
    assert padded
    for job, result in padded:
        zero_padded = expected_output(spec, replace(job, pad_value=0))
        assert not np.array_equal(result.expected, zero_padded), job.name
        assert np.array_equal(result.output, result.expected), job.name


def test_outputs_match_golden_bit_for_bit(conv_run):
    _, jobs, results = conv_run
    assert_outputs_match_golden(jobs, results)


def test_chunked_job_really_chunks(conv_run):
    spec, jobs, _ = conv_run
    [job] = [j for j in jobs if j.name == "weights_in_chunks"]
    assert map_conv(spec, job.shape).descriptor["c_chunks"] > 1


def test_tall_image_takes_several_tiles(conv_run):
    spec, jobs, _ = conv_run
    [job] = [j for j in jobs if j.name == "tall_image"]
    assert map_conv(spec, job.shape).tiles > 1


def test_counters_match_the_analytical_model(conv_run):
    assert_counters_match_the_model(*conv_run)


def test_cycles_match_the_analytical_model(conv_run):
    """Within 2 % is the target; with the DRAM's default timing the model is exact (every
    job but the stalling one)."""
    _, jobs, _ = conv_run
    assert assert_cycles_match_the_model(*conv_run) == len(jobs) - 1


def test_gated_macs_are_the_zero_operand_pairs(conv_run):
    """Every MAC the array performs (grouped layers: block-diagonal zeros included) whose
    input (padding included, at its pad value) or weight is zero is gated."""
    spec, jobs, results = conv_run
    for job, result in zip(jobs, results):
        nonzero_x = (input_windows(job) != 0).astype(np.int64)        # n c p q r s
        performed = both_nonzero = 0
        for part in job.parts(spec):
            sub = part.mapping.shape
            nonzero_w = (dense_weights(job, part) != 0).astype(np.int64)   # k c r s
            both_nonzero += np.einsum("ncpqrs,kcrs->", nonzero_x[:, part.c0:part.c0 + sub.c],
                                      nonzero_w)
            performed += sub.macs
        assert result.counters["macs"] == performed, job.name
        assert result.counters["macs_gated"] == performed - both_nonzero, job.name


def test_output_sizes_follow_the_formula():
    assert conv_output_size(224, 7, 2, 3) == 112
    assert conv_output_size(56, 3, 1, 1) == 56
    assert conv_output_size(8, 4, 4, 0) == 2
