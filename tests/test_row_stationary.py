"""The row-stationary mapping in NumPy: outputs against the golden model, counts against the
closed forms, on a non-square array and one with an odd number of rows."""

from collections import Counter

import numpy as np
import pytest

from models.golden import conv2d, fc, operand_range
from models.row_stationary import (EYERISS_DEPTHS, ConvShape, RowStationaryArray,
                                   array_of, expected_counts, fc_input, layer_counts, map_conv,
                                   pe_conv1d, run_conv, run_fc, run_grouped_conv)
from models.spec import ArchSpec

ARRAYS = {
    "eyeriss_12x14": RowStationaryArray(12, 14, **EYERISS_DEPTHS),
    "odd_5x3": RowStationaryArray(5, 3, filter_depth=20, input_depth=6, psum_depth=3),
}


def random_layer(rng, kernel, stride, pad):
    """A small random conv: batch, channels and filters drawn so tiles end partially full."""
    n, c, k = rng.integers(1, 3), rng.integers(1, 6), rng.integers(1, 7)
    h, w = rng.integers(kernel, kernel + 9, size=2)
    lo, hi = operand_range(8)
    x = rng.integers(lo, hi + 1, size=(n, c, h, w))
    x[rng.random(x.shape) < 0.2] = 0
    weights = rng.integers(lo, hi + 1, size=(k, c, kernel, kernel))
    return x, weights


def gated_macs(x, w, stride, pad, groups=1, pad_value=0):
    """MACs whose input (padding included) is zero: K times the zero inputs under each
    window (of the filter's group)."""
    zeros = (np.asarray(x) == 0).astype(np.int64)
    ones = np.ones((groups,) + w.shape[1:], dtype=np.int64)
    per_group = conv2d(zeros, ones, stride, pad, groups, pad_value=int(pad_value == 0))
    return w.shape[0] // groups * int(per_group.sum())


CASES = [(kernel, stride, pad) for kernel in (1, 3, 5) for stride in (1, 2)
         for pad in (0, kernel // 2)]


@pytest.mark.parametrize("array_name", ARRAYS)
@pytest.mark.parametrize("kernel,stride,pad", CASES)
def test_output_equals_golden_and_counts_equal_closed_forms(array_name, kernel, stride, pad):
    rng = np.random.default_rng([kernel, stride, pad, len(array_name)])
    array = ARRAYS[array_name]
    for _ in range(3):
        x, w = random_layer(rng, kernel, stride, pad)
        y, counts, mapping = run_conv(x, w, array, stride, pad)
        np.testing.assert_array_equal(y, conv2d(x, w, stride, pad))
        expected = expected_counts(mapping)
        expected["gated_macs"] = gated_macs(x, w, stride, pad)
        assert dict(counts) == dict(expected)


def test_large_layer_folds_and_small_layer_replicates():
    """A 5x5 kernel folds on 3 rows; a 1x1 layer of few output rows replicates both ways."""
    odd = ARRAYS["odd_5x3"]
    rng = np.random.default_rng(7)
    x, w = rng.integers(-8, 8, size=(1, 2, 9, 9)), rng.integers(-8, 8, size=(4, 2, 5, 5))
    y, counts, folded = run_conv(x, w, RowStationaryArray(3, 3, 224, 12, 24))
    np.testing.assert_array_equal(y, conv2d(x, w))
    assert (folded.fold_rows, folded.vertical_sets) == (3, 1)
    assert counts["glb_psum_reads"] > 0
    x, w = rng.integers(-8, 8, size=(2, 8, 2, 4)), rng.integers(-8, 8, size=(6, 8, 1, 1))
    y, counts, replicated = run_conv(x, w, odd)
    np.testing.assert_array_equal(y, conv2d(x, w))
    assert (replicated.vertical_sets, replicated.horizontal_sets) == (5, 1)
    assert replicated.channels * replicated.vertical_sets >= 8
    assert counts["passes"] == 2 * 2


def test_register_file_depths_bound_the_mapping():
    array = ARRAYS["odd_5x3"]
    for kernel in (1, 3, 5):
        m = map_conv(ConvShape(n=1, c=7, h=6, w=6, k=9, r=kernel, s=kernel), array)
        assert m.channels * kernel <= array.input_depth
        assert m.filters * m.channels * kernel <= array.filter_depth
        assert m.filters <= array.psum_depth


def test_filter_row_wider_than_the_input_window_is_refused():
    array = RowStationaryArray(4, 4, filter_depth=224, input_depth=4, psum_depth=8)
    with pytest.raises(ValueError, match="a filter row of 5 taps does not fit"):
        run_conv(np.zeros((1, 1, 8, 8)), np.zeros((1, 1, 5, 5)), array)


def test_bad_array_dimension_is_refused():
    with pytest.raises(ValueError, match="rows must be a positive integer, not 0"):
        RowStationaryArray(0, 4, 224, 12, 24)


def test_pe_conv1d_equals_numpy_correlation():
    rng = np.random.default_rng(3)
    for s, stride in ((1, 1), (3, 1), (3, 2), (5, 2)):
        filters = rng.integers(-128, 128, size=(2, 3, s))
        rows = rng.integers(-128, 128, size=(3, 17))
        outputs = (17 - s) // stride + 1
        psum_in = rng.integers(-1000, 1000, size=(2, outputs))
        psum_out, _ = pe_conv1d(filters, rows, stride, outputs, psum_in)
        expected = psum_in + np.array([[sum(np.correlate(rows[c], filters[k, c], "valid")
                                            [::stride][f] for c in range(3))
                                        for f in range(outputs)] for k in range(2)])
        np.testing.assert_array_equal(psum_out, expected)


@pytest.mark.parametrize("array_name", ARRAYS)
@pytest.mark.parametrize("groups_of", ["depthwise", "two_groups"])
def test_grouped_convs_run_group_by_group(array_name, groups_of):
    """Depthwise (groups = C = K) and grouped layers, a batch of images, padding of a zero
    point: outputs equal the golden model, counts are the groups' closed forms."""
    rng = np.random.default_rng([len(array_name), len(groups_of)])
    array = ARRAYS[array_name]
    groups, per_group = (6, 1) if groups_of == "depthwise" else (2, 3)
    x = rng.integers(-128, 128, size=(2, groups * per_group, 7, 6))
    x[rng.random(x.shape) < 0.2] = 0
    w = rng.integers(-128, 128, size=(groups * per_group, per_group, 3, 3))
    y, counts, mapping = run_grouped_conv(x, w, array, groups, stride=2, pad=1, pad_value=-3)
    np.testing.assert_array_equal(y, conv2d(x, w, 2, 1, groups, pad_value=-3))
    expected = Counter({name: groups * value
                        for name, value in expected_counts(mapping).items()})
    expected["gated_macs"] = gated_macs(x, w, 2, 1, groups, pad_value=-3)
    assert dict(counts) == dict(expected)
    assert mapping.shape.c == per_group and mapping.shape.n == 2


def test_a_group_count_that_does_not_divide_the_channels_is_refused():
    with pytest.raises(ValueError, match="row-stationary: 4 groups do not fit C=6, K=4"):
        run_grouped_conv(np.zeros((1, 6, 4, 4)), np.zeros((4, 1, 1, 1)), ARRAYS["odd_5x3"], 4)


@pytest.mark.parametrize("array_name", ARRAYS)
def test_fully_connected_layers_keep_weights_in_the_filter_file(array_name):
    """M samples are one output row of M outputs: every weight is written to a register file
    once and read M times; outputs equal the golden model's."""
    rng = np.random.default_rng(len(array_name))
    array = ARRAYS[array_name]
    m, c, k = 11, 9, 7
    x, w = rng.integers(-128, 128, size=(m, c)), rng.integers(-128, 128, size=(k, c))
    y, counts, mapping = run_fc(x, w, array)
    np.testing.assert_array_equal(y, fc(x, w))
    expected = expected_counts(mapping)
    expected["gated_macs"] = gated_macs(fc_input(x), w.reshape(k, c, 1, 1), 1, 0)
    assert dict(counts) == dict(expected)
    assert counts["filter_rf_writes"] == k * c
    assert counts["filter_rf_reads"] == m * k * c


@pytest.mark.parametrize("array_name", ARRAYS)
@pytest.mark.parametrize("kernel,stride,pad", CASES)
def test_pass_layouts_send_what_the_closed_forms_count(array_name, kernel, stride, pad):
    """Summed over the passes, the input bus's words (`Pass.input_sends`) are input_bus_sends
    and the filter words' lanes (`Pass.filter_words`) glb_filter_reads; every input word
    addresses the padded input inside its diagonal's row."""
    rng = np.random.default_rng([kernel, stride, pad, 1 + len(array_name)])
    x, w = random_layer(rng, kernel, stride, pad)
    shape = ConvShape(*x.shape, w.shape[0], kernel, kernel, stride, pad)
    mapping = map_conv(shape, ARRAYS[array_name])
    sends = filter_reads = 0
    for start in mapping.passes():
        plan = mapping.plan(*start)
        words = list(plan.input_sends(shape))
        sends += len(words)
        assert all(0 <= column < shape.w + 2 * pad and 0 <= row < shape.h + 2 * pad
                   for _, _, _, row, column in words)
        filter_reads += sum(sum(lengths) for _, _, lengths in plan.filter_words(w, mapping))
    expected = expected_counts(mapping)
    assert (sends, filter_reads) == (expected["input_bus_sends"], expected["glb_filter_reads"])


def test_layer_counts_of_a_spec_are_the_executors():
    """The API for the comparisons (issue 14): a grouped layer's counts from (spec, shape)."""
    spec = ArchSpec(dataflow="rs", rows=4, cols=6, rs_filter_depth=40, rs_input_depth=8,
                    rs_psum_depth=4)
    rng = np.random.default_rng(4)
    x, w = rng.integers(1, 128, size=(2, 6, 9, 7)), rng.integers(-128, 128, size=(4, 3, 3, 3))
    counts, mapping = layer_counts(spec, ConvShape(2, 6, 9, 7, 4, 3, 3, 1, 1), groups=2)
    _, executed, executed_mapping = run_grouped_conv(x, w, array_of(spec), 2, pad=1)
    assert mapping == executed_mapping
    del executed["gated_macs"]
    assert dict(counts) == dict(executed)
