"""Built-in network workloads: the layer tables of ResNet-18, MobileNetV2, AlexNet and VGG-16.

A workload is a list of `Layer`s in execution order.  Accelerator layers (conv, dwconv, fc)
carry their shape; host layers (pooling, residual adds) run on the host between them and are
listed so a report can say so.  Shapes follow the torchvision models at 224x224.

The four networks are integer networks of the architecture's operand width: every
accelerator layer adds a bias (batch norm folded in), requantizes its outputs to operands in
hardware and applies ReLU where the torchvision model has one (ReLU6 is ReLU with the scale
putting 6 at the top of the operand range), so activations cross DRAM as operands, not int32.
They have no trained weights: they run on generated data (`generated_operands`), and each
layer's requantization is calibrated to that data from its reduction size.
"""

import math
from dataclasses import dataclass, replace

from .golden import conv_output_size, operand_range
from .mapper import ConvShape, PostProcess, fc_shape
from .quantize import quantize_multiplier

ACCELERATOR_OPS = ("conv", "dwconv", "fc")
HOST_OPS = ("maxpool", "avgpool", "add", "flatten", "reshape")


@dataclass(frozen=True)
class Layer:
    """One layer: `op`, its convolution shape (accelerator ops), groups and the
    post-processing fused into it (bias, requantization, ReLU); host ops have no shape."""

    name: str
    op: str
    shape: ConvShape | None = None
    groups: int = 1
    post: PostProcess = PostProcess()

    @property
    def on_accelerator(self):
        return self.op in ACCELERATOR_OPS

    @property
    def macs(self):
        """Useful multiply-accumulates (a grouped layer's structural zeros left out)."""
        return self.shape.macs // self.groups if self.shape else 0

    @property
    def reduction(self):
        """Products summed into each output: C/groups x R x S."""
        return self.shape.c // self.groups * self.shape.r * self.shape.s


OUTPUT_SPREAD = 4
"""Standard deviations of a generated layer's accumulators (bias included) that requantize
to the largest operand: outputs spread over the operand range and saturate rarely (a normal
variable passes 4 standard deviations about 6 times in 10^5)."""


def operand_variance(bits):
    """The variance of a uniformly random signed `bits`-bit operand."""
    return ((1 << 2 * bits) - 1) / 12


def accumulator_std(reduction, bits):
    """The standard deviation of a sum of `reduction` products of independent uniformly
    random `bits`-bit operands (the generated data's accumulators, before the bias)."""
    return math.sqrt(reduction) * operand_variance(bits)


def generated_requant(reduction, bits):
    """The (multiplier, shift, zero point 0) that requantize a generated layer's accumulators
    (`reduction` products plus a bias drawn uniformly within one accumulator_std, which
    adds a third to the variance) to `bits`-bit operands at OUTPUT_SPREAD standard
    deviations."""
    std = accumulator_std(reduction, bits) * math.sqrt(4 / 3)
    return (*quantize_multiplier(operand_range(bits)[1] / (OUTPUT_SPREAD * std)), 0)


def generated_operands(layer, bits, rng):
    """Random (inputs, weights, bias or None) of accelerator `layer` with `bits`-bit
    operands: uniform over the operand range, the bias uniform within one accumulator_std
    (so generated_requant keeps the requantized outputs in range) and int32.  fc: X is
    M x C and W K x C; conv: X is NCHW and W K x C/groups x R x S.  (16-bit operands' sums
    overflow a 32-bit accumulator and wrap, as the hardware's do: in range only for 4 and 8
    bits.)"""
    shape = layer.shape
    low, high = operand_range(bits)
    bound = min(int(accumulator_std(layer.reduction, bits)), (1 << 31) - 1)   # an int32 bias
    bias = rng.integers(-bound, bound + 1, shape.k) if layer.post.bias else None
    if layer.op == "fc":
        return (rng.integers(low, high + 1, (shape.h, shape.c)),
                rng.integers(low, high + 1, (shape.k, shape.c)), bias)
    return (rng.integers(low, high + 1, (shape.n, shape.c, shape.h, shape.w)),
            rng.integers(low, high + 1, (shape.k, shape.c // layer.groups, shape.r, shape.s)),
            bias)


def with_integer_post(layer, bits, relu):
    """A generated network's `layer` with its post-processing: bias, requantization to
    `bits`-bit operands (generated_requant), ReLU if the network has one."""
    post = PostProcess(bias=True, requant=generated_requant(layer.reduction, bits), relu=relu)
    return replace(layer, post=post)


class _Builder:
    """Tracks the activation's channels and size while a table is written down; every
    accelerator layer requantizes to `bits`-bit operands."""

    def __init__(self, channels, size, bits):
        self.c, self.size, self.bits, self.layers = channels, size, bits, []

    def conv(self, name, k, r, stride=1, pad=None, groups=1, relu=True):
        pad = r // 2 if pad is None else pad
        shape = ConvShape(1, self.c, self.size, self.size, k, r, r, stride, pad)
        op = "dwconv" if groups > 1 and groups == self.c == k else "conv"
        self.layers.append(with_integer_post(Layer(name, op, shape, groups), self.bits, relu))
        self.c, self.size = k, conv_output_size(self.size, r, stride, pad)
        return self

    def pool(self, name, r, stride, pad=0, op="maxpool"):
        self.layers.append(Layer(name, op))
        self.size = conv_output_size(self.size, r, stride, pad)
        return self

    def host(self, name, op):
        self.layers.append(Layer(name, op))
        return self

    def fc(self, name, k, c=None, relu=False):
        self.layers.append(with_integer_post(Layer(name, "fc", fc_shape(1, c or self.c, k)),
                                             self.bits, relu))
        self.c, self.size = k, 1
        return self


def resnet18(bits=8):
    """ReLU after conv1 and each block's conv1; a block's conv2 and downsample feed the
    residual add, which the ReLU follows on the host."""
    b = _Builder(3, 224, bits).conv("conv1", 64, 7, stride=2, pad=3).pool("maxpool", 3, 2, 1)
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            prefix = f"layer{stage}.{block}"
            inputs, size = b.c, b.size
            b.conv(f"{prefix}.conv1", width, 3, stride=stride)
            b.conv(f"{prefix}.conv2", width, 3, relu=False)
            if stride != 1 or inputs != width:
                out_c, out_size = b.c, b.size
                b.c, b.size = inputs, size
                b.conv(f"{prefix}.downsample", width, 1, stride=stride, pad=0, relu=False)
                b.c, b.size = out_c, out_size
            b.host(f"{prefix}.add", "add")
    return b.pool("avgpool", b.size, 1, op="avgpool").fc("fc", 1000).layers


def mobilenet_v2(bits=8):
    """ReLU6 after every convolution but the projections (linear bottlenecks) and the
    classifier."""
    b = _Builder(3, 224, bits).conv("features.0", 32, 3, stride=2)
    index = 1
    for expand, width, repeats, stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                                           (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                                           (6, 320, 1, 1)):
        for repeat in range(repeats):
            prefix, inputs = f"features.{index}", b.c
            step = stride if repeat == 0 else 1
            if expand != 1:
                b.conv(f"{prefix}.expand", inputs * expand, 1, pad=0)
            b.conv(f"{prefix}.dw", b.c, 3, stride=step, groups=b.c)
            b.conv(f"{prefix}.project", width, 1, pad=0, relu=False)
            if step == 1 and inputs == width:
                b.host(f"{prefix}.add", "add")
            index += 1
    b.conv(f"features.{index}", 1280, 1, pad=0)
    return b.pool("avgpool", b.size, 1, op="avgpool").fc("classifier", 1000).layers


def alexnet(bits=8):
    """ReLU after every layer but the last."""
    b = _Builder(3, 224, bits).conv("features.0", 64, 11, stride=4, pad=2) \
        .pool("maxpool1", 3, 2)
    b.conv("features.3", 192, 5, pad=2).pool("maxpool2", 3, 2)
    b.conv("features.6", 384, 3).conv("features.8", 256, 3).conv("features.10", 256, 3)
    b.pool("maxpool3", 3, 2)
    flat = b.c * b.size * b.size
    return b.fc("classifier.1", 4096, c=flat, relu=True).fc("classifier.4", 4096, relu=True) \
        .fc("classifier.6", 1000).layers


def vgg16(bits=8):
    """ReLU after every layer but the last."""
    b = _Builder(3, 224, bits)
    index = 0
    for widths in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for width in widths:
            b.conv(f"features.{index}", width, 3)
            index += 2
        b.pool(f"pool{index}", 2, 2)
        index += 1
    flat = b.c * b.size * b.size
    return b.fc("classifier.0", 4096, c=flat, relu=True).fc("classifier.3", 4096, relu=True) \
        .fc("classifier.6", 1000).layers


def digits():
    """The quantized digits CNN of models/digits.py (it imports this module, so lazily)."""
    from .digits import layers

    return layers()


GENERATED_NETWORKS = {"resnet18": resnet18, "mobilenetv2": mobilenet_v2, "alexnet": alexnet,
                      "vgg16": vgg16}
"""The built-in networks on generated data, built for an operand width."""
WORKLOADS = {**GENERATED_NETWORKS, "digits": digits}


def with_batch(layers, batch):
    """The same layers for `batch` images (fully-connected layers take them as rows)."""
    out = []
    for layer in layers:
        if layer.shape is None or batch == 1:
            out.append(layer)
        elif layer.op == "fc":
            out.append(replace(layer, shape=replace(layer.shape, h=batch)))
        else:
            out.append(replace(layer, shape=replace(layer.shape, n=batch)))
    return out


def workload(name, batch=1, bits=8):
    """The layers of built-in workload `name` for `batch` images; the generated networks
    requantize to `bits`-bit operands (digits is its own int8 network)."""
    if name not in WORKLOADS:
        raise KeyError(f"unknown workload {name!r} (built in: {', '.join(WORKLOADS)})")
    layers = GENERATED_NETWORKS[name](bits) if name in GENERATED_NETWORKS else WORKLOADS[name]()
    return with_batch(layers, batch)


SCALESIM_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height",
                    "Filter Width", "Channels", "Num Filter", "Strides")


class WorkloadError(ValueError):
    """A workload file is malformed; the message names the file, line and field."""


def load_scalesim_csv(path):
    """Read a SCALE-Sim topology CSV (the columns of SCALESIM_COLUMNS, rows ending with a
    trailing comma).  SCALE-Sim's IFMAP sizes already include padding, so layers get none."""
    import csv

    try:
        text = open(path, newline="").read()
    except OSError as error:
        raise WorkloadError(f"{path}: cannot read workload file ({error.strerror})") from None
    rows = [row for row in csv.reader(text.splitlines()) if any(cell.strip() for cell in row)]
    if not rows:
        raise WorkloadError(f"{path}: empty topology file")
    header = [cell.strip() for cell in rows[0]]
    missing = [column for column in SCALESIM_COLUMNS if column not in header]
    if missing:
        raise WorkloadError(f"{path}: line 1: missing column {missing[0]!r} (SCALE-Sim "
                            f"topology columns: {', '.join(SCALESIM_COLUMNS)})")
    index = {column: header.index(column) for column in SCALESIM_COLUMNS}
    layers = []
    for number, row in enumerate(rows[1:], start=2):
        values = {}
        for column in SCALESIM_COLUMNS[1:]:
            cell = row[index[column]].strip() if index[column] < len(row) else ""
            try:
                values[column] = int(cell)
            except ValueError:
                raise WorkloadError(f"{path}: line {number}: {column} must be a whole number, "
                                    f"not {cell!r}") from None
            if values[column] < 1:
                raise WorkloadError(f"{path}: line {number}: {column} must be at least 1, "
                                    f"not {values[column]}")
        name = row[index["Layer name"]].strip() or f"layer{number - 1}"
        layers.append(Layer(name, "conv", ConvShape(
            1, values["Channels"], values["IFMAP Height"], values["IFMAP Width"],
            values["Num Filter"], values["Filter Height"], values["Filter Width"],
            values["Strides"], 0)))
    return layers
