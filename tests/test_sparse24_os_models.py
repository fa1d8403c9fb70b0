"""2:4 weights on the output-stationary array, without the RTL: the spec, the DRAM rows of W
(models/sparse_os.py) read back into the weights, and what the mapper and the model make of a
2:4 layer against the same layer dense."""

import numpy as np
import pytest

from models.energy import table_for
from models.mapper import ConvShape, map_conv, weight_beats, weight_rows
from models.perf import model_counters, predict_counters, predict_cycles
from models.sparsity import GROUP, KEPT, active_rows, magnitude_mask
from models.spec import INDEX_BITS, ArchSpec
from peforge.report import layer_entry

OS_2TO4 = ArchSpec(name="os-6x3-2to4", rows=6, cols=3, dataflow="os", weight_sparsity="2:4",
                   glb_weight_bytes=1024, dram_bus_bytes=8)


def test_an_output_stationary_2to4_array_has_double_input_words_and_column_indices():
    assert (OS_2TO4.input_lanes, OS_2TO4.weight_lanes) == (12, 3 + -(-3 * INDEX_BITS // 8))
    dense = ArchSpec(rows=6, cols=3, dataflow="os")
    assert (dense.input_lanes, dense.weight_lanes) == (6, 3)


def unpacked(spec, mapping, rows, k, c, r, s):
    """The K x C x R x S weights the DRAM `rows` hand the array, step by step, in the order
    of the output-stationary loop (filter block, chunk, tap, word, half, step)."""
    d, lanes, cols = mapping.descriptor, spec.input_lanes, spec.cols
    halves = d["word_blocks"]
    weights = np.zeros((d["k_blocks"] * cols, c, r, s), dtype=np.int64)
    rows = iter(rows)
    words = -(-c // lanes)
    for kb in range(d["k_blocks"]):
        for first in range(0, words, d["c_chunk_blocks"]):
            for rr in range(r):
                for ss in range(s):
                    for word in range(first, min(words, first + d["c_chunk_blocks"])):
                        channels = min(lanes, c - word * lanes)
                        for steps in active_rows(spec, channels, halves == 1)[:halves]:
                            for u in range(steps):
                                row = next(rows)
                                for j in range(cols):
                                    byte = int(row[cols + INDEX_BITS * j // 8]) & 0xff
                                    index = byte >> (INDEX_BITS * j % 8) & 3
                                    channel = word * lanes + GROUP * (u // KEPT) + index
                                    weights[kb * cols + j, channel, rr, ss] += row[j]
    assert next(rows, None) is None
    return weights[:k]


@pytest.mark.parametrize("c, sparse", [(24, True), (36, True), (8, True), (13, False),
                                       (24, False)])
def test_weight_rows_hand_the_array_every_weight_once(c, sparse):
    """A 2:4 layer's rows hold its kept weights (the pruned ones are zero anyway), a dense
    layer's every weight, each at its channel's index; chunked layers included (c=36 does not
    fit the weight buffer at once)."""
    rng = np.random.default_rng(c)
    k, r, s = 5, 3, 3
    w = rng.integers(-128, 128, (k, c, r, s))
    if sparse:
        w = w * magnitude_mask(w)
    shape = ConvShape(1, c, 4, 4, k, r, s, pad=1)
    mapping = map_conv(OS_2TO4, shape, weights=w)
    assert mapping.descriptor["word_blocks"] == (1 if sparse else 2)
    rows = weight_rows(OS_2TO4, mapping, w)
    assert len(rows) * mapping.w_row_beats == weight_beats(OS_2TO4, shape, sparse)
    np.testing.assert_array_equal(unpacked(OS_2TO4, mapping, rows, k, c, r, s), w)
    if c == 36:
        assert mapping.descriptor["c_chunks"] > 1


def test_a_2to4_layer_takes_about_half_the_cycles_and_a_dense_one_the_dense_arrays():
    """The model of a 3x3 64-channel layer: 2:4 on the 2:4 array against the dense array of
    the same shape; dense weights on the 2:4 array within 2 % of the dense array (the same
    loads, but each weight row of 16 kept weights and 4 index bytes takes two 16-byte beats)."""
    dense_spec = ArchSpec(name="os-16x16", dataflow="os")
    spec = ArchSpec(name="os-16x16-2to4", dataflow="os", weight_sparsity="2:4")
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (64, 64, 3, 3))
    shape = ConvShape(1, 64, 16, 16, 64, 3, 3, pad=1)
    dense = predict_cycles(dense_spec, map_conv(dense_spec, shape))
    sparse_map = map_conv(spec, shape, weights=w * magnitude_mask(w))
    assert predict_cycles(spec, sparse_map) <= 0.55 * dense
    assert dense <= predict_cycles(spec, map_conv(spec, shape, weights=w)) <= 1.02 * dense
    counters = predict_counters(spec, sparse_map)
    assert counters["macs_skipped"] * 2 == counters["macs"] == shape.macs
    assert counters["rf_writes"] == counters["rf_reads"] == shape.macs // 2


def test_the_report_says_whether_an_output_stationary_layer_ran_2to4():
    shape = ConvShape(1, 24, 5, 5, 4, 3, 3, pad=1)
    w = np.random.default_rng(3).integers(-128, 128, (4, 24, 3, 3))
    table = table_for(OS_2TO4)
    modes = [layer_entry(OS_2TO4, "conv", "conv", model_counters(OS_2TO4, mapping), table,
                         mode="dense")["mode"]
             for mapping in (map_conv(OS_2TO4, shape, weights=w * magnitude_mask(w)),
                             map_conv(OS_2TO4, shape, weights=w))]
    assert modes == ["dense; 2:4 weights, half the MACs skipped",
                     "dense; weights not 2:4: runs dense"]
