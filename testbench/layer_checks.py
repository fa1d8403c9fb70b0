"""What the RTL layer tests check of a run of jobs: outputs bit for bit against the golden
model, every counter and the cycles against the analytical model (or every counter as the
random regression checks it), and the padded input windows the gated-MAC counts follow from."""

import numpy as np

from models.counters import COUNTER_NAMES
from models.perf import predict_counters, predict_cycles

from .regress import check_counters
from .tb import DramTiming

NOT_PREDICTED = ("cycles", "stall_cycles", "macs_gated")
"""The counters that follow from timing or data, not from the loop nest alone: cycles are
checked by `assert_cycles_match_the_model`, gated MACs against the data by each test."""


def output_shape(job):
    """The layer's output shape from its operands alone: N x K x P x Q (fc: M x K)."""
    if job.op == "fc":
        return job.inputs.shape[0], job.weights.shape[0]
    sh = job.shape
    return sh.n, sh.k, sh.p, sh.q


def assert_outputs_match_golden(jobs, results):
    """Each output has the layer's shape and is the golden model's, bit for bit."""
    for job, result in zip(jobs, results):
        assert result.output.shape == result.expected.shape == output_shape(job), job.name
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)


def predicted_counters(spec, job):
    """Every counter of `job`'s hardware runs on `spec`, summed (models.perf)."""
    runs = [predict_counters(spec, part.mapping) for part in job.parts(spec)]
    return {name: sum(run[name] for run in runs) for name in runs[0]}


def assert_counters_match_the_model(spec, jobs, results):
    """Every counter of every job but NOT_PREDICTED equals the analytical model's."""
    for job, result in zip(jobs, results):
        predicted = predicted_counters(spec, job)
        assert set(predicted) == set(COUNTER_NAMES) - set(NOT_PREDICTED), job.name
        assert {name: result.counters[name] for name in predicted} == predicted, job.name


def assert_cycles_match_the_model(spec, jobs, results):
    """Each job's cycles equal the analytical model's where the DRAM answers with its
    default timing (the model's); returns how many jobs that held for."""
    checked = 0
    for job, result in zip(jobs, results):
        if job.timing == DramTiming():
            predicted = sum(predict_cycles(spec, part.mapping) for part in job.parts(spec))
            assert result.counters["cycles"] == predicted, job.name
            checked += 1
    return checked


def assert_run_matches_the_models(spec, jobs, results):
    """Every job's output against the golden model, its counters and (every job at the
    DRAM's default timing) its cycles against the analytical model."""
    assert_outputs_match_golden(jobs, results)
    assert_counters_match_the_model(spec, jobs, results)
    assert assert_cycles_match_the_model(spec, jobs, results) == len(jobs)


def assert_every_counter_checks(spec, jobs, results):
    """Every counter of every job as the random regression checks it
    (testbench.regress.check_counters): the loop nest's exactly against the analytical
    model, gated MACs against the data, cycles exactly with the DRAM's default timing."""
    for job, result in zip(jobs, results):
        problem = check_counters(spec, job, result.counters)
        assert problem is None, (job.name, problem)


def band_rows_read(shape, mapping):
    """Input rows the layer's tiles read: each image whole, or the (overlapping) bands of
    its tiles of `tile_p` output rows."""
    if mapping.tile_images > 1:
        return shape.n * shape.h
    rows = 0
    for p0 in range(0, shape.p, mapping.tile_p):
        h0 = p0 * shape.stride - shape.pad
        last_window = h0 + (min(mapping.tile_p, shape.p - p0) - 1) * shape.stride + shape.r
        rows += min(shape.h, last_window) - max(0, h0)
    return shape.n * rows


def input_windows(job):
    """The input window behind each output, padding at the layer's pad value included:
    N x C x P x Q x R x S (fc: its 1x1 convolution over an M x 1 image)."""
    sh = job.shape
    pad = job.pad
    x = np.pad(job.conv_inputs, ((0, 0), (0, 0), (pad, pad), (pad, pad)),
               constant_values=job.pad_value)
    windows = np.lib.stride_tricks.sliding_window_view(x, (sh.r, sh.s), axis=(2, 3))
    return windows[:, :, ::job.stride, ::job.stride][:, :, :sh.p, :sh.q]
