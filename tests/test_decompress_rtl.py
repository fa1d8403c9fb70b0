"""Compressed activations read back on the Verilator-simulated RTL: layers back to back
(testbench/cocotb_chain.py), the first reading inputs the host placed compressed
(`compress_rows`), each next one reading the previous one's compressed output through its
length table, with no host step between them; outputs bit for bit against the golden model,
the last layer's counters and cycles equal to the model's from its inputs' and outputs'
zeros."""

from dataclasses import replace

import numpy as np
import pytest

from models.compression import activation_rows, compressed_writes, input_bands, stored_bytes
from models.golden import operand_range
from models.perf import predict_counters, predict_cycles
from testbench.cocotb_chain import chain_mappings
from testbench.jobs import Job, expected_output
from testbench.layer_values import relu_layer
from testbench.runner import SimulationModel

pytestmark = pytest.mark.rtl

ARCHS = ("tiny", "odd-os")
"""A 4x4 weight-stationary and a 5x3 output-stationary array (both 8-byte DRAM beats)."""


def sparse_inputs(rng, spec, zeros, shape):
    """int8 inputs, each zero with probability `zeros` (never zero otherwise)."""
    low, high = operand_range(spec.operand_bits)
    values = rng.integers(1, high + 1, shape) * rng.choice([-1, 1], shape)
    return np.where(rng.random(shape) < zeros, 0, np.clip(values, low, high))


def chain(spec, seed, input_zeros, zeros):
    """Two requantized ReLU 3x3 layers, 2B + 3 channels (three-beat rows), 6 x B pixels:
    the first's inputs `input_zeros` zero, each one's outputs about `zeros` zero."""
    rng = np.random.default_rng(seed)
    beat = spec.dram_bus_bytes
    c = 2 * beat + 3
    x = sparse_inputs(rng, spec, input_zeros, (1, c, 6, beat))
    first = relu_layer(rng, spec, "first", zeros, 1, c, 6, beat, c, 3, 1, 1, x=x)
    second = relu_layer(rng, spec, "second", zeros, 1, c, 6, beat, c, 3, 1, 1,
                        x=expected_output(spec, first))
    return [first, second]


CASES = {"zeros60": (0.6, 0.6), "zeros95": (0.95, 0.9), "no_zeros": (0.0, 0.0),
         "all_zeros": (1.0, 1.0)}


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in ARCHS])
def spec(request, arch):
    spec = arch(request.param)
    return replace(spec, name=f"{spec.name}-bitmask", activation_compression="bitmask")


@pytest.mark.parametrize("case", list(CASES))
def test_chain_reads_compressed_activations(spec, case, tmp_path):
    input_zeros, zeros = CASES[case]
    jobs = chain(spec, 5 + len(case), input_zeros, zeros)
    mappings = chain_mappings(spec, jobs)
    assert all(m.descriptor["x_compressed"] for m in mappings)
    assert mappings[0].descriptor["y_compressed"]
    results = SimulationModel(spec).run(jobs, tmp_path, test_module="testbench.cocotb_chain")
    for job, result in zip(jobs, results):
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)
    last, mapping = jobs[-1], mappings[-1]
    outputs = results[-1].expected if mapping.descriptor["y_compressed"] else None
    predicted = predict_counters(spec, mapping, inputs=last.inputs)
    predicted["cycles"] = predict_cycles(spec, mapping, inputs=last.inputs, outputs=outputs)
    dense_read = predict_counters(spec, replace(mapping, descriptor={
        **mapping.descriptor, "x_compressed": 0}))["dram_bytes_read"]
    if outputs is not None:
        predicted.update(compressed_writes(spec, mapping, outputs))
    measured = {name: results[-1].counters[name] for name in predicted}
    assert measured == predicted
    assert measured["decompressor_beats"] == sum(count for _, count in input_bands(mapping)) \
        * mapping.x_row_beats
    if np.mean(last.inputs == 0) >= 0.6:
        assert measured["dram_bytes_read"] < dense_read
    if not (last.inputs == 0).any():
        # No channel is zero: a pixel shrinks only by its last beat's padding (19 channels
        # in 3 beats of 8 leave 5 zero bytes, more than its 3 mask bytes), and the units
        # packed pay for the table: the read is still no more than dense.
        assert measured["dram_bytes_read"] <= dense_read


def single_layers(spec, seed):
    """Requantized ReLU layers reading inputs the host placed compressed: zeros drawn from 0
    to 95 %, then all-zero and no-zero inputs; rows of two and three beats, several tiles."""
    rng = np.random.default_rng(seed)
    beat = spec.dram_bus_bytes
    zeros = list(rng.uniform(0, 0.95, 4)) + [1.0, 0.0]
    layers = []
    for i, z in enumerate(zeros):
        c = (2 + i % 2) * beat - 1 - i
        x = sparse_inputs(rng, spec, z, (1, c, 4 + i, beat))
        layer = relu_layer(rng, spec, f"zeros{int(100 * z)}", 0.5, 1, c, 4 + i, beat,
                           spec.cols + i, 3, 1, 1, x=x)
        layer.x_compressed = True
        layers.append(layer)
    return layers


def test_single_layers_read_compressed_inputs(spec, tmp_path):
    """Each layer reads its inputs compressed (every row stored dense when none has a zero):
    outputs bit for bit, every counter and the cycles equal to the model from the inputs' and
    outputs' zeros."""
    jobs = single_layers(spec, 21)
    results = SimulationModel(spec).run(jobs, tmp_path)
    for job, result in zip(jobs, results):
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)
        [part] = job.parts(spec)
        mapping = part.mapping
        assert mapping.descriptor["x_compressed"], job.name
        outputs = result.expected if mapping.descriptor["y_compressed"] else None
        predicted = predict_counters(spec, mapping, inputs=job.inputs)
        predicted["cycles"] = predict_cycles(spec, mapping, inputs=job.inputs, outputs=outputs)
        if outputs is not None:
            predicted.update(compressed_writes(spec, mapping, outputs))
        measured = {name: result.counters[name] for name in predicted}
        assert measured == predicted, job.name


def fallback_chain(spec, seed):
    """Two layers whose activations mix pixels stored dense because their encoding is longer
    (no zero in 2B channels: two beats, no padding, 2B/8 mask bytes) and pixels stored
    encoded: the inputs, placed compressed by the host, half their pixels without a zero and
    the others about 70 % zero; a 1x1 layer copying them (identity weights, requantized by 1,
    ReLU) writes that mix compressed; a 3x3 ReLU layer reads it and writes outputs without a
    zero (zero point 1), every pixel stored dense."""
    rng = np.random.default_rng(seed)
    beat = spec.dram_bus_bytes
    c = 2 * beat
    shape = (1, c, 6, beat)
    no_zero = rng.random((1, 1) + shape[2:]) < 0.5
    _, high = operand_range(spec.operand_bits)
    x = np.where(no_zero, rng.integers(1, high + 1, shape), sparse_inputs(rng, spec, 0.7, shape))
    copy = Job("copy", "conv", x, np.eye(c, dtype=np.int64).reshape(c, c, 1, 1),
               bias=np.zeros(c, dtype=np.int64), requant=(1 << 14, 14, 0), relu=True)
    last = relu_layer(rng, spec, "no_zeros", 0.0, 1, c, 6, beat, c, 3, 1, 1,
                      x=expected_output(spec, copy))
    return [copy, last]


def stored_dense_share(spec, activations):
    """The share of an int8 NCHW tensor's pixels stored dense, their encoding longer."""
    _, encoded = stored_bytes(activation_rows(activations, spec.dram_bus_bytes),
                              spec.dram_bus_bytes)
    return 1 - encoded.mean()


def predicted_counters(spec, mapping, inputs, outputs):
    """Every counter and the cycles of a layer reading `inputs` and writing `outputs`
    compressed, from their zeros."""
    predicted = predict_counters(spec, mapping, inputs=inputs)
    predicted["cycles"] = predict_cycles(spec, mapping, inputs=inputs, outputs=outputs)
    predicted.update(compressed_writes(spec, mapping, outputs))
    return predicted


def test_pixels_longer_encoded_are_stored_dense_both_ways(spec, tmp_path):
    """The dense fall-back on the RTL: pixels whose encoding is longer than dense, beside
    encoded ones in the same units, placed by the host and read, written by the writer, and
    read by the next layer; outputs bit for bit; the copy layer run alone (reading the host's
    placement, writing the mix) and the chain's last layer (reading the writer's mix,
    writing every pixel dense) with every counter and the cycles equal to the model."""
    jobs = fallback_chain(spec, 31)
    copy, last = jobs
    assert 0.3 <= stored_dense_share(spec, copy.inputs) <= 0.7
    assert 0.3 <= stored_dense_share(spec, last.inputs) <= 0.7
    assert stored_dense_share(spec, expected_output(spec, last)) == 1
    mappings = chain_mappings(spec, jobs)
    assert all(m.descriptor["x_compressed"] and m.descriptor["y_compressed"] for m in mappings)
    results = SimulationModel(spec).run(jobs, tmp_path / "chain",
                                        test_module="testbench.cocotb_chain")
    for job, result in zip(jobs, results):
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)
    predicted = predicted_counters(spec, mappings[-1], last.inputs, results[-1].expected)
    assert {name: results[-1].counters[name] for name in predicted} == predicted

    copy.x_compressed = True
    [alone] = SimulationModel(spec).run([copy], tmp_path / "alone")
    np.testing.assert_array_equal(alone.output, alone.expected)
    [part] = copy.parts(spec)
    assert part.mapping.descriptor["x_compressed"] and part.mapping.descriptor["y_compressed"]
    predicted = predicted_counters(spec, part.mapping, copy.inputs, alone.expected)
    assert {name: alone.counters[name] for name in predicted} == predicted
