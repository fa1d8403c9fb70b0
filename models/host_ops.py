"""The operators the host runs between accelerator layers, in float32 NumPy, as ONNX defines
them (opset 13 and its predecessors' attribute forms).

    outputs = HOST_OPS[node.op_type](inputs, attributes)

`inputs` are arrays (an optional input left out is None) and `attributes` the node's
attributes as Python values; every function returns the list of the node's outputs.  Only
the forms inference needs are supported; anything else raises HostOpError naming it.
"""

import numpy as np


class HostOpError(ValueError):
    """An operator attribute or input form the host does not implement."""


def _pool_windows(x, kernel, strides, pads, fill, ceil_mode):
    """The (N, C, P, Q, R, S) windows of NCHW `x`, padded with `fill`."""
    (r, s), (sh, sw) = kernel, strides
    top, left, bottom, right = pads
    h, w = x.shape[2] + top + bottom, x.shape[3] + left + right
    if ceil_mode:                     # a last, partial window: pad it to a whole one
        bottom += (-(h - r) % sh)
        right += (-(w - s) % sw)
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (r, s), axis=(2, 3))
    return windows[:, :, ::sh, ::sw]


def _pool_args(x, a):
    kernel = a["kernel_shape"]
    if len(kernel) != 2 or x.ndim != 4:
        raise HostOpError(f"pooling over {len(kernel)} dimensions (only 2, NCHW)")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID") or any(
            d != 1 for d in a.get("dilations", [1, 1])):
        raise HostOpError("pooling with auto_pad or dilations (give explicit pads)")
    return kernel, a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0]), a.get("ceil_mode", 0)


def max_pool(inputs, a):
    x = inputs[0]
    kernel, strides, pads, ceil_mode = _pool_args(x, a)
    return [_pool_windows(x, kernel, strides, pads, -np.inf, ceil_mode).max(axis=(4, 5))]


def average_pool(inputs, a):
    x = inputs[0]
    kernel, strides, pads, ceil_mode = _pool_args(x, a)
    total = _pool_windows(x, kernel, strides, pads, 0, ceil_mode).sum(axis=(4, 5))
    if a.get("count_include_pad", 0):
        count = _pool_windows(np.ones_like(x[:1, :1]), kernel, strides, pads, 1, ceil_mode)
    else:
        count = _pool_windows(np.ones_like(x[:1, :1]), kernel, strides, pads, 0, ceil_mode)
    return [total / count.sum(axis=(4, 5))]


def global_average_pool(inputs, a):
    x = inputs[0]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)]


def softmax(inputs, a):
    x = inputs[0]
    axis = a.get("axis", -1)
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return [shifted / shifted.sum(axis=axis, keepdims=True)]


def batch_normalization(inputs, a):
    x, scale, bias, mean, var = inputs[:5]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    factor = scale / np.sqrt(var + a.get("epsilon", 1e-5))
    return [(x - mean.reshape(shape)) * factor.reshape(shape) + bias.reshape(shape)]


def lrn(inputs, a):
    """Local response normalization across channels (AlexNet's)."""
    x = inputs[0]
    size = a["size"]
    before, after = (size - 1) // 2, size // 2
    squares = np.pad(x * x, ((0, 0), (before, after)) + ((0, 0),) * (x.ndim - 2))
    window = sum(squares[:, i:i + x.shape[1]] for i in range(size))
    return [x / (a.get("bias", 1.0) + a.get("alpha", 1e-4) / size * window) ** a.get("beta", 0.75)]


def clip(inputs, a):
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else a.get("min", -np.inf)
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else a.get("max", np.inf)
    return [np.clip(inputs[0], low, high)]


def hard_sigmoid(inputs, a):
    return [np.clip(a.get("alpha", 0.2) * inputs[0] + a.get("beta", 0.5), 0, 1)]


def hard_swish(inputs, a):
    x = inputs[0]
    return [x * np.clip(x / 6 + 0.5, 0, 1)]


def pad(inputs, a):
    x = inputs[0]
    pads = inputs[1] if len(inputs) > 1 else a["pads"]
    value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else a.get("value", 0.0)
    mode = a.get("mode", b"constant").decode()
    if len(inputs) > 3 and inputs[3] is not None:
        raise HostOpError("Pad with an axes input (give pads for every axis)")
    widths = list(zip(np.asarray(pads[:x.ndim]).tolist(), np.asarray(pads[x.ndim:]).tolist()))
    if mode == "constant":
        return [np.pad(x, widths, constant_values=np.asarray(value).item())]
    if mode not in ("reflect", "edge"):
        raise HostOpError(f"Pad mode {mode!r} (constant, reflect or edge)")
    return [np.pad(x, widths, mode=mode)]


def reshape(inputs, a):
    x, shape = inputs[0], [int(d) for d in inputs[1]]
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [x.reshape(shape)]


def flatten(inputs, a):
    x = inputs[0]
    axis = a.get("axis", 1) % max(x.ndim, 1)
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


def _axes(inputs, a):
    if len(inputs) > 1 and inputs[1] is not None:
        return tuple(int(v) for v in inputs[1])
    return tuple(a["axes"]) if "axes" in a else None


def squeeze(inputs, a):
    return [np.squeeze(inputs[0], axis=_axes(inputs, a))]


def unsqueeze(inputs, a):
    x = inputs[0]
    axes = sorted(v % (x.ndim + len(_axes(inputs, a))) for v in _axes(inputs, a))
    for axis in axes:
        x = np.expand_dims(x, axis)
    return [x]


def gemm_float(inputs, a):
    x, w = inputs[0], inputs[1]
    x = x.T if a.get("transA", 0) else x
    w = w.T if a.get("transB", 0) else w
    y = a.get("alpha", 1.0) * (x @ w)
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + a.get("beta", 1.0) * inputs[2]
    return [y]


def conv_float(inputs, a):
    """Float convolution (the float reference of an accelerator layer)."""
    x, w = inputs[0], inputs[1]
    groups = a.get("group", 1)
    (sh, sw), pads = a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])
    padded = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    k, cg, r, s = w.shape
    windows = np.lib.stride_tricks.sliding_window_view(padded, (r, s), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw]
    kg = k // groups
    y = np.concatenate([np.einsum("ncpqrs,kcrs->nkpq", windows[:, g * cg:(g + 1) * cg],
                                  w[g * kg:(g + 1) * kg], optimize=True)
                        for g in range(groups)], axis=1)
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + inputs[2].reshape(1, -1, 1, 1)
    return [y]


HOST_OPS = {
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "GlobalAveragePool": global_average_pool,
    "Add": lambda i, a: [i[0] + i[1]],
    "Sub": lambda i, a: [i[0] - i[1]],
    "Mul": lambda i, a: [i[0] * i[1]],
    "Div": lambda i, a: [i[0] / i[1]],
    "Relu": lambda i, a: [np.maximum(i[0], 0)],
    "Sigmoid": lambda i, a: [1 / (1 + np.exp(-i[0]))],
    "HardSigmoid": hard_sigmoid,
    "HardSwish": hard_swish,
    "Clip": clip,
    "Softmax": softmax,
    "Dropout": lambda i, a: [i[0]],
    "Identity": lambda i, a: [i[0]],
    "BatchNormalization": batch_normalization,
    "LRN": lrn,
    "Concat": lambda i, a: [np.concatenate(i, axis=a["axis"])],
    "Pad": pad,
    "Transpose": lambda i, a: [np.transpose(i[0], a.get("perm"))],
    "Reshape": reshape,
    "Flatten": flatten,
    "Squeeze": squeeze,
    "Unsqueeze": unsqueeze,
}
"""Every operator the host runs, by ONNX name."""

FLOAT_ACCELERATOR_OPS = {"Conv": conv_float, "Gemm": gemm_float,
                         "MatMul": lambda i, a: [i[0] @ i[1]]}
"""The float reference of the accelerator's operators."""
