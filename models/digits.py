"""A small CNN for scikit-learn's 8x8 handwritten digits, in float and quantized to int8.

    conv1  3x3, 1 -> 16 channels, padding 1, ReLU        8x8
    pool   2x2 max (host)                                 4x4
    conv2  3x3, 16 -> 32 channels, padding 1, ReLU        4x4
    flatten (host), fc 512 -> 10                          logits

`examples/train_digits.py` trains it (NumPy, deterministic) and writes `digits.npz` beside this
file: the float weights and biases, and the largest activation of each ReLU layer on the
training images (the calibration).  `quantized_network()` turns them into int8 weights, int32
biases and the post-processor's (multiplier, shift, zero point) per layer with
models/quantize.py; the input pixels (0 to 16) are the int8 inputs themselves.  Activations
are symmetric (zero point 0) so the array's zero padding stays exact.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import golden
from .mapper import ConvShape, PostProcess, fc_shape
from .quantize import quantize, quantize_bias, requant, symmetric_scale
from .workloads import Layer

WEIGHTS_PATH = Path(__file__).with_name("digits.npz")
PRUNED_WEIGHTS_PATH = Path(__file__).with_name("digits_2to4.npz")
"""The same network with conv2 and fc pruned to 2:4 and fine-tuned (examples/train_digits.py
--2to4; docs/sparsity.md)."""
INPUT_SCALE = 1 / 16
"""The float input is pixel / 16, so the int8 input is the pixel value, exactly."""
TEST_FRACTION = 0.2
SPLIT_SEED = 0
CLASSES = 10

CONV1 = Layer("conv1", "conv", ConvShape(1, 1, 8, 8, 16, 3, 3, 1, 1))
CONV2 = Layer("conv2", "conv", ConvShape(1, 16, 4, 4, 32, 3, 3, 1, 1))
FC = Layer("fc", "fc", fc_shape(1, 32 * 4 * 4, CLASSES))
POOL = Layer("pool", "maxpool")
FLATTEN = Layer("flatten", "flatten")
PARAMETER_SHAPES = {
    "conv1.weight": (16, 1, 3, 3), "conv1.bias": (16,),
    "conv2.weight": (32, 16, 3, 3), "conv2.bias": (32,),
    "fc.weight": (CLASSES, 32 * 4 * 4), "fc.bias": (CLASSES,),
}
CALIBRATION = ("conv1.max", "conv2.max")


@dataclass(frozen=True)
class Split:
    """Pixels (N x 1 x 8 x 8 integers 0..16) and labels of the training and held-out sets."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def dataset():
    """scikit-learn's digits (shipped with the package), split 80/20, stratified, seeded."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = digits.images.astype(np.int64).reshape(-1, 1, 8, 8)
    train_x, test_x, train_y, test_y = train_test_split(
        pixels, digits.target, test_size=TEST_FRACTION, random_state=SPLIT_SEED,
        stratify=digits.target)
    return Split(train_x, train_y, test_x, test_y)


def maxpool2(x):
    """2x2 max pooling with stride 2 of NCHW `x` (exact on integers, as the host runs it)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def im2col(x, r, pad):
    """The r x r windows of NCHW `x` (stride 1, zero padding `pad`) as rows:
    (N * H' * W') x (C * r * r), channel-major like the weights' KCRS."""
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (r, r), axis=(2, 3))
    n, c, p, q = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * p * q, c * r * r), (n, p, q)


def conv_float(x, w, b):
    """Float 3x3 convolution with padding 1 (NCHW in, NKPQ out)."""
    cols, (n, p, q) = im2col(x, w.shape[2], w.shape[2] // 2)
    y = cols @ w.reshape(len(w), -1).T + b
    return y.reshape(n, p, q, -1).transpose(0, 3, 1, 2)


def float_forward(params, pixels):
    """(logits, [conv1 activations, conv2 activations]) of the float network."""
    x = pixels * INPUT_SCALE
    a1 = np.maximum(conv_float(x, params["conv1.weight"], params["conv1.bias"]), 0)
    a2 = np.maximum(conv_float(maxpool2(a1), params["conv2.weight"], params["conv2.bias"]), 0)
    logits = a2.reshape(len(a2), -1) @ params["fc.weight"].T + params["fc.bias"]
    return logits, [a1, a2]


def calibrate(params, pixels):
    """The largest activation of each ReLU layer on `pixels` (what sets its int8 scale)."""
    _, activations = float_forward(params, pixels)
    return {name: float(a.max()) for name, a in zip(CALIBRATION, activations)}


def load_params(path=WEIGHTS_PATH):
    """The trained float parameters and calibration from `path`."""
    with np.load(path) as data:
        return {name: data[name] for name in (*PARAMETER_SHAPES, *CALIBRATION)}


@dataclass(frozen=True)
class QuantizedLayer:
    """An accelerator layer (its post-processing in `layer.post`) with its int8 weights and
    int32 bias."""

    layer: Layer
    weights: np.ndarray
    bias: np.ndarray


def quantized_network(params=None):
    """The int8 network: QuantizedLayers and host Layers in execution order."""
    params = load_params() if params is None else params
    steps, in_scale = [], INPUT_SCALE
    for layer, out_peak in ((CONV1, params["conv1.max"]), (CONV2, params["conv2.max"]),
                            (FC, None)):
        w = params[f"{layer.name}.weight"]
        w_scale = symmetric_scale(w)
        out_scale = None if out_peak is None else symmetric_scale(out_peak)
        post = PostProcess(bias=True, relu=out_scale is not None, requant=None
                           if out_scale is None else requant(in_scale, w_scale, out_scale))
        steps.append(QuantizedLayer(Layer(layer.name, layer.op, layer.shape, post=post),
                                    quantize(w, w_scale),
                                    quantize_bias(params[f"{layer.name}.bias"], in_scale,
                                                  w_scale)))
        if layer is CONV1:
            steps.append(POOL)
        elif layer is CONV2:
            steps.append(FLATTEN)
        in_scale = out_scale
    return steps


def layers(network=None):
    """The network's layer table for one image (accelerator and host layers)."""
    network = quantized_network() if network is None else network
    return [step.layer if isinstance(step, QuantizedLayer) else step for step in network]


HOST_FUNCTIONS = {"maxpool": maxpool2, "flatten": lambda x: x.reshape(len(x), -1)}


def run_int8(network, pixels, accelerate):
    """Logits (int32) of `pixels` through the int8 network; accelerator layers run through
    `accelerate(quantized_layer, inputs)`, host layers here."""
    x = np.asarray(pixels, dtype=np.int64)
    for step in network:
        if isinstance(step, QuantizedLayer):
            x = np.asarray(accelerate(step, x), dtype=np.int64)
        else:
            x = HOST_FUNCTIONS[step.op](x)
    return x


def golden_layer(step, x, acc_bits=32, operand_bits=8):
    """One quantized layer on the golden model (the hardware's exact arithmetic)."""
    layer = step.layer
    if layer.op == "fc":
        acc = golden.fc(x, step.weights, acc_bits)
    else:
        acc = golden.conv2d(x, step.weights, layer.shape.stride, layer.shape.pad,
                            layer.groups, acc_bits)
    return golden.postprocess(acc, step.bias, layer.post.requant, layer.post.relu,
                              operand_bits)


def accuracy(logits, labels):
    """The fraction of images whose largest logit is their label."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))
