"""Energy and area of the row-stationary array: its register files priced at their own depth
and width, its buses as multicasts, and a layer's breakdown adding up."""

import dataclasses

import pytest

from models import hwlib
from models.counters import COUNTER_NAMES, RS_COUNTER_NAMES
from models.area import component_area, pe_area_um2
from models.energy import (ACTIONS, COMPONENTS, EnergyTable, Entry, Leak, energy_breakdown,
                           energy_by_action, load_table, rs_bus_bits, table_for)
from models.mapper import ConvShape, PostProcess, map_conv
from models.perf import predict_counters
from models.rs_perf import rs_layer_figures
from models.spec import ArchSpec
from peforge.report import layer_entry

RS = ArchSpec(name="rs-4x6", rows=4, cols=6, dataflow="rs", rs_filter_depth=48,
              rs_input_depth=12, rs_psum_depth=8, glb_input_bytes=4096, glb_weight_bytes=2048,
              glb_output_bytes=4096, glb_banks=2, dram_bus_bytes=8)
"""A small row-stationary array with register files of three different depths."""

SHAPE = ConvShape(1, 6, 10, 9, 5, 3, 3, 1, 1)
OPERANDS = ("filter", "input", "psum")


def layer_counters(spec=RS, shape=SHAPE, post=PostProcess()):
    counters, cycles = rs_layer_figures(spec, shape, post=post)
    return {**counters, "cycles": cycles}


def power_of_two_table():
    """Every action a distinct power of two (pJ), so every sum below is exact."""
    actions = {action: Entry(2.0 ** (i - 8), "test") for i, action in enumerate(ACTIONS)}
    return EnergyTable("powers", actions, {"all": Leak(0.0, "test")})


def test_register_files_are_priced_at_their_own_depth_and_width():
    table = table_for(RS)
    e = table.per_action(RS)
    tech = RS.tech_nm * 1e-9
    for operand, depth, width in (("filter", RS.rs_filter_depth, RS.operand_bits),
                                  ("input", RS.rs_input_depth, RS.operand_bits),
                                  ("psum", RS.rs_psum_depth, RS.acc_bits)):
        attrs = {"tech_node": tech, "width": width, "depth": depth, "size": width * depth}
        for verb in ("read", "write"):
            assert e[f"rf_{operand}_{verb}"] == pytest.approx(hwlib.action_pj("sram", attrs, verb))
    deeper = dataclasses.replace(RS, rs_filter_depth=4 * RS.rs_filter_depth)
    assert table_for(deeper).per_action(deeper)["rf_filter_read"] > e["rf_filter_read"]
    assert e["rf_filter_read"] > e["rf_input_read"]     # 48 entries against 12, same width


def test_register_file_energy_is_accesses_times_prices():
    c = layer_counters()
    table = power_of_two_table()
    e = table.per_action(RS)
    by_action = energy_by_action(c, table, RS)
    for operand in ("filter", "input", "psum"):
        for verb in ("read", "write"):
            assert c[f"{operand}_rf_{verb}s"] > 0
            assert by_action[f"rf_{operand}_{verb}"] == (c[f"{operand}_rf_{verb}s"]
                                                        * e[f"rf_{operand}_{verb}"])


def test_a_row_stationary_mac_adds_at_acc_bits():
    """Row-stationary PEs hold whole reductions: a MAC performed is one multiply and an add
    of acc_bits (spec.psum_bits), so it costs what Aladdin's intmac with an acc_bits adder
    and the zero detect cost, as before the MAC's add was priced apart."""
    c = layer_counters()
    table = power_of_two_table()
    performed = c["macs"] - c["macs_gated"] - c["macs_skipped"]
    assert performed > 0 and RS.psum_bits == RS.acc_bits
    assert energy_by_action(c, table, RS)["multiply"] == \
        performed * table.per_action(RS)["multiply"]
    add = table.actions["add_bit"].pj
    dearer = table.replace(add_bit=Entry(2 * add, "test"))
    assert (energy_breakdown(c, dearer, RS)["mac"] - energy_breakdown(c, table, RS)["mac"]
            == performed * RS.acc_bits * add)
    e = table_for(RS).per_action(RS)
    intmac = hwlib.action_pj("intmac", {"tech_node": RS.tech_nm * 1e-9, "multiplier_width": 8,
                                        "adder_width": RS.acc_bits}, "mac")
    assert e["multiply"] + RS.acc_bits * e["add_bit"] == pytest.approx(
        intmac + e["mac_gated"], rel=1e-9)


def test_the_activity_counters_carry_the_split_into_a_report():
    """The RTL's counter block has the row-stationary events (models/counters.py): a layer's
    counters, exactly the block's names, price each register file from its own counters, and
    the report's layer entry shows both; without one of them the energy model refuses them."""
    c = layer_counters()
    assert set(c) == set(COUNTER_NAMES)
    assert c["rf_reads"] == sum(c[f"{operand}_rf_reads"] for operand in OPERANDS)
    assert c["rf_writes"] == sum(c[f"{operand}_rf_writes"] for operand in OPERANDS)
    table = table_for(RS)
    entry = layer_entry(RS, "conv", "conv", c, table)
    for operand in OPERANDS:
        for verb in ("read", "write"):
            assert entry["counters"][f"{operand}_rf_{verb}s"] == c[f"{operand}_rf_{verb}s"] > 0
            assert entry["energy_by_action_pj"][f"rf_{operand}_{verb}"] > 0
    with pytest.raises(ValueError, match="counters: 'psum_rf_writes' missing"):
        energy_breakdown({name: c[name] for name in c if name != "psum_rf_writes"}, table, RS)


def test_other_dataflows_count_no_row_stationary_event():
    """The weight- and output-stationary models give zero for the RS array's counters."""
    for dataflow in ("ws", "os"):
        spec = dataclasses.replace(RS, name=f"{dataflow}-4x6", dataflow=dataflow)
        counters = predict_counters(spec, map_conv(spec, SHAPE))
        assert {name: counters[name] for name in RS_COUNTER_NAMES} == \
            dict.fromkeys(RS_COUNTER_NAMES, 0), dataflow
        assert counters["macs"] == SHAPE.macs


def test_a_multicast_costs_one_drive_whatever_its_fan_out():
    """Delivering each bus word to twice as many PEs adds nothing to the array network (the
    receivers' writes are their register files'; only the deliveries' own event totals
    count more); one more bus word adds one drive of the bus's wire."""
    c = layer_counters()
    table = power_of_two_table()
    base = energy_breakdown(c, table, RS)
    wider = energy_breakdown(dict(c, filter_bus_deliveries=2 * c["filter_bus_deliveries"],
                                  input_bus_deliveries=2 * c["input_bus_deliveries"]),
                             table, RS)
    assert wider["array"] == base["array"] and wider["rf"] == base["rf"]
    assert wider["mac"] == base["mac"] and wider["control"] > base["control"]

    hop = table.per_action(RS)["hop_bit"]
    filter_word, input_word = rs_bus_bits(RS)
    more = dict(c, filter_bus_words=c["filter_bus_words"] + 1)
    drive = (energy_by_action(more, table, RS)["hop_bit"]
             - energy_by_action(c, table, RS)["hop_bit"])
    assert drive == filter_word * RS.cols * hop     # one row's wire, not cols hops of a word
    more = dict(c, input_bus_sends=c["input_bus_sends"] + 1)
    drive = (energy_by_action(more, table, RS)["hop_bit"]
             - energy_by_action(c, table, RS)["hop_bit"])
    assert drive == input_word * (RS.rows + RS.cols) * hop


@pytest.mark.parametrize("post", [PostProcess(), PostProcess(bias=True, requant=(1 << 14, 20, 0),
                                                             relu=True)])
def test_layer_breakdown_adds_up_to_its_total(post):
    c = layer_counters(post=post)
    table = table_for(RS)
    parts = energy_breakdown(c, table, RS, requantized=post.requant is not None)
    assert list(parts) == [*COMPONENTS, "total"]
    assert sum(parts[component] for component in COMPONENTS) == pytest.approx(parts["total"])
    assert all(parts[component] > 0 for component in ("mac", "rf", "array", "glb", "dram"))
    by_action = energy_by_action(c, table, RS, requantized=post.requant is not None)
    assert sum(by_action.values()) == pytest.approx(parts["total"] - parts["leakage"])
    assert parts["mac"] >= c["macs"] * table.per_action(RS)["mac_gated"]


def test_eyeriss_table_prices_every_register_file_access_as_one_mac_per_element():
    table = load_table("configs/energy/eyeriss.yaml")
    e = table.per_action(RS)
    mac = e["multiply"] + RS.psum_bits * e["add_bit"]     # the 1x MAC: 0.2 + 0.1 pJ
    assert mac == pytest.approx(0.3)
    for operand, width in (("filter", RS.operand_bits), ("input", RS.operand_bits),
                           ("psum", RS.acc_bits)):
        for verb in ("read", "write"):
            assert e[f"rf_{operand}_{verb}"] == pytest.approx(mac * width / 8)


def test_row_stationary_area_holds_its_register_files():
    area = component_area(RS, use_cache=False)
    rf = area.details["rf"]
    assert set(rf) == {"pe_array: filter scratchpad", "pe_array: input window",
                       "pe_array: psum file"}
    attrs = {"tech_node": RS.tech_nm * 1e-9, "width": RS.operand_bits,
             "depth": RS.rs_filter_depth, "size": RS.operand_bits * RS.rs_filter_depth}
    assert rf["pe_array: filter scratchpad"] == pytest.approx(
        RS.rows * RS.cols * hwlib.area_um2("sram", attrs))
    ws = dataclasses.replace(RS, dataflow="ws")
    assert pe_area_um2(RS) > pe_area_um2(ws)
    assert area.components["total"] == pytest.approx(
        sum(v for k, v in area.components.items() if k != "total"))
