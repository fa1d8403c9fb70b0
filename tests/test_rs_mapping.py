"""The accelerator's mapping of a row-stationary layer (models.row_stationary.map_layer through
models.mapper.map_conv): the descriptor's pass fields are those of the model's passes (a
tile's chunk, the last filter block's, the last channel chunk's, the last tile's), the
weights' DRAM rows the weight-buffer words the filter feed reads, a layer larger than the
buffers runs in bands of output rows and chunks of channels that fit them, the choice moves
the least DRAM traffic, and what cannot fit at all is refused naming the sizes."""

from dataclasses import replace
from itertools import product
from math import ceil

import numpy as np
import pytest

from models.mapper import ConvShape, MappingError, PostProcess, band_rows, map_conv, rs_mapping
from models.mapper import weight_rows
from models.perf import predict_counters, predict_cycles
from models.row_stationary import (LayerChoice, choice_of, chunk_extents, chunk_mapping,
                                   chunk_words, map_conv as map_rs, array_of)
from models.spec import ArchSpec
from testbench.rs_passes import pass_walk_config

SPEC = ArchSpec(name="rs35", dataflow="rs", rows=3, cols=5, rs_filter_depth=24,
                rs_input_depth=6, rs_psum_depth=4, glb_input_bytes=4096, glb_weight_bytes=4096,
                glb_output_bytes=16384)
SMALL = replace(SPEC, name="rs35-small", glb_input_bytes=384, glb_weight_bytes=192,
                glb_output_bytes=1024)
WALK_FIELDS = ("k_tiles", "c_tiles", "folds", "strips", "filter_tile", "ct_lanes",
               "ct_blocks", "fold_rows", "fold_last", "strip_cols", "strip_last",
               "vertical_sets", "vsets_last", "channels", "channels_last", "horizontal_sets",
               "hsets_last", "filters", "filters_last", "strip_rows", "q_lanes", "q_blocks",
               "step", "col_skip")
SHAPES = [ConvShape(2, 7, 9, 8, 12, 3, 3, 1, 1), ConvShape(1, 4, 11, 7, 5, 5, 5, 2, 2),
          ConvShape(1, 9, 5, 6, 3, 1, 1), ConvShape(1, 8, 13, 7, 7, 3, 3, 1, 1),
          ConvShape(2, 5, 11, 9, 6, 3, 3, 2, 1)]


def walk_of(spec, shape, mapping, **kind):
    """The pass walk's configuration of one chunk kind of the mapping (testbench.rs_passes)."""
    chunk = chunk_mapping(spec, shape, choice_of(spec, mapping), **kind)
    config = pass_walk_config(chunk)
    config["strips"] = ceil(chunk.rows_out / chunk.strip_cols)
    return config


@pytest.mark.parametrize("spec", [SPEC, SMALL], ids=lambda spec: spec.name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_pass_fields_are_each_chunks_model_passes(spec, shape):
    try:
        mapping = map_conv(spec, shape)
    except MappingError:
        assert spec.name == SMALL.name and shape.r == 5   # a 5x5 chunk needs 150 words
        return
    d = mapping.descriptor
    full = walk_of(spec, shape, mapping)
    assert {name: d[f"rs_{name}"] for name in WALK_FIELDS} == {name: full[name]
                                                              for name in WALK_FIELDS}
    last = walk_of(spec, shape, mapping, last_k=True)
    assert (d["rs_k_tiles_last"], d["rs_hsets_last_k"], d["rs_filters_last_k"]) == (
        last["k_tiles"], last["hsets_last"], last["filters_last"])
    last = walk_of(spec, shape, mapping, last_c=True)
    assert (d["rs_c_tiles_last_c"], d["rs_vsets_last_c"], d["rs_channels_last_c"]) == (
        last["c_tiles"], last["vsets_last"], last["channels_last"])
    last = walk_of(spec, shape, mapping, rows=d["last_tile_p"])
    assert (d["rs_strips_last_tile"], d["rs_strip_last_tile"]) == (last["strips"],
                                                                   last["strip_last"])
    # The band holds every channel: a row is the layer's line of words, not the chunk's.
    assert (d["rs_fold_words"], d["rs_strip_words"], d["rs_col_skip_words"]) == (
        d["rs_fold_rows"] * d["line_words"], d["rs_strip_rows"] * d["line_words"],
        d["rs_col_skip"] * d["c_blocks"])
    k_blocks = ceil(shape.k / spec.cols)
    groups = ceil(k_blocks / d["k_group_blocks"])
    assert d["rs_out_row_step"] == shape.q * d["k_group_blocks"]
    assert d["rs_out_row_step_last"] == shape.q * (k_blocks - (groups - 1) * d["k_group_blocks"])


@pytest.mark.parametrize("spec", [SPEC, SMALL], ids=lambda spec: spec.name)
def test_weight_rows_are_each_chunks_filter_buffer(spec):
    """A block's chunks lie a full chunk apart (the last block's padded with zero rows), the
    blocks one after the other; each load reads its chunk's words."""
    shape = ConvShape(1, 7, 9, 8, 12, 3, 3, 1, 1)
    w = np.random.default_rng(1).integers(-128, 128, size=(12, 7, 3, 3))
    mapping = map_conv(spec, shape)
    d, choice = mapping.descriptor, choice_of(spec, mapping)
    rows = weight_rows(spec, mapping, w)
    k_full, _, c_full, _ = chunk_extents(spec, shape, choice)
    at = 0
    for k0 in range(0, 12, k_full):
        block_start = at
        for c0 in range(0, 7, c_full):
            last_k, last_c = k0 + k_full >= 12, c0 + c_full >= 7
            words = chunk_mapping(spec, shape, choice, last_k, last_c).filter_buffer(
                w[k0:k0 + k_full, c0:c0 + c_full])[0]
            assert len(words) == d[("w_rows", "w_rows_last_chunk", "w_rows_last_k",
                                    "w_rows_last_both")[2 * last_k + last_c]]
            np.testing.assert_array_equal(rows[at:at + len(words)], words)
            at += d["w_chunk_step"] // d["w_row_beats"] if not last_c else len(words)
        if not last_k:
            assert (at - block_start) * d["w_row_beats"] == d["w_block_beats"]
    assert at == len(rows)
    if spec.name == SMALL.name:
        assert d["c_chunks"] > 1 and not d["w_resident"]
    else:
        # One tile of three one-chunk blocks: each next block's weights load into the other
        # half (resident weights would save no load); resident, a block is a region.
        assert d["c_chunks"] == 1 and d["w_half_words"] and not d["w_resident"]
        resident = rs_mapping(spec, shape, PostProcess(), None,
                              replace(choice, resident=True, halves=False)).descriptor
        assert resident["w_resident"] and resident["w_block_words"] == resident["w_rows"]


@pytest.mark.parametrize("shape", [ConvShape(2, 5, 11, 7, 6, 3, 3, 1, 1),
                                   ConvShape(1, 8, 13, 7, 7, 3, 3, 1, 1),
                                   ConvShape(2, 5, 11, 9, 6, 3, 3, 2, 1)], ids=str)
def test_a_layer_larger_than_the_buffers_runs_in_bands_and_chunks_that_fit(shape):
    """Each layer's image is larger than SMALL's input buffer and a filter block's weights
    larger than its weight buffer: the mapping cuts them into tiles of output rows and chunks
    of channels whose band, outputs and chunk words fit."""
    c_blocks = ceil(shape.c / SMALL.input_lanes)
    assert shape.h * shape.w * c_blocks > SMALL.input_words
    mapping = map_conv(SMALL, shape)
    d, choice = mapping.descriptor, choice_of(SMALL, mapping)
    assert d["tiles"] > 1 and d["c_chunks"] > 1
    assert band_rows(shape, d["tile_p"]) * shape.w * c_blocks <= SMALL.input_words
    assert d["tile_p"] * shape.q * d["k_blocks"] <= SMALL.output_words
    assert max(chunk_words(SMALL, shape, choice).values()) <= SMALL.weight_words
    assert d["rs_strip_cols"] == min(d["tile_p"], SMALL.cols)


def test_the_choice_moves_the_least_dram_traffic():
    """Of every choice that fits (any tile height, any chunk of channel blocks, any output
    group whose slices start on a beat, per-PE channels and filters from the candidates),
    none moves less DRAM traffic than the mapper's."""
    shape = ConvShape(2, 8, 13, 7, 7, 3, 3, 1, 1)

    def traffic(choice):
        counters = predict_counters(SMALL, rs_mapping(SMALL, shape, PostProcess(), None, choice))
        return counters["dram_bytes_read"] + counters["dram_bytes_written"]

    chosen = choice_of(SMALL, map_conv(SMALL, shape))
    best = traffic(chosen)
    c_blocks, k_blocks = ceil(shape.c / SMALL.input_lanes), ceil(shape.k / SMALL.cols)
    groups = [g for g in range(1, k_blocks + 1)
              if g == k_blocks or g * SMALL.cols * 8 % (8 * SMALL.dram_bus_bytes) == 0]
    priced = 0
    for chunk_blocks in range(1, c_blocks + 1):
        most = map_rs(replace(shape, n=1, k=SMALL.cols,
                              c=min(shape.c, chunk_blocks * SMALL.input_lanes)),
                      array_of(SMALL))
        for channels in range(1, most.channels + 1):
            for filters in range(1, most.filters + 1):
                for tile_p, group in product(range(1, shape.p + 1), groups):
                    choice = LayerChoice(channels, filters, most.fold_rows,
                                         min(tile_p, SMALL.cols), tile_p, chunk_blocks, False,
                                         group)
                    words = max(chunk_words(SMALL, shape, choice).values())
                    if (band_rows(shape, tile_p) * shape.w * c_blocks <= SMALL.input_words
                            and tile_p * shape.q * group <= SMALL.output_words
                            and words <= SMALL.weight_words):
                        priced += 1
                        assert best <= traffic(choice), choice
    assert priced > 10


@pytest.mark.parametrize("shape,message", [
    (ConvShape(1, 3, 40, 700, 4, 3, 3), "row-stationary: one output row needs 2100 "
                                        "input-buffer words"),
    (ConvShape(1, 3, 20, 20, 4, 3, 3, 8, 1), "row-stationary: stride must be at most 7, not 8"),
    (ConvShape(1, 3, 20, 20, 4, 7, 7), "a filter row of 7 taps does not fit"),
])
def test_what_cannot_fit_at_all_is_refused_naming_the_sizes(shape, message):
    with pytest.raises(MappingError, match=message):
        map_conv(SPEC, shape)


def test_the_weight_buffer_in_halves_hides_the_next_chunks_load():
    """A tile of three filter blocks: the mapper puts the weight buffer in halves (each
    chunk's weights fit half of it), which moves the same data as the whole buffer with the
    same chunks, in fewer cycles (each next chunk's weights load while a chunk runs)."""
    shape = ConvShape(1, 7, 6, 5, 3 * SPEC.cols - 4, 3, 3, 1, 1)
    mapping = map_conv(SPEC, shape)
    choice = choice_of(SPEC, mapping)
    assert choice.halves and mapping.descriptor["w_half_words"] == SPEC.weight_words // 2
    assert chunk_words(SPEC, shape, choice)[(False, False)] <= SPEC.weight_words // 2
    whole = rs_mapping(SPEC, shape, PostProcess(), None, replace(choice, halves=False))
    assert predict_counters(SPEC, whole) == predict_counters(SPEC, mapping)
    assert predict_cycles(SPEC, mapping) < predict_cycles(SPEC, whole)


def test_one_load_a_tile_keeps_the_whole_weight_buffer():
    """One filter block whose weights fit: nothing to overlap, no halves."""
    mapping = map_conv(SPEC, ConvShape(1, 7, 6, 5, SPEC.cols, 3, 3, 1, 1))
    assert mapping.descriptor["c_chunks"] == mapping.descriptor["k_blocks"] == 1
    assert mapping.descriptor["w_half_words"] == 0
