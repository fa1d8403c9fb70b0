"""ONNX graphs as workloads: the layers the accelerator runs, and the host ops between them.

    layers, skipped = load_onnx("resnet18.onnx")

Conv (any group), Gemm, MatMul, QLinearConv and QLinearMatMul become accelerator layers, and so
do Conv / Gemm / MatMul between QuantizeLinear-DequantizeLinear pairs (the QDQ form).  Relu, and
Clip with a lower bound of 0 (its upper bound is left to the requantizer's saturation), fuse
into the post-processing of the layer before them, as does a bias; elsewhere they are host
ops, like every operator of models/host_ops.py (pooling, Add, Softmax, Dropout, ...).
Constant nodes only hold values.  models/onnx_graph.py runs a graph with its weights.
Every other operator is refused in one message naming all of them, or skipped on request.

Tensor shapes come from ONNX shape inference.  Weights are never needed: a graph without
initializers (weights as shaped inputs), or whose weights live in external-data files that are
missing, still gives every layer's shape.  A quantized layer gets the post-processor's
(multiplier, shift, zero point) from its scales when they are present, per tensor and with zero
input and weight zero points; otherwise a neutral requantization stands in, so its outputs are
still int8 for the traffic estimates.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper
from onnx.external_data_helper import load_external_data_for_tensor

from .host_ops import HOST_OPS as GRAPH_HOST_OPS
from .mapper import ConvShape, PostProcess, fc_shape
from .quantize import requant
from .workloads import Layer, WorkloadError

ACCELERATOR_OPS = ("Conv", "QLinearConv", "Gemm", "MatMul", "QLinearMatMul")
FUSED_OPS = ("Relu", "Clip")
VALUE_OPS = ("QuantizeLinear", "DequantizeLinear", "Constant")
"""Nodes that only carry values: quantization scales and constants."""
HOST_OPS = {**{op: op.lower() for op in GRAPH_HOST_OPS if op not in FUSED_OPS},
            "MaxPool": "maxpool", "AveragePool": "avgpool", "GlobalAveragePool": "avgpool"}
"""Host ops by ONNX name: every operator models.host_ops runs (Relu and Clip fuse into the
layer before them where they can, and are host ops elsewhere)."""
SUPPORTED_OPS = frozenset((*ACCELERATOR_OPS, *FUSED_OPS, *VALUE_OPS, *HOST_OPS))
NEUTRAL_REQUANT = (1 << 30, 30, 0)
"""A scale of exactly 1: stands in where a quantized layer's own scales are unknown."""


def load_onnx(path, skip_unsupported=False):
    """The layers of the ONNX graph at `path` and the names of the nodes skipped (only with
    `skip_unsupported`); raises WorkloadError naming the file and the problem."""
    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except OSError as error:
        raise WorkloadError(f"{path}: cannot read ONNX file ({error.strerror})") from None
    except DecodeError:
        raise WorkloadError(f"{path}: not an ONNX model (the protobuf does not parse)") from None
    if not model.graph.node:
        raise WorkloadError(f"{path}: not an ONNX model with a graph (no nodes)")
    unsupported = _unsupported(model.graph)
    if unsupported and not skip_unsupported:
        listed = "; ".join(f"{op} ({', '.join(names)})" for op, names in unsupported.items())
        raise WorkloadError(f"{path}: unsupported operators: {listed}; "
                            f"--skip-unsupported skips them")
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as error:
        first = str(error).strip().splitlines()[0]
        raise WorkloadError(f"{path}: ONNX shape inference failed ({first})") from None
    return _Importer(model, path).run()


def _node_name(node, index):
    return node.name or f"{node.op_type}_{index}"


def _unsupported(graph):
    """{operator: [node names]} of the operators no part of the flow handles."""
    found = {}
    for index, node in enumerate(graph.node):
        if node.op_type not in SUPPORTED_OPS:
            found.setdefault(node.op_type, []).append(_node_name(node, index))
    return found


def _attributes(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _Importer:
    """Walks the (topologically sorted) nodes once, building layers and fusing into them."""

    def __init__(self, model, path):
        graph = model.graph
        self.path = path
        self.initializers = {t.name: t for t in graph.initializer}
        self.constants = {}
        self.shapes = {t.name: tuple(t.dims) for t in graph.initializer}
        for info in (*graph.input, *graph.value_info, *graph.output):
            dims = info.type.tensor_type.shape.dim
            self.shapes.setdefault(info.name, tuple(
                d.dim_value if d.HasField("dim_value") else None for d in dims))
        self.readers = {}
        for node in graph.node:
            for name in node.input:
                self.readers[name] = self.readers.get(name, 0) + 1
        self.nodes = graph.node
        self.layers, self.skipped = [], []
        self.producer = {}       # tensor -> index of the layer whose output it is
        self.dequantized = {}    # DequantizeLinear output -> (scale, zero point)
        self.input_scales = {}   # QDQ layer index -> input scale * weight scale, or None

    def fail(self, node, message):
        raise WorkloadError(f"{self.path}: node {node.name or node.op_type}: {message}")

    def run(self):
        for index, node in enumerate(self.nodes):
            name = _node_name(node, index)
            if node.op_type not in SUPPORTED_OPS:
                self.skipped.append(name)
            elif node.op_type in ("Conv", "QLinearConv"):
                self.conv(node, name)
            elif node.op_type in ("Gemm", "MatMul", "QLinearMatMul"):
                self.matmul(node, name)
            elif node.op_type in FUSED_OPS:
                self.relu(node, name)
            elif node.op_type in HOST_OPS:
                self.add_layer(node, Layer(name, HOST_OPS[node.op_type]))
            else:
                getattr(self, node.op_type.lower())(node)
        if not any(layer.on_accelerator for layer in self.layers):
            raise WorkloadError(f"{self.path}: no layer runs on the accelerator (no Conv, "
                                f"Gemm or MatMul)")
        return self.layers, self.skipped

    # Values and shapes.

    def value(self, name):
        """The constant tensor `name` as an array, or None when it is not available (an
        activation, a weight declared as an input, or external data that is missing)."""
        if name in self.constants:
            return self.constants[name]
        tensor = self.initializers.get(name)
        if tensor is None:
            return None
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            location = {e.key: e.value for e in tensor.external_data}.get("location", "")
            if not (self.path.parent / location).is_file():
                return None
            load_external_data_for_tensor(tensor, str(self.path.parent))
        return numpy_helper.to_array(tensor)

    def shape(self, node, name, rank=None):
        """The inferred shape of tensor `name`; an unknown batch dimension counts as 1."""
        shape = self.shapes.get(name)
        if shape is None or None in shape[1:]:
            self.fail(node, f"the shape of tensor {name!r} is unknown after shape inference")
        shape = (shape[0] or 1, *shape[1:])
        if rank is not None and len(shape) != rank:
            self.fail(node, f"tensor {name!r} has shape {list(shape)}, not rank {rank}")
        return shape

    def add_layer(self, node, layer):
        self.layers.append(layer)
        self.producer[node.output[0]] = len(self.layers) - 1
        return len(self.layers) - 1

    # Accelerator layers.

    def conv(self, node, name):
        quantized = node.op_type == "QLinearConv"
        x_name, w_name = node.input[0], node.input[3 if quantized else 1]
        n, c, h, w = self.shape(node, x_name, rank=4)
        k, cg, r, s = self.shape(node, w_name, rank=4)
        a = _attributes(node)
        groups = a.get("group", 1)
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.fail(node, f"dilations {a['dilations']} are not supported (only 1)")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
            self.fail(node, f"auto_pad {a['auto_pad'].decode()} is not supported "
                            f"(give explicit pads)")
        strides, pads = a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])
        if len(set(strides)) != 1 or len(set(pads)) != 1:
            self.fail(node, f"strides {strides} and pads {pads} must be the same on every "
                            f"side")
        if cg * groups != c:
            self.fail(node, f"weights {[k, cg, r, s]} with group={groups} do not fit "
                            f"{c} input channels")
        shape = ConvShape(n, c, h, w, k, r, s, strides[0], pads[0])
        bias_index = 8 if quantized else 2
        op = "dwconv" if groups > 1 and groups == c == k else "conv"
        index = self.add_layer(node, Layer(name, op, shape, groups, PostProcess(
            bias=len(node.input) > bias_index and bool(node.input[bias_index]),
            requant=self.qlinear_requant(node) if quantized else None)))
        self.note_qdq(index, x_name, w_name)

    def matmul(self, node, name):
        quantized = node.op_type == "QLinearMatMul"
        a_name, b_name = node.input[0], node.input[3 if quantized else 1]
        a_shape = self.shape(node, a_name)
        b_shape = self.shape(node, b_name, rank=2)
        attributes = _attributes(node) if node.op_type == "Gemm" else {}
        if attributes.get("transA", 0):
            a_shape = a_shape[::-1]
        if attributes.get("transB", 0):
            b_shape = b_shape[::-1]
        if len(a_shape) < 2 or a_shape[-1] != b_shape[0]:
            self.fail(node, f"inputs of shapes {list(a_shape)} and {list(b_shape)} do not "
                            f"multiply")
        m = int(np.prod(a_shape[:-1]))
        bias = node.op_type == "Gemm" and len(node.input) > 2 and bool(node.input[2])
        index = self.add_layer(node, Layer(name, "fc", fc_shape(m, b_shape[0], b_shape[1]),
                                           post=PostProcess(bias=bias, requant=self.qlinear_requant(
                                               node) if quantized else None)))
        self.note_qdq(index, a_name, b_name)

    def scale_and_zero(self, node, scale_index):
        """(scale, zero point) of the quantization whose scale is input `scale_index` and
        zero point the next input (absent: 0); None where a value is not available.  A uint8
        zero point becomes the int8 one of the same values shifted by -128."""
        scale = self.value(node.input[scale_index])
        if len(node.input) <= scale_index + 1 or not node.input[scale_index + 1]:
            return scale, np.zeros(1, dtype=np.int64)
        zero = self.value(node.input[scale_index + 1])
        if zero is not None and zero.dtype == np.uint8:
            zero = zero.astype(np.int64) - 128
        return scale, zero

    def qlinear_requant(self, node):
        """(mult, shift, zero point) of a QLinearConv / QLinearMatMul from its scales."""
        return self.exact_requant(*(self.scale_and_zero(node, i) for i in (1, 4, 6)))

    @staticmethod
    def exact_requant(x, w, y):
        """The hardware's requantization for input, weight and output (scale, zero point)
        if all are known and per tensor, and the input and weight zero points are 0; else
        NEUTRAL_REQUANT."""
        values = (*x, *w, *y)
        if any(v is None or np.size(v) != 1 for v in values) or np.any(x[1]) or np.any(w[1]):
            return NEUTRAL_REQUANT
        return requant(float(x[0]), float(w[0]), float(y[0]), int(y[1]))

    def note_qdq(self, index, x_name, w_name):
        """Remember a layer whose input and weights come from DequantizeLinear: its outputs
        are requantized by the QuantizeLinear that follows."""
        if x_name in self.dequantized and w_name in self.dequantized:
            self.input_scales[index] = (self.dequantized[x_name], self.dequantized[w_name])

    # Fused and quantization nodes.

    def relu(self, node, name):
        """Fuse a Relu (or a Clip from 0) into the layer whose output only it reads (a host
        layer's too: a residual add and its ReLU are one host op); otherwise a host op."""
        index = self.producer.get(node.input[0])
        layer = None if index is None else self.layers[index]
        low = 0
        if node.op_type == "Clip":
            low = self.value(node.input[1]) if len(node.input) > 1 and node.input[1] \
                else _attributes(node).get("min")
        if layer is None or self.readers.get(node.input[0], 0) > 1 or low is None \
                or float(low) != 0:
            self.add_layer(node, Layer(name, node.op_type.lower()))
            return
        self.layers[index] = replace(layer, post=replace(layer.post, relu=True))
        self.producer[node.output[0]] = index

    def dequantizelinear(self, node):
        self.dequantized[node.output[0]] = self.scale_and_zero(node, 1)
        if node.input[0] in self.producer:
            self.producer[node.output[0]] = self.producer[node.input[0]]

    def quantizelinear(self, node):
        index = self.producer.get(node.input[0])
        if index is None:
            return
        self.producer[node.output[0]] = index
        if index in self.input_scales and self.layers[index].post.requant is None:
            layer = self.layers[index]
            self.layers[index] = replace(layer, post=replace(layer.post, requant=(
                self.exact_requant(*self.input_scales[index], self.scale_and_zero(node, 1)))))

    def constant(self, node):
        attributes = _attributes(node)
        if "value" in attributes:
            self.constants[node.output[0]] = numpy_helper.to_array(attributes["value"])
