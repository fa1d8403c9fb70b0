"""The row-stationary layer figures (models/rs_perf.py) against the NumPy executor and the
inner loop's word streams, walked one by one: conv, grouped / depthwise, fully connected,
on a non-square array and one with an odd number of rows."""

from dataclasses import replace

import numpy as np
import pytest

from models.counters import COUNTER_NAMES
from models.golden import operand_range
from models.mapper import ConvShape, PostProcess, fc_shape
from models.row_stationary import (array_of, map_conv, run_conv, run_fc, run_grouped_conv)
from models.rs_perf import RS_COUNTER_NAMES, rs_layer_figures
from models.spec import ArchSpec

SPECS = {
    "rs_3x5": ArchSpec(dataflow="rs", rows=3, cols=5, rs_filter_depth=24, rs_input_depth=6,
                       rs_psum_depth=4),
    "rs_5x4": ArchSpec(dataflow="rs", rows=5, cols=4),
}
RS_EVENTS = ("filter_rf_reads", "filter_rf_writes", "input_rf_reads", "input_rf_writes",
             "psum_rf_reads", "psum_rf_writes", "filter_bus_deliveries", "input_bus_sends",
             "input_bus_deliveries", "psum_hops", "passes")


def nonzero_operands(rng, shape):
    """Random operands without zeros, so the only gated MACs are those on padding."""
    lo, hi = operand_range(8)
    values = rng.integers(lo, hi, size=shape)
    return np.where(values >= 0, values + 1, values)


def walked_figures(spec, shape):
    """Input-buffer reads, weight-buffer words read and loaded, and output vectors of one
    group's layer, walked word by word over the passes' streams."""
    mapping = map_conv(shape, array_of(spec))
    w = np.ones((shape.k, shape.c, shape.r, shape.s), dtype=np.int64)
    loaded, _ = mapping.filter_buffer(w)
    pad = shape.pad
    reads = words = vectors = 0
    for start in mapping.passes():
        the_pass = mapping.plan(*start)
        reads += sum(pad <= row < pad + shape.h and pad <= column < pad + shape.w
                     for _, _, _, row, column in the_pass.input_sends(shape))
        words += sum(len(lanes) for _, lanes, _ in the_pass.filter_words(w, mapping))
        vectors += len(the_pass.strip) * shape.q
    return {"glb_input_reads": reads, "glb_weight_reads": words,
            "glb_weight_writes": len(loaded), "glb_output_writes": vectors}


LAYERS = [ConvShape(2, 5, 9, 7, 6, 3, 3, 1, 1), ConvShape(1, 3, 11, 10, 9, 5, 5, 2, 2),
          ConvShape(1, 7, 6, 8, 11, 1, 1), ConvShape(2, 2, 8, 9, 3, 3, 3, 2, 0)]


@pytest.mark.parametrize("spec_name", SPECS)
@pytest.mark.parametrize("shape", LAYERS, ids=str)
def test_conv_figures_equal_executor_and_walked_streams(spec_name, shape):
    spec = SPECS[spec_name]
    rng = np.random.default_rng(shape.c * shape.k)
    x = nonzero_operands(rng, (shape.n, shape.c, shape.h, shape.w))
    w = nonzero_operands(rng, (shape.k, shape.c, shape.r, shape.s))
    _, events, _ = run_conv(x, w, array_of(spec), shape.stride, shape.pad)
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
        _, events, _ = run_grouped_conv(x, w, array_of(spec), groups, 1, 1)
        counters, _ = rs_layer_figures(spec, shape, groups)
        assert {name: counters[name] for name in RS_EVENTS} == {name: events[name]
                                                               for name in RS_EVENTS}
        assert counters["macs_gated"] == events["gated_macs"]
        one_group = replace(shape, c=c // groups, k=k // groups)
        walked = walked_figures(spec, one_group)
        assert {name: counters[name] for name in walked} == {
            name: groups * value for name, value in walked.items()}


@pytest.mark.parametrize("spec_name", SPECS)
def test_fc_runs_its_samples_along_one_row_and_batch_multiplies_images(spec_name):
    spec = SPECS[spec_name]
    rng = np.random.default_rng(3)
    x, w = nonzero_operands(rng, (6, 10)), nonzero_operands(rng, (7, 10))
    _, events, _ = run_fc(x, w, array_of(spec))
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
