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
                           action_bits, energy_breakdown, load_table, table_for)
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
        "rf_read": 0.25, "rf_write": 0.5,
        "array_transfer": 0.75,
        "glb_input_read": 4.0, "glb_input_write": 8.0,
        "glb_weight_read": 2.0, "glb_weight_write": 16.0,
        "glb_output_read": 32.0, "glb_output_write": 64.0,
        "dram_read_byte": 128.0, "dram_write_byte": 256.0,
        "control_cycle": 0.5,
    }
    actions = {key: Entry(value, "test") for key, value in values.items()}
    actions.update(overrides)
    return EnergyTable("simple", actions, {"all": Leak(0.25, "test")})


HAND = counters(
    cycles=1000, busy_cycles=700, stall_cycles=50,
    macs=3000, macs_gated=1000, rf_reads=3000, rf_writes=64, array_transfers=6000,
    glb_input_reads=10, glb_input_writes=20, glb_weight_reads=3, glb_weight_writes=4,
    glb_output_reads=5, glb_output_writes=6, dram_bytes_read=100, dram_bytes_written=7)


# --- the arithmetic ----------------------------------------------------------------------

def test_hand_computed_breakdown_is_exact():
    spec = ArchSpec()  # 500 MHz
    result = energy_breakdown(HAND, simple_table(), spec)
    expected = {
        "mac": 2000 * 1.0 + 1000 * 0.125,
        "rf": 3000 * 0.25 + 64 * 0.5,
        "array": 6000 * 0.75,
        "glb": 10 * 4.0 + 20 * 8.0 + 3 * 2.0 + 4 * 16.0 + 5 * 32.0 + 6 * 64.0,
        "dram": 100 * 128.0 + 7 * 256.0,
        "control": 1000 * 0.5,
        # 0.25 W for 1000 cycles at 500 MHz = 2 us: 0.5 uJ.
        "leakage": 500_000.0,
    }
    assert expected == {"mac": 2125.0, "rf": 782.0, "array": 4500.0, "glb": 814.0,
                        "dram": 14592.0, "control": 500.0, "leakage": 500_000.0}
    assert result == {**expected, "total": 523_313.0}
    assert tuple(result) == COMPONENTS + ("total",)


def test_leakage_follows_the_clock():
    slow = energy_breakdown(HAND, simple_table(), ArchSpec(clock_mhz=250))
    fast = energy_breakdown(HAND, simple_table(), ArchSpec(clock_mhz=500))
    assert slow["leakage"] == 2 * fast["leakage"]
    assert {k: v for k, v in slow.items() if k not in ("leakage", "total")} == \
           {k: v for k, v in fast.items() if k not in ("leakage", "total")}


def test_per_bit_entries_take_the_width_from_the_architecture():
    table = simple_table(rf_read=Entry(0.125, "test", per_bit=True),
                         glb_output_read=Entry(0.5, "test", per_bit=True))
    spec = ArchSpec(rows=16, cols=8, operand_bits=8)
    per_action = table.per_action(spec)
    assert per_action["rf_read"] == 0.125 * 8
    assert per_action["glb_output_read"] == 0.5 * 8 * 32
    result = energy_breakdown(HAND, table, spec)
    assert result["rf"] == 3000 * 1.0 + 64 * 0.5
    assert result["glb"] == 814.0 - 5 * 32.0 + 5 * 128.0


def test_doubling_dram_cost_doubles_the_dram_component_only():
    spec = ArchSpec()
    base = simple_table()
    doubled = base.replace(
        dram_read_byte=Entry(2 * base.actions["dram_read_byte"].pj, "test x2"),
        dram_write_byte=Entry(2 * base.actions["dram_write_byte"].pj, "test x2"))
    before = energy_breakdown(HAND, base, spec)
    after = energy_breakdown(HAND, doubled, spec)
    assert after["dram"] == 2 * before["dram"]
    for component in COMPONENTS:
        if component != "dram":
            assert after[component] == before[component]
    assert after["total"] == pytest.approx(before["total"] + before["dram"])


@pytest.mark.parametrize("change,message", [
    ({"macs": None}, "'macs' missing"),
    ({"bogus": 1}, "unknown counter 'bogus'"),
    ({"cycles": -1}, "cycles must be an integer >= 0"),
    ({"macs_gated": 3001}, "macs_gated (3001) exceeds macs (3000)"),
])
def test_bad_counters_are_refused(change, message):
    values = dict(HAND)
    for key, value in change.items():
        if value is None:
            del values[key]
        else:
            values[key] = value
    with pytest.raises(ValueError, match="counters: ") as error:
        energy_breakdown(values, simple_table(), ArchSpec())
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
    assert e["rf_read"] == pytest.approx(
        direct("register", {"tech_node": tech, "width": 8}, "read"), rel=1e-12)
    assert e["rf_write"] == pytest.approx(
        direct("register", {"tech_node": tech, "width": 8}, "write"), rel=1e-12)
    # Buffers: one bank of the partition, words / banks deep (default: 4 banks).
    for part, width, words in (("input", 128, 65536 // 16), ("weight", 128, 32768 // 16),
                               ("output", 512, 32768 // 64)):
        depth = words // 4
        attrs = {"tech_node": tech, "width": width, "depth": depth, "size": width * depth}
        for verb in ("read", "write"):
            assert e[f"glb_{part}_{verb}"] == pytest.approx(direct("sram", attrs, verb),
                                                            rel=1e-12)
        leak = hwlib.hwcomponents().get_leak_power("sram", attrs)
        assert table.leakage[f"glb_{part}"].w == pytest.approx(4 * leak, rel=1e-12)
    assert e["dram_read_byte"] == direct("lpddr4", {}, "read", {"bits_per_action": 8})
    assert e["dram_write_byte"] == direct("lpddr4", {}, "write", {"bits_per_action": 8})
    assert e["control_cycle"] == pytest.approx(
        direct("counter", {"tech_node": tech, "width": 48}, "count"), rel=1e-12)
    # A hop is at least the receiving register's write, at the mean width (8 + 32) / 2.
    assert e["array_transfer"] > direct("register", {"tech_node": tech, "width": 20}, "write")
    assert all(entry.source for entry in table.actions.values())
    assert all(leak.source for leak in table.leakage.values())


def test_output_stationary_table_prices_its_own_accesses():
    """The output-stationary PE's register file is its accumulator, its hops move operands,
    and its weight words are `cols` operands wide."""
    spec = ArchSpec(dataflow="os", rows=8, cols=16)
    e = {action: entry.pj for action, entry in table_for(spec).actions.items()}
    for verb in ("read", "write"):
        assert e[f"rf_{verb}"] == pytest.approx(
            direct("register", {"tech_node": 45e-9, "width": 32}, verb), rel=1e-12)
    assert action_bits(spec)["glb_weight_read"] == 16 * 8
    assert action_bits(spec)["array_transfer"] == 8
    assert action_bits(dataclasses.replace(spec, dataflow="ws"))["glb_weight_read"] == 8 * 8


def test_smaller_node_costs_less(tables):
    mac = {nm: tables[nm][1].actions["mac"].pj for nm in tables}
    assert mac[22] < mac[32] < mac[45]
    read = {nm: tables[nm][1].actions["glb_input_read"].pj for nm in tables}
    assert read[22] < read[32] < read[45]
    # DRAM interface energy does not depend on the accelerator's node.
    assert len({tables[nm][1].actions["dram_read_byte"].pj for nm in tables}) == 1


def test_components_add_up_to_the_total(tables):
    spec, table = tables[45]
    result = energy_breakdown(HAND, table, spec)
    assert set(result) == set(COMPONENTS) | {"total"}
    assert sum(result[c] for c in COMPONENTS) == result["total"]
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
        energy_breakdown(HAND, table, ArchSpec(rows=8))


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
    assert e["rf_read"] == pytest.approx(1 * mac)
    assert e["array_transfer"] == pytest.approx(2 * mac * 20 / 8)  # a 20-bit mean hop
    assert e["glb_input_read"] == pytest.approx(6 * mac * 16)     # 16 int8 per word
    assert e["glb_output_read"] == pytest.approx(6 * mac * 16 * 4)  # 16 int32 per word
    assert e["dram_read_byte"] == pytest.approx(200 * mac)
    assert table.leakage_w == 0.0
    result = energy_breakdown(HAND, table, spec)
    assert result["dram"] == pytest.approx(107 * 60.0)


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
    (lambda d: _drop(d, "actions", "rf_read", "source"), "actions.rf_read: source: missing"),
    (lambda d: _set(d, "  ", "actions", "mac", "source"), "actions.mac: source: missing"),
    (lambda d: _drop(d, "actions", "mac", "pj"), "actions.mac: give exactly one of pj"),
    (lambda d: _set(d, -1, "actions", "dram_read_byte", "pj"),
     "actions.dram_read_byte: pj: must be a finite number >= 0"),
    (lambda d: _set(d, "1 pJ", "actions", "rf_write", "pj"),
     "actions.rf_write: pj: expected a number"),
    (lambda d: _set(d, {"pj_per_bit": 1, "source": "s"}, "actions", "mac"),
     "actions.mac: pj_per_bit: this action has no data width"),
    (lambda d: _set(d, {"pj": 1, "source": "s"}, "actions", "fma"),
     "actions.fma: unknown action"),
    (lambda d: _set(d, 2.0, "actions", "array_transfer"),
     "actions.array_transfer: expected {pj: <number>, source: <text>}"),
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
