"""2:4 weight sparsity on the output-stationary RTL (Verilator): random 2:4 conv and fc layers,
and dense ones on the same 2:4 arrays, bit for bit against the golden model, every counter
against the analytical model and the data, cycles against the model (docs/sparsity.md).
One build per architecture: configs/micro-os-2to4.yaml (2x2) and configs/odd-os-2to4.yaml
(4x3, non-square)."""

from pathlib import Path

import numpy as np
import pytest

from models.golden import operand_range
from models.sparsity import is_2to4, magnitude_mask
from models.spec import load_spec
from testbench.jobs import Job
from testbench.layer_checks import assert_every_counter_checks, assert_outputs_match_golden
from testbench.layer_values import layer_run_fixture, random_tensors
from testbench.tb import DramTiming

pytestmark = pytest.mark.rtl

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SPECS = tuple(load_spec(CONFIGS / name) for name in ("micro-os-2to4.yaml", "odd-os-2to4.yaml"))
STALLING = DramTiming(latency=60, gap=1, stall=100, seed=5)


def make_jobs(spec, seed):
    """Random layers sized to the array: 2:4 conv (kernels 1 and 3, strides 1 and 2,
    padding, a pad value, several words and chunks) and fc, dense conv and fc with partial
    groups and words (one in chunks, its last chunk's weight row ending inside a beat, one
    of fewer channels than rows),
    depthwise (dense), requantized with bias and ReLU or int32."""
    rng = np.random.default_rng(seed)
    low, high = operand_range(spec.operand_bits)
    rows, cols, lanes = spec.rows, spec.cols, spec.input_lanes
    rand = random_tensors(rng, spec.operand_bits)

    def weights(shape, sparse):
        """Random weights; 2:4 ones pruned by magnitude, with more zeros among the kept (groups
        of two, one or no non-zeros)."""
        values = rand(shape, zeros=0.2)
        return values * magnitude_mask(values) if sparse else values

    def conv(name, n, c, h, w, k, r, stride, pad, sparse=True, zeros=0.0, **options):
        return Job(name, "conv", rand((n, c, h, w), zeros),
                   weights((k, c // options.get("groups", 1), r, r), sparse),
                   options.pop("timing", DramTiming()), stride, pad, **options)

    def fc(name, m, c, k, sparse=True, **options):
        return Job(name, "fc", rand((m, c)), weights((k, c), sparse), **options)

    scale = high * high * 4 * lanes * 9
    requant = (int(rng.integers(2**14, 2**15)), 14 + scale.bit_length() - 7, 3)
    return [
        conv("2to4_3x3_pad1", 1, 2 * lanes + 4, 5, 4, cols + 1, 3, 1, 1),
        conv("2to4_1x1_stride2", 2, lanes, 5, 6, 2 * cols - 1, 1, 2, 0),
        conv("2to4_3x3_stride2_sparse_inputs", 1, 8, 7, 6, cols, 3, 2, 1, zeros=0.5),
        conv("2to4_3x3_requant_relu", 1, 2 * lanes, 4, 5, cols + 2, 3, 1, 1,
             bias=rng.integers(-scale // 8, scale // 8, cols + 2), requant=requant, relu=True),
        conv("2to4_pad_value", 1, 4, 5, 6, cols + 1, 3, 1, 1, pad_value=low // 3),
        conv("2to4_weights_in_chunks", 1, lanes * (spec.weight_words // (9 * rows) + 2), 3, 3,
             cols, 3, 1, 1),
        conv("2to4_stalling", 1, lanes + 4, 5, 4, cols, 3, 1, 1, timing=STALLING),
        fc("2to4_fc", 5, 2 * lanes + 4, 2 * cols + 1),
        fc("2to4_fc_many_tiles", spec.output_words + rows + 1, lanes, max(cols - 1, 1)),
        conv("dense_3x3_odd_channels", 1, rows + 1, 5, 4, cols + 1, 3, 1, 1, sparse=False),
        conv("dense_few_channels", 1, rows - 1, 5, 4, cols + 1, 3, 1, 1, sparse=False),
        conv("dense_weights_in_chunks_odd_channels", 1,
             lanes * (spec.weight_words // (18 * rows) + 2) + 1, 3, 3, cols, 3, 1, 1,
             sparse=False),
        conv("dense_1x1_stride2_last_word_split", 2, lanes + 3, 5, 3, cols, 1, 2, 0,
             sparse=False),
        conv("dense_depthwise", 1, cols + 1, 5, 5, cols + 1, 3, 1, 1, sparse=False,
             groups=cols + 1),
        fc("dense_fc", 4, 2 * lanes + 2, cols + 2, sparse=False),
    ]


os_2to4_run = layer_run_fixture("os_2to4_run", SPECS, make_jobs, seed=0)


def test_2to4_layers_skip_half_their_macs_and_the_others_run_dense(os_2to4_run):
    """2:4 layers map with one weight block per input word and skip half their MACs; dense
    weights and depthwise layers map with two blocks (the word's halves), or one if they
    have at most `rows` channels, and skip none."""
    spec, jobs, results = os_2to4_run
    for job, result in zip(jobs, results):
        sparse = job.name.startswith("2to4")
        assert is_2to4(job.conv_weights) == sparse, job.name
        for part in job.parts(spec):
            one = sparse or part.mapping.shape.c <= spec.rows
            assert part.mapping.descriptor["word_blocks"] == (1 if one else 2), job.name
        macs, skipped = result.counters["macs"], result.counters["macs_skipped"]
        assert macs > 0 and skipped == (macs // 2 if sparse else 0), job.name


def test_weight_rows_cross_beats_and_chunks(os_2to4_run):
    """Each chunk's steps are one DRAM row (models/sparse_os.py): some layers load several
    chunks, a 2:4 one and a dense one among them, and some rows end inside a beat."""
    spec, jobs, _ = os_2to4_run
    beat = 8 * spec.dram_bus_bytes
    chunked, partial = set(), set()
    for job in jobs:
        for part in job.parts(spec):
            d = part.mapping.descriptor
            assert d["w_rows"] == d["w_rows_last_chunk"] == 1, job.name
            if d["c_chunks"] > 1:
                chunked.add(job.name.split("_")[0])
            if any(n * spec.operand_bits % beat for n in (d["w_row_elems"],
                                                          d["w_last_row_elems"])):
                partial.add(job.name)
    assert chunked == {"2to4", "dense"} and "dense_weights_in_chunks_odd_channels" in partial


def test_outputs_counters_and_cycles_equal_the_golden_and_analytical_models(os_2to4_run):
    """Outputs bit for bit; every counter exactly (macs_gated from the data's zero operands
    among the performed MACs); cycles exactly with the default DRAM timing."""
    _, jobs, results = os_2to4_run
    assert_outputs_match_golden(jobs, results)
    assert_every_counter_checks(*os_2to4_run)
