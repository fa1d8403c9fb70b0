"""The row-stationary layer figures (models/rs_perf.py) against the NumPy executor run as the
accelerator maps a layer (tiles of output rows, blocks of `cols` filters, chunks of channels),
and against the inner loop's word streams walked one by one: conv, grouped / depthwise, fully
connected, on a non-square array, one with an odd number of rows, and one whose small buffers
cut layers into bands and channel chunks.  (tests/test_rs_rtl.py holds them to the RTL.)"""

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from models.counters import COUNTER_NAMES
from models.golden import operand_range
from models.mapper import ConvShape, PostProcess, fc_shape
from models.perf import tiles
from models.row_stationary import (array_of, choice_of, chunk_extents, chunk_mapping, fc_input,
                                   map_layer, run_conv)
from models.rs_perf import RS_COUNTER_NAMES, rs_layer_figures, rs_layer_fits
from models.spec import ArchSpec

SPECS = {
    "rs_3x5": ArchSpec(dataflow="rs", rows=3, cols=5, rs_filter_depth=24, rs_input_depth=6,
                       rs_psum_depth=4),
    "rs_5x4": ArchSpec(dataflow="rs", rows=5, cols=4),
    "rs_3x5_small": ArchSpec(dataflow="rs", rows=3, cols=5, rs_filter_depth=24,
                             rs_input_depth=6, rs_psum_depth=4, glb_input_bytes=192,
                             glb_weight_bytes=192, glb_output_bytes=1024),
}
RS_EVENTS = ("filter_rf_reads", "filter_rf_writes", "input_rf_reads", "input_rf_writes",
             "psum_rf_reads", "psum_rf_writes", "filter_bus_deliveries", "input_bus_sends",
             "input_bus_deliveries", "psum_hops", "passes")


def nonzero_operands(rng, shape):
    """Random operands without zeros, so the only gated MACs are those on padding."""
    lo, hi = operand_range(8)
    values = rng.integers(lo, hi, size=shape)
    return np.where(values >= 0, values + 1, values)


def layer_mapping(spec, shape):
    """The mapping `rs_layer_figures` prices: the accelerator's, or where the layer does not
    fit the buffers, the whole-image one on buffers large enough."""
    return map_layer(spec, shape, PostProcess(), None, bounded=rs_layer_fits(spec, shape))


def executed_by_chunks(spec, x, w, stride=1, pad=0):
    """The executor's counts of a conv run as the accelerator maps it: tile by tile of output
    rows (each tile's padded band of one image), each block of `cols` filters, each chunk of
    channels."""
    (n, c, h, width), (k, _, r, s) = x.shape, w.shape
    shape = ConvShape(n, c, h, width, k, r, s, stride, pad)
    mapping = layer_mapping(spec, shape)
    choice = choice_of(spec, mapping)
    k_full, _, c_full, _ = chunk_extents(spec, shape, choice)
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    counts = Counter()
    for tile in tiles(mapping):
        top = tile.p0 * stride
        band = padded[tile.image:tile.image + 1, :, top:top + (tile.rows - 1) * stride + r]
        for k0 in range(0, k, k_full):
            for c0 in range(0, c, c_full):
                chunk = chunk_mapping(spec, shape, choice, k0 + k_full >= k, c0 + c_full >= c,
                                      tile.rows)
                counts.update(run_conv(band[:, c0:c0 + c_full], w[k0:k0 + k_full, c0:c0 + c_full],
                                       array_of(spec), stride, mapping=chunk)[1])
    return counts


def walked_figures(spec, shape):
    """Input-buffer reads, weight-buffer words read and loaded, and output vectors of a
    layer, walked word by word over its tiles' chunks' passes."""
    mapping = layer_mapping(spec, shape)
    choice = choice_of(spec, mapping)
    k_full, _, c_full, _ = chunk_extents(spec, shape, choice)
    reads = words = loaded = vectors = 0
    walk = list(tiles(mapping))
    for tile in walk:
        for k0 in range(0, shape.k, k_full):
            for c0 in range(0, shape.c, c_full):
                chunk = chunk_mapping(spec, shape, choice, k0 + k_full >= shape.k,
                                      c0 + c_full >= shape.c, tile.rows)
                sh = chunk.shape
                w = np.ones((sh.k, sh.c, sh.r, sh.s), dtype=np.int64)
                loaded += len(chunk.filter_buffer(w)[0])
                for start in chunk.passes():
                    the_pass = chunk.plan(*start)
                    reads += sum(sh.pad <= tile.p0 * sh.stride + row < sh.pad + sh.h
                                 and sh.pad <= column < sh.pad + sh.w
                                 for _, _, _, row, column in the_pass.input_sends(sh))
                    words += sum(len(lanes) for _, lanes, _ in the_pass.filter_words(w, chunk))
                    vectors += len(the_pass.strip) * sh.q
    fetches = 1 if choice.resident else len(walk)
    return {"glb_input_reads": reads, "glb_weight_reads": words,
            "glb_weight_writes": loaded * fetches // len(walk), "glb_output_writes": vectors}


LAYERS = [ConvShape(2, 5, 9, 7, 6, 3, 3, 1, 1), ConvShape(1, 3, 11, 10, 9, 5, 5, 2, 2),
          ConvShape(1, 7, 6, 8, 11, 1, 1), ConvShape(2, 2, 8, 9, 3, 3, 3, 2, 0)]


@pytest.mark.parametrize("spec_name", SPECS)
@pytest.mark.parametrize("shape", LAYERS, ids=str)
def test_conv_figures_equal_executor_and_walked_streams(spec_name, shape):
    spec = SPECS[spec_name]
    rng = np.random.default_rng(shape.c * shape.k)
    x = nonzero_operands(rng, (shape.n, shape.c, shape.h, shape.w))
    w = nonzero_operands(rng, (shape.k, shape.c, shape.r, shape.s))
    events = executed_by_chunks(spec, x, w, shape.stride, shape.pad)
    counters, cycles = rs_layer_figures(spec, shape)
    assert set(counters) == set(COUNTER_NAMES) - {"cycles"} | set(RS_COUNTER_NAMES)
    assert {name: counters[name] for name in RS_EVENTS} == {name: events[name]
                                                           for name in RS_EVENTS}
    assert counters["macs"] == shape.macs == events["macs"]
    assert counters["macs_gated"] == events["gated_macs"]
    assert counters["filter_bus_words"] == events["glb_filter_reads"]
    assert counters["rf_reads"] == sum(events[f"{o}_rf_reads"] for o in ("filter", "input", "psum"))
    walked = walked_figures(spec, shape)
    assert {name: counters[name] for name in walked} == walked
    assert counters["glb_output_reads"] == counters["glb_output_writes"]
    assert cycles >= max(shape.macs / (spec.rows * spec.cols), counters["input_bus_sends"])


@pytest.mark.parametrize("spec_name", SPECS)
def test_grouped_and_depthwise_figures_are_the_groups_summed(spec_name):
    spec = SPECS[spec_name]
    rng = np.random.default_rng(7)
    for groups, c, k in ((2, 6, 4), (5, 5, 5)):
        shape = ConvShape(1, c, 7, 6, k, 3, 3, 1, 1)
        x = nonzero_operands(rng, (1, c, 7, 6))
        w = nonzero_operands(rng, (k, c // groups, 3, 3))
        events = Counter()
        for g in range(groups):
            events.update(executed_by_chunks(
                spec, x[:, g * c // groups:(g + 1) * c // groups],
                w[g * k // groups:(g + 1) * k // groups], 1, 1))
        counters, _ = rs_layer_figures(spec, shape, groups)
        assert {name: counters[name] for name in RS_EVENTS} == {name: events[name]
                                                               for name in RS_EVENTS}
        assert counters["macs_gated"] == events["gated_macs"]
        walked = walked_figures(spec, replace(shape, c=c // groups, k=k // groups))
        assert {name: counters[name] for name in walked} == {
            name: groups * value for name, value in walked.items()}


@pytest.mark.parametrize("spec_name", SPECS)
def test_fc_runs_its_samples_along_one_row_and_batch_multiplies_images(spec_name):
    spec = SPECS[spec_name]
    rng = np.random.default_rng(3)
    x, w = nonzero_operands(rng, (6, 10)), nonzero_operands(rng, (7, 10))
    events = executed_by_chunks(spec, fc_input(x), w.reshape(7, 10, 1, 1))
    counters, _ = rs_layer_figures(spec, fc_shape(3, 10, 7), batch=2)
    assert {name: counters[name] for name in RS_EVENTS} == {name: events[name]
                                                           for name in RS_EVENTS}
    conv = ConvShape(1, 4, 6, 6, 5, 3, 3, 1, 1)
    one, _ = rs_layer_figures(spec, conv)
    four, _ = rs_layer_figures(spec, conv, batch=4)
    assert four["macs"] == 4 * one["macs"] and four["passes"] == 4 * one["passes"]
    assert four["glb_weight_writes"] == one["glb_weight_writes"]


def test_dram_bytes_follow_the_outputs_precision_and_bias():
    spec = SPECS["rs_5x4"]
    shape = ConvShape(1, 4, 6, 6, 20, 3, 3, 1, 1)
    wide, _ = rs_layer_figures(spec, shape)
    narrow, _ = rs_layer_figures(spec, shape, post=PostProcess(bias=True,
                                                              requant=(1 << 14, 20, 0)))
    bus = spec.dram_bus_bytes
    pixels = shape.n * shape.p * shape.q
    assert wide["dram_bytes_written"] == pixels * -(-20 * 4 // bus) * bus
    assert narrow["dram_bytes_written"] == pixels * -(-20 // bus) * bus
    assert narrow["dram_bytes_read"] - wide["dram_bytes_read"] == -(-20 * 4 // bus) * bus


def test_an_image_loads_only_the_rows_its_windows_read():
    """h=10, 5x5 kernel, stride 3: two output rows read input rows 0 to 7, so each image's
    band is 8 rows (the regression's seed-1 row-stationary case)."""
    spec = SPECS["rs_3x5"]
    shape = ConvShape(5, 4, 10, 13, 4, 5, 5, 3, 0)
    counters, _ = rs_layer_figures(spec, shape)
    bus = spec.dram_bus_bytes
    assert counters["glb_input_writes"] == 5 * 8 * 13 * 2
    assert counters["dram_bytes_read"] - counters["glb_weight_writes"] * bus \
        == 5 * 8 * 13 * -(-4 // bus) * bus
