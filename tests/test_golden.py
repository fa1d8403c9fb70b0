"""The golden model's integer semantics and the DRAM layout conventions."""

import numpy as np
import pytest

from models import golden
from models.layout import pack_rows, row_beats, unpack_rows


def test_fc_matches_python_integers():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (5, 11))
    w = rng.integers(-128, 128, (7, 11))
    expected = [[sum(int(a) * int(b) for a, b in zip(row, col)) for col in w] for row in x]
    np.testing.assert_array_equal(golden.fc(x, w), expected)


def test_fc_wraps_at_the_accumulator_width():
    x = np.full((1, 4), 127)
    w = np.full((1, 4), 127)
    assert golden.fc(x, w, acc_bits=16)[0, 0] == golden.wrap(4 * 127 * 127, 16) == -0x10000 + 64516
    assert golden.fc(x, w, acc_bits=32)[0, 0] == 64516


def test_wrap_is_twos_complement():
    np.testing.assert_array_equal(golden.wrap([127, 128, -129, 255], 8), [127, -128, 127, -1])


def test_fc_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        golden.fc(np.zeros((2, 3)), np.zeros((4, 5)))


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_rows_are_packed_little_endian_and_padded(bits):
    rng = np.random.default_rng(bits)
    low, high = golden.operand_range(bits)
    matrix = rng.integers(low, high + 1, (3, 5))
    packed = pack_rows(matrix, bits, bus_bytes=8)
    pitch = row_beats(5, bits, 8) * 8
    assert packed.size == 3 * pitch
    rows = packed.reshape(3, pitch)
    bitstream = np.unpackbits(rows, axis=1, bitorder="little")
    for r in range(3):
        for i in range(5):
            field = bitstream[r, i * bits:(i + 1) * bits]
            value = int(sum(int(b) << k for k, b in enumerate(field)))
            assert value - (value >> (bits - 1) << bits) == matrix[r, i]
        assert not bitstream[r, 5 * bits:].any()


@pytest.mark.parametrize("bits", [4, 8, 16, 32])
def test_rows_round_trip(bits):
    low, high = golden.operand_range(bits)
    matrix = np.array([[1, -2, 3], [high, low, 0]])
    packed = pack_rows(matrix, bits, bus_bytes=16)
    np.testing.assert_array_equal(unpack_rows(packed, 2, 3, bits, 16), matrix)


def test_postprocess_rounds_half_up_and_saturates():
    acc = np.array([[10, -10, 1000, -1000, 7]])
    bias = np.array([2, 2, 0, 0, 0])
    out = golden.postprocess(acc, bias, requant=(1, 2, 0), bits=8)
    # (12 + 2) >> 2 = 3, (-8 + 2) >> 2 = -2, 1000 / 4 = 250 -> 127, -250 -> -128, 9 >> 2 = 2
    np.testing.assert_array_equal(out, [[3, -2, 127, -128, 2]])
    relu = golden.postprocess(acc, bias, requant=(1, 2, 5), relu=True, bits=8)
    np.testing.assert_array_equal(relu, [[8, 5, 127, 5, 7]])
    np.testing.assert_array_equal(golden.postprocess(acc, relu=True), [[10, 0, 1000, 0, 7]])


def test_bias_wraps_at_32_bits():
    out = golden.postprocess(np.array([[2**31 - 1]]), np.array([1]))
    assert out[0, 0] == -2**31
