"""An ONNX graph with its own weights, run on real inputs: in float, and quantized with the
accelerator's integer layers.

    graph = load_graph("model.onnx")
    plan = plan_quantization(graph, calibration_inputs)     # as the graph says, or PTQ
    floats = run_float(graph, x)
    outputs = run_quantized(graph, plan, x, accelerate)     # accelerate(step, ints) -> ints

Conv, Gemm and MatMul (and their QLinear forms) are accelerator layers; every other operator
is a host op (models/host_ops.py) computed in float on dequantized values, the way ONNX
Runtime's QDQ semantics define them.  A batch normalization right after a Conv (its only
reader) is folded into the Conv's weights and bias at load time.

Quantization (models/quantize.py) follows the graph when it has any: QuantizeLinear /
DequantizeLinear pairs and QLinearConv / QLinearMatMul carry every scale and zero point.
Activations may be uint8 with any zero point: uint8 values are shifted to int8 exactly
(value - 128, zero point - 128), the input's zero point is the convolution's pad value, and
its term (zero point x the sum of each filter's weights) is folded into the int32 bias.
Weights must have zero points of 0, per tensor or per output channel.  A float graph is
quantized post-training: activations asymmetric (scale and zero point from the range seen on
calibration inputs), weights symmetric per output channel (or per tensor).

Requantization: with per-tensor weight scales the post-processor requantizes in hardware;
with per-channel ones the hardware adds the bias (and clamps for a ReLU) and the host
requantizes each channel with the same integer arithmetic, because the post-processor holds
one multiplier per layer (a per-channel multiplier table is a post-processor change).
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from . import golden
from .host_ops import FLOAT_ACCELERATOR_OPS, HOST_OPS, HostOpError
from .mapper import ConvShape, PostProcess, fc_shape
from .quantize import (ActivationQuant, activation_quant, fold_input_zero_point,
                       quantize_multiplier, quantize_weights, requantize_per_channel)
from .workloads import Layer, WorkloadError

ACCELERATOR_OPS = ("Conv", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul")
QUANT_OPS = ("QuantizeLinear", "DequantizeLinear")
ONNX_DTYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.UINT8: np.uint8,
               onnx.TensorProto.INT8: np.int8, onnx.TensorProto.DOUBLE: np.float64,
               onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.INT64: np.int64,
               onnx.TensorProto.INT32: np.int32}


class GraphError(WorkloadError):
    """A graph the flow cannot run, with the reason."""


@dataclass
class Node:
    op: str
    name: str
    inputs: list
    outputs: list
    attributes: dict


@dataclass
class Graph:
    """A loaded graph: nodes in order, constant tensors, its one input and its outputs."""

    path: Path
    nodes: list
    constants: dict
    input_name: str
    input_shape: tuple     # None where a dimension is free (the batch)
    input_dtype: type
    output_names: list

    @property
    def quantized(self):
        """True if the graph carries its own quantization (QDQ or QLinear operators)."""
        return any(node.op in QUANT_OPS or node.op.startswith("QLinear") for node in self.nodes)

    def readers(self, tensor):
        return [node for node in self.nodes if tensor in node.inputs]


@dataclass(frozen=True)
class QTensor:
    """A quantized tensor: int64 values in the signed operand range (uint8 ones shifted by
    -128), a scale and a zero point (per tensor, or per channel along `axis`)."""

    q: np.ndarray
    scale: object
    zero: object
    axis: int = 1

    def floats(self):
        shape = [1] * self.q.ndim
        if np.size(self.scale) > 1:
            shape[self.axis] = -1
        scale, zero = (np.reshape(v, shape) if np.size(v) > 1 else np.reshape(v, ())
                       for v in (self.scale, self.zero))
        return ((self.q - zero) * scale).astype(np.float32)


def floats(value):
    return value.floats() if isinstance(value, QTensor) else value


# Loading.

def _attributes(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def load_graph(path):
    """The graph at `path` with its weights, batch norms folded; GraphError if it cannot
    run (unreadable, several inputs, unsupported operators)."""
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except (OSError, DecodeError) as error:
        raise GraphError(f"{path}: cannot load the ONNX model with its weights "
                         f"({getattr(error, 'strerror', None) or 'the protobuf does not parse'})"
                         ) from None
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise GraphError(f"{path}: the graph has {len(inputs)} inputs "
                         f"({', '.join(i.name for i in inputs)}); only graphs with one input run")
    nodes = []
    for index, node in enumerate(model.graph.node):
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        nodes.append(Node(op, node.name or f"{node.op_type}_{index}", list(node.input),
                          list(node.output), _attributes(node)))
    unsupported = sorted({n.op for n in nodes if n.op not in HOST_OPS and n.op not in
                          (*ACCELERATOR_OPS, *QUANT_OPS, "Constant")})
    if unsupported:
        raise GraphError(f"{path}: unsupported operators: {', '.join(unsupported)}")
    tensor_type = inputs[0].type.tensor_type
    dtype = ONNX_DTYPES.get(tensor_type.elem_type)
    if dtype is None:
        raise GraphError(f"{path}: input {inputs[0].name!r} has an unsupported element type")
    shape = tuple(d.dim_value if d.HasField("dim_value") else None
                  for d in tensor_type.shape.dim)
    graph = Graph(path, nodes, constants, inputs[0].name, shape, dtype,
                  [o.name for o in model.graph.output])
    _fold_batch_norms(graph)
    return graph


def _fold_batch_norms(graph):
    """Fold each BatchNormalization whose input is a float Conv's output (read by nothing
    else) into that Conv's weights and bias."""
    producer = {out: node for node in graph.nodes for out in node.outputs}
    for bn in [n for n in graph.nodes if n.op == "BatchNormalization"]:
        conv = producer.get(bn.inputs[0])
        params = [graph.constants.get(name) for name in bn.inputs[1:5]]
        if conv is None or conv.op != "Conv" or len(graph.readers(bn.inputs[0])) != 1 \
                or any(p is None for p in params) or conv.inputs[1] not in graph.constants:
            continue
        scale, bias, mean, var = (p.astype(np.float64) for p in params)
        factor = scale / np.sqrt(var + bn.attributes.get("epsilon", 1e-5))
        w = graph.constants[conv.inputs[1]]
        b = graph.constants[conv.inputs[2]] if len(conv.inputs) > 2 and conv.inputs[2] \
            else np.zeros(len(w))
        w_name, b_name = f"{conv.name}.folded_weight", f"{conv.name}.folded_bias"
        graph.constants[w_name] = (w * factor[:, None, None, None]).astype(np.float32)
        graph.constants[b_name] = ((b - mean) * factor + bias).astype(np.float32)
        conv.inputs = [conv.inputs[0], w_name, b_name]
        conv.outputs = [bn.outputs[0]]
        graph.nodes.remove(bn)


# The accelerator steps.

@dataclass
class AcceleratorStep:
    """One accelerator layer of a quantized graph: the hardware's part (int weights, int32
    bias with the input zero point folded in, pad value, post-processing) and the host's
    (the input quantization, per-channel requantization or dequantization after it)."""

    name: str
    op: str                       # "conv" or "fc"
    input: str
    output: str                   # the tensor it produces (after a fused ReLU / Quantize)
    skipped: tuple                # the nodes fused into it
    weights: np.ndarray
    bias: np.ndarray
    in_quant: ActivationQuant
    weight_scales: np.ndarray     # per output channel
    out_quant: ActivationQuant | None
    relu: bool
    stride: int = 1
    pad: int = 0
    groups: int = 1
    requant: tuple | None = None  # in hardware (per-tensor weight scales)
    host_requant: list | None = None  # per channel on the host: [(mult, shift)]

    def layer(self, x_shape):
        """The Layer the hardware runs for an input of `x_shape`."""
        post = PostProcess(True, self.requant, self.relu)
        if self.op == "fc":
            return Layer(self.name, "fc", fc_shape(int(np.prod(x_shape[:-1])), x_shape[-1],
                                                   len(self.weights)), post=post)
        n, c, h, w = x_shape
        k, _, r, s = self.weights.shape
        op = "dwconv" if self.groups > 1 and self.groups == c == k else "conv"
        return Layer(self.name, op, ConvShape(n, c, h, w, k, r, s, self.stride, self.pad,
                                              self.in_quant.zero), self.groups, post)


def golden_step(step, x, acc_bits=32, operand_bits=8):
    """The hardware part of `step` on int input `x`, exactly (models.golden)."""
    if step.op == "fc":
        acc = golden.fc(x, step.weights, acc_bits)
    else:
        acc = golden.conv2d(x, step.weights, step.stride, step.pad, step.groups, acc_bits,
                            pad_value=step.in_quant.zero)
    return golden.postprocess(acc, step.bias, step.requant, step.relu, operand_bits)


def _conv_geometry(node, fail):
    a = node.attributes
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        fail(f"dilations {a['dilations']} are not supported (only 1)")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
        fail("auto_pad is not supported (give explicit pads)")
    strides, pads = a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])
    if len(set(strides)) != 1 or len(set(pads)) != 1:
        fail(f"strides {strides} and pads {pads} must be the same on every side")
    return strides[0], pads[0], a.get("group", 1)


class _Planner:
    """Finds each accelerator layer's operands and quantization in the graph."""

    def __init__(self, graph, bits, tensor_quant=None, per_channel=True, ranges=None,
                 acc_bits=32):
        self.graph, self.bits = graph, bits
        self.tensor_quant = tensor_quant      # float graphs: tensor -> ActivationQuant
        self.per_channel = per_channel
        self.ranges, self.acc_bits = ranges, acc_bits   # float graphs: calibration ranges
        self.producer = {out: node for node in graph.nodes for out in node.outputs}

    def fail(self, node, message):
        raise GraphError(f"{self.graph.path}: node {node.name}: {message}")

    def const(self, name):
        return self.graph.constants.get(name)

    def dq_source(self, tensor):
        """(values, scale, zero, axis) of a DequantizeLinear output, else None."""
        node = self.producer.get(tensor)
        if node is None or node.op != "DequantizeLinear":
            return None
        scale = self.const(node.inputs[1])
        zero = self.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else \
            np.zeros((), np.int64)
        return node, scale, zero, node.attributes.get("axis", 1)

    def activation(self, node, scale, zero):
        if scale is None or zero is None or np.size(scale) != 1 or np.size(zero) != 1:
            self.fail(node, "activation scales and zero points must be per-tensor constants")
        shift = 128 if zero.dtype == np.uint8 else 0
        return ActivationQuant(float(scale), int(zero) - shift)

    def plan(self):
        steps = {}
        for node in self.graph.nodes:
            if node.op in ("Conv", "Gemm", "MatMul"):
                steps[node.name] = self.float_form(node)
            elif node.op in ("QLinearConv", "QLinearMatMul"):
                steps[node.name] = self.qlinear_form(node)
        return steps

    def fused_output(self, node, out):
        """(tensor the step produces, relu, fused node names) following a lone Relu."""
        skipped, relu = [], False
        readers = self.graph.readers(out)
        if len(readers) == 1 and readers[0].op == "Relu" and out not in self.graph.output_names:
            relu, out = True, readers[0].outputs[0]
            skipped.append(readers[0].name)
        return out, relu, skipped

    def float_form(self, node):
        """Conv / Gemm / MatMul: QDQ operands, or float ones to quantize post-training."""
        x_name, w_name = node.inputs[0], node.inputs[1]
        b_name = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        if node.op == "Gemm":
            a = node.attributes
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                self.fail(node, "Gemm with transA, alpha or beta other than 1 is not supported")
        out, relu, skipped = self.fused_output(node, node.outputs[0])
        if self.graph.quantized:
            in_quant, weights, w_scale, bias = self.qdq_operands(node, x_name, w_name, b_name)
            out_quant, out, skipped = self.quantize_after(out, skipped, node)
        else:
            weights = self.const(w_name)
            if weights is None:
                self.fail(node, f"weights {w_name!r} are not a constant")
            in_quant = self.tensor_quant[x_name]
            peak = max(abs(v) for v in self.ranges[node.outputs[0]])
            weights, w_scale = quantize_weights(
                self._kc(node, weights), self.bits, self.per_channel,
                min_scale=peak / in_quant.scale / 2 ** (self.acc_bits - 2))
            bias = None if b_name is None else self.const(b_name)
            out_quant = None if out in self.graph.output_names else self.tensor_quant[out]
        return self.build(node, x_name, out, skipped, weights, w_scale, bias, in_quant,
                          out_quant, relu)

    def qdq_operands(self, node, x_name, w_name, b_name):
        """(input quantization, int weights, weight scales, float bias) from the
        DequantizeLinear nodes before a layer of a QDQ graph."""
        x_dq, w_dq = self.dq_source(x_name), self.dq_source(w_name)
        if x_dq is None or w_dq is None:
            self.fail(node, "in a quantized graph, an accelerator layer's input and weights "
                            "must come from DequantizeLinear")
        w_node, w_scale, w_zero, _ = w_dq
        weights = self.const(w_node.inputs[0])
        if weights is None or weights.dtype != np.int8 or np.any(w_zero):
            self.fail(node, f"weights {w_node.inputs[0]!r} must be int8 constants with zero "
                            f"points of 0 (symmetric)")
        bias = None
        if b_name is not None:
            b_dq = self.dq_source(b_name)
            bias = self.const(b_name) if b_dq is None else QTensor(
                self.const(b_dq[0].inputs[0]).astype(np.int64), b_dq[1], b_dq[2], 0).floats()
        return (self.activation(node, x_dq[1], x_dq[2]),
                self._kc(node, weights.astype(np.int64)), np.asarray(w_scale, np.float64), bias)

    @staticmethod
    def _kc(node, weights):
        """Weights as the hardware takes them: KCRS for a conv, K x C for fc."""
        if node.op == "Conv" or weights.ndim == 4:
            return weights
        transposed = node.op == "Gemm" and node.attributes.get("transB", 0)
        return weights if transposed else weights.T

    def quantize_after(self, out, skipped, node):
        """A QuantizeLinear that alone reads `out` becomes the layer's requantization."""
        readers = self.graph.readers(out)
        if len(readers) == 1 and readers[0].op == "QuantizeLinear" \
                and out not in self.graph.output_names:
            q = readers[0]
            zero = self.const(q.inputs[2]) if len(q.inputs) > 2 and q.inputs[2] else \
                np.zeros((), np.uint8)
            return (self.activation(node, self.const(q.inputs[1]), zero), q.outputs[0],
                    [*skipped, q.name])
        return None, out, skipped

    def qlinear_form(self, node):
        """QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B) and
        QLinearMatMul (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp)."""
        c = [self.const(name) if name else None for name in node.inputs]
        in_quant = self.activation(node, c[1], c[2])
        out_quant = self.activation(node, c[6], c[7])
        if c[3] is None or np.any(c[5]):
            self.fail(node, "weights must be constants with zero points of 0")
        if c[3].dtype == np.uint8:
            self.fail(node, "weights must be int8")
        w_scale = np.asarray(c[4], np.float64)
        weights = c[3].astype(np.int64) if node.op == "QLinearConv" else c[3].astype(np.int64).T
        bias = None
        if node.op == "QLinearConv" and len(c) > 8 and c[8] is not None:
            bias = c[8] * in_quant.scale * np.broadcast_to(w_scale, (len(weights),))
        out, relu, skipped = node.outputs[0], False, []
        conv_like = replace(node, op="Conv" if node.op == "QLinearConv" else "MatMul")
        return self.build(conv_like, node.inputs[0], out, skipped, weights, w_scale, bias,
                          in_quant, out_quant, relu)

    def build(self, node, x_name, out, skipped, weights, w_scale, bias, in_quant, out_quant,
              relu):
        k = len(weights)
        w_scale = np.broadcast_to(np.asarray(w_scale, np.float64).reshape(-1), (k,)).copy()
        if node.op == "Conv":
            stride, pad, groups = _conv_geometry(node, lambda m: self.fail(node, m))
        else:
            stride, pad, groups = 1, 0, 1
        try:
            bias_int = fold_input_zero_point(bias, weights, in_quant, w_scale)
            requant, host = None, None
            if out_quant is not None:
                reals = in_quant.scale * w_scale / out_quant.scale
                if np.all(reals == reals[0]):
                    requant = (*quantize_multiplier(float(reals[0])), out_quant.zero)
                else:
                    host = [quantize_multiplier(float(v)) for v in reals]
        except ValueError as error:
            self.fail(node, str(error))
        return AcceleratorStep(node.name, "conv" if node.op == "Conv" else "fc", x_name, out,
                               tuple(skipped), weights, bias_int, in_quant, w_scale, out_quant,
                               relu, stride, pad, groups, requant, host)


# Running.

def _run_host(node, env):
    try:
        outputs = HOST_OPS[node.op]([None if not name else floats(env[name])
                                     for name in node.inputs], node.attributes)
    except HostOpError as error:
        raise GraphError(f"node {node.name} ({node.op}): {error}") from None
    for name, value in zip(node.outputs, outputs):
        env[name] = value


def _quantize_linear(node, env, constants, bits=8):
    x = floats(env[node.inputs[0]])
    scale = constants[node.inputs[1]]
    zero = constants.get(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else \
        np.zeros((), np.uint8)
    shift = 128 if zero.dtype == np.uint8 else 0
    quant = ActivationQuant(float(scale), int(zero) - shift)
    env[node.outputs[0]] = QTensor(quant.quantize(x, bits), quant.scale, quant.zero)


def _dequantize_linear(node, env, constants):
    value = env[node.inputs[0]]
    if not isinstance(value, QTensor):
        scale = constants[node.inputs[1]]
        zero = constants.get(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] \
            else np.zeros((), value.dtype)
        shift = 128 if value.dtype == np.uint8 else 0
        value = QTensor(value.astype(np.int64) - shift, scale,
                        np.asarray(zero).astype(np.int64) - shift,
                        node.attributes.get("axis", 1))
    env[node.outputs[0]] = value


def _start(graph, x):
    env = dict(graph.constants)
    env[graph.input_name] = x
    return env


def run_float(graph, x, observe=None):
    """The graph's outputs for input `x` in float (quantize / dequantize nodes as ONNX
    defines them); `observe(tensor, value)` sees every tensor computed."""
    env = _start(graph, x)
    for node in graph.nodes:
        if node.op == "QuantizeLinear":
            _quantize_linear(node, env, graph.constants)
        elif node.op == "DequantizeLinear":
            _dequantize_linear(node, env, graph.constants)
        elif node.op == "Constant":
            env[node.outputs[0]] = numpy_helper.to_array(node.attributes["value"])
        elif node.op in ("QLinearConv", "QLinearMatMul"):
            raise GraphError(f"node {node.name}: {node.op} has no float form here")
        elif node.op in FLOAT_ACCELERATOR_OPS:
            inputs = [floats(env[name]) if name else None for name in node.inputs]
            env[node.outputs[0]] = FLOAT_ACCELERATOR_OPS[node.op](
                inputs, node.attributes)[0].astype(np.float32)
        else:
            _run_host(node, env)
        if observe is not None:
            for name in node.outputs:
                observe(name, floats(env[name]))
    return [floats(env[name]) for name in graph.output_names]


def _step_input(step, value, bits):
    """The int input of `step`: a quantized tensor of the step's parameters as it is, any
    other value quantized on the host."""
    if isinstance(value, QTensor) and np.ndim(value.scale) == 0 \
            and float(value.scale) == step.in_quant.scale and int(value.zero) == step.in_quant.zero:
        x = value.q
    else:
        x = step.in_quant.quantize(floats(value), bits)
    if step.op == "fc":
        x = x.reshape(-1, x.shape[-1])
    return x


def _step_output(step, y, x_shape, bits):
    """The value a step leaves in the graph, from the hardware's int output `y`."""
    if step.host_requant is not None:
        y = requantize_per_channel(y, step.host_requant, step.out_quant.zero, step.relu, bits)
    if step.out_quant is not None:
        value = QTensor(y.astype(np.int64), step.out_quant.scale, step.out_quant.zero)
    else:
        scales = step.in_quant.scale * step.weight_scales
        value = QTensor(y.astype(np.int64), scales, np.zeros(len(scales), np.int64)).floats()
    if step.op == "fc" and len(x_shape) > 2:
        return floats(value).reshape(*x_shape[:-1], -1)
    return value


def run_quantized(graph, steps, x, accelerate, bits=8):
    """The graph's outputs for input `x` with every accelerator layer in integers through
    `accelerate(step, int_input)` (the hardware's int output); host ops between them."""
    env = _start(graph, x)
    fused = {name for step in steps.values() for name in step.skipped}
    for node in graph.nodes:
        if node.name in fused:
            continue
        step = steps.get(node.name)
        if step is not None:
            value = env[step.input]
            x_int = _step_input(step, value, bits)
            shape = value.q.shape if isinstance(value, QTensor) else np.shape(value)
            env[step.output] = _step_output(step, np.asarray(accelerate(step, x_int)), shape,
                                            bits)
        elif node.op == "QuantizeLinear":
            _quantize_linear(node, env, graph.constants, bits)
        elif node.op == "DequantizeLinear":
            _dequantize_linear(node, env, graph.constants)
        elif node.op == "Constant":
            env[node.outputs[0]] = numpy_helper.to_array(node.attributes["value"])
        else:
            _run_host(node, env)
    return [floats(env[name]) for name in graph.output_names]


def calibrate(graph, inputs, batch=500):
    """(min, max) of every tensor of the float graph over `inputs`."""
    ranges = {}

    def observe(name, value):
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
            low, high = float(value.min()), float(value.max())
            old = ranges.get(name, (low, high))
            ranges[name] = (min(old[0], low), max(old[1], high))

    for first in range(0, len(inputs), batch):
        run_float(graph, inputs[first:first + batch], observe)
    return ranges


def plan_quantization(graph, calibration=None, bits=8, per_channel=True, acc_bits=32):
    """{node name: AcceleratorStep}: the graph's own quantization, or (a float graph)
    post-training quantization calibrated on `calibration` inputs, each layer's weight scale
    large enough that its calibrated outputs fit the accumulator with a bit to spare (which
    only 16-bit operands need)."""
    if graph.quantized:
        if bits != 8:
            raise GraphError(f"{graph.path}: the graph is quantized to 8 bits; the "
                             f"architecture's operands are {bits}-bit")
        return _Planner(graph, bits).plan()
    ranges = calibrate(graph, calibration)
    ranges[graph.input_name] = (float(np.min(calibration)), float(np.max(calibration)))
    quant = {name: activation_quant(low, high, bits) for name, (low, high) in ranges.items()}
    return _Planner(graph, bits, quant, per_channel, ranges, acc_bits).plan()


def scheme(graph, steps, per_channel=True):
    """One line saying which quantization ran."""
    channelwise = any(step.host_requant is not None for step in steps.values()) or any(
        len(set(step.weight_scales)) > 1 for step in steps.values())
    weights = "per-channel" if channelwise else "per-tensor"
    if graph.quantized:
        return (f"the graph's own quantization (QDQ / QLinear): activations with their scales "
                f"and zero points, {weights} symmetric weights")
    return (f"post-training: asymmetric activations from calibration ranges, "
            f"{'per-channel' if per_channel else 'per-tensor'} symmetric weights")
