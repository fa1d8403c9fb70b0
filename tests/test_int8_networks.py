"""The built-in networks as int8 networks: every accelerator layer adds a bias, requantizes
to operands and applies the network's ReLUs in hardware, so activations cross DRAM as int8;
the generated data's requantization keeps them in range; the RTL runs their layers bit for
bit as the golden model does, with the analytical model's counters and cycles."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models.golden import operand_range
from models.layout import row_beats
from models.mapper import PostProcess
from models.perf import predict_counters
from models.spec import load_spec
from models.workloads import GENERATED_NETWORKS, generated_operands, workload
from peforge.network import layer_parts, predicted_counters
from peforge.report import layer_mode
from testbench.jobs import Job, expected_output
from testbench.runner import SimulationModel

DEFAULT = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"

RELU = {
    "resnet18": lambda name: name == "conv1" or name.endswith(".conv1"),
    "mobilenetv2": lambda name: not name.endswith(".project") and name != "classifier",
    "alexnet": lambda name: name != "classifier.6",
    "vgg16": lambda name: name != "classifier.6",
}
"""Where each torchvision model has a ReLU (or ReLU6) right after an accelerator layer."""

SAMPLED = {
    "resnet18": ("conv1", "layer1.0.conv1", "layer2.0.conv2", "layer2.0.downsample", "fc"),
    "mobilenetv2": ("features.0", "features.2.expand", "features.2.dw", "features.2.project"),
    "alexnet": ("features.0", "features.3", "features.8"),
    "vgg16": ("features.0", "features.5", "features.10"),
}
"""Layers of each network run at small size: first layers (3 input channels, large kernels),
3x3 and 1x1 layers with and without ReLU, a strided downsample, a depthwise layer and a
fully-connected one (about 350,000 cycles on the default array)."""
SMALL_SIZE = 6


def accelerated(name):
    return [layer for layer in workload(name) if layer.on_accelerator]


def small(layer, size=SMALL_SIZE):
    """`layer` on an input of `size` x `size` pixels (or the least giving an output); the
    channels, kernel and so the reduction, bias and requantization stay the network's."""
    if layer.op == "fc":
        return layer
    shape = layer.shape
    side = max(min(shape.h, size), shape.r - 2 * shape.pad)
    return replace(layer, shape=replace(shape, h=side, w=side))


def sampled_layers(name):
    layers = {layer.name: layer for layer in workload(name)}
    return [small(layers[layer]) for layer in SAMPLED[name]]


def network_job(layer, bits, rng):
    """A simulation job of `layer` on generated data, with the layer's post-processing."""
    x, w, bias = generated_operands(layer, bits, rng)
    post = layer.post
    return Job(layer.name, "fc" if layer.op == "fc" else "conv", x, w, stride=layer.shape.stride,
               pad=layer.shape.pad, groups=layer.groups, bias=bias, requant=post.requant,
               relu=post.relu)


def output_bytes(spec, shape, bits=8):
    """`bits` per output activation, each output pixel's row padded to whole beats."""
    bus = spec.dram_bus_bytes
    return shape.n * shape.p * shape.q * row_beats(shape.k, bits, bus) * bus


def mapped_quickly(layer):
    """All but AlexNet's and VGG-16's first two fully-connected layers, whose 256 filter
    blocks give the mapper 512 tilings to weigh (a minute each); classifier.6 stands for
    them."""
    return layer.op != "fc" or layer.shape.k <= 1000


@pytest.mark.parametrize("name", list(GENERATED_NETWORKS))
def test_activations_cross_dram_as_int8(name):
    """Every layer writes one byte per output activation (rows padded to beats) on the
    default array, where int32 outputs take four."""
    spec = load_spec(DEFAULT)
    for layer in filter(mapped_quickly, accelerated(name)):
        written = predicted_counters(spec, layer)["dram_bytes_written"]
        assert written == output_bytes(spec, layer.shape), layer.name
        assert written < output_bytes(spec, layer.shape, 32), layer.name


def test_int32_outputs_take_four_bytes_each():
    """Without requantization the same layers write their int32 accumulators."""
    spec = load_spec(DEFAULT)
    for layer in accelerated("resnet18")[:4]:
        as_int32 = replace(layer, post=PostProcess())
        assert predicted_counters(spec, as_int32)["dram_bytes_written"] == output_bytes(
            spec, layer.shape, 32), layer.name


def test_resnet18_layer1_conv1_writes_its_activations_once_as_bytes():
    """The issue's example: 200,704 int8 activations, 802,816 B as int32 before."""
    spec = load_spec(DEFAULT)
    [layer] = [layer for layer in workload("resnet18") if layer.name == "layer1.0.conv1"]
    assert layer.shape.k * layer.shape.p * layer.shape.q == 200_704
    assert predicted_counters(spec, layer)["dram_bytes_written"] == 200_704
    as_int32 = replace(layer, post=PostProcess())
    assert predicted_counters(spec, as_int32)["dram_bytes_written"] == 802_816


@pytest.mark.parametrize("name", list(GENERATED_NETWORKS))
def test_generated_requantization_keeps_activations_in_range(name):
    """On generated data the requantized outputs spread over the int8 range (an RMS of a
    sixteenth to a half of its top before ReLU) and almost never saturate."""
    spec = load_spec(DEFAULT)
    low, high = operand_range(8)
    rng = np.random.default_rng(13)
    for layer in sampled_layers(name):
        job = network_job(layer, 8, rng)
        linear = expected_output(spec, replace(job, relu=False))
        saturated = np.mean((linear == high) | (linear == low))
        assert saturated < 0.005, (layer.name, saturated)
        rms = np.sqrt(np.mean(linear.astype(float) ** 2))
        assert high / 16 < rms < high / 2, (layer.name, rms)
        outputs = expected_output(spec, job)
        assert (outputs.min() >= 0) == layer.post.relu, layer.name


@pytest.mark.parametrize("name", ["conv1", "layer4.1.conv2"])
def test_a_narrower_operand_width_requantizes_to_it(name):
    """Built for 4-bit operands, the same rule spreads a layer's outputs over the int4
    range.  (Wider operands on generated data overflow the 32-bit accumulator, which then
    wraps as the hardware's does.)"""
    spec = replace(load_spec(DEFAULT), operand_bits=4)
    [layer] = [layer for layer in workload("resnet18", bits=4) if layer.name == name]
    layer = small(replace(layer, post=replace(layer.post, relu=False)))
    outputs = expected_output(spec, network_job(layer, 4, np.random.default_rng(3)))
    low, high = operand_range(4)
    rms = np.sqrt(np.mean(outputs.astype(float) ** 2))
    assert high / 16 < rms < high / 2 and np.mean((outputs == low) | (outputs == high)) < 0.01


def test_report_names_each_layers_mode():
    spec = load_spec(DEFAULT)
    layers = {layer.name: layer for layer in workload("mobilenetv2", batch=4)}
    # 4 images of 112x112 take several tiles; the 16 -> 96 1x1 weights stay resident.
    # Their tiles load each band while the previous one streams (models/band_prefetch.py).
    assert layer_mode(spec, layers["features.2.expand"]) == \
        "dense, weights resident, input bands loaded ahead"
    assert layer_mode(spec, layers["classifier"]) == "fc as 1x1 conv over 4 rows"
    dw = layers["features.15.dw"]
    [part] = layer_parts(spec, dw)
    assert part.mapping.descriptor["depthwise"]
    assert layer_mode(spec, dw) == ("depthwise, line buffer: a channel a column, all 9 taps "
                                    "down the rows, 2 input rows from the line buffer")
    # 144 channels in two runs of 80 and 64 (models.mapper `_depthwise_slices`).
    sliced = layers["features.3.dw"]
    assert [part.mapping.shape.c for part in layer_parts(spec, sliced)] == [80, 64]
    assert layer_mode(spec, sliced) == ("depthwise, line buffer over 2 channel slices of 80: "
                                        "a channel a column, all 9 taps down the rows, 2 input "
                                        "rows from the line buffer, input bands loaded ahead")


@pytest.mark.rtl
@pytest.mark.xdist_group("default")
def test_network_layers_on_the_rtl_are_the_golden_models(tmp_path):
    """A few layers of each network at small size on the default RTL: outputs bit for bit,
    int8 (each within the operand range, one byte each in DRAM), every structural counter
    and the cycles as the analytical model predicts."""
    spec = load_spec(DEFAULT)
    rng = np.random.default_rng(2026)
    layers = [layer for name in GENERATED_NETWORKS for layer in sampled_layers(name)]
    jobs = [network_job(layer, spec.operand_bits, rng) for layer in layers]
    results = SimulationModel(spec).run(jobs, tmp_path)
    low, high = operand_range(spec.operand_bits)
    for layer, result in zip(layers, results):
        assert result.name == layer.name
        np.testing.assert_array_equal(result.output, result.expected, err_msg=layer.name)
        assert low <= result.output.min() and result.output.max() <= high, layer.name
        assert len(np.unique(result.output)) > 16, layer.name
        runs = [predict_counters(spec, part.mapping) for part in layer_parts(spec, layer)]
        predicted = {key: sum(run[key] for run in runs) for key in runs[0]}
        assert {key: result.counters[key] for key in predicted} == predicted, layer.name
        assert result.counters["cycles"] == predicted_counters(spec, layer)["cycles"], \
            layer.name
        assert result.counters["dram_bytes_written"] == output_bytes(spec, layer.shape)
