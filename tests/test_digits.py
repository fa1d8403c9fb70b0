"""The digits CNN: its committed weights' accuracy in float and int8, the training script's
gradients, and the held-out images through the RTL, equal to the golden model."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import digits, golden
from models.mapper import map_grouped_conv
from models.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent


def peforge(*args):
    return subprocess.run([sys.executable, "-m", "peforge.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def split():
    return digits.dataset()


@pytest.fixture(scope="module")
def params():
    return digits.load_params()


def test_held_out_split_is_a_fifth_and_stratified(split):
    assert len(split.test_y) == 360 and len(split.train_y) == 1437
    assert set(np.bincount(split.test_y)) <= {35, 36, 37}
    assert split.test_x.min() == 0 and split.test_x.max() == 16


def test_float_accuracy_and_int8_within_one_point(split, params):
    float_logits, _ = digits.float_forward(params, split.test_x)
    int8_logits = digits.run_int8(digits.quantized_network(params), split.test_x,
                                  digits.golden_layer)
    float_accuracy = digits.accuracy(float_logits, split.test_y)
    int8_accuracy = digits.accuracy(int8_logits, split.test_y)
    assert float_accuracy >= 0.95
    assert abs(float_accuracy - int8_accuracy) <= 0.01
    # The int8 network is not the float one with rounding hidden: its logits differ.
    assert np.mean(np.argmax(int8_logits, 1) == np.argmax(float_logits, 1)) >= 0.98


def test_quantized_layers_fit_the_hardware(params):
    network = digits.quantized_network(params)
    layers = [step for step in network if isinstance(step, digits.QuantizedLayer)]
    assert [step.layer.name for step in layers] == ["conv1", "conv2", "fc"]
    spec = load_spec(ROOT / "configs" / "default.yaml")
    for step in layers:
        assert -128 <= step.weights.min() and step.weights.max() <= 127
        assert step.weights.max() == 127 or step.weights.min() == -127
        assert np.abs(step.bias).max() < 2**31
        map_grouped_conv(spec, step.layer.shape, step.layer.groups, step.layer.post)
    conv1, conv2, fc = (step.layer.post for step in layers)
    assert conv1.relu and conv2.relu and conv1.requant and conv2.requant
    assert fc.requant is None and fc.bias     # int32 logits


def test_int8_layer_follows_the_float_layer(split, params):
    """conv1 in int8, rescaled, is the float conv1 to within a rounding step or two."""
    [conv1] = [s for s in digits.quantized_network(params) if getattr(s, "layer", s).name ==
               "conv1"]
    pixels = split.test_x[:20]
    out = digits.golden_layer(conv1, pixels)
    _, (float_a1, _) = digits.float_forward(params, pixels)
    scale = params["conv1.max"] / 127
    assert np.abs(out * scale - float_a1).max() < 3 * scale


def test_training_gradients_match_finite_differences(split):
    path = ROOT / "examples" / "train_digits.py"
    module_spec = importlib.util.spec_from_file_location("train_digits", path)
    train = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(train)
    rng = np.random.default_rng(0)
    params = train.initial_params(rng)
    params = {name: value + rng.normal(0, 0.05, value.shape) for name, value in params.items()}
    x, y = split.train_x[:6], split.train_y[:6]
    _, grads = train.gradients(params, x, y)
    for name in digits.PARAMETER_SHAPES:
        index = tuple(rng.integers(0, n) for n in params[name].shape)
        step = 1e-5
        saved = params[name][index]
        params[name][index] = saved + step
        up, _ = train.gradients(params, x, y)
        params[name][index] = saved - step
        down, _ = train.gradients(params, x, y)
        params[name][index] = saved
        assert grads[name][index] == pytest.approx((up - down) / (2 * step), abs=1e-6,
                                                   rel=1e-3), name


def test_run_digits_on_the_model_backend_reports_accuracy(tmp_path, split, params):
    done = peforge("run", "--arch", ROOT / "configs" / "default.yaml", "--workload", "digits",
                   "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    float_logits, _ = digits.float_forward(params, split.test_x)
    assert report["accuracy"]["float"] == digits.accuracy(float_logits, split.test_y)
    assert set(report["accuracy"]) == {"float", "int8_golden"}
    assert report["batch"] == 360
    assert report["totals"]["macs"] == 360 * (16 * 64 * 9 + 32 * 16 * 16 * 9 + 512 * 10)
    assert report["host_ops"] == ["pool", "flatten"]
    assert "accuracy (int8, golden model)" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("options, message", [
    (("--workload", "digits", "--images", 0), "--images must be from 1 to 360, not 0"),
    (("--workload", "digits", "--images", 361), "--images must be from 1 to 360, not 361"),
    (("--workload", "digits", "--batch", 4), "--batch 4: digits runs its inputs as one batch "
                                             "(choose how many with --images)"),
    (("--workload", "alexnet", "--images", 5), "--images applies only to real inputs (digits, "
                                               "fashion-mnist, an ONNX graph with --inputs), "
                                               "not 'alexnet'"),
])
def test_bad_image_counts_are_refused(tmp_path, options, message):
    done = peforge("run", "--arch", ROOT / "configs" / "tiny.yaml", *options,
                   "--out", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"peforge: error: {message}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.rtl
@pytest.mark.xdist_group("tiny")
def test_digits_on_the_rtl_equal_the_golden_model(tmp_path, split, params):
    """Held-out images through the 4x4 RTL, each layer fed the RTL's previous output; any
    difference from the golden model fails the run (exit 1)."""
    images = 24
    done = peforge("run", "--arch", ROOT / "configs" / "tiny.yaml", "--workload", "digits",
                   "--backend", "rtl", "--images", images, "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    spec = load_spec(ROOT / "configs" / "tiny.yaml")
    network = digits.quantized_network(params)
    logits = digits.run_int8(network, split.test_x[:images],
                             lambda step, x: digits.golden_layer(step, x, spec.acc_bits))
    golden_accuracy = digits.accuracy(logits, split.test_y[:images])
    assert report["accuracy"]["int8_rtl"] == report["accuracy"]["int8_golden"] \
        == golden_accuracy
    assert [layer["name"] for layer in report["layers"]] == ["conv1", "conv2", "fc"]
    # ReLU outputs are often zero, and the RTL gates those multiplies.
    assert report["layers"][1]["counters"]["macs_gated"] > 0
    assert "matches the golden model" in done.stderr


def test_golden_layer_is_the_golden_model(params, split):
    [fc] = [s for s in digits.quantized_network(params) if getattr(s, "layer", s).name == "fc"]
    x = np.random.default_rng(1).integers(0, 128, (3, 512))
    assert np.array_equal(digits.golden_layer(fc, x),
                          golden.postprocess(golden.fc(x, fc.weights), fc.bias))
