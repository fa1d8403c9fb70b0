"""Row-stationary layers on the Verilator-simulated RTL (issue 14): random convolutions
(kernels 1, 3 and 5, strides 1 and 2, padding, a zero point as padding), depthwise and grouped
layers, fully-connected layers and batches, with bias, requantization and ReLU (int8 outputs)
or int32 outputs, layers larger than the buffers (bands of output rows, chunks of
channels) and layers with the weight buffer in halves (the next chunk's weights prefetched),
bit for bit against the golden model and every counter against the analytical
model, cycles included, on a non-square array with an odd number of rows
(configs/rs-3x5.yaml) and a non-square one with an even number (configs/rs-4x6.yaml).  One
Verilator build per array, every layer run back to back in it."""

import numpy as np
import pytest

from models.golden import operand_range
from testbench.jobs import Job
from testbench.layer_checks import (assert_counters_match_the_model,
                                    assert_cycles_match_the_model,
                                    assert_outputs_match_golden, input_windows)
from testbench.layer_values import conv_job, layer_run_fixture

pytestmark = pytest.mark.rtl

ARCHS = ("rs-3x5", "rs-4x6")


def make_jobs(spec, seed):
    """Random layers drawn to fold, strip and tile on the array, and to end partially."""
    rng = np.random.default_rng(seed)
    r, c = spec.rows, spec.cols
    low, high = operand_range(spec.operand_bits)
    jobs = []
    for kernel, stride in ((1, 1), (3, 1), (3, 2), (5, 1), (5, 2)):
        pad = int(rng.integers(0, kernel // 2 + 1))
        h, w = (int(v) for v in rng.integers(kernel + 1, kernel + 5, size=2))
        jobs.append(conv_job(rng, spec, f"conv_{kernel}x{kernel}_s{stride}_p{pad}", 1,
                             int(rng.integers(2, 2 * r + 2)), h, w,
                             int(rng.integers(2, 2 * c + 2)), kernel, stride, pad,
                             zeros=0.2, post=bool(rng.integers(2))))
    jobs += [
        conv_job(rng, spec, "batch2_requant", 2, r + 1, 6, 5, c + 1, 3, 1, 1, post=True),
        conv_job(rng, spec, "pad_value_3x3", 1, r, 5, 6, c - 1, 3, 1, 1,
                 pad_value=low // 3),
        conv_job(rng, spec, "depthwise_3x3", 1, c + 1, 6, 5, c + 1, 3, 1, 1,
                 groups=c + 1),
        conv_job(rng, spec, "depthwise_requant_s2", 2, c, 7, 6, c, 3, 2, 1, post=True,
                 groups=c),
        conv_job(rng, spec, "grouped_2", 1, 2 * r, 5, 4, 2 * c, 3, 1, 1, groups=2),
        Job("fc", "fc", rng.integers(low, high + 1, (2 * r + 1, 3 * r + 1)),
            rng.integers(low, high + 1, (2 * c + 3, 3 * r + 1))),
        Job("fc_bias_relu", "fc", rng.integers(low, high + 1, (r + 2, 2 * r + 1)),
            rng.integers(low, high + 1, (c + 2, 2 * r + 1)),
            bias=rng.integers(-2**20, 2**20, c + 2), relu=True),
        conv_job(rng, spec, "tall_3x3", 1, r, 2 * c + 3, 4, c, 3, 1, 1),
    ]
    # A 1x1 layer on images one pixel wide runs as one row of the same pixels (fc_row): its
    # outputs read back in the layer's own shape (regression seed 61, case r785857382-31).
    one_pixel_wide = conv_job(rng, spec, "one_pixel_wide_1x1", 1, r + 2, 2 * c + 3, 1, c + 1,
                              1, 1, 0, post=True)
    return jobs + larger_than_the_buffers(rng, spec) + [one_pixel_wide]


def larger_than_the_buffers(rng, spec):
    """Layers whose image is larger than the input buffer (bands of output rows, the last
    tile shorter, padding, stride 2, a batch, depthwise) or whose filter block's weights are
    larger than the weight buffer (chunks of channels, a conv and a fully-connected layer),
    or whose one output row of every filter block is larger than the output buffer (output
    groups)."""
    r, c = spec.rows, spec.cols
    low, high = operand_range(spec.operand_bits)
    return [
        conv_job(rng, spec, "bands_3x3_pad1", 1, 2 * r + 1, 26, 12, c + 2, 3, 1, 1,
                 zeros=0.1, post=True),
        conv_job(rng, spec, "bands_s2_batch2", 2, r + 2, 23, 15, c + 1, 3, 2, 1),
        conv_job(rng, spec, "bands_chunks_3x3", 1, 16 * r, 8, 7, c, 3, 1, 1),
        conv_job(rng, spec, "bands_depthwise", 1, c + 1, 30, 26, c + 1, 3, 1, 1,
                 groups=c + 1),
        conv_job(rng, spec, "output_groups_1x1", 1, 2, 3, spec.output_words // 6 + 2,
                 6 * c - 1, 1, 1, 0),
        Job("fc_chunks", "fc", rng.integers(low, high + 1, (2, 220 * r)),
            rng.integers(low, high + 1, (c + 1, 220 * r))),
    ]


rs_run = layer_run_fixture("rs_run", ARCHS, make_jobs, seed=14)


def test_outputs_match_golden_bit_for_bit(rs_run):
    _, jobs, results = rs_run
    assert_outputs_match_golden(jobs, results)


def test_layers_fold_strip_and_tile(rs_run):
    """The random layers exercise the mapping's every kind of pass loop somewhere."""
    spec, jobs, _ = rs_run
    descriptors = [part.mapping.descriptor for job in jobs for part in job.parts(spec)]
    for name in ("rs_k_tiles", "rs_c_tiles", "rs_folds", "rs_strips"):
        assert max(d[name] for d in descriptors) > 1, name
    assert max(d["k_blocks"] for d in descriptors) > 1
    assert max(d["rs_vertical_sets"] for d in descriptors) > 1
    assert max(d["rs_horizontal_sets"] for d in descriptors) > 1
    # Layers with the weight buffer in halves (the next chunk's weights prefetched) and
    # without (one load a tile, or resident weights).
    assert {d["w_half_words"] != 0 for d in descriptors} == {False, True}


def test_layers_larger_than_the_buffers_run_in_bands_and_chunks(rs_run):
    """The large layers' images do not fit the input buffer, nor the weights of a filter
    block of the chunked ones the weight buffer: they run several tiles of output rows an
    image (the last shorter) and several chunks of channels a filter block."""
    spec, jobs, _ = rs_run
    large = {job.name: job for job in larger_than_the_buffers(np.random.default_rng(0), spec)}
    descriptors = {job.name: [part.mapping.descriptor for part in job.parts(spec)]
                   for job in jobs if job.name in large}
    assert set(descriptors) == set(large)
    for name in ("bands_3x3_pad1", "bands_s2_batch2", "bands_depthwise"):
        d = descriptors[name][0]
        assert d["image_px"] * d["c_blocks"] > spec.input_words, name
        assert d["tiles"] > 1, name
    assert any(descriptors[name][0]["last_tile_p"] < descriptors[name][0]["tile_p"]
               for name in ("bands_3x3_pad1", "bands_s2_batch2"))
    for name in ("bands_chunks_3x3", "fc_chunks"):
        assert descriptors[name][0]["c_chunks"] > 1, name
    assert descriptors["bands_chunks_3x3"][0]["tiles"] > 1
    assert descriptors["bands_chunks_3x3"][0]["w_half_words"]   # chunks prefetched, tile by tile
    d = descriptors["output_groups_1x1"][0]
    assert d["q"] * d["k_blocks"] > spec.output_words
    assert 1 < d["k_group_blocks"] < d["k_blocks"] and d["k_blocks"] % d["k_group_blocks"]


def test_counters_match_the_analytical_model(rs_run):
    """Every counter the model predicts, the row-stationary array's own (RS_COUNTERS)
    included."""
    assert_counters_match_the_model(*rs_run)


def test_cycles_match_the_analytical_model(rs_run):
    _, jobs, _ = rs_run
    assert assert_cycles_match_the_model(*rs_run) == len(jobs)


def test_gated_macs_are_the_zero_inputs(rs_run):
    """A row-stationary PE gates a MAC whose input (padding included, at its pad value) is
    zero; every MAC of a run (grouped: its block-diagonal zeros too) is counted."""
    spec, jobs, results = rs_run
    for job, result in zip(jobs, results):
        zero_x = input_windows(job) == 0
        performed = gated = 0
        for part in job.parts(spec):
            sub = part.mapping.shape
            performed += sub.macs
            gated += sub.k * int(zero_x[:, part.c0:part.c0 + sub.c].sum())
        assert result.counters["macs"] == performed, job.name
        assert result.counters["macs_gated"] == gated, job.name
