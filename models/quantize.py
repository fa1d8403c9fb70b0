"""Post-training quantization to the hardware's integer arithmetic.

Activations and weights are symmetric signed integers (zero point 0: the array zero-pads, so a
nonzero input zero point would make padding wrong).  A layer's real-valued rescaling
`in_scale * weight_scale / out_scale` becomes the post-processor's integer (multiplier,
shift): round-half-up(acc * mult / 2**shift), as `models.golden.postprocess` computes it.
"""

import math
from dataclasses import dataclass

import numpy as np

from . import golden
from .golden import operand_range

MULT_BITS = 31
"""The multiplier is normalized to [2**30, 2**31): the most precision an int32 holds."""


def quantize_multiplier(real):
    """(mult, shift) with mult / 2**shift closest to the positive `real` (an int32 mult)."""
    if not real > 0 or not math.isfinite(real):
        raise ValueError(f"a requantization scale must be positive and finite, not {real!r}")
    fraction, exponent = math.frexp(real)          # real = fraction * 2**exponent, 0.5 <= f < 1
    mult = round(fraction * (1 << MULT_BITS))
    shift = MULT_BITS - exponent
    if mult == 1 << MULT_BITS:
        mult, shift = mult >> 1, shift - 1
    while shift > 63:                               # tiny scales: give up low multiplier bits
        mult, shift = (mult + 1) >> 1, shift - 1
    if shift < 0:
        raise ValueError(f"a requantization scale of {real!r} is too large for the hardware")
    return mult, shift


def requant(in_scale, weight_scale, out_scale, zero_point=0):
    """The post-processor's (mult, shift, zero point) for one layer (scales in float64)."""
    real = float(in_scale) * float(weight_scale) / float(out_scale)
    return (*quantize_multiplier(real), int(zero_point))


def symmetric_scale(values, bits=8):
    """The scale that maps the largest magnitude of `values` to the largest operand."""
    peak = float(np.max(np.abs(values)))
    return (peak if peak > 0 else 1.0) / operand_range(bits)[1]


def quantize(values, scale, bits=8):
    """round(values / scale), saturated to a signed `bits` operand, as int64."""
    low, high = operand_range(bits)
    return np.clip(np.round(np.asarray(values) / scale), low, high).astype(np.int64)


def quantize_bias(bias, in_scale, weight_scale):
    """A float bias as the int32 the accumulator adds (its scale is in_scale * weight_scale)."""
    return np.round(np.asarray(bias) / (in_scale * weight_scale)).astype(np.int64)


@dataclass(frozen=True)
class ActivationQuant:
    """An activation's quantization: real = scale * (q - zero), q a signed operand."""

    scale: float
    zero: int

    def quantize(self, values, bits=8):
        """round-half-even(values / scale) + zero, saturated (ONNX QuantizeLinear)."""
        low, high = operand_range(bits)
        q = np.round(np.asarray(values, np.float32) / np.float32(self.scale)) + self.zero
        return np.clip(q, low, high).astype(np.int64)


def activation_quant(low, high, bits=8):
    """Asymmetric quantization covering [low, high] (widened to hold 0, which must stay
    exact: it is the padding) with all 2**bits levels."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    q_low, q_high = operand_range(bits)
    scale = (high - low) / (q_high - q_low) if high > low else 1.0
    zero = int(np.clip(round(q_low - low / scale), q_low, q_high))
    return ActivationQuant(scale, zero)


def quantize_weights(weights, bits=8, per_channel=True, min_scale=0.0):
    """(int64 weights, float64 scale per output channel (axis 0)): symmetric, per channel or
    one scale for the tensor, and no scale below `min_scale` (the accumulator's headroom)."""
    weights = np.asarray(weights, np.float64)
    k = len(weights)
    if per_channel:
        scales = np.array([symmetric_scale(weights[i], bits) for i in range(k)])
    else:
        scales = np.full(k, symmetric_scale(weights, bits))
    scales = np.maximum(scales, min_scale)
    shape = (k,) + (1,) * (weights.ndim - 1)
    low, high = operand_range(bits)
    q = np.clip(np.round(weights / scales.reshape(shape)), low, high).astype(np.int64)
    return q, scales


def fold_input_zero_point(bias, weights, in_quant, weight_scales):
    """The int32 bias of a layer whose input has a zero point: the float `bias` (or None) at
    scale in_scale * weight_scale[k], minus zero * sum of filter k's weights, so that the
    accumulator sums (x - zero) * w with the raw x (padding holds `zero`: it adds nothing).
    The term is wrapped to int32 like the post-processor's addition: with a 32-bit
    accumulator the sum is exact modulo 2**32, so the result is exact whenever it fits."""
    k = len(weights)
    acc_scale = in_quant.scale * np.asarray(weight_scales, np.float64)
    b = np.zeros(k, np.int64) if bias is None else np.round(
        np.asarray(bias, np.float64).reshape(-1) / acc_scale).astype(np.int64)
    if np.any(np.abs(b) >= 1 << 31):
        raise ValueError("the bias does not fit int32 at the accumulator's scale")
    return golden.wrap(b - in_quant.zero * weights.reshape(k, -1).sum(axis=1), 32)


def requantize_per_channel(acc, multipliers, zero_point, relu=False, bits=8):
    """The post-processor's requantization with a (mult, shift) per output channel (axis 1:
    NKPQ or N x K), as models.golden.postprocess computes it."""
    acc = np.asarray(acc)
    out = np.empty(acc.shape, np.int32)
    for k, (mult, shift) in enumerate(multipliers):
        out[:, k:k + 1] = golden.postprocess(acc[:, k:k + 1], None, (mult, shift, zero_point),
                                             relu, bits)
    return out
