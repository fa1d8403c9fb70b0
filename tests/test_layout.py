"""DRAM row packing (models/layout.py): values survive a round trip whatever their layout."""

import numpy as np
import pytest

from models.golden import operand_range
from models.layout import pack_rows, row_beats, unpack_rows


@pytest.mark.parametrize("bits", [4, 8, 16, 32])
@pytest.mark.parametrize("order", ["C", "F", "transposed_view"])
def test_pack_unpack_round_trip(bits, order):
    """Found by the random regression: a 16-bit NHWC view of an NCHW tensor (Fortran-ordered
    after the transpose) could not be packed."""
    low, high = operand_range(bits)
    values = np.random.default_rng(bits).integers(low, high + 1, (7, 5))
    matrix = {"C": values, "F": np.asfortranarray(values),
              "transposed_view": np.ascontiguousarray(values.T).T}[order]
    packed = pack_rows(matrix, bits, 8)
    assert packed.size == 7 * row_beats(5, bits, 8) * 8
    np.testing.assert_array_equal(unpack_rows(packed, 7, 5, bits, 8), values)


def test_nchw_to_nhwc_rows_of_16_bit_operands():
    x = np.random.default_rng(1).integers(-2**15, 2**15, (3, 1, 4, 5))
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 1)
    np.testing.assert_array_equal(unpack_rows(pack_rows(rows, 16, 4), 60, 1, 16, 4), rows)
