"""Train the Fashion-MNIST ResNet-style CNN and write it as ONNX (models/fashion_mnist.onnx).

    /tmp/torchenv/bin/python examples/train_fashion_mnist.py [OUT.onnx]

Needs PyTorch (a Python 3.11 virtual environment of its own, used for this script only:
`python3.11 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 onnx numpy`)
and the Debian package dataset-fashion-mnist.  Seeded; a rerun writes the same weights up to the
floating-point summation order of the CPU's threads (about 10 minutes an epoch on two busy
cores).

    stem    conv 3x3 / 2, 1 -> 16, batch norm, ReLU               14 x 14
    stage1  residual block, 16 channels                           14 x 14
    stage2  residual block, 16 -> 32, stride 2 (1x1 shortcut)      7 x 7
    stage3  residual block, 32 -> 64, stride 2 (1x1 shortcut)      4 x 4
    global average pool, fully connected 64 -> 10                 logits

A block is conv 3x3 - BN - ReLU - conv 3x3 - BN, plus the shortcut, then ReLU.  The ONNX graph
has every batch norm folded into the convolution before it (Conv, Relu, Add,
GlobalAveragePool, Flatten, Gemm), float32 weights.
"""

import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models import fashion_mnist  # noqa: E402  (the repository's loader, pure NumPy)

SEED = 11
EPOCHS = 3
BATCH = 128
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 5e-4
WIDTHS = (16, 32, 64)
OPSET = 13


def conv_bn(c, k, r, stride):
    return nn.Sequential(nn.Conv2d(c, k, r, stride, r // 2, bias=False), nn.BatchNorm2d(k))


class Block(nn.Module):
    def __init__(self, c, k, stride):
        super().__init__()
        self.a = conv_bn(c, k, 3, stride)
        self.b = conv_bn(k, k, 3, 1)
        self.shortcut = conv_bn(c, k, 1, stride) if stride != 1 or c != k else None

    def forward(self, x):
        y = self.b(torch.relu(self.a(x)))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        w1, w2, w3 = WIDTHS
        self.stem = conv_bn(1, w1, 3, 2)
        self.stages = nn.Sequential(Block(w1, w1, 1), Block(w1, w2, 2), Block(w2, w3, 2))
        self.fc = nn.Linear(w3, 10)

    def forward(self, x):
        x = self.stages(torch.relu(self.stem(x)))
        return self.fc(x.mean(dim=(2, 3)))


def train(net, x, y):
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(net.parameters(), LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps = EPOCHS * (len(x) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=steps)
    for epoch in range(EPOCHS):
        started, order, total = time.monotonic(), torch.randperm(len(x), generator=generator), 0.0
        net.train()
        for first in range(0, len(x) - BATCH + 1, BATCH):
            index = order[first:first + BATCH]
            loss = nn.functional.cross_entropy(net(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        print(f"epoch {epoch + 1}/{EPOCHS}: loss {total / len(x):.4f} "
              f"({time.monotonic() - started:.0f} s)", flush=True)


def folded(seq):
    """(weight, bias) of a conv + batch-norm pair with the normalization folded in."""
    conv, bn = seq[0], seq[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale[:, None, None, None]
    return weight.detach().numpy(), (bn.bias - bn.running_mean * scale).detach().numpy()


class GraphWriter:
    def __init__(self):
        self.nodes, self.initializers = [], []

    def conv(self, name, x, seq, stride):
        weight, bias = folded(seq)
        self.initializers += [numpy_helper.from_array(weight, f"{name}.weight"),
                              numpy_helper.from_array(bias, f"{name}.bias")]
        r = weight.shape[2]
        self.nodes.append(helper.make_node(
            "Conv", [x, f"{name}.weight", f"{name}.bias"], [name], name=name,
            kernel_shape=[r, r], strides=[stride, stride], pads=[r // 2] * 4))
        return name

    def op(self, op_type, name, inputs):
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name))
        return name

    def block(self, name, x, block):
        stride = block.a[0].stride[0]
        y = self.op("Relu", f"{name}.relu_a", [self.conv(f"{name}.conv_a", x, block.a, stride)])
        y = self.conv(f"{name}.conv_b", y, block.b, 1)
        shortcut = x if block.shortcut is None else self.conv(f"{name}.shortcut", x,
                                                              block.shortcut, stride)
        return self.op("Relu", f"{name}.relu", [self.op("Add", f"{name}.add", [y, shortcut])])


def to_onnx(net):
    net.eval()
    g = GraphWriter()
    x = g.op("Relu", "stem.relu", [g.conv("stem", "image", net.stem, 2)])
    for index, block in enumerate(net.stages):
        x = g.block(f"stage{index + 1}", x, block)
    x = g.op("Flatten", "flatten", [g.op("GlobalAveragePool", "pool", [x])])
    g.initializers += [numpy_helper.from_array(net.fc.weight.detach().numpy(), "fc.weight"),
                       numpy_helper.from_array(net.fc.bias.detach().numpy(), "fc.bias")]
    g.nodes.append(helper.make_node("Gemm", [x, "fc.weight", "fc.bias"], ["logits"], name="fc",
                                    transB=1))
    graph = helper.make_graph(
        g.nodes, "fashion_mnist_resnet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="peforge examples/train_fashion_mnist.py")
    onnx.checker.check_model(model)
    return model


def main(out):
    torch.manual_seed(SEED)
    x = torch.from_numpy(fashion_mnist.images("train"))
    y = torch.from_numpy(fashion_mnist.labels("train"))
    net = Net()
    train(net, x, y)
    net.eval()
    with torch.no_grad():
        test_x = torch.from_numpy(fashion_mnist.images("test"))
        predicted = torch.cat([net(test_x[i:i + 1000]).argmax(1) for i in range(0, 10000, 1000)])
    accuracy = float((predicted.numpy() == fashion_mnist.labels("test")).mean())
    print(f"float test accuracy {100 * accuracy:.2f} %")
    onnx.save(to_onnx(net), str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else fashion_mnist.MODEL_PATH)
