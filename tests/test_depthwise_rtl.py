"""Depthwise convolutions across the whole array (models/depthwise.py, pyhdl/depthwise_loop.py,
pyhdl/depthwise_array.py), a kernel row's taps down the rows or all of them through the line
buffer, on the Verilator-simulated RTL: bit for bit against the golden model, every counter
and the cycles equal to the analytical model."""

import numpy as np
import pytest

from models.golden import conv_output_size
from models.mapper import ConvShape, PostProcess, map_grouped_conv
from models.perf import predict_cycles
from testbench.layer_checks import (assert_counters_match_the_model,
                                    assert_cycles_match_the_model, assert_outputs_match_golden)
from testbench.layer_values import (DEPTHWISE_KERNELS, DEPTHWISE_STRIDES, depthwise_job,
                                    layer_run_fixture)

pytestmark = pytest.mark.rtl

ARCHS = ("tiny", "fold-12x4")


def line_kernels(spec):
    """The square kernels `spec` runs with the line buffer."""
    return [k for k in DEPTHWISE_KERNELS
            if 2 <= k <= spec.depthwise_line_rows and k * k <= spec.rows]


def random_depthwise_jobs(spec, rng, count):
    """`count` random depthwise layers: first, for each kernel and stride the line buffer
    takes on `spec`, a large one the mapper runs with it; then, with the line buffer and
    without, a large batch of two the mapper runs over channel slices, the last one not a
    multiple of the columns; then random ones, of which at least two thirds run depthwise
    (the mapper runs the others block-diagonal, where that takes fewer cycles)."""
    jobs = []
    for kernel in line_kernels(spec):
        for stride in DEPTHWISE_STRIDES:
            while True:
                job = depthwise_job(spec, rng, f"dwline{len(jobs)}", kernel, stride, True)
                if uses_line_buffer(spec, job):
                    jobs.append(job)
                    break
    for line in (True, False):
        while True:
            job = depthwise_job(spec, rng, f"dwslices{len(jobs)}", large=True)
            if job.inputs.shape[0] == 2 and uneven_slices(spec, job) \
                    and uses_line_buffer(spec, job) == line:
                jobs.append(job)
                break
    while len(jobs) < count:
        job = depthwise_job(spec, rng, f"dw{len(jobs)}")
        runs_depthwise = [part.mapping.descriptor["depthwise"] for part in job.parts(spec)]
        if all(runs_depthwise) or sum(1 for j in jobs if not is_depthwise(spec, j)) < count // 3:
            jobs.append(job)
    return jobs


def uneven_slices(spec, job):
    """Whether the mapper runs `job` depthwise over channel slices (models.mapper
    `_depthwise_slices`), the last one not a multiple of the columns."""
    parts = job.parts(spec)
    return (len(parts) > 1 and parts[0].mapping.descriptor["depthwise"]
            and parts[-1].mapping.shape.c % spec.cols != 0)


def is_depthwise(spec, job):
    return any(part.mapping.descriptor["depthwise"] for part in job.parts(spec))


def uses_line_buffer(spec, job):
    return any(part.mapping.descriptor["dw_line"] for part in job.parts(spec))


def make_jobs(spec, seed):
    return random_depthwise_jobs(spec, np.random.default_rng(seed), 12)


depthwise_run = layer_run_fixture("depthwise_run", ARCHS, make_jobs, seed=31)


def test_depthwise_outputs_match_golden_bit_for_bit(depthwise_run):
    _, jobs, results = depthwise_run
    assert_outputs_match_golden(jobs, results)


def test_depthwise_counters_and_cycles_match_the_analytical_model(depthwise_run):
    spec, jobs, results = depthwise_run
    assert_counters_match_the_model(spec, jobs, results)
    assert assert_cycles_match_the_model(spec, jobs, results) == len(jobs)


def test_depthwise_gated_macs_are_the_zero_operand_pairs(depthwise_run):
    """Every depthwise product is one MAC, gated when its input (padding at the pad value
    included) or its weight is zero; the off-diagonal products of block-diagonal runs are
    MACs with a zero weight."""
    spec, jobs, results = depthwise_run
    for job, result in zip(jobs, results):
        if not is_depthwise(spec, job):
            continue
        x = np.pad(job.inputs, ((0, 0), (0, 0), (job.pad,) * 2, (job.pad,) * 2),
                   constant_values=job.pad_value)
        r = job.weights.shape[2]
        windows = np.lib.stride_tricks.sliding_window_view(x, (r, r), axis=(2, 3))
        p, q = (conv_output_size(size, r, job.stride, job.pad)
                for size in job.inputs.shape[2:])
        windows = windows[:, :, ::job.stride, ::job.stride][:, :, :p, :q]
        both = np.einsum("ncpqrs,crs->", (windows != 0).astype(np.int64),
                         (job.weights[:, 0] != 0).astype(np.int64))
        macs = windows[..., 0, 0].size * r * r
        assert result.counters["macs"] == macs, job.name
        assert result.counters["macs_gated"] == macs - both, job.name


def test_draws_cover_kernels_strides_and_both_modes(depthwise_run):
    spec, jobs, _ = depthwise_run
    kernels = {job.weights.shape[2] for job in jobs if is_depthwise(spec, job)}
    assert kernels >= {k for k in DEPTHWISE_KERNELS if k <= spec.rows} - {2}
    assert {job.stride for job in jobs} == set(DEPTHWISE_STRIDES)
    assert any(job.inputs.shape[0] == 2 for job in jobs if is_depthwise(spec, job))
    assert any(job.inputs.shape[1] % spec.cols for job in jobs if is_depthwise(spec, job))


def test_line_buffer_draws_cover_kernels_strides_batches_and_tiles(depthwise_run):
    """The line buffer ran every kernel and stride it takes, a batch of two, channels not a
    multiple of the columns, tiles of several output rows and several tiles an image."""
    spec, jobs, _ = depthwise_run
    line = [job for job in jobs if uses_line_buffer(spec, job)]
    assert {(job.weights.shape[2], job.stride) for job in line} \
        == {(k, t) for k in line_kernels(spec) for t in DEPTHWISE_STRIDES}
    assert any(job.inputs.shape[0] == 2 for job in line)
    assert any(job.inputs.shape[1] % spec.cols for job in line)
    mappings = [part.mapping for job in line for part in job.parts(spec)]
    assert any(m.tile_p > 1 for m in mappings)
    assert any(m.tiles > 1 for m in mappings)
    assert all(m.descriptor["dw_line"] for m in mappings)


def test_slice_draws_cover_both_modes_batches_and_tiles(depthwise_run):
    """Layers ran over channel slices with the line buffer and without, a batch of two, a
    last slice not a multiple of the columns, several tiles a slice."""
    spec, jobs, _ = depthwise_run
    sliced = [job for job in jobs if uneven_slices(spec, job)]
    assert {uses_line_buffer(spec, job) for job in sliced} == {True, False}
    assert any(job.inputs.shape[0] == 2 for job in sliced)
    assert any(part.mapping.tiles > 1 for job in sliced for part in job.parts(spec))


def test_depthwise_runs_mobilenet_layers_faster_than_block_diagonal(arch):
    """On the default 16x16, a MobileNetV2 3x3 stride-1 depthwise layer runs depthwise
    with the line buffer, in fewer cycles than its block-diagonal runs and within their
    traffic."""
    from models.mapper import _grouped_runs
    spec = arch("default")
    shape = ConvShape(1, 144, 56, 56, 144, 3, 3, 1, 1)
    post = PostProcess(True, (1 << 14, 20, 0), True)
    parts = map_grouped_conv(spec, shape, 144, post)
    assert all(part.mapping.descriptor["dw_line"] for part in parts)
    blocks = _grouped_runs(spec, shape, 144, post)
    cycles = sum(predict_cycles(spec, part.mapping) for part in parts)
    assert 3 * cycles < sum(predict_cycles(spec, b.mapping) for b in blocks)
    macs = sum(part.mapping.shape.macs for part in parts)
    assert macs == 144 * 56 * 56 * 9
    assert macs / cycles / spec.peak_macs_per_cycle > 0.15


@pytest.mark.parametrize("c, size, stride", [(144, 56, 1), (96, 112, 2)])
def test_mobilenet_depthwise_layers_run_over_channel_slices(arch, c, size, stride):
    """MobileNetV2's features.3.dw and features.2.dw (MobileNetV2's largest depthwise
    bands) run with the line buffer over aligned slices of their channels, each a slice of
    every pixel, their weights one after another: in fewer cycles than one run over every
    channel, within TRAFFIC_SLACK of the least traffic of either and of the block-diagonal
    runs, their bands (a slice of each input row) loading ahead."""
    from models.mapper import TRAFFIC_SLACK, DepthwiseShape, _depthwise, _grouped_runs
    from models.perf import predict_counters
    spec = arch("default")
    shape = ConvShape(1, c, size, size, c, 3, 3, stride, 1)
    post = PostProcess(True, (1 << 14, 20, 0), True)
    parts = map_grouped_conv(spec, shape, c, post)
    whole = _depthwise(spec, DepthwiseShape(1, c, size, size, c, 3, 3, stride, 1), post)

    def traffic(mappings):
        return sum(counters["dram_bytes_read"] + counters["dram_bytes_written"]
                   for counters in (predict_counters(spec, m) for m in mappings))

    slices = [part.mapping for part in parts]
    assert len(parts) > 1 and all(m.descriptor["dw_line"] and m.descriptor["x_half_words"]
                                  for m in slices)
    assert [part.c0 for part in parts] == [sum(m.shape.c for m in slices[:i])
                                           for i in range(len(parts))]
    assert all(part.k0 == part.c0 for part in parts)
    assert sum(m.shape.c for m in slices) == c
    assert all(m.w_addr == prev.w_addr + prev.shape.k * prev.w_row_beats
               for prev, m in zip(slices, slices[1:]))
    assert slices[-1].w_addr + slices[-1].shape.k * slices[-1].w_row_beats <= slices[0].b_addr
    assert sum(predict_cycles(spec, m) for m in slices) < 0.8 * predict_cycles(spec, whole)
    blocks = [part.mapping for part in _grouped_runs(spec, shape, c, post)]
    assert traffic(slices) <= TRAFFIC_SLACK * min(traffic([whole]), traffic(blocks))
