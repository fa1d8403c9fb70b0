"""2:4 weight sparsity on the Verilator-simulated RTL: 2:4 conv and fc layers, and dense ones
on the same 2:4 arrays, bit for bit against the golden model, every counter against the
analytical model and the data, cycles against the model (docs/sparsity.md)."""

import numpy as np
import pytest

from models import tap_fold
from models.golden import operand_range
from models.sparsity import GROUP, is_2to4
from models.spec import ArchSpec
from testbench.jobs import Job
from testbench.layer_checks import assert_every_counter_checks, assert_outputs_match_golden
from testbench.layer_values import layer_run_fixture, random_tensors
from testbench.tb import DramTiming

pytestmark = pytest.mark.rtl

SPECS = (
    ArchSpec(name="s24-8x4", rows=8, cols=4, weight_sparsity="2:4", glb_input_bytes=8192,
             glb_weight_bytes=2048, glb_output_bytes=4096, glb_banks=2, dram_bus_bytes=8),
    ArchSpec(name="s24-12x3", rows=12, cols=3, weight_sparsity="2:4", glb_input_bytes=8192,
             glb_weight_bytes=4096, glb_output_bytes=4096, glb_banks=2, dram_bus_bytes=8),
)
STALLING = DramTiming(latency=60, gap=1, stall=100, seed=3)


def prune_2to4(rng, weights):
    """`weights` (K x C x R x S, C a multiple of 4) with two, one or no non-zeros left in each
    group of four channels, at random positions."""
    k, c, r, s = weights.shape
    groups = weights.transpose(0, 2, 3, 1).reshape(-1, GROUP).copy()
    for group in groups:
        keep = rng.choice(GROUP, size=int(rng.choice([2, 2, 2, 1, 0])), replace=False)
        group[np.setdiff1d(np.arange(GROUP), keep)] = 0
    return groups.reshape(k, r, s, c).transpose(0, 3, 1, 2)


def make_jobs(spec, seed):
    rng = np.random.default_rng(seed)
    low, high = operand_range(spec.operand_bits)
    rows, cols = spec.rows, spec.cols
    rand = random_tensors(rng, spec.operand_bits)

    def conv(name, n, c, h, w, k, r, stride, pad, sparse=True, zeros=0.0, **options):
        weights = rand((k, c // options.get("groups", 1), r, r))
        return Job(name, "conv", rand((n, c, h, w), zeros),
                   prune_2to4(rng, weights) if sparse else weights,
                   options.pop("timing", DramTiming()), stride, pad, **options)

    def fc(name, m, c, k, sparse=True, **options):
        weights = rand((k, c))
        if sparse:
            weights = prune_2to4(rng, weights.reshape(k, c, 1, 1)).reshape(k, c)
        return Job(name, "fc", rand((m, c)), weights, **options)

    scale = high * high * 4 * rows * 9
    rows_r, rows_pad = several_rows_kernel(spec)
    requant = (int(rng.integers(2**14, 2**15)), 14 + scale.bit_length() - 7, 3)
    return [
        conv("2to4_3x3_pad1", 1, 4 * rows + 4, 6, 5, cols + 1, 3, 1, 1),
        conv("2to4_1x1_stride2", 2, 2 * rows, 5, 6, 2 * cols - 1, 1, 2, 0),
        conv("2to4_folded_5x5_sparse_inputs", 1, 8, 7, 6, cols, 5, 1, 2, zeros=0.5),
        conv("2to4_3x3_requant_relu", 1, 4 * rows, 5, 6, cols + 3, 3, 1, 1,
             bias=rng.integers(-scale // 8, scale // 8, cols + 3), requant=requant, relu=True),
        conv("2to4_folded_pad_value", 1, 4, 6, 7, cols + 1, 3, 1, 1, pad_value=low // 3),
        conv("2to4_weights_in_chunks", 1, 4 * rows * (spec.weight_words // (9 * cols) + 2), 4,
             4, cols + 1, 3, 1, 1),
        conv("2to4_stalling", 1, 2 * rows + 4, 7, 4, cols, 3, 2, 1, timing=STALLING),
        conv("2to4_folded_3x3", 2, 4, 7, 6, cols + 1, 3, 1, 1, pad_value=low // 7),
        conv("2to4_folded_stride2", 1, 4, 9, 8, cols, 3, 2, 1, zeros=0.4),
        fc("2to4_fc", 5, 4 * rows + 8, 2 * cols + 1),
        fc("2to4_fc_many_rows", 3 * spec.output_words // 2, 2 * rows, cols - 1),
        conv("dense_3x3_odd_channels", 1, rows + 1, 6, 5, cols + 1, 3, 1, 1, sparse=False),
        conv("dense_5x5_few_channels", 2, 3, 6, 5, cols + 1, 5, 1, 2, sparse=False,
             zeros=0.3),
        conv("dense_folded_3x3_wide", 2, 1, 7, 4 * rows + 1, cols + 1, 3, 1, 1, sparse=False,
             pad_value=low // 5),
        conv("dense_folded_rows_2x2_stride2", 1, 2, 8, 7, cols, 2, 2, 0, sparse=False,
             zeros=0.3),
        conv("dense_folded_rows_3x3", 2, 1, 7, 5, cols + 1, 3, 1, 1, sparse=False,
             pad_value=low // 3),
        conv("2to4_folded_rows", 2, 4, 6, 5, cols + 1, rows_r, 1, rows_pad, zeros=0.3,
             pad_value=low // 5),
        conv("dense_1x1_last_word_split", 2, 2 * rows + 6, 4, 3, cols, 1, 1, 0, sparse=False),
        conv("dense_depthwise", 1, cols + 1, 5, 5, cols + 1, 3, 1, 1, sparse=False,
             groups=cols + 1),
        fc("dense_fc", 4, 4 * rows, cols + 2, sparse=False),
    ]


def several_rows_kernel(spec):
    """(kernel size, padding) of a 4-channel 2:4 layer whose folded blocks take two kernel
    rows on `spec`: the widest kernel row that fits two lane groups, on an input row of at
    most two words."""
    r = min(3, tap_fold.lane_width(spec, 2, True) // GROUP)
    return r, r // 2 if r == 3 else 0


sparse_run = layer_run_fixture("sparse_run", SPECS, make_jobs, seed=0)


def test_layers_run_in_the_mode_their_weights_allow(sparse_run):
    """2:4 layers map with one weight block per input word, the others (dense weights,
    depthwise) in dense lanes, one block per word of at most `rows` channels, else two, and
    few-channel ones with their taps folded; the drawn weights are what the names say."""
    spec, jobs, _ = sparse_run
    for job in jobs:
        sparse = job.name.startswith("2to4")
        assert is_2to4(job.conv_weights) == sparse, job.name
        for part in job.parts(spec):
            d = part.mapping.descriptor
            expected = (1, 0) if sparse else (1 if part.mapping.shape.c <= spec.rows else 2, 1)
            assert (d["word_blocks"], d["dense_lanes"]) == expected, job.name
            assert d["fold"] == ("folded" in job.name), job.name
            assert (d["fold_rows"] > 1) == ("folded_rows" in job.name), job.name


def test_outputs_match_golden_bit_for_bit(sparse_run):
    _, jobs, results = sparse_run
    assert_outputs_match_golden(jobs, results)


def test_counters_and_cycles_match_the_model_and_the_data(sparse_run):
    """Every counter exactly (macs_gated from the data's zero operands among the performed
    MACs), cycles exactly with the default DRAM timing."""
    assert_every_counter_checks(*sparse_run)


def test_a_2to4_layer_skips_half_its_macs(sparse_run):
    _, jobs, results = sparse_run
    for job, result in zip(jobs, results):
        skipped = result.counters["macs_skipped"]
        if job.name.startswith("2to4"):
            assert skipped * 2 == result.counters["macs"] > 0, job.name
            assert result.counters["macs_gated"] <= skipped, job.name
        else:
            assert skipped == 0, job.name
