"""The golden model: the accelerator's arithmetic, exactly, in integer NumPy.

Operands are signed `operand_bits` integers; products are summed in a signed accumulator of
`acc_bits` that wraps (two's complement) on overflow, and results leave the chip sign-extended
to int32.  Because wrapping is modular, the order of the sum does not change the result.
"""

import numpy as np


def operand_range(bits):
    """The (min, max) of a signed operand of `bits` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap(values, bits):
    """Reduce int64 `values` to signed `bits`-bit two's complement, as int64."""
    values = np.asarray(values, dtype=np.int64)
    if bits >= 64:
        return values
    half = np.int64(1) << (bits - 1)
    return ((values + half) & ((half << 1) - 1)) - half


def fc(x, w, acc_bits=32):
    """Fully connected layer / GEMM: Y[n, k] = sum_c X[n, c] * W[k, c], wrapped to acc_bits.

    x: (N, C) integers, w: (K, C) integers; returns (N, K) int32.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"fc: X must be NxC and W KxC with the same C, "
                         f"not {x.shape} and {w.shape}")
    y = x.astype(np.int64) @ w.astype(np.int64).T
    return wrap(y, acc_bits).astype(np.int32)


def conv_output_size(size, kernel, stride, pad):
    """Output rows (or columns) of a convolution: floor((size + 2 pad - kernel) / stride) + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def conv2d(x, w, stride=1, pad=0, groups=1, acc_bits=32, pad_value=0):
    """2-D convolution: x is NCHW, w is K x (C/groups) x R x S, the padding `pad_value` (0,
    or the zero point of a quantized input, so that padding stands for a real 0).

    Y[n, k, p, q] = sum_{c in k's group, r, s} X[n, c, p*stride + r - pad, q*stride + s - pad]
    * W[k, c, r, s], wrapped to acc_bits; returns NKPQ int32.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d: X must be NCHW and W KCRS, not {x.shape} and {w.shape}")
    n, c, h, width = x.shape
    k, cg, r, s = w.shape
    if c % groups or k % groups or cg != c // groups:
        raise ValueError(f"conv2d: {groups} groups do not fit C={c}, K={k} and W {w.shape}")
    p = conv_output_size(h, r, stride, pad)
    q = conv_output_size(width, s, stride, pad)
    if p < 1 or q < 1:
        raise ValueError(f"conv2d: a {r}x{s} kernel with stride {stride} and pad {pad} "
                         f"leaves no output of a {h}x{width} input")
    padded = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                    constant_values=pad_value)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (r, s), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride][:, :, :p, :q]
    kg = k // groups
    y = np.empty((n, k, p, q), dtype=np.int64)
    for g in range(groups):
        y[:, g * kg:(g + 1) * kg] = np.einsum(
            "ncpqrs,kcrs->nkpq", windows[:, g * cg:(g + 1) * cg],
            w[g * kg:(g + 1) * kg].astype(np.int64), optimize=True)
    return wrap(y, acc_bits).astype(np.int32)


def postprocess(acc, bias=None, requant=None, relu=False, bits=8):
    """The post-processing unit: int32 `acc` (..., K on the last axis unless `axis` given by
    the caller's layout) plus `bias` (K int32, wrapping at 32 bits), then, with `requant` =
    (mult, shift, zero_point), round-half-up(v * mult / 2**shift) + zero_point saturated to a
    signed `bits` value, ReLU clamping at zero_point; without requant, ReLU clamps at 0.
    `acc` has K on axis 1 (NKPQ or NxK); returns int32 or, requantized, int8/int16 values
    as int32."""
    v = np.asarray(acc, dtype=np.int64)
    if bias is not None:
        shape = [1] * v.ndim
        shape[1] = -1
        v = wrap(v + np.asarray(bias, dtype=np.int64).reshape(shape), 32)
    if requant is None:
        return (np.maximum(v, 0) if relu else v).astype(np.int32)
    mult, shift, zero_point = requant
    low, high = operand_range(bits)
    t = (v * mult + ((1 << shift) >> 1)) >> shift
    t = t + zero_point
    floor = max(zero_point, low) if relu else low
    return np.clip(t, floor, high).astype(np.int32)
