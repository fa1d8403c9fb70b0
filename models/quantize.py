"""Post-training quantization to the hardware's integer arithmetic.

Activations and weights are symmetric signed integers (zero point 0: the array zero-pads, so a
nonzero input zero point would make padding wrong).  A layer's real-valued rescaling
`in_scale * weight_scale / out_scale` becomes the post-processor's integer (multiplier,
shift): round-half-up(acc * mult / 2**shift), as `models.golden.postprocess` computes it.
"""

import math

import numpy as np

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
