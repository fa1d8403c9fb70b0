"""Batches on the Verilator-simulated RTL: weights resident across a layer's tiles (fetched
once), tiles of several whole images (the window walk stepping from one image to the next),
and output-stationary pixel groups that start in one image and end in the next; bit for bit
against the golden model, counters and cycles against the analytical model, on a square and
a non-square array of each dataflow."""

import numpy as np
import pytest

from models.golden import operand_range
from models.perf import predict_counters, predict_cycles, weight_dram_rows
from testbench.layer_checks import band_rows_read
from testbench.layer_values import conv_job
from testbench.runner import SimulationModel

pytestmark = pytest.mark.rtl

ARCHS = ("micro", "wide", "micro-os", "odd-os")


def make_jobs(spec, seed):
    """(job, expected mode) pairs: "images" (tiles of whole images), "resident" (an image in
    several tiles, weights resident)."""
    rng = np.random.default_rng(seed)
    r, c = spec.rows, spec.cols
    low, high = operand_range(spec.operand_bits)
    tall = spec.input_words // (2 * 5) + 4      # rows of 5 pixels of 2 channel blocks
    return [
        (conv_job(rng, spec, "images_3x3_pad1", 6, r + 1, 4, 4, c + 1, 3, 1, 1), "images"),
        # p * q = 9 pixels: output-stationary groups of `rows` cross image boundaries.
        (conv_job(rng, spec, "images_3x3_stride2", 4, r, 5, 5, 2 * c, 3, 2, 1, post=True),
         "images"),
        # h - (p - 1) * stride = 1 row back to the next image, not a stride of 2.
        (conv_job(rng, spec, "images_stride2_odd_h", 3, 2, 7, 3, c, 3, 2, 1), "images"),
        (conv_job(rng, spec, "images_pad_value", 4, r + 1, 3, 4, c, 3, 1, 1,
                  pad_value=low // 2 or high // 2), "images"),
        (conv_job(rng, spec, "images_1x1_many", 12, 2 * r, 2, 3, c + 1, 1, 1, 0, post=True),
         "images"),
        (conv_job(rng, spec, "resident_tall", 2, r + 1, tall, 5, c + 2, 3, 1, 1), "resident"),
    ]


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in ARCHS])
def batch_run(request, arch, tmp_path_factory):
    spec = arch(request.param)
    cases = make_jobs(spec, seed=11 + sum(map(ord, spec.name)))
    jobs = [job for job, _ in cases]
    results = SimulationModel(spec).run(jobs, tmp_path_factory.mktemp(f"batch-{spec.name}"))
    assert [r.name for r in results] == [j.name for j in jobs]
    return spec, cases, results


def test_layers_take_the_mode_they_test(batch_run):
    """Each layer really runs in its mode, so the checks below cover it."""
    spec, cases, _ = batch_run
    for job, mode in cases:
        [part] = job.parts(spec)
        mapping = part.mapping
        if mode == "images":
            assert mapping.tile_images > 1, job.name
        else:
            assert mapping.tile_images == 1 and mapping.tiles > 1, job.name
            assert mapping.descriptor["w_resident"], job.name


def test_outputs_match_golden_bit_for_bit(batch_run):
    _, cases, results = batch_run
    for (job, _), result in zip(cases, results):
        shape = job.shape
        assert result.output.shape == (shape.n, shape.k, shape.p, shape.q), job.name
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)


def test_counters_match_the_analytical_model(batch_run):
    spec, cases, results = batch_run
    for (job, _), result in zip(cases, results):
        [part] = job.parts(spec)
        predicted = predict_counters(spec, part.mapping)
        assert {name: result.counters[name] for name in predicted} == predicted, job.name


def test_cycles_match_the_analytical_model(batch_run):
    spec, cases, results = batch_run
    for (job, _), result in zip(cases, results):
        [part] = job.parts(spec)
        assert result.counters["cycles"] == predict_cycles(spec, part.mapping), job.name


def test_each_weight_crosses_dram_once(batch_run):
    """DRAM reads are the input bands, the bias, and the weights, from the layout's sizes
    alone: once when they are resident (every "resident" layer: no tile fetches them again),
    else once a tile (the mapper may prefer a tile's weights loaded into a half of the buffer
    while the tile before streams, as micro's many-image 1x1 layer does)."""
    spec, cases, results = batch_run
    bus = spec.dram_bus_bytes
    for (job, _), result in zip(cases, results):
        [part] = job.parts(spec)
        mapping, shape = part.mapping, job.shape
        # Folded: X packed a DRAM row per image row, W a row per (k, block of kernel rows).
        folded = mapping.descriptor["fold"]
        weight_rows = shape.k * mapping.descriptor["taps"] if folded \
            else weight_dram_rows(spec, shape)
        fetches = 1 if mapping.descriptor["w_resident"] else mapping.tiles
        weights = fetches * weight_rows * mapping.w_row_beats * bus
        bias = mapping.descriptor["b_row_beats"] * bus if job.bias is not None else 0
        row_pixels = 1 if folded else shape.w
        inputs = band_rows_read(shape, mapping) * row_pixels * mapping.x_row_beats * bus
        assert result.counters["dram_bytes_read"] == inputs + weights + bias, job.name
