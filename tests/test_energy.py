"""The energy model: counters x table arithmetic, tables from hwcomponents, user tables."""

import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from models import hwlib
from models.counters import COUNTER_NAMES
from models.energy import (ACTIONS, COMPONENTS, EnergyTable, EnergyTableError, Entry, Leak,
                           action_bits, activity, energy_breakdown, energy_by_action,
                           load_table, postprocess_words, table_for)
from models.spec import ArchSpec

REPO = Path(__file__).resolve().parent.parent
EYERISS = REPO / "configs" / "energy" / "eyeriss.yaml"


def direct(name, attrs, action, args=None):
    """hwcomponents' own answer, in pJ, without going through models.hwlib's wrappers."""
    hwc = hwlib.hwcomponents()
    return hwc.get_action_cost(name, attrs, action, args or {}).energy * 1e12


def counters(**values):
    full = dict.fromkeys(COUNTER_NAMES, 0)
    full.update(values)
    return full


def simple_table(**overrides):
    """A per-action table of small binary fractions, so the arithmetic below is exact."""
    values = {
        "mac": 1.0, "mac_gated": 0.125,
        "register_bit_write": 0.5, "hop_bit": 0.25, "add_bit": 0.125, "compare_bit": 0.0625,
        "requantize_multiply": 2.0,
        "glb_input_read": 4.0, "glb_input_write": 8.0,
        "glb_weight_read": 2.0, "glb_weight_write": 16.0,
        "glb_output_read": 32.0, "glb_output_write": 64.0,
        "glb_bias_read": 0.5, "glb_bias_write": 1.0,
        "dram_read_byte": 128.0, "dram_write_byte": 256.0,
        "rf_filter_read": 0.25, "rf_filter_write": 0.5, "rf_input_read": 0.125,
        "rf_input_write": 0.25, "rf_psum_read": 1.0, "rf_psum_write": 2.0,
    }
    actions = {key: Entry(value, "test") for key, value in values.items()}
    actions.update(overrides)
    return EnergyTable("simple", actions, {"all": Leak(0.25, "test")})


TWO = ArchSpec(name="two", rows=2, cols=2, glb_input_bytes=1024, glb_weight_bytes=512,
               glb_output_bytes=2048, glb_banks=2, dram_bus_bytes=4)
"""A 2x2 weight-stationary int8 array (acc_bits 32, rf_depth 2): 4 PEs, 4-byte bus."""

HAND = counters(
    cycles=1000, busy_cycles=700, stall_cycles=50,
    macs=3000, macs_gated=1000, rf_reads=3000, rf_writes=8,
    array_transfers=2 * 700 * 4 + 2 * 2 * 4,     # + two commits of two weight shifts
    glb_input_reads=10, glb_input_writes=20, glb_weight_reads=3, glb_weight_writes=4,
    glb_output_reads=5, glb_output_writes=6, dram_bytes_read=100, dram_bytes_written=8)


# --- the arithmetic ----------------------------------------------------------------------

def test_hand_computed_components_are_exact():
    """mac, rf, glb, dram and postprocess of a 2x2 array worked out by hand."""
    result = energy_breakdown(HAND, simple_table(), TWO)
    assert result["mac"] == 2000 * 1.0 + 1000 * 0.125
    assert result["rf"] == 8 * 8 * 0.5                    # 8 register-file loads of 8 bits
    # 8 bytes written = 4 words of 2 int8 (2 x 8 bits): 4 bias-buffer reads.
    assert result["glb"] == (10 * 4.0 + 20 * 8.0 + 3 * 2.0 + 4 * 16.0 + 5 * 32.0 + 6 * 64.0
                             + 4 * 0.5)
    assert result["dram"] == 100 * 128.0 + 8 * 256.0
    # 4 words x 2 values: a 32x32 multiply, 32 + 64 + 64 adder bits, 64 + 64 + 32 compare bits.
    assert result["postprocess"] == 8 * (2.0 + 160 * 0.125 + 160 * 0.0625)
    # 0.25 W for 1000 cycles at 500 MHz = 2 us: 0.5 uJ.
    assert result["leakage"] == 500_000.0
    assert tuple(result) == COMPONENTS + ("total",)
    assert result["total"] == pytest.approx(sum(result[c] for c in COMPONENTS), rel=1e-12)


def test_int32_outputs_take_a_quarter_of_the_post_processing():
    """Each output word leaves as `cols` int8 (requantized) or int32 values: 8 bytes
    written are 4 words of 2 int8 or one word of 2 int32; unknown, the upper bound."""
    assert postprocess_words(HAND, TWO, requantized=True) == 4
    assert postprocess_words(HAND, TWO, requantized=False) == 1
    assert postprocess_words(HAND, TWO) == 4
    int32 = energy_breakdown(HAND, simple_table(), TWO, requantized=False)
    assert int32["postprocess"] == 2 * (2.0 + 160 * 0.125 + 160 * 0.0625)


def test_hops_are_priced_at_their_own_widths():
    """Weight-stationary: inputs hop as 10-bit tokens (value, valid, slot), partial sums at
    psum_bits (17: two int8 products), weights at operand_bits; each hop is the wire plus
    its receiving register."""
    uses = {(u.component, u.what): u for u in activity(HAND, TWO)}
    assert TWO.psum_bits == 17
    assert uses[("array", "input hops")].count == 700 * 4 * 10
    assert uses[("array", "partial-sum hops")].count == 700 * 4 * 17
    assert uses[("array", "weight hops")].count == 16 * 8
    assert uses[("array", "partial-sum loads")].count == 700 * 4 * 17
    assert uses[("array", "weight chain loads")].count == 16 * 8
    # The last column's input registers are not in the netlist: 2 rows x 1 column of tokens.
    assert uses[("array", "input token loads")].count == 700 * 2 * 10


def test_flip_flop_reads_are_not_charged_in_any_dataflow():
    for spec in (TWO, dataclasses.replace(TWO, dataflow="os")):
        more_reads = dict(HAND, rf_reads=HAND["rf_reads"] * 7)
        assert energy_breakdown(more_reads, simple_table(), spec) == \
            energy_breakdown(HAND, simple_table(), spec)


def test_a_psum_register_load_is_priced_alike_in_both_dataflows():
    """The weight-stationary partial-sum register (loaded per PE per vector) and the
    output-stationary accumulator (loaded per MAC) are flip-flops priced by the same action
    per bit: psum_bits (a column's sum of rows products) and acc_bits (a whole reduction)."""
    ws_uses = {u.what: u for u in activity(HAND, TWO)}
    os_uses = {u.what: u for u in activity(HAND, dataclasses.replace(TWO, dataflow="os"))}
    per_ws = ws_uses["partial-sum loads"].count / (HAND["busy_cycles"] * 4)
    per_os = os_uses["accumulator loads"].count / HAND["rf_writes"]
    assert (per_ws, per_os) == (TWO.psum_bits, TWO.acc_bits) == (17, 32)
    assert ws_uses["partial-sum loads"].action == os_uses["accumulator loads"].action


def test_leakage_follows_the_clock():
    slow = energy_breakdown(HAND, simple_table(), dataclasses.replace(TWO, clock_mhz=250))
    fast = energy_breakdown(HAND, simple_table(), dataclasses.replace(TWO, clock_mhz=500))
    assert slow["leakage"] == 2 * fast["leakage"]
    assert {k: v for k, v in slow.items() if k not in ("leakage", "total")} == \
           {k: v for k, v in fast.items() if k not in ("leakage", "total")}


def test_per_bit_entries_take_the_width_from_the_architecture():
    table = simple_table(glb_input_read=Entry(0.125, "test", per_bit=True),
                         glb_output_read=Entry(0.5, "test", per_bit=True))
    spec = ArchSpec(rows=16, cols=8, operand_bits=8)
    per_action = table.per_action(spec)
    assert per_action["glb_input_read"] == 0.125 * 16 * 8
    assert per_action["glb_output_read"] == 0.5 * 8 * 32
    base = energy_breakdown(HAND, simple_table(), TWO)
    result = energy_breakdown(HAND, table, TWO)
    assert result["glb"] == base["glb"] - 10 * 4.0 + 10 * 0.125 * 16 - 5 * 32.0 + 5 * 0.5 * 64


def test_doubling_dram_cost_doubles_the_dram_component_only():
    base = simple_table()
    doubled = base.replace(
        dram_read_byte=Entry(2 * base.actions["dram_read_byte"].pj, "test x2"),
        dram_write_byte=Entry(2 * base.actions["dram_write_byte"].pj, "test x2"))
    before = energy_breakdown(HAND, base, TWO)
    after = energy_breakdown(HAND, doubled, TWO)
    assert after["dram"] == 2 * before["dram"]
    for component in COMPONENTS:
        if component != "dram":
            assert after[component] == before[component]
    assert after["total"] == pytest.approx(before["total"] + before["dram"])


def test_by_action_adds_up_to_the_dynamic_energy():
    by_action = energy_by_action(HAND, simple_table(), TWO)
    parts = energy_breakdown(HAND, simple_table(), TWO)
    assert tuple(by_action) == ACTIONS
    assert sum(by_action.values()) == pytest.approx(parts["total"] - parts["leakage"])


@pytest.mark.parametrize("change,message", [
    ({"macs": None}, "'macs' missing"),
    ({"bogus": 1}, "unknown counter 'bogus'"),
    ({"cycles": -1}, "cycles must be an integer >= 0"),
    ({"macs_gated": 3001}, "macs_gated (3001) exceeds macs (3000)"),
    ({"array_transfers": 5}, "array_transfers (5) below 2 x busy_cycles x PEs (5600)"),
])
def test_bad_counters_are_refused(change, message):
    values = dict(HAND)
    for key, value in change.items():
        if value is None:
            del values[key]
        else:
            values[key] = value
    with pytest.raises(ValueError, match="counters: ") as error:
        energy_breakdown(values, simple_table(), TWO)
    assert message in str(error.value)


# --- tables from hwcomponents ------------------------------------------------------------

@pytest.fixture(scope="module")
def tables():
    """hwcomponents tables of the default architecture at 45, 32 and 22 nm."""
    return {nm: (spec, table_for(spec)) for nm in (45, 32, 22)
            for spec in [dataclasses.replace(ArchSpec(), tech_nm=nm)]}


def test_design_reference_numbers():
    """DESIGN's sanity numbers at 45 nm: MAC, a 128 KB SRAM, LPDDR4."""
    mac = hwlib.action_pj("intmac", {"tech_node": 45e-9, "multiplier_width": 8,
                                     "adder_width": 24}, "mac")
    assert mac == pytest.approx(1.09, abs=0.01)
    sram = {"tech_node": 45e-9, "width": 64, "depth": 16384, "size": 64 * 16384}
    assert hwlib.action_pj("sram", sram, "read") == pytest.approx(32.3, abs=0.1)
    assert hwlib.action_pj("lpddr4", {}, "read", {"bits_per_action": 1}) == 8.0


@pytest.mark.parametrize("nm", [45, 32, 22])
def test_table_entries_are_hwcomponents_answers(tables, nm):
    spec, table = tables[nm]
    tech = nm * 1e-9
    e = {action: entry.pj for action, entry in table.actions.items()}
    zero_detect = 2 * direct("comparator", {"tech_node": tech, "width": 8}, "compare")
    assert e["mac"] == pytest.approx(
        direct("intmac", {"tech_node": tech, "multiplier_width": 8, "adder_width": 32}, "mac")
        + zero_detect, rel=1e-12)
    assert e["mac_gated"] == pytest.approx(zero_detect, rel=1e-12)
    # Per bit: Aladdin's registers, adders and comparators are linear in their width.
    for width in (8, 20, 32):
        assert width * e["register_bit_write"] == pytest.approx(
            direct("register", {"tech_node": tech, "width": width}, "write"), rel=1e-9)
        assert width * e["add_bit"] == pytest.approx(
            direct("adder", {"tech_node": tech, "width": width}, "add"), rel=1e-9)
    assert e["requantize_multiply"] == pytest.approx(
        direct("multiplier", {"tech_node": tech, "width": 32}, "multiply"), rel=1e-12)
    assert e["hop_bit"] == pytest.approx(direct(
        "wire", {"tech_node": tech, "length": table.notes["pe_pitch_um"] * 1e-6}, "read"))
    # Buffers: one bank of the partition; the output buffer is two halves of 4 banks each.
    for part, width, depth in (("input", 128, 65536 // 16 // 4),
                               ("weight", 128, 32768 // 16 // 4),
                               ("output", 512, 32768 // 64 // 8),
                               ("bias", 512, 4096 // 16)):
        attrs = {"tech_node": tech, "width": width, "depth": depth, "size": width * depth}
        for verb in ("read", "write"):
            assert e[f"glb_{part}_{verb}"] == pytest.approx(direct("sram", attrs, verb),
                                                            rel=1e-12)
    assert e["dram_read_byte"] == direct("lpddr4", {}, "read", {"bits_per_action": 8})
    assert e["dram_write_byte"] == direct("lpddr4", {}, "write", {"bits_per_action": 8})
    assert all(entry.source for entry in table.actions.values())
    assert all(leak.source for leak in table.leakage.values())


def test_same_action_same_price():
    """A weight-stationary and an output-stationary 16x16 price every action they share
    alike: the MAC, a register bit, an adder bit, a buffer word of the same geometry, a
    DRAM byte, and a wire bit per micrometre (a hop is one PE pitch of it: the pitches differ
    with the PEs' areas)."""
    ws = ArchSpec()
    os_ = dataclasses.replace(ws, dataflow="os")
    ws_table, os_table = table_for(ws), table_for(os_)
    assert action_bits(ws) == action_bits(os_)   # 16 x 16: weight words are 128 bits in both
    for action in ACTIONS:
        if action == "hop_bit":
            continue
        assert ws_table.actions[action].pj == os_table.actions[action].pj, action
    assert ws_table.notes["wire_pj_per_bit_um"] == os_table.notes["wire_pj_per_bit_um"]
    for table in (ws_table, os_table):
        assert table.actions["hop_bit"].pj == pytest.approx(
            table.notes["wire_pj_per_bit_um"] * table.notes["pe_pitch_um"], rel=1e-9)
    # The breakdown names the same action classes in both dataflows.
    ws_actions = {u.action for u in activity(HAND_16, ws)}
    os_actions = {u.action for u in activity(HAND_16, os_)}
    assert ws_actions == os_actions


HAND_16 = counters(cycles=4000, busy_cycles=3000, macs=700_000, macs_gated=10_000,
                   rf_reads=700_000, rf_writes=700_000, array_transfers=2 * 3000 * 256 + 4096,
                   glb_input_reads=3000, glb_input_writes=500, glb_weight_reads=200,
                   glb_weight_writes=300, glb_output_reads=400, glb_output_writes=400,
                   dram_bytes_read=9000, dram_bytes_written=1024)


def test_output_stationary_table_prices_its_own_words():
    """The output-stationary weight words are `cols` operands wide."""
    spec = ArchSpec(dataflow="os", rows=8, cols=16)
    assert action_bits(spec)["glb_weight_read"] == 16 * 8
    assert action_bits(dataclasses.replace(spec, dataflow="ws"))["glb_weight_read"] == 8 * 8
    table = table_for(spec)
    attrs = {"tech_node": 45e-9, "width": 128, "depth": spec.weight_words // 4,
             "size": 128 * spec.weight_words // 4}
    assert table.actions["glb_weight_read"].pj == pytest.approx(direct("sram", attrs, "read"))


def test_smaller_node_costs_less(tables):
    mac = {nm: tables[nm][1].actions["mac"].pj for nm in tables}
    assert mac[22] < mac[32] < mac[45]
    read = {nm: tables[nm][1].actions["glb_input_read"].pj for nm in tables}
    assert read[22] < read[32] < read[45]
    # DRAM interface energy does not depend on the accelerator's node.
    assert len({tables[nm][1].actions["dram_read_byte"].pj for nm in tables}) == 1


def test_components_add_up_to_the_total(tables):
    spec, table = tables[45]
    result = energy_breakdown(HAND_16, table, spec)
    assert set(result) == set(COMPONENTS) | {"total"}
    assert sum(result[c] for c in COMPONENTS) == pytest.approx(result["total"], rel=1e-12)
    assert all(result[c] > 0 for c in COMPONENTS)


def test_dram_kinds_are_ordered_per_byte():
    per_byte = {kind: table_for(ArchSpec(dram_kind=kind)).actions["dram_read_byte"].pj
                for kind in ("HBM2", "LPDDR4", "DDR3")}
    assert per_byte["HBM2"] < per_byte["LPDDR4"] < per_byte["DDR3"]
    assert per_byte["LPDDR4"] == 64.0  # 8 pJ/bit


def test_bank_count_changes_buffer_energy(tables):
    _, four = tables[45]
    one = table_for(ArchSpec(glb_banks=1))
    # One deeper bank per access costs more than one of four shallower banks.
    assert one.actions["glb_input_read"].pj > four.actions["glb_input_read"].pj


def test_table_for_another_architecture_is_refused(tables):
    _, table = tables[45]
    with pytest.raises(EnergyTableError, match="another architecture"):
        energy_breakdown(HAND_16, table, ArchSpec(rows=8))


def test_table_is_cached_as_json(tmp_path, monkeypatch):
    monkeypatch.setenv("PEFORGE_CACHE_DIR", str(tmp_path))
    spec = ArchSpec(name="micro", rows=2, cols=2, glb_input_bytes=1024,
                    glb_weight_bytes=512, glb_output_bytes=2048, glb_banks=2)
    first = table_for(spec)
    files = list((tmp_path / "energy").glob("micro-*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["actions"]["mac"]["pj"] == first.actions["mac"].pj
    assert table_for(spec) == first
    # A cache entry is read back as it is: change it and the table follows.
    data["actions"]["mac"]["pj"] = 123.0
    files[0].write_text(json.dumps(data))
    assert table_for(spec).actions["mac"].pj == 123.0
    assert table_for(spec, use_cache=False) == first


def test_queries_are_quiet(caplog, capfd):
    with caplog.at_level(logging.DEBUG):
        table_for(ArchSpec(tech_nm=40), use_cache=False)
    assert caplog.records == []
    assert capfd.readouterr().err == ""


def test_failed_query_explains_itself():
    with pytest.raises(hwlib.HwlibError, match="no 'read' energy for sram") as error:
        hwlib.action_pj("sram", {"tech_node": 45e-9, "width": 64}, "read")
    assert "SRAM" in str(error.value)


def test_models_stay_pure():
    code = ("import sys, models.energy, models.hwlib; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('amaranth', 'cocotb', 'pyhdl', 'testbench', 'peforge')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cacti_runs():
    hwlib.ensure_cacti()
    assert hwlib.cacti_runs()


# --- user tables -------------------------------------------------------------------------

def test_eyeriss_table_keeps_eyeriss_ratios():
    table = load_table(EYERISS)
    assert table.name == "eyeriss"
    spec = ArchSpec()  # 16 x 16, int8
    e = table.per_action(spec)
    mac = e["mac"]
    assert mac == 0.3
    assert 8 * e["register_bit_write"] == pytest.approx(1 * mac)          # RF 1x an element
    assert 8 * (e["hop_bit"] + e["register_bit_write"]) == pytest.approx(2 * mac)  # inter-PE
    assert e["glb_input_read"] == pytest.approx(6 * mac * 16)     # 16 int8 per word
    assert e["glb_output_read"] == pytest.approx(6 * mac * 16 * 4)  # 16 int32 per word
    assert e["dram_read_byte"] == pytest.approx(200 * mac)
    assert table.leakage_w == 0.0
    result = energy_breakdown(HAND_16, table, spec)
    assert result["dram"] == pytest.approx((9000 + 1024) * 60.0)


def write_table(tmp_path, data):
    path = tmp_path / "table.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def good_table():
    return {
        "name": "t",
        "actions": {action: {"pj": 1.0, "source": "s"} for action in ACTIONS},
        "leakage": {"all": {"w": 0.0, "source": "s"}},
    }


def test_good_user_table_loads(tmp_path):
    table = load_table(write_table(tmp_path, good_table()))
    assert table.per_action(ArchSpec()) == dict.fromkeys(ACTIONS, 1.0)
    assert table.spec_key is None


def _drop(data, *keys):
    node = data
    for key in keys[:-1]:
        node = node[key]
    del node[keys[-1]]


def _set(data, value, *keys):
    node = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value


@pytest.mark.parametrize("mutate,message", [
    (lambda d: _drop(d, "actions", "glb_weight_write"), "actions.glb_weight_write: missing"),
    (lambda d: _drop(d, "actions", "hop_bit", "source"), "actions.hop_bit: source: missing"),
    (lambda d: _set(d, "  ", "actions", "mac", "source"), "actions.mac: source: missing"),
    (lambda d: _drop(d, "actions", "mac", "pj"), "actions.mac: give exactly one of pj"),
    (lambda d: _set(d, -1, "actions", "dram_read_byte", "pj"),
     "actions.dram_read_byte: pj: must be a finite number >= 0"),
    (lambda d: _set(d, "1 pJ", "actions", "add_bit", "pj"),
     "actions.add_bit: pj: expected a number"),
    (lambda d: _set(d, {"pj_per_bit": 1, "source": "s"}, "actions", "mac"),
     "actions.mac: pj_per_bit: only buffer and DRAM actions have a word width"),
    (lambda d: _set(d, {"pj": 1, "source": "s"}, "actions", "fma"),
     "actions.fma: unknown action"),
    (lambda d: _set(d, 2.0, "actions", "register_bit_write"),
     "actions.register_bit_write: expected {pj: <number>, source: <text>}"),
    (lambda d: _drop(d, "actions"), "actions: missing"),
    (lambda d: _drop(d, "leakage"), "leakage: missing"),
    (lambda d: _set(d, {}, "leakage"), "leakage: empty"),
    (lambda d: _drop(d, "leakage", "all", "w"), "leakage.all: w: missing"),
    (lambda d: _drop(d, "leakage", "all", "source"), "leakage.all: source: missing"),
    (lambda d: _set(d, 1, "extra"), "unknown key 'extra'"),
])
def test_malformed_table_is_refused_naming_the_key(tmp_path, mutate, message):
    data = good_table()
    mutate(data)
    with pytest.raises(EnergyTableError) as error:
        load_table(write_table(tmp_path, data))
    assert message in str(error.value)
    assert str(tmp_path / "table.yaml") in str(error.value)


def test_unreadable_or_invalid_table_is_refused(tmp_path):
    with pytest.raises(EnergyTableError, match="cannot read energy table"):
        load_table(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("actions: [unclosed\n")
    with pytest.raises(EnergyTableError, match="not valid YAML"):
        load_table(bad)
    bad.write_text("- a list\n")
    with pytest.raises(EnergyTableError, match="expected a mapping"):
        load_table(bad)
