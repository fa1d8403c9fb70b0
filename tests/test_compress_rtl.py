"""Compressed activations on the Verilator-simulated RTL: requantized ReLU layers whose outputs
the DMA writer stores bitmask-encoded (models/compression.py), read back through the length
table bit for bit against the golden model, with every counter equal to the analytical model's
prediction from the outputs' zeros."""

from dataclasses import replace

import numpy as np
import pytest

from models.compression import compressed_writes, stored_bytes, unit_beats
from models.layout import pack_rows
from models.perf import predict_counters, predict_cycles
from testbench.layer_values import relu_layer
from testbench.runner import SimulationModel
from testbench.tb import DramTiming

pytestmark = pytest.mark.rtl

ARCHS = ("tiny", "odd-os")
"""A 4x4 weight-stationary and a 5x3 output-stationary array (both 8-byte DRAM beats)."""


def make_jobs(spec, seed):
    rng = np.random.default_rng(seed)
    r, c = spec.rows, spec.cols
    beat = spec.dram_bus_bytes
    # Output rows of `beat` pixels: every tile starts a beat of length-table entries.
    jobs = [relu_layer(rng, spec, f"3x3_zeros{int(100 * z)}", z, 1, r + 1, 6, beat,
                       2 * beat + 3, 3, 1, 1)
            for z in (0.0, 0.3, 0.6, 0.8, 0.95, 1.0)]
    jobs += [
        relu_layer(rng, spec, "1x1_one_beat_rows", 0.5, 2, 2 * r, 4, 3, beat, 1),
        relu_layer(rng, spec, "1x1_odd_channels", 0.7, 1, r, 5, 4, c + 1, 1),
        relu_layer(rng, spec, "5x5_stride2_three_beats", 0.6, 1, r - 1 or 1, 9, 2 * beat - 1,
                   3 * beat - 1, 5, 2, 2),
        relu_layer(rng, spec, "tall_image_tiles", 0.6, 1, r + 1, 20, beat, 12, 3, 1, 1),
        relu_layer(rng, spec, "output_groups", 0.6, 1, r + 1, 8, beat, 5 * beat + 3, 3, 1, 1),
        relu_layer(rng, spec, "stalling_dram", 0.5, 1, r, 7, 2 * beat, 2 * beat, 3, 2, 1,
                   timing=DramTiming(latency=60, gap=1, stall=100, seed=3)),
    ]
    # On the same hardware, a layer whose int32 outputs are written dense.
    dense = relu_layer(rng, spec, "int32_outputs_dense", 0.5, 1, r, 5, 4, c + 2, 3, 1, 1)
    dense.requant = None
    return jobs + [dense]


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in ARCHS])
def compressed_run(request, arch, tmp_path_factory):
    spec = arch(request.param)
    spec = replace(spec, name=f"{spec.name}-bitmask", activation_compression="bitmask")
    jobs = make_jobs(spec, seed=11 + sum(map(ord, spec.name)))
    results = SimulationModel(spec).run(jobs, tmp_path_factory.mktemp(f"compress-{spec.name}"))
    assert [r.name for r in results] == [j.name for j in jobs]
    return spec, jobs, results


def mapping_of(spec, job):
    [part] = job.parts(spec)
    return part.mapping


def test_outputs_match_golden_bit_for_bit(compressed_run):
    _, jobs, results = compressed_run
    for job, result in zip(jobs, results):
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)


WRITTEN_DENSE = ("1x1_one_beat_rows", "1x1_odd_channels", "int32_outputs_dense")
"""The jobs whose outputs are written dense: rows of one beat (a beat cannot get shorter),
int32 outputs."""


def test_requantized_outputs_are_written_compressed(compressed_run):
    """Every requantized job with rows of more than a beat is mapped compressed, the others
    dense; the layers have several output groups and tiles; the outputs span the sparsities
    asked for (all-zero and no-zero included)."""
    spec, jobs, results = compressed_run
    mappings = {job.name: mapping_of(spec, job) for job in jobs}
    for name, mapping in mappings.items():
        assert mapping.descriptor["y_compressed"] == (name not in WRITTEN_DENSE), name
    assert mappings["tall_image_tiles"].tiles > 1
    assert mappings["output_groups"].descriptor["y_groups"] > 1
    zeros = {job.name: np.mean(result.expected == 0) for job, result in zip(jobs, results)}
    assert zeros["3x3_zeros0"] == 0 and zeros["3x3_zeros100"] == 1
    assert 0.85 <= zeros["3x3_zeros95"] < 1 and 0.2 <= zeros["3x3_zeros30"] <= 0.5


def test_no_zero_pixels_store_their_masks_and_every_channel(compressed_run):
    """The no-zero layer's pixels: a pixel whose zeros (its last beat's padding included) are
    fewer than its mask bytes is stored dense, the others encoded in masks and every channel;
    its units are never longer than dense.  (Pixels longer encoded than dense, stored dense,
    are held to the RTL in tests/test_decompress_rtl.py, written and read, and drawn by the
    random regression.)"""
    spec, jobs, results = compressed_run
    [(job, result)] = [(j, r) for j, r in zip(jobs, results) if j.name == "3x3_zeros0"]
    mapping = mapping_of(spec, job)
    bus = spec.dram_bus_bytes
    n, k, p, q = result.expected.shape
    rows = pack_rows(result.expected.transpose(0, 2, 3, 1).reshape(-1, k), 8,
                     bus).reshape(n * p * q, -1)
    stored, compressed = stored_bytes(rows, bus)
    masks = mapping.y_row_beats * bus // 8
    assert (compressed == (rows.shape[1] - k >= masks + 1)).all()
    assert (stored[compressed] == masks + k).all()
    assert (unit_beats(stored, q, bus) <= q * mapping.y_row_beats).all()


def test_counters_match_the_model_from_the_outputs_zeros(compressed_run):
    """Every counter, DRAM bytes written and the compressor's included, equals the model's
    prediction from the golden outputs; sparse layers of rows longer than a beat (a row of one
    beat cannot get shorter) write fewer bytes than dense ones."""
    spec, jobs, results = compressed_run
    for job, result in zip(jobs, results):
        mapping = mapping_of(spec, job)
        predicted = predict_counters(spec, mapping)
        dense_bytes = predicted["dram_bytes_written"]
        predicted.update(compressed_writes(spec, mapping, result.expected))
        measured = {name: result.counters[name] for name in predicted}
        assert measured == predicted, job.name
        if (job.requant is not None and mapping.y_row_beats > 1
                and np.mean(result.expected == 0) >= 0.6):
            assert measured["dram_bytes_written"] < dense_bytes, job.name


def test_cycles_match_the_model(compressed_run):
    spec, jobs, results = compressed_run
    for job, result in zip(jobs, results):
        if job.timing == DramTiming():
            mapping = mapping_of(spec, job)
            outputs = result.expected if job.requant is not None else None
            assert result.counters["cycles"] == predict_cycles(spec, mapping,
                                                               outputs=outputs), job.name
