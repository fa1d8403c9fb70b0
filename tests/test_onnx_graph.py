"""ONNX graphs with their own weights on real inputs (scikit-learn's digits): ONNX Runtime's
own int8 model (quantize_static: QDQ, uint8 activations with zero points, int8 weights) gives
the same predictions through the flow; host ops equal ONNX Runtime's; a float graph's
post-training quantization holds its accuracy; each RTL layer equals the golden model."""

import json

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

from models import digits
from models.onnx_graph import (GraphError, golden_step, load_graph, plan_quantization,
                               run_float, run_quantized)
from peforge.cli import main

IR_VERSION = 8        # what onnxruntime reads


def save(nodes, inputs, outputs, initializers, path):
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = IR_VERSION
    onnx.save(model, str(path))
    return path


def image_input(shape=("N", 1, 8, 8)):
    return helper.make_tensor_value_info("image", TensorProto.FLOAT, list(shape))


def digits_graph(path, residual=False):
    """The trained digits CNN (models/digits.npz) as a float ONNX graph; with `residual`, a
    3x3 conv (16 -> 16) and an Add around it after the pool, initialized from conv1's
    filters so that the trained path stays as it was."""
    params = digits.load_params()
    inits = [numpy_helper.from_array(params[name].astype(np.float32), name)
             for name in digits.PARAMETER_SHAPES]

    def conv(name, x):
        return helper.make_node("Conv", [x, f"{name}.weight", f"{name}.bias"], [name],
                                name=name, kernel_shape=[3, 3], pads=[1, 1, 1, 1])

    nodes = [conv("conv1", "image"), helper.make_node("Relu", ["conv1"], ["relu1"], name="r1"),
             helper.make_node("MaxPool", ["relu1"], ["pool"], name="pool", kernel_shape=[2, 2],
                              strides=[2, 2])]
    x = "pool"
    if residual:
        rng = np.random.default_rng(0)
        inits += [numpy_helper.from_array((rng.normal(0, 0.02, (16, 16, 3, 3))).astype(
            np.float32), "res.weight"), numpy_helper.from_array(np.zeros(16, np.float32),
                                                               "res.bias")]
        nodes += [conv("res", "pool"), helper.make_node("Relu", ["res"], ["res_relu"], name="rr"),
                  helper.make_node("Add", ["pool", "res_relu"], ["sum"], name="add")]
        x = "sum"
    nodes += [conv("conv2", x), helper.make_node("Relu", ["conv2"], ["relu2"], name="r2"),
              helper.make_node("Flatten", ["relu2"], ["flat"], name="flatten"),
              helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc",
                               transB=1)]
    return save(nodes, [image_input()],
                [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
                inits, path)


@pytest.fixture(scope="module")
def data():
    split = digits.dataset()
    return ((split.train_x / 16).astype(np.float32), (split.test_x / 16).astype(np.float32),
            split.test_y)


class _Reader(CalibrationDataReader):
    def __init__(self, images):
        self.batches = iter([{"image": images[i:i + 1]} for i in range(len(images))])

    def get_next(self):
        return next(self.batches, None)


def ort_quantized(float_path, calibration, per_channel):
    path = float_path.with_name(f"{float_path.stem}-qdq{'-pc' if per_channel else ''}.onnx")
    quantize_static(str(float_path), str(path), _Reader(calibration),
                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=per_channel)
    return path


def ort_run(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("residual", [False, True])
def test_onnxruntime_int8_predictions_agree(tmp_path, data, per_channel, residual):
    train_x, test_x, test_y = data
    qdq = ort_quantized(digits_graph(tmp_path / "digits.onnx", residual), train_x[:200],
                        per_channel)
    graph = load_graph(qdq)
    steps = plan_quantization(graph)
    assert graph.quantized and len(steps) == 3 + residual
    assert any(step.in_quant.zero != 0 and step.pad > 0 for step in steps.values())
    assert any(step.host_requant is not None for step in steps.values()) == per_channel
    ours = run_quantized(graph, steps, test_x, golden_step)[0]
    theirs = ort_run(qdq, test_x)
    agreement = np.mean(ours.argmax(1) == theirs.argmax(1))
    assert agreement >= 0.99, agreement
    assert np.mean(ours.argmax(1) == test_y) >= 0.95


def test_float_graph_post_training_quantization(tmp_path, data):
    train_x, test_x, test_y = data
    graph = load_graph(digits_graph(tmp_path / "digits.onnx", residual=True))
    floats = run_float(graph, test_x)[0]
    np.testing.assert_allclose(floats, ort_run(graph.path, test_x), rtol=1e-4, atol=1e-4)
    for per_channel in (True, False):
        steps = plan_quantization(graph, train_x[:300], per_channel=per_channel)
        assert all(step.in_quant.zero == -128 for step in steps.values())   # ReLU, pixels >= 0
        ints = run_quantized(graph, steps, test_x, golden_step)[0]
        assert abs(np.mean(ints.argmax(1) == test_y) - np.mean(floats.argmax(1) == test_y)) \
            <= 0.01


HOST_CASES = {
    "Softmax": ([], {"axis": 1}),
    "Dropout": ([], {}),
    "LRN": ([], {"size": 3, "alpha": 1e-2, "beta": 0.75, "bias": 2.0}),
    "Sigmoid": ([], {}),
    "HardSigmoid": ([], {"alpha": 0.3, "beta": 0.4}),
    "HardSwish": ([], {}),
    "Clip": (["lo", "hi"], {}),
    "Mul": (["image"], {}),
    "Concat": (["image"], {"axis": 1}),
    "Pad": (["pads", "", ], {"mode": "reflect"}),
    "Transpose": ([], {"perm": [0, 2, 3, 1]}),
    "Reshape": (["shape"], {}),
    "Unsqueeze": (["axes"], {}),
    "MaxPool": ([], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "AveragePool": ([], {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    "BatchNormalization": (["bn_scale", "bn_bias", "bn_mean", "bn_var"], {"epsilon": 1e-3}),
}
CONSTANTS = {"lo": np.float32(0.1), "hi": np.float32(0.6),
             "pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64),
             "shape": np.array([0, -1, 4], np.int64), "axes": np.array([1], np.int64),
             "bn_scale": np.linspace(0.5, 2, 3).astype(np.float32),
             "bn_bias": np.linspace(-1, 1, 3).astype(np.float32),
             "bn_mean": np.linspace(0.1, 0.3, 3).astype(np.float32),
             "bn_var": np.linspace(1, 3, 3).astype(np.float32)}


@pytest.mark.parametrize("op", HOST_CASES)
def test_host_op_equals_onnxruntime(tmp_path, op):
    extra, attributes = HOST_CASES[op]
    inits = [numpy_helper.from_array(CONSTANTS[name], name) for name in extra
             if name in CONSTANTS]
    node = helper.make_node(op, ["image", *extra], ["out"], name=op, **attributes)
    path = save([node], [image_input(("N", 3, 7, 8))],
                [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits,
                tmp_path / f"{op}.onnx")
    x = np.random.default_rng(2).normal(size=(2, 3, 7, 8)).astype(np.float32)
    np.testing.assert_allclose(run_float(load_graph(path), x)[0], ort_run(path, x),
                               rtol=1e-5, atol=1e-5)


def test_batch_norm_after_conv_is_folded(tmp_path):
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(size=(3, 1, 3, 3)).astype(np.float32), "w")]
    inits += [numpy_helper.from_array(CONSTANTS[n], n)
              for n in ("bn_scale", "bn_bias", "bn_mean", "bn_var")]
    nodes = [helper.make_node("Conv", ["image", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "bn_scale", "bn_bias", "bn_mean",
                                                     "bn_var"], ["out"], name="bn")]
    path = save(nodes, [image_input()],
                [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits,
                tmp_path / "conv_bn.onnx")
    graph = load_graph(path)
    assert [node.op for node in graph.nodes] == ["Conv"]
    x = rng.random((4, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(run_float(graph, x)[0], ort_run(path, x), rtol=1e-4, atol=1e-4)


def test_several_inputs_are_refused(tmp_path):
    node = helper.make_node("Add", ["image", "other"], ["out"], name="add")
    path = save([node], [image_input(), helper.make_tensor_value_info(
        "other", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [],
        tmp_path / "two.onnx")
    with pytest.raises(GraphError, match="the graph has 2 inputs"):
        load_graph(path)


@pytest.mark.rtl
def test_quantized_graph_on_the_rtl_equals_golden(tmp_path, data, arch):
    """The CLI on ONNX Runtime's int8 model: every layer on the RTL checked against the
    golden model (exit 1 otherwise), outputs.npy the golden model's graph outputs."""
    train_x, test_x, test_y = data
    qdq = ort_quantized(digits_graph(tmp_path / "digits.onnx", residual=True), train_x[:100],
                        per_channel=True)
    np.save(tmp_path / "x.npy", test_x[:6])
    np.save(tmp_path / "y.npy", test_y[:6])
    out = tmp_path / "out"
    assert main(["run", "--arch", "configs/tiny.yaml", "--workload", str(qdq), "--inputs",
                 str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--backend",
                 "rtl", "--out", str(out)]) == 0
    graph = load_graph(qdq)
    expected = run_quantized(graph, plan_quantization(graph), test_x[:6],
                             lambda step, x: golden_step(step, x, arch("tiny").acc_bits))[0]
    np.testing.assert_array_equal(np.load(out / "outputs.npy"), expected)
    report = json.loads((out / "report.json").read_text())
    assert [layer["name"] for layer in report["layers"]] == ["conv1", "res", "conv2", "fc"]
    assert "int8_rtl" in report["accuracy"]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, data):
    """A float digits graph, a graph with two inputs, and inputs and labels good and bad."""
    _, test_x, test_y = data
    root = tmp_path_factory.mktemp("cli")
    digits_graph(root / "digits.onnx")
    np.save(root / "x.npy", test_x[:5])
    np.save(root / "y_short.npy", test_y[:4])
    np.save(root / "x_int.npy", (test_x[:5] * 16).astype(np.int64))
    np.save(root / "x_shape.npy", test_x[:5, :, :7, :])
    node = helper.make_node("Add", ["image", "other"], ["out"], name="add")
    save([node], [image_input(), helper.make_tensor_value_info("other", TensorProto.FLOAT,
                                                               ["N", 1, 8, 8])],
         [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, 8, 8])], [],
         root / "two.onnx")
    return root


BAD_RUNS = {
    "dtype": ("digits.onnx", ["--inputs", "x_int.npy"], "--inputs: int64 [5, 1, 8, 8] does "
              "not fit the graph's input 'image', float32 ['N', 1, 8, 8]"),
    "shape": ("digits.onnx", ["--inputs", "x_shape.npy"],
              "--inputs: float32 [5, 1, 7, 8] does not fit"),
    "labels": ("digits.onnx", ["--inputs", "x.npy", "--labels", "y_short.npy"],
               "--labels: 4 labels for 5 inputs"),
    "images": ("digits.onnx", ["--inputs", "x.npy", "--images", "6"],
               "--images must be from 1 to 5, not 6"),
    "two_inputs": ("two.onnx", ["--inputs", "x.npy"],
                   "the graph has 2 inputs (image, other); only graphs with one input run"),
}


@pytest.mark.parametrize("case", BAD_RUNS)
def test_bad_run_input_is_one_line_and_writes_nothing(cli_files, case, capsys):
    workload, extra, message = BAD_RUNS[case]
    args = [str(cli_files / a) if a.endswith(".npy") else a for a in extra]
    out = cli_files / f"out-{case}"
    assert main(["run", "--arch", "configs/default.yaml", "--workload",
                 str(cli_files / workload), *args, "--out", str(out)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("peforge: error: ") and message in line, line
    assert not out.exists()


def test_qlinear_conv_graph_matches_onnxruntime_within_a_step(tmp_path):
    """QuantizeLinear -> QLinearConv (uint8 input with a zero point, per-channel int8
    weights, int32 bias) -> DequantizeLinear: the flow's outputs are ONNX Runtime's, up to
    one quantization step where its float rounding and the hardware's fixed point differ."""
    rng = np.random.default_rng(4)
    w = rng.integers(-127, 128, (6, 3, 3, 3)).astype(np.int8)
    consts = {"x_scale": np.float32(0.02), "x_zero": np.uint8(100),
              "w": w, "w_scale": rng.uniform(0.001, 0.004, 6).astype(np.float32),
              "w_zero": np.zeros(6, np.int8), "y_scale": np.float32(0.05),
              "y_zero": np.uint8(90), "bias": rng.integers(-2000, 2000, 6).astype(np.int32)}
    nodes = [helper.make_node("QuantizeLinear", ["image", "x_scale", "x_zero"], ["xq"],
                              name="quantize"),
             helper.make_node("QLinearConv", ["xq", "x_scale", "x_zero", "w", "w_scale",
                                              "w_zero", "y_scale", "y_zero", "bias"], ["yq"],
                              name="qconv", pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("DequantizeLinear", ["yq", "y_scale", "y_zero"], ["out"],
                              name="dequantize")]
    path = save(nodes, [image_input(("N", 3, 9, 8))],
                [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 6, 5, 4])],
                [numpy_helper.from_array(np.asarray(v), name) for name, v in consts.items()],
                tmp_path / "qlinear.onnx")
    x = rng.uniform(-2, 3, (4, 3, 9, 8)).astype(np.float32)
    graph = load_graph(path)
    steps = plan_quantization(graph)
    [step] = steps.values()
    assert step.in_quant.zero == 100 - 128 and step.pad == 1
    ours = run_quantized(graph, steps, x, golden_step)[0]
    theirs = ort_run(path, x)
    assert np.abs(ours - theirs).max() <= 0.05 + 1e-6
    assert np.mean(ours == theirs) >= 0.95
