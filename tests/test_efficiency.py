"""benchmarks/efficiency.py --networks: the figures it checks issue 13's bounds with, from the
analytical model (held equal to the RTL by the RTL tests)."""

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from models.energy import table_for
from models.spec import DATAFLOWS, load_spec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from efficiency import (DIGITS_IMAGES, FIGURE_UNITS, ISSUE_BOUNDS, Bound,  # noqa: E402
                        input_bound_utilization, network_figures, network_layers)
from peforge.network import predicted_counters  # noqa: E402

DEFAULT = load_spec(ROOT / "configs" / "default.yaml")


def figures_of(spec, name, batch):
    layers = network_layers(name, spec.operand_bits, False, batch)
    return layers, network_figures(spec, table_for(spec), layers)


@pytest.mark.parametrize("flow", DATAFLOWS)
def test_cycle_shares_add_up_to_the_network(flow):
    spec = replace(DEFAULT, dataflow=flow)
    _, figures = figures_of(spec, "mobilenetv2", 1)
    assert sum(cycles for _, cycles in figures["kinds"].values()) == figures["cycles"]
    assert sum(macs for macs, _ in figures["kinds"].values()) == figures["macs"]
    assert figures["kinds"]["grouped"][1] > 0


@pytest.mark.parametrize("flow", DATAFLOWS)
def test_grouped_layers_stay_under_their_input_word_bound(flow):
    """No depthwise layer of MobileNetV2 beats the bound its input words set."""
    spec = replace(DEFAULT, dataflow=flow)
    layers, _ = figures_of(spec, "mobilenetv2", 1)
    grouped = [layer for layer in layers if layer.groups > 1]
    assert grouped
    for layer in grouped:
        cycles = predicted_counters(spec, layer)["cycles"]
        assert layer.macs / (cycles * spec.peak_macs_per_cycle) \
            <= input_bound_utilization(spec, layer), layer.name


def test_depthwise_mode_beats_block_diagonal_on_mobilenet():
    """Weight-stationary, MobileNetV2's depthwise layers run across the array's columns
    (in one run or over channel slices) wherever that is faster than their block-diagonal
    runs (those now load their input bands ahead too), each run under s x cols MACs a cycle
    (a kernel row's taps on every column; r s x cols with the line buffer); most layers take
    the mode and the network gains over the block-diagonal runs.  Each layer's candidates are
    priced apart: the mapper's choice is never slower than the block-diagonal runs, and keeps
    them over a faster one-run depthwise mapping only for that run's larger traffic."""
    from models.depthwise import taps_down_rows
    from models.mapper import DepthwiseShape, _depthwise, _grouped_runs, dataclass_fields
    from models.perf import predict_counters, predict_cycles
    from testbench.placement import layer_parts

    def traffic(mappings):
        counters = [predict_counters(DEFAULT, mapping) for mapping in mappings]
        return sum(c["dram_bytes_read"] + c["dram_bytes_written"] for c in counters)

    layers, figures = figures_of(DEFAULT, "mobilenetv2", 1)
    grouped = [layer for layer in layers if layer.groups > 1]
    block_diagonal, across = 0, 0
    for layer in grouped:
        chosen = [part.mapping for part in
                  layer_parts(DEFAULT, layer.shape, layer.groups, layer.post)]
        block_runs = [run.mapping for run in
                      _grouped_runs(DEFAULT, layer.shape, layer.groups, layer.post)]
        single = _depthwise(DEFAULT, DepthwiseShape(*dataclass_fields(layer.shape)),
                            layer.post)
        cycles = sum(predict_cycles(DEFAULT, mapping) for mapping in chosen)
        runs = sum(predict_cycles(DEFAULT, mapping) for mapping in block_runs)
        assert cycles <= runs, layer.name
        if chosen[0].descriptor["depthwise"]:
            assert cycles < runs, layer.name
            for mapping in chosen:
                taps = taps_down_rows(layer.shape, mapping.descriptor["dw_line"])
                assert mapping.shape.macs / predict_cycles(DEFAULT, mapping) \
                    <= taps * DEFAULT.cols, layer.name
            block_diagonal += runs - cycles
            across += 1
        elif single is not None and predict_cycles(DEFAULT, single) < runs:
            assert traffic([single]) > traffic(block_runs), layer.name
    assert across > len(grouped) // 2
    peak = DEFAULT.peak_macs_per_cycle
    before = figures["macs"] / ((figures["cycles"] + block_diagonal) * peak)
    assert figures["utilization"] > before + 0.1


def test_digits_fetches_each_layers_weights_once():
    """Issue 13: the digits run fetches each layer's weights once (they stay resident)."""
    _, figures = figures_of(DEFAULT, "digits", DIGITS_IMAGES)
    assert figures["weight_fetches"] == 1
    assert Bound("digits", DIGITS_IMAGES, "weight_fetches", 1, at_most=True) \
        .describe(figures["weight_fetches"]).endswith("pass")


def test_every_bound_names_a_measured_figure():
    _, figures = figures_of(DEFAULT, "digits", DIGITS_IMAGES)
    for bound in ISSUE_BOUNDS:
        assert bound.figure in FIGURE_UNITS and bound.figure in figures, bound


def test_a_bound_reports_pass_and_miss():
    at_least = Bound("resnet18", 1, "utilization", 0.90)
    at_most = Bound("resnet18", 1, "traffic", 1.1, at_most=True)
    assert at_least.describe(0.9).endswith("pass") and at_least.describe(0.899).endswith("miss")
    assert at_most.describe(1.1).endswith("pass") and at_most.describe(1.27).endswith("miss")
    assert at_least.describe(0.738) == \
        "resnet18 (batch 1) utilization >= 90 %: 73.8 % miss"


@pytest.mark.parametrize("flow", DATAFLOWS)
def test_resnet18_energy_breakdown_adds_up(flow):
    """The printed breakdown: the components add up to the network's energy, and the global
    buffers' operands to the `glb` component."""
    spec = replace(DEFAULT, dataflow=flow)
    _, figures = figures_of(spec, "resnet18", 1)
    assert sum(figures["components"].values()) == pytest.approx(figures["energy_pj"], rel=1e-12)
    assert sum(figures["buffers"].values()) == pytest.approx(figures["components"]["glb"],
                                                             rel=1e-12)
    assert min(figures["buffers"].values()) > 0


def test_resnet18_traffic_bound_met_with_partly_resident_weights():
    """Issue 13: ResNet-18's DRAM traffic within 1.1x compulsory on the default 16x16
    (weight-stationary), the 64-channel 3x3 layers keeping 3 of their 4 filter blocks
    resident across their 7 tiles."""
    layers, figures = figures_of(DEFAULT, "resnet18", 1)
    assert Bound("resnet18", 1, "traffic", 1.1, at_most=True).met(figures["traffic"])
    from testbench.placement import layer_parts
    layer = next(layer for layer in layers if layer.name == "layer1.0.conv1")
    [part] = layer_parts(DEFAULT, layer.shape, layer.groups, layer.post)
    d = part.mapping.descriptor
    assert (d["k_blocks"], d["w_stream_blocks"], part.mapping.tiles) == (4, 1, 7)
