"""`dataflow: rs` in the architecture spec: the three register-file depths, their refusals
and the on-chip storage they add (issue 14)."""

import numpy as np
import pytest

from models.golden import conv2d
from models.mapper import ConvShape
from models.row_stationary import EYERISS_DEPTHS, array_of, map_conv, run_conv
from models.spec import ArchSpec, SpecError, load_spec


def test_row_stationary_spec_defaults_to_eyeriss_depths():
    spec = ArchSpec(dataflow="rs", rows=3, cols=5)
    array = array_of(spec)
    assert (array.rows, array.cols) == (3, 5)
    assert {"filter_depth": array.filter_depth, "input_depth": array.input_depth,
            "psum_depth": array.psum_depth} == EYERISS_DEPTHS == {
        "filter_depth": 224, "input_depth": 12, "psum_depth": 24}


@pytest.mark.parametrize("field,value,message", [
    ("rs_input_depth", 0, "rs_input_depth: must be from 1 to 32, not 0"),
    ("rs_input_depth", 33, "rs_input_depth: must be from 1 to 32, not 33"),
    ("rs_psum_depth", 0, "rs_psum_depth: must be from 1 to 32, not 0"),
    ("rs_filter_depth", 11, "rs_filter_depth: must be from 12 to 1024, not 11"),
    ("rs_filter_depth", 1025, "rs_filter_depth: must be from 12 to 1024, not 1025"),
    ("rs_psum_depth", "24", "rs_psum_depth: expected int, not '24'"),
])
def test_bad_depths_are_refused_naming_the_field(field, value, message):
    with pytest.raises(SpecError) as error:
        ArchSpec(dataflow="rs", **{field: value})
    assert str(error.value) == message


def test_depths_come_from_yaml(tmp_path):
    path = tmp_path / "rs.yaml"
    path.write_text("name: rs\ndataflow: rs\nrows: 4\ncols: 6\nrs_filter_depth: 30\n"
                    "rs_input_depth: 6\nrs_psum_depth: 5\n")
    array = array_of(load_spec(path))
    assert (array.rows, array.cols, array.filter_depth, array.input_depth,
            array.psum_depth) == (4, 6, 30, 6, 5)


def test_onchip_bytes_count_the_three_register_files_not_rf_depth():
    """rf_depth is the weight-stationary PE's file: the RS PE ignores it and counts its own."""
    base = dict(rows=4, cols=6, operand_bits=8, acc_bits=32)
    rs = ArchSpec(dataflow="rs", rf_depth=7, **base)
    ws = ArchSpec(dataflow="ws", rf_depth=7, **base)
    pe_bits = (224 + 12) * 8 + 24 * 32
    assert rs.onchip_bytes - ws.onchip_bytes == 4 * 6 * (pe_bits - 7 * 8) // 8
    assert rs.onchip_bytes == ArchSpec(dataflow="rs", rf_depth=1, **base).onchip_bytes


def test_a_layer_too_wide_for_the_register_files_is_refused():
    spec = ArchSpec(dataflow="rs", rs_input_depth=4, rs_filter_depth=4)
    with pytest.raises(ValueError, match="a filter row of 5 taps does not fit the register "
                                         "files"):
        map_conv(ConvShape(1, 2, 8, 8, 3, 5, 5), array_of(spec))


def test_spec_array_runs_a_conv_bit_exactly():
    spec = ArchSpec(dataflow="rs", rows=3, cols=5, rs_filter_depth=18, rs_input_depth=6,
                    rs_psum_depth=2)
    rng = np.random.default_rng(14)
    x, w = rng.integers(-128, 128, size=(2, 3, 9, 8)), rng.integers(-128, 128, size=(5, 3, 3, 3))
    y, _, mapping = run_conv(x, w, array_of(spec), stride=2, pad=1)
    np.testing.assert_array_equal(y, conv2d(x, w, 2, 1))
    assert (mapping.channels, mapping.filters) == (2, 2)
