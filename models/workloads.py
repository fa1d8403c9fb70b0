"""Built-in network workloads: the layer tables of ResNet-18, MobileNetV2, AlexNet and VGG-16.

A workload is a list of `Layer`s in execution order.  Accelerator layers (conv, dwconv, fc)
carry their shape; host layers (pooling, residual adds) run on the host between them and are
listed so a report can say so.  Shapes follow the torchvision models at 224x224.
"""

from dataclasses import dataclass, replace

from .golden import conv_output_size
from .mapper import ConvShape, PostProcess, fc_shape

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


class _Builder:
    """Tracks the activation's channels and size while a table is written down."""

    def __init__(self, channels, size):
        self.c, self.size, self.layers = channels, size, []

    def conv(self, name, k, r, stride=1, pad=None, groups=1, size=None):
        pad = r // 2 if pad is None else pad
        size = self.size if size is None else size
        shape = ConvShape(1, self.c, size, size, k, r, r, stride, pad)
        op = "dwconv" if groups > 1 and groups == self.c == k else "conv"
        self.layers.append(Layer(name, op, shape, groups))
        self.c, self.size = k, conv_output_size(size, r, stride, pad)
        return self

    def pool(self, name, r, stride, pad=0, op="maxpool"):
        self.layers.append(Layer(name, op))
        self.size = conv_output_size(self.size, r, stride, pad)
        return self

    def host(self, name, op):
        self.layers.append(Layer(name, op))
        return self

    def fc(self, name, k, c=None):
        self.layers.append(Layer(name, "fc", fc_shape(1, c or self.c, k)))
        self.c, self.size = k, 1
        return self


def resnet18():
    b = _Builder(3, 224).conv("conv1", 64, 7, stride=2, pad=3).pool("maxpool", 3, 2, 1)
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            prefix = f"layer{stage}.{block}"
            inputs, size = b.c, b.size
            b.conv(f"{prefix}.conv1", width, 3, stride=stride)
            b.conv(f"{prefix}.conv2", width, 3)
            if stride != 1 or inputs != width:
                out_c, out_size = b.c, b.size
                b.c, b.size = inputs, size
                b.conv(f"{prefix}.downsample", width, 1, stride=stride, pad=0)
                b.c, b.size = out_c, out_size
            b.host(f"{prefix}.add", "add")
    return b.pool("avgpool", b.size, 1, op="avgpool").fc("fc", 1000).layers


def mobilenet_v2():
    b = _Builder(3, 224).conv("features.0", 32, 3, stride=2)
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
            b.conv(f"{prefix}.project", width, 1, pad=0)
            if step == 1 and inputs == width:
                b.host(f"{prefix}.add", "add")
            index += 1
    b.conv(f"features.{index}", 1280, 1, pad=0)
    return b.pool("avgpool", b.size, 1, op="avgpool").fc("classifier", 1000).layers


def alexnet():
    b = _Builder(3, 224).conv("features.0", 64, 11, stride=4, pad=2).pool("maxpool1", 3, 2)
    b.conv("features.3", 192, 5, pad=2).pool("maxpool2", 3, 2)
    b.conv("features.6", 384, 3).conv("features.8", 256, 3).conv("features.10", 256, 3)
    b.pool("maxpool3", 3, 2)
    flat = b.c * b.size * b.size
    return b.fc("classifier.1", 4096, c=flat).fc("classifier.4", 4096) \
        .fc("classifier.6", 1000).layers


def vgg16():
    b = _Builder(3, 224)
    index = 0
    for widths in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for width in widths:
            b.conv(f"features.{index}", width, 3)
            index += 2
        b.pool(f"pool{index}", 2, 2)
        index += 1
    flat = b.c * b.size * b.size
    return b.fc("classifier.0", 4096, c=flat).fc("classifier.3", 4096) \
        .fc("classifier.6", 1000).layers


def digits():
    """The quantized digits CNN of models/digits.py (it imports this module, so lazily)."""
    from .digits import layers

    return layers()


WORKLOADS = {"resnet18": resnet18, "mobilenetv2": mobilenet_v2, "alexnet": alexnet,
             "vgg16": vgg16, "digits": digits}


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


def workload(name, batch=1):
    """The layers of built-in workload `name` for `batch` images."""
    try:
        build = WORKLOADS[name]
    except KeyError:
        raise KeyError(f"unknown workload {name!r} (built in: {', '.join(WORKLOADS)})") \
            from None
    return with_batch(build(), batch)


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
