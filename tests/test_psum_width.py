"""models/hardware.py column_sum_bits and ArchSpec.psum_bits: the weight-stationary column's
partial-sum width is the smallest that no column sum overflows, never wider than acc_bits."""

import itertools

import pytest

from models.golden import operand_range
from models.hardware import WS_PE_PRODUCTS, column_sum_bits
from models.spec import ArchSpec


def fits(value, bits):
    lo, hi = operand_range(bits)
    return lo <= value <= hi


def sum_range(operand_bits, products):
    """The least and greatest sum of `products` products, from every operand pair."""
    lo, hi = operand_range(operand_bits)
    values = [x * w for x, w in itertools.product(range(lo, hi + 1), repeat=2)]
    return products * min(values), products * max(values)


@pytest.mark.parametrize("operand_bits", [2, 3, 4, 8])
@pytest.mark.parametrize("products", [1, 2, 3, 5, 15, 16, 17, 64])
def test_width_is_the_smallest_that_holds_every_sum(operand_bits, products):
    least, greatest = sum_range(operand_bits, products)
    bits = column_sum_bits(operand_bits, products, acc_bits=64)
    assert fits(least, bits) and fits(greatest, bits)
    assert not (fits(least, bits - 1) and fits(greatest, bits - 1))


@pytest.mark.parametrize("operand_bits, products, acc_bits",
                         [(8, 16, 16), (8, 16, 19), (16, 16, 32), (4, 64, 8)])
def test_width_never_exceeds_acc_bits(operand_bits, products, acc_bits):
    assert column_sum_bits(operand_bits, products, acc_bits) == acc_bits


def test_int8_on_16_rows_is_20_bits():
    assert column_sum_bits(8, 16, 32) == 20
    assert column_sum_bits(8, 16, 20) == 20


def test_no_products_is_refused():
    with pytest.raises(ValueError, match="products must be at least 1, not 0"):
        column_sum_bits(8, 0, 32)


@pytest.mark.parametrize("fields", [{}, {"rows": 3, "cols": 5}, {"weight_sparsity": "2:4"},
                                    {"operand_bits": 4, "acc_bits": 16},
                                    {"operand_bits": 16}, {"rows": 64, "acc_bits": 24}])
def test_weight_stationary_spec_sums_its_rows(fields):
    spec = ArchSpec(**fields)
    assert spec.psum_bits == column_sum_bits(spec.operand_bits, spec.rows * WS_PE_PRODUCTS,
                                             spec.acc_bits)
    assert spec.psum_bits <= spec.acc_bits


@pytest.mark.parametrize("dataflow", ["os", "rs"])
def test_other_dataflows_keep_acc_bits(dataflow):
    """Output- and row-stationary PEs accumulate a whole reduction: no narrower width."""
    assert ArchSpec(dataflow=dataflow, acc_bits=28).psum_bits == 28
