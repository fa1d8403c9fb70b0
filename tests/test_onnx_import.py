"""ONNX graphs as workloads: ResNet-18 as torchvision exports it agrees with the built-in
table; quantized forms get the hardware's requantization; unsupported operators are refused
in one line."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.mapper import map_grouped_conv
from models.onnx_import import NEUTRAL_REQUANT, load_onnx
from models.quantize import requant
from models.spec import load_spec
from models.workloads import WorkloadError, workload

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "configs" / "default.yaml"


def peforge(*args):
    return subprocess.run([sys.executable, "-m", "peforge.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def resnet18_onnx(tmp_path_factory):
    spec = importlib.util.spec_from_file_location(
        "make_resnet18_onnx", ROOT / "examples" / "make_resnet18_onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("onnx") / "resnet18.onnx"
    onnx.save(module.resnet18_model(), str(path))
    return path


def save(tmp_path, nodes, inputs, outputs, initializers=(), name="net.onnx"):
    graph = helper.make_graph(nodes, "net", inputs, outputs, initializer=list(initializers))
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def info(name, dims, kind=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, kind, dims)


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def test_resnet18_onnx_matches_the_built_in_table(resnet18_onnx):
    layers, skipped = load_onnx(resnet18_onnx)
    assert skipped == []
    imported = [layer for layer in layers if layer.on_accelerator]
    built_in = [layer for layer in workload("resnet18") if layer.on_accelerator]
    assert len(imported) == len(built_in) == 21
    for ours, theirs in zip(imported, built_in):
        assert (ours.shape, ours.groups, ours.macs) == (theirs.shape, theirs.groups,
                                                        theirs.macs), ours.name
    assert sum(layer.macs for layer in imported) / 1e9 == pytest.approx(1.81, abs=0.005)
    host = [layer.op for layer in layers if not layer.on_accelerator]
    assert host.count("add") == 8 and {"maxpool", "avgpool", "flatten"} <= set(host)
    # torchvision's export: every convolution has a folded bias and all but the second of
    # each block (before the residual add) a fused ReLU.
    assert all(layer.post.bias for layer in imported)
    assert [layer.post.relu for layer in imported[:3]] == [True, True, False]


def test_resnet18_onnx_and_built_in_agree_through_peforge_run(resnet18_onnx, tmp_path):
    reports = {}
    for name, source in (("onnx", resnet18_onnx), ("table", "resnet18")):
        done = peforge("run", "--arch", DEFAULT, "--workload", source, "--out", tmp_path / name)
        assert done.returncode == 0, done.stderr
        reports[name] = json.loads((tmp_path / name / "report.json").read_text())
    macs = {name: [layer["macs"] for layer in report["layers"]]
            for name, report in reports.items()}
    assert macs["onnx"] == macs["table"]
    assert reports["onnx"]["totals"]["macs"] == reports["table"]["totals"]["macs"]
    assert len(reports["onnx"]["host_ops"]) == 11


def test_weights_as_inputs_without_initializers(tmp_path):
    """A shape-only graph: the weights are declared inputs with shapes and no values."""
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="dw", group=8,
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Clip", ["a", "zero", ""], ["b"], name="relu6"),
             helper.make_node("Flatten", ["b"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "w2"], ["y"], name="head")]
    path = save(tmp_path, nodes,
                [info("x", [4, 8, 10, 10]), info("w1", [8, 1, 3, 3]), info("w2", [200, 7])],
                [info("y", [4, 7])], [const("zero", np.float32(0))])
    dw, flat, head = load_onnx(path)[0]
    assert (dw.op, dw.groups, dw.shape.n, dw.shape.p, dw.shape.stride) == ("dwconv", 8, 4, 5, 2)
    assert dw.post.relu and not dw.post.bias
    assert flat.op == "flatten"
    assert (head.shape.h, head.shape.c, head.shape.k) == (4, 200, 7)
    assert head.macs == 4 * 200 * 7


def qlinear_conv_graph(tmp_path, x_zero, y_zero, zero_type=TensorProto.INT8):
    nodes = [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                              ["y"], name="qconv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["y"], ["r"], name="relu")]
    zero = np.uint8 if zero_type == TensorProto.UINT8 else np.int8
    inits = [const("xs", np.float32(0.05)), const("xz", zero(x_zero)),
             const("w", np.ones((16, 3, 3, 3), np.int8)), const("ws", np.float32(0.002)),
             const("wz", np.int8(0)), const("ys", np.float32(0.07)), const("yz", zero(y_zero)),
             const("b", np.zeros(16, np.int32))]
    return save(tmp_path, nodes, [info("x", [1, 3, 12, 12], zero_type)],
                [info("r", [1, 16, 12, 12], zero_type)], inits)


def test_qlinearconv_gets_the_hardware_requantization(tmp_path):
    [layer], _ = load_onnx(qlinear_conv_graph(tmp_path, 0, -5))
    assert layer.post.requant == requant(np.float32(0.05), np.float32(0.002),
                                         np.float32(0.07), -5)
    assert layer.post.bias and layer.post.relu
    # Requantized outputs are int8: a quarter of the int32 outputs' DRAM bytes.
    spec = load_spec(DEFAULT)
    [part] = map_grouped_conv(spec, layer.shape, layer.groups, layer.post)
    assert part.mapping.y_row_beats * spec.dram_bus_bytes == 16


def test_uint8_zero_points_shift_to_int8(tmp_path):
    [layer], _ = load_onnx(qlinear_conv_graph(tmp_path, 128, 130, TensorProto.UINT8))
    assert layer.post.requant[2] == 2


def test_nonzero_input_zero_point_falls_back_to_a_neutral_requantization(tmp_path):
    [layer], _ = load_onnx(qlinear_conv_graph(tmp_path, 3, 0))
    assert layer.post.requant == NEUTRAL_REQUANT


def test_qdq_pairs_around_gemm_and_qlinearmatmul(tmp_path):
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s_in", "z"], ["xq"], name="q_in"),
        helper.make_node("DequantizeLinear", ["xq", "s_in", "z"], ["xd"], name="dq_in"),
        helper.make_node("DequantizeLinear", ["w", "s_w", "z"], ["wd"], name="dq_w"),
        helper.make_node("Gemm", ["xd", "wd", "b"], ["g"], name="fc1", transB=1),
        helper.make_node("Relu", ["g"], ["gr"], name="relu"),
        helper.make_node("QuantizeLinear", ["gr", "s_out", "z"], ["gq"], name="q_out"),
        helper.make_node("QLinearMatMul", ["gq", "s_out", "z", "w2", "s_w", "z", "s_y", "z"],
                         ["y"], name="fc2"),
    ]
    inits = [const("s_in", np.float32(0.1)), const("s_w", np.float32(0.01)),
             const("s_out", np.float32(0.3)), const("s_y", np.float32(0.5)),
             const("z", np.int8(0)), const("w", np.ones((20, 12), np.int8)),
             const("b", np.zeros(20, np.float32)), const("w2", np.ones((20, 6), np.int8))]
    path = save(tmp_path, nodes, [info("x", [5, 12])], [info("y", [5, 6], TensorProto.INT8)],
                inits)
    fc1, fc2 = load_onnx(path)[0]
    assert (fc1.shape.h, fc1.shape.c, fc1.shape.k) == (5, 12, 20)
    assert fc1.post.relu and fc1.post.bias
    assert fc1.post.requant == requant(np.float32(0.1), np.float32(0.01), np.float32(0.3))
    assert (fc2.shape.h, fc2.shape.c, fc2.shape.k) == (5, 20, 6)
    assert fc2.post.requant == requant(np.float32(0.3), np.float32(0.01), np.float32(0.5))


def unsupported_graph(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Erf", ["a"], ["b"], name="norm1"),
             helper.make_node("Sign", ["b"], ["c"], name="gate"),
             helper.make_node("Erf", ["c"], ["d"], name="norm2"),
             helper.make_node("Flatten", ["d"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w2"], ["y"], name="fc", transB=1)]
    return save(tmp_path, nodes, [info("x", [1, 4, 6, 6]), info("w", [8, 4, 1, 1]),
                                  info("w2", [10, 288])], [info("y", [1, 10])])


def test_unsupported_operators_are_listed_in_one_line(tmp_path):
    path = unsupported_graph(tmp_path)
    done = peforge("run", "--arch", DEFAULT, "--workload", path, "--out", tmp_path / "out")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "unsupported operators: Erf (norm1, norm2); Sign (gate)" in line
    assert "--skip-unsupported" in line
    assert not (tmp_path / "out").exists()


def test_skip_unsupported_runs_the_rest_and_reports_what_it_skipped(tmp_path):
    path = unsupported_graph(tmp_path)
    done = peforge("run", "--arch", DEFAULT, "--workload", path, "--skip-unsupported",
                   "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [layer["name"] for layer in report["layers"]] == ["conv", "fc"]
    assert report["skipped_ops"] == ["norm1", "gate", "norm2"]
    assert "Skipped operators" in (tmp_path / "out" / "report.md").read_text()


def test_asymmetric_padding_is_refused_naming_the_node(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="odd", kernel_shape=[3, 3],
                              pads=[0, 0, 1, 1])]
    path = save(tmp_path, nodes, [info("x", [1, 4, 6, 6]), info("w", [8, 4, 3, 3])],
                [info("y", [1, 8, 5, 5])])
    with pytest.raises(WorkloadError, match="node odd: strides .* and pads \\[0, 0, 1, 1\\]"):
        load_onnx(path)


def test_a_file_that_is_not_onnx_is_refused_in_one_line(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\xff\x00 not a protobuf \xff" * 10)
    done = peforge("run", "--arch", DEFAULT, "--workload", path, "--out", tmp_path / "out")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert str(path) in line and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.rtl
@pytest.mark.xdist_group("tiny")
def test_quantized_onnx_layer_on_the_rtl_agrees_with_the_model(tmp_path):
    """The RTL backend runs the layer's own bias, requantization and ReLU on generated data,
    checked against the golden model, with the analytical model's cycles and traffic."""
    path = qlinear_conv_graph(tmp_path, 0, -5)
    layers = {}
    for backend in ("rtl", "model"):
        done = peforge("run", "--arch", ROOT / "configs" / "tiny.yaml", "--workload", path,
                       "--backend", backend, "--out", tmp_path / backend)
        assert done.returncode == 0, done.stderr
        [layers[backend]] = json.loads((tmp_path / backend / "report.json").read_text())[
            "layers"]
    for key in ("cycles", "dram_bytes", "glb_accesses", "macs"):
        assert layers["rtl"][key] == layers["model"][key], key
    assert layers["rtl"]["dram_bytes"]["write"] == 12 * 12 * 16      # int8 outputs


def test_host_ops_of_common_cnns_import_without_skipping(tmp_path):
    """Dropout, LRN, Sigmoid, Softmax and a Relu read beside others are host ops."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("LRN", ["a"], ["b"], name="norm", size=3),
             helper.make_node("Add", ["a", "b"], ["c"], name="add"),
             helper.make_node("Relu", ["c"], ["d"], name="relu"),
             helper.make_node("Relu", ["c"], ["d2"], name="relu_too"),
             helper.make_node("Sigmoid", ["d"], ["e"], name="gate"),
             helper.make_node("Dropout", ["e"], ["f"], name="drop"),
             helper.make_node("Flatten", ["f"], ["g"], name="flat"),
             helper.make_node("Gemm", ["g", "w2"], ["h"], name="fc", transB=1),
             helper.make_node("Softmax", ["h"], ["y"], name="softmax")]
    path = save(tmp_path, nodes, [info("x", [1, 4, 6, 6]), info("w", [8, 4, 1, 1]),
                                  info("w2", [10, 288])], [info("y", [1, 10])])
    layers, skipped = load_onnx(path)
    assert skipped == []
    assert [(layer.name, layer.op) for layer in layers] == [
        ("conv", "conv"), ("norm", "lrn"), ("add", "add"), ("relu", "relu"),
        ("relu_too", "relu"),
        ("gate", "sigmoid"), ("drop", "dropout"), ("flat", "flatten"), ("fc", "fc"),
        ("softmax", "softmax")]
