"""The accelerator's mapping of a row-stationary layer (models.row_stationary.map_layer through
models.mapper.map_conv): the descriptor's pass fields are those of the model's passes, the
weights' DRAM rows the weight-buffer words the filter feed reads, and what does not fit is
refused naming the value."""

from dataclasses import replace
from math import ceil

import numpy as np
import pytest

from models.mapper import ConvShape, MappingError, map_conv, weight_rows
from models.row_stationary import (RowStationaryMapping, array_of, buffer_words, chunk_cycles,
                                   filter_block_mapping, map_conv as map_rs)
from models.spec import ArchSpec
from testbench.rs_passes import pass_walk_config

SPEC = ArchSpec(name="rs35", dataflow="rs", rows=3, cols=5, rs_filter_depth=24,
                rs_input_depth=6, rs_psum_depth=4, glb_input_bytes=4096, glb_weight_bytes=4096,
                glb_output_bytes=16384)
WALK_FIELDS = ("k_tiles", "c_tiles", "folds", "strips", "filter_tile", "ct_lanes",
               "ct_blocks", "fold_rows", "fold_last", "strip_cols", "strip_last",
               "vertical_sets", "vsets_last", "channels", "channels_last", "horizontal_sets",
               "hsets_last", "filters", "filters_last", "fold_words", "strip_rows",
               "strip_words", "q_lanes", "q_blocks", "step", "col_skip", "col_skip_words")


@pytest.mark.parametrize("shape", [ConvShape(2, 7, 9, 8, 12, 3, 3, 1, 1),
                                   ConvShape(1, 4, 11, 7, 5, 5, 5, 2, 2),
                                   ConvShape(1, 9, 5, 6, 3, 1, 1)], ids=str)
def test_pass_fields_are_each_filter_blocks_model_passes(shape):
    d = map_conv(SPEC, shape).descriptor
    k_blocks = ceil(shape.k / SPEC.cols)
    full = pass_walk_config(filter_block_mapping(SPEC, shape))
    last = pass_walk_config(filter_block_mapping(SPEC, shape, shape.k - (k_blocks - 1) * 5))
    assert {name: d[f"rs_{name}"] for name in WALK_FIELDS} == {name: full[name]
                                                              for name in WALK_FIELDS}
    assert (d["rs_k_tiles_last"], d["rs_hsets_last_k"], d["rs_filters_last_k"]) == (
        last["k_tiles"], last["hsets_last"], last["filters_last"])
    assert d["rs_out_row_step"] == shape.q * k_blocks == d["q"] * d["k_group_blocks"]
    assert (d["tiles"], d["c_chunks"], d["k_blocks"]) == (1, 1, k_blocks)


def test_weight_rows_are_each_blocks_filter_buffer():
    shape = ConvShape(1, 7, 9, 8, 12, 3, 3, 1, 1)
    w = np.random.default_rng(1).integers(-128, 128, size=(12, 7, 3, 3))
    mapping = map_conv(SPEC, shape)
    rows = weight_rows(SPEC, mapping, w)
    d = mapping.descriptor
    blocks = [filter_block_mapping(SPEC, shape, len(w[k0:k0 + 5])).filter_buffer(w[k0:k0 + 5])[0]
              for k0 in range(0, 12, 5)]
    np.testing.assert_array_equal(rows, np.concatenate(blocks))
    assert [len(b) for b in blocks] == [d["w_rows"], d["w_rows"], d["w_rows_last_k"]]
    assert d["w_row_elems"] == 3 and d["w_block_beats"] == d["w_rows"] * d["w_row_beats"]
    assert d["w_resident"] == 1 and d["w_block_words"] == d["w_rows"]


@pytest.mark.parametrize("shape,message", [
    (ConvShape(1, 3, 40, 40, 4, 3, 3), "row-stationary runs a whole image at a time: "
                                        "1600 input-buffer"),
    (ConvShape(1, 3, 20, 20, 4, 3, 3, 8, 1), "row-stationary: stride must be at most 7, not 8"),
    (ConvShape(1, 3, 20, 20, 4, 7, 7), "a filter row of 7 taps does not fit"),
])
def test_what_does_not_fit_is_refused_naming_the_value(shape, message):
    with pytest.raises(MappingError, match=message):
        map_conv(SPEC, shape)


def test_the_choice_moves_the_least_dram_traffic_then_takes_the_fewest_cycles():
    """Per-PE channels and filters: of the candidates (the most the register files allow,
    half of it, one), the choice's weights cross DRAM the fewest bytes, and of those its
    chunk takes the fewest cycles, with a weight buffer that keeps them resident and one
    that does not."""
    shape = ConvShape(3, 6, 7, 6, 10, 3, 3, 1, 1)

    def cost(spec, channels, filters):
        mapping = filter_block_mapping(spec, shape)
        candidate = RowStationaryMapping(mapping.shape, mapping.array, channels, filters,
                                         mapping.fold_rows, mapping.strip_cols)
        words = buffer_words(candidate)
        fetches = 1 if ceil(shape.k / spec.cols) * words <= spec.weight_words else shape.n
        return fetches * words, chunk_cycles(candidate)

    for spec, resident in ((SPEC, True), (replace(SPEC, glb_weight_bytes=3 * 128), False)):
        chosen = filter_block_mapping(spec, shape)
        best = cost(spec, chosen.channels, chosen.filters)
        assert best[0] == (1 if resident else shape.n) * buffer_words(chosen)
        most = map_rs(chosen.shape, array_of(spec))
        for channels in range(1, most.channels + 1):
            for filters in range(1, most.filters + 1):
                assert best <= cost(spec, channels, filters) or (channels, filters) not in {
                    (q, p) for q in (1, ceil(most.channels / 2), most.channels)
                    for p in (1, ceil(most.filters / 2), most.filters)}
