"""Write ResNet-18 as an ONNX graph the way torchvision's export lays it out, shapes only.

    python examples/make_resnet18_onnx.py OUT.onnx

The nodes are those of `torch.onnx.export(torchvision.models.resnet18(), ...)` in eval mode
(batch norm folded into each convolution's bias): Conv, Relu, MaxPool, Add,
GlobalAveragePool, Flatten and Gemm, with torchvision's names, for one 3x224x224 image.  The
weights are initializers stored as external data in `resnet18.weights`, a file this script
does not write: the graph carries every shape and no weights (torch is not needed).
"""

import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OPSET = 17
WEIGHTS_FILE = "resnet18.weights"


class _Graph:
    """Collects nodes and external-data initializers while the network is written down."""

    def __init__(self):
        self.nodes, self.initializers, self.offset = [], [], 0

    def weight(self, name, dims):
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims,
                             data_location=TensorProto.EXTERNAL)
        length = 4
        for dim in dims:
            length *= dim
        for key, value in (("location", WEIGHTS_FILE), ("offset", self.offset),
                           ("length", length)):
            tensor.external_data.add(key=key, value=str(value))
        self.offset += length
        self.initializers.append(tensor)
        return name

    def node(self, op, scope, inputs, **attributes):
        output = f"/{scope}/{op}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"/{scope}/{op}",
                                           **attributes))
        return output

    def conv(self, x, scope, module, c, k, r, stride=1, pad=None):
        pad = r // 2 if pad is None else pad
        return self.node("Conv", scope, [x, self.weight(f"{module}.weight", [k, c, r, r]),
                                         self.weight(f"{module}.bias", [k])],
                         kernel_shape=[r, r], strides=[stride, stride], pads=[pad] * 4,
                         dilations=[1, 1], group=1)


def resnet18_model():
    """ResNet-18 (torchvision's layout) as an onnx ModelProto, shapes only."""
    g = _Graph()
    x = g.conv("input", "conv1", "conv1", 3, 64, 7, stride=2, pad=3)
    x = g.node("Relu", "relu", [x])
    x = g.node("MaxPool", "maxpool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
    channels = 64
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            module = f"layer{stage}.{block}"
            scope = f"layer{stage}/{module}"
            y = g.conv(x, f"{scope}/conv1", f"{module}.conv1", channels, width, 3, stride)
            y = g.node("Relu", f"{scope}/relu", [y])
            y = g.conv(y, f"{scope}/conv2", f"{module}.conv2", width, width, 3)
            if stride != 1 or channels != width:
                x = g.conv(x, f"{scope}/downsample/downsample.0", f"{module}.downsample.0",
                           channels, width, 1, stride, pad=0)
            y = g.node("Add", f"{scope}/add", [y, x])
            x = g.node("Relu", f"{scope}/relu_1", [y])
            channels = width
    x = g.node("GlobalAveragePool", "avgpool", [x])
    x = g.node("Flatten", "flatten", [x], axis=1)
    g.nodes.append(helper.make_node(
        "Gemm", [x, g.weight("fc.weight", [1000, 512]), g.weight("fc.bias", [1000])],
        ["output"], name="/fc/Gemm", alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(
        g.nodes, "resnet18",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1000])],
        initializer=g.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="peforge examples/make_resnet18_onnx.py")


def main(path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(resnet18_model(), str(path))
    print(f"wrote {path} (weights in the absent external file {WEIGHTS_FILE})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/resnet18.onnx")
