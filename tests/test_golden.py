"""The golden model's integer semantics and the DRAM layout conventions."""

import numpy as np
import pytest

from models import golden
from models.layout import pack_rows, row_beats, unpack_int32_rows


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


def test_int32_rows_round_trip():
    matrix = np.array([[1, -2, 3], [2**31 - 1, -2**31, 0]])
    packed = pack_rows(matrix, 32, bus_bytes=16)
    np.testing.assert_array_equal(unpack_int32_rows(packed, 2, 3, 16), matrix)
