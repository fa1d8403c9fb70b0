"""2:4 weights on the output-stationary array, without the RTL: the spec, the DRAM rows of W
(models/sparse_os.py) loaded as the descriptor's loads read them and read back into the
weights, and what the mapper and the model make of a 2:4 layer against the same layer dense."""

import numpy as np
import pytest

from models.energy import table_for
from models.hardware import COUNT_LIMIT
from models.layout import pack_rows
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


def loaded_words(spec, mapping, dram):
    """The weight-buffer words the descriptor's weight loads cut from W's DRAM bytes `dram`
    (from the layer's first weight beat), load after load: each load's rows of `row_elems`
    operands at its DRAM beats, a word every `weight_lanes` operands."""
    d, bus = mapping.descriptor, spec.dram_bus_bytes
    words = []
    for kb in range(d["k_blocks"]):
        for chunk in range(d["c_chunks"]):
            last = chunk == d["c_chunks"] - 1
            rows, beats, elems = (d[name] for name in (
                ("w_rows_last_chunk", "w_last_slice_beats", "w_last_row_elems") if last
                else ("w_rows", "w_slice_beats", "w_row_elems")))
            assert elems % spec.weight_lanes == 0
            for row in range(rows):
                start = (kb * d["w_block_beats"] + chunk * d["w_chunk_step"]
                         + row * d["w_row_beats"]) * bus
                assert start + beats * bus <= len(dram)
                values = dram[start:start + beats * bus][:elems].view(np.int8)
                words.extend(values.astype(np.int64).reshape(-1, spec.weight_lanes))
    return words


def unpacked(spec, mapping, rows, k, c, r, s):
    """The K x C x R x S weights the weight-buffer words `rows` hand the array, step by step,
    in the order of the output-stationary loop (filter block, chunk, tap, word, half, step)."""
    d, lanes, cols = mapping.descriptor, spec.input_lanes, spec.cols
    dense = d["dense_lanes"]
    weights = np.zeros((d["k_blocks"] * cols, c, r, s), dtype=np.int64)
    rows = iter(rows)
    words = -(-c // lanes)
    for kb in range(d["k_blocks"]):
        for first in range(0, words, d["c_chunk_blocks"]):
            for rr in range(r):
                for ss in range(s):
                    for word in range(first, min(words, first + d["c_chunk_blocks"])):
                        channels = min(lanes, c - word * lanes)
                        for half, steps in enumerate(active_rows(spec, channels, not dense)):
                            for u in range(steps):
                                row = next(rows)
                                for j in range(cols):
                                    byte = int(row[cols + INDEX_BITS * j // 8]) & 0xff
                                    index = byte >> (INDEX_BITS * j % 8) & 3
                                    # A dense step u of half h: channel h * rows + u, which
                                    # the loop hands the array at index u mod 2.
                                    assert not dense or index == u % KEPT
                                    channel = word * lanes + (half * spec.rows + u if dense
                                                              else GROUP * (u // KEPT) + index)
                                    weights[kb * cols + j, channel, rr, ss] += row[j]
    assert next(rows, None) is None
    return weights[:k]


def loaded_weights(spec, shape, w):
    """(mapping, W's DRAM bytes, the K x C x R x S weights the weight loads hand the array)."""
    mapping = map_conv(spec, shape, weights=w)
    dram = pack_rows(weight_rows(spec, mapping, w), spec.operand_bits, spec.dram_bus_bytes)
    words = loaded_words(spec, mapping, dram)
    return mapping, dram, unpacked(spec, mapping, words, *w.shape)


@pytest.mark.parametrize("c, sparse", [(24, True), (36, True), (8, True), (13, False),
                                       (24, False), (5, False)])
def test_weight_rows_hand_the_array_every_weight_once(c, sparse):
    """A 2:4 layer's rows hold its kept weights (the pruned ones are zero anyway), a dense
    layer's every weight, each at its channel's index (a dense layer of at most `rows`
    channels in one block a word, a wider one in two); chunked layers included (c=36 does not
    fit the weight buffer at once, so its last chunk's row is shorter).  A chunk's steps are
    one DRAM row, rounded to a beat once: W takes each filter block's chunks' operands in
    whole beats, no more, and less than a row per step would."""
    rng = np.random.default_rng(c)
    k, r, s = 5, 3, 3
    w = rng.integers(-128, 128, (k, c, r, s))
    if sparse:
        w = w * magnitude_mask(w)
    shape = ConvShape(1, c, 4, 4, k, r, s, pad=1)
    mapping, dram, loaded = loaded_weights(OS_2TO4, shape, w)
    d, bus = mapping.descriptor, OS_2TO4.dram_bus_bytes
    assert d["word_blocks"] == (1 if sparse or c <= OS_2TO4.rows else 2)
    np.testing.assert_array_equal(loaded, w)
    assert d["w_rows"] == d["w_rows_last_chunk"] == 1
    chunk_bytes = [d["w_row_elems"]] * (d["c_chunks"] - 1) + [d["w_last_row_elems"]]
    assert len(dram) == d["k_blocks"] * sum(-(-n // bus) * bus for n in chunk_bytes)
    assert len(dram) == weight_beats(OS_2TO4, shape, sparse, c_chunk_blocks=d["c_chunk_blocks"]) \
        * bus < weight_beats(OS_2TO4, shape) * bus
    if c == 36:
        assert d["c_chunks"] > 1 and d["w_last_row_elems"] < d["w_row_elems"]


def test_a_chunk_too_long_for_one_dma_row_takes_a_row_per_step():
    """A chunk of more than COUNT_LIMIT operands (a big weight buffer) cannot be one DMA row:
    its steps are a row each, as on a dense array, and still hand the array every weight."""
    spec = ArchSpec(name="os-16x16-2to4-big", dataflow="os", weight_sparsity="2:4",
                    glb_weight_bytes=128 * 1024)
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (4, 272, 5, 5))
    w = w * magnitude_mask(w)
    mapping, dram, loaded = loaded_weights(spec, ConvShape(1, 272, 5, 5, 4, 5, 5, pad=2), w)
    d = mapping.descriptor
    assert 25 * 136 * spec.weight_lanes > COUNT_LIMIT and d["c_chunks"] == 1
    assert (d["w_rows"], d["w_row_elems"]) == (25 * 136, spec.weight_lanes)
    np.testing.assert_array_equal(loaded, w)


def test_a_2to4_layer_takes_about_half_the_cycles_and_a_dense_one_the_dense_arrays():
    """The model of a 3x3 64-channel layer: 2:4 on the 2:4 array against the dense array of
    the same shape; dense weights on the 2:4 array within 2 % of the dense array (the same
    loads, but weight rows of 16 weights and 4 index bytes).  The weights' DRAM bytes: a
    step of 20 bytes for each of the dense array's 16, packed a chunk a row, so the 2:4
    layer's half as many steps read 0.625x the dense array's bytes, dense weights 1.25x."""
    dense_spec = ArchSpec(name="os-16x16", dataflow="os")
    spec = ArchSpec(name="os-16x16-2to4", dataflow="os", weight_sparsity="2:4")
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (64, 64, 3, 3))
    shape = ConvShape(1, 64, 16, 16, 64, 3, 3, pad=1)
    dense = predict_cycles(dense_spec, map_conv(dense_spec, shape))
    sparse_map = map_conv(spec, shape, weights=w * magnitude_mask(w))
    assert predict_cycles(spec, sparse_map) <= 0.55 * dense
    dense_on_twin = map_conv(spec, shape, weights=w)
    assert dense <= predict_cycles(spec, dense_on_twin) <= 1.02 * dense
    x_bytes = shape.h * shape.w * shape.c
    w_bytes = [predict_counters(s, m)["dram_bytes_read"] - x_bytes for s, m in (
        (dense_spec, map_conv(dense_spec, shape)), (spec, sparse_map), (spec, dense_on_twin))]
    assert w_bytes[0] == w.size and w_bytes[1] * 8 == w_bytes[0] * 5 \
        and w_bytes[2] * 4 == w_bytes[0] * 5
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
