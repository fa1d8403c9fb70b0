"""Post-training quantization: the requantization multiplier and shift the hardware applies."""

import numpy as np
import pytest

from models import golden
from models.golden import operand_range
from models.quantize import quantize, quantize_multiplier, requant, symmetric_scale


@pytest.mark.parametrize("real", [1.0, 0.5, 0.75, 3e-3, 1.7e-6, 0.999999999, 12.5])
def test_multiplier_and_shift_represent_the_scale(real):
    mult, shift = quantize_multiplier(real)
    assert (1 << 30) <= mult < (1 << 31) and 0 <= shift <= 63
    assert mult / 2**shift == pytest.approx(real, rel=2**-30)


def test_requantization_rounds_half_up_like_the_real_scale():
    rng = np.random.default_rng(3)
    acc = rng.integers(-(1 << 20), 1 << 20, 5000)
    real = 0.00123
    mult, shift, zero = requant(0.1, 0.0246, 2.0, zero_point=4)
    out = golden.postprocess(acc.reshape(1, -1), requant=(mult, shift, zero))
    expected = np.clip(np.floor(acc * real + 0.5) + 4, -128, 127)
    assert np.abs(out.ravel() - expected).max() <= 1
    assert np.mean(out.ravel() == expected) > 0.999


@pytest.mark.parametrize("real", [0.0, -1.0, float("inf"), 2.0**40])
def test_scales_the_hardware_cannot_hold_are_refused(real):
    with pytest.raises(ValueError, match="requantization scale"):
        quantize_multiplier(real)


def test_symmetric_quantization_saturates_at_the_operand_range():
    values = np.array([-2.0, -1.0, 0.0, 0.5, 1.0])
    scale = symmetric_scale(values)
    assert scale == pytest.approx(2 / 127)
    q = quantize(values, scale)
    assert q.tolist() == [-127, -64, 0, 32, 64]
    assert quantize(np.array([5.0]), scale).tolist() == [127]


def test_activation_quant_keeps_zero_exact_and_uses_every_level():
    from models.quantize import activation_quant

    for bits in (4, 8, 16):
        quant = activation_quant(0.0, 6.0, bits)
        low, high = operand_range(bits)
        assert quant.zero == low                       # a ReLU output: zero is the lowest level
        assert quant.quantize(np.array([0.0, 6.0]), bits).tolist() == [low, high]
        quant = activation_quant(-1.0, 3.0, bits)
        assert quant.quantize(np.array([0.0]), bits)[0] == quant.zero


@pytest.mark.parametrize("bits", [8, 16])
def test_folded_zero_point_is_exact_through_the_wrapping_accumulator(bits):
    """The hardware sums raw x * w (x holding the zero point's offset) at 32 bits, then adds
    the folded bias: the result equals sum (x - zero) * w + bias whenever that fits."""
    from models.golden import conv2d, postprocess
    from models.quantize import ActivationQuant, fold_input_zero_point

    rng = np.random.default_rng(bits)
    low, high = operand_range(bits)
    zero = low + 3
    x = rng.integers(zero, zero + 200, (2, 4, 6, 6))       # small real values, a big offset
    w = rng.integers(low, high + 1, (5, 4, 3, 3))
    quant = ActivationQuant(0.01, zero)
    float_bias = rng.normal(size=5)
    bias = fold_input_zero_point(float_bias, w, quant, np.full(5, 0.02))
    got = postprocess(conv2d(x, w, pad=1, pad_value=zero), bias)
    exact = conv2d(x - zero, w, pad=1, acc_bits=64).astype(np.int64) + np.round(
        float_bias / (0.01 * 0.02)).astype(np.int64).reshape(1, -1, 1, 1)
    assert np.abs(exact).max() < 2 ** 31
    assert np.array_equal(got, exact)
