"""The Fashion-MNIST CNN (models/fashion_mnist.onnx, trained by
examples/train_fashion_mnist.py) on the official test images (Debian's dataset-fashion-mnist,
installed by .ci/run): its float accuracy, the int8 golden model within a point of it, and the
`peforge run --workload fashion-mnist` flow on a few images, on the RTL each layer checked."""

import json

import numpy as np
import pytest

from models import fashion_mnist
from models.onnx_graph import golden_step, load_graph, plan_quantization, run_float, run_quantized
from peforge.cli import main

IMAGES = 1000


@pytest.fixture(scope="module")
def test_set():
    return fashion_mnist.images("test")[:IMAGES], fashion_mnist.labels("test")[:IMAGES]


def test_the_data_set_is_the_official_one():
    assert fashion_mnist.images("train").shape == (60000, 1, 28, 28)
    labels = fashion_mnist.labels("test")
    assert labels.shape == (10000,) and np.array_equal(np.bincount(labels), [1000] * 10)


def test_int8_accuracy_is_within_a_point_of_float(test_set):
    images, labels = test_set
    graph = load_graph(fashion_mnist.MODEL_PATH)
    assert {node.op for node in graph.nodes} >= {"Conv", "Add", "Relu", "GlobalAveragePool"}
    steps = plan_quantization(graph, fashion_mnist.images("train")[:500])
    floats = np.mean(run_float(graph, images)[0].argmax(1) == labels)
    ints = np.mean(run_quantized(graph, steps, images, golden_step)[0].argmax(1) == labels)
    assert floats >= 0.9
    assert abs(ints - floats) <= 0.01


def test_run_on_the_model_backend_reports_accuracy_and_outputs(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--arch", "configs/default.yaml", "--workload", "fashion-mnist",
                 "--images", "40", "--backend", "model", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["accuracy"]) == {"float", "int8_golden"}
    assert report["batch"] == 40 and "per-channel" in report["quantization"]
    assert np.load(out / "outputs.npy").shape == (40, 10)


@pytest.mark.rtl
def test_run_on_the_rtl_matches_golden(tmp_path):
    """Exit 0 means every layer's RTL output equalled the golden model's."""
    out = tmp_path / "out"
    assert main(["run", "--arch", "configs/tiny.yaml", "--workload", "fashion-mnist",
                 "--images", "2", "--backend", "rtl", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"]["int8_rtl"] == report["accuracy"]["int8_golden"]
    assert len(report["layers"]) == 10
