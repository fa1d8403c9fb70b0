"""The timing estimate (synthesis/timing.py, synthesis/cells.py): the cited NanGate45 cell
numbers and the Liberty file written from them, the static timing of hand-built netlists
against sums of the cells' own lines, and configs/tiny.yaml synthesized, cached and
rescaled."""

import json
import shutil

import pytest

from models.cache import CACHE_ENV, cache_root
from models.counters import COUNTER_NAMES
from models.energy import table_for
from models.spec import ArchSpec
from peforge.area import architecture_area
from peforge.report import build_report, layer_entry, markdown, timing_warning
from synthesis import nangate45_cells, timing
from synthesis.cells import LOADS_FF, liberty_text, load_library
from synthesis.fit_cells import fit_line
from synthesis.liberty import read_library


@pytest.fixture(scope="module")
def library():
    return load_library()


# --- the cell numbers and the Liberty file written from them ------------------------------

def test_the_cell_numbers_name_their_source(library):
    assert "OpenSTA" in library.source and "d1b2b3962cd47539c748bb163da5de2bd5d2f85f" \
        in library.source
    assert {"DFF_X1", "NAND2_X1", "BUF_X4", "INV_X1"} <= set(library.cells)
    assert library.cells["NAND2_X1"].area == pytest.approx(0.798)  # the LEF footprint
    assert library.flip_flop().name == "DFF_X1"
    # A stronger drive of the same function: a smaller slope, a larger input capacitance.
    x1, x4 = library.cells["INV_X1"], library.cells["INV_X4"]
    assert x4.arcs[0].slope < x1.arcs[0].slope / 3 and x4.inputs["A"] > 3 * x1.inputs["A"]


def test_a_line_fit_recovers_a_line_and_measures_the_deviation():
    intrinsic, slope, deviation = fit_line([(x, 0.02 + 0.003 * x) for x in (0.4, 2, 4, 8, 15)])
    assert (intrinsic, slope, deviation) == pytest.approx((0.02, 0.003, 0))
    assert fit_line([(0, 0), (1, 1), (2, 0)])[2] == pytest.approx(2 / 3)


def test_the_liberty_file_carries_the_same_numbers(library, tmp_path):
    """Read back with the Liberty reader, every cell has its area, capacitances and
    function, and every delay table is the cell's line at any load and transition."""
    path = tmp_path / "cells.lib"
    path.write_text(liberty_text(library))
    read = read_library(path, set(library.cells))
    assert set(read.cells) == set(library.cells)
    for name, cell in library.cells.items():
        back = read.cells[name]
        assert back.area == cell.area and back.sequential == cell.sequential
        assert {p.name: p.capacitance for p in back.inputs()} == cell.inputs
        [out] = back.outputs()
        assert out.name == cell.output
        for arc in cell.arcs:
            [arc_back] = [a for a in out.arcs if a.related_pin == arc.related_pin]
            for load in (0.5, 7.0, LOADS_FF[1] * 1.5):
                for slew in (0.005, nangate45_cells.NOMINAL_SLEW_NS, 0.2):
                    assert arc_back.delay(slew, load) == pytest.approx(arc.delay(load),
                                                                       abs=1e-6)


def test_wire_load_follows_the_fanout_table(library):
    wire = nangate45_cells.WIRE_LOAD
    assert library.net_capacitance(0) == 0
    assert library.net_capacitance(4) == pytest.approx(wire["capacitance_ff"] * 9.2201)
    assert library.net_capacitance(10) == pytest.approx(
        wire["capacitance_ff"] * (wire["fanout_length"][9] + wire["fanout_length"][11]) / 2)
    last_fanout, last_length = max(wire["fanout_length"].items())
    assert library.net_capacitance(last_fanout + 10) == pytest.approx(
        wire["capacitance_ff"] * (last_length + 10 * wire["slope"]))


# --- static timing of hand-built netlists --------------------------------------------------

def _netlist(cells, ports):
    return {"modules": {"t": {"ports": ports, "cells": cells, "netnames": {
        f"n{bit}": {"hide_name": 0, "bits": [bit]} for bit in range(2, 400)}}}}


def _dff(d, q):
    return {"type": "DFF_X1", "connections": {"D": [d], "CK": [1], "Q": [q]}}


def test_a_register_to_register_path_is_the_sum_of_its_arcs(library):
    """DFF -> INV -> NAND2 -> DFF, every delay taken from the cells' lines by hand."""
    cells = {"launch": _dff(10, 2), "inv": {"type": "INV_X1", "connections": {"A": [2],
                                                                              "ZN": [3]}},
             "nand": {"type": "NAND2_X1", "connections": {"A1": [3], "A2": [2], "ZN": [4]}},
             "capture": _dff(4, 10)}
    ports = {"clk": {"direction": "input", "bits": [1]}}
    result = timing.analyze(_netlist(cells, ports), "t", library)

    wire = library.net_capacitance
    dff, inv, nand = (library.cells[c] for c in ("DFF_X1", "INV_X1", "NAND2_X1"))
    q_load = inv.inputs["A"] + nand.inputs["A2"] + wire(2)
    t = dff.arcs[0].delay(q_load)
    t_inv = t + inv.arcs[0].delay(nand.inputs["A1"] + wire(1))
    nand_load = dff.inputs["D"] + wire(1)
    arcs = {a.related_pin: a for a in nand.arcs}
    t_nand = max(t_inv + arcs["A1"].delay(nand_load), t + arcs["A2"].delay(nand_load))

    assert result["critical_path_ns"] == pytest.approx(t_nand + dff.setup)
    assert result["start"] == "n2" and result["end"] == "n10"
    assert result["endpoint"] == "flip-flop"
    assert [step[0] for step in result["path"]] == ["DFF_X1", "INV_X1", "NAND2_X1"]


def test_a_wide_fanout_goes_through_a_buffer_tree(library):
    """A register driving 64 flip-flops through one level of 7 buffers (at most
    TREE_FANOUT = 10 sinks each)."""
    cells = {"launch": _dff(300, 2), **{f"sink{i}": _dff(2, 10 + i) for i in range(64)}}
    result = timing.analyze(_netlist(cells, {}), "t", library)
    assert "1 levels of BUF_X4 (fanout 64)" in result["path"][0][0]
    dff, buffer = library.cells["DFF_X1"], library.cells["BUF_X4"]
    wire = library.net_capacitance
    driver = dff.arcs[0].delay(7 * buffer.inputs["A"] + wire(7))
    level = buffer.arcs[0].delay(10 * dff.inputs["D"] + wire(10))
    assert result["path"][0][2] == pytest.approx(driver + level, abs=1e-4)  # rounded
    unbuffered = dff.arcs[0].delay(64 * dff.inputs["D"] + wire(64))
    assert result["path"][0][2] < unbuffered


def test_a_combinational_loop_is_refused(library):
    cells = {"a": {"type": "INV_X1", "connections": {"A": [3], "ZN": [2]}},
             "b": {"type": "INV_X1", "connections": {"A": [2], "ZN": [3]}},
             "q": _dff(2, 4)}
    with pytest.raises(timing.SynthesisError, match="combinational loop"):
        timing.analyze(_netlist(cells, {}), "t", library)


# --- one small accelerator, synthesized --------------------------------------------------

@pytest.fixture(scope="module")
def small(arch):
    """configs/tiny.yaml's timing: synthesized once in the project's cache, which the
    command-line tests running tiny.yaml share."""
    spec = arch("tiny")
    return spec, timing.estimate_timing(spec)


def test_small_accelerator_has_a_located_critical_path(small, library):
    spec, result = small
    assert set(result["units"]) == {"accelerator", "pe"}
    assert result["critical_path_ns"] == max(u["critical_path_ns"]
                                             for u in result["units"].values())
    # NanGate45 gates at typical loads take 15-120 ps each.
    cells = len(result["path"])
    assert 0.015 * cells < result["critical_path_ns"] < 0.12 * cells, result["path"]
    assert result["fmax_mhz"] == pytest.approx(1e3 / result["critical_path_ns"])
    assert result["meets_clock"] == (spec.clock_mhz <= result["fmax_mhz"])
    assert result["start"] and result["end"] and result["end_module"]
    arrivals = [step[2] for step in result["path"]]
    assert arrivals == sorted(arrivals)
    if result["endpoint"] == "flip-flop":  # the path ends with the setup time
        assert arrivals[-1] < result["critical_path_ns"] < arrivals[-1] + 0.2
    else:
        assert arrivals[-1] == pytest.approx(result["critical_path_ns"], abs=1e-4)
    assert all(step[0].split()[0] in library.cells for step in result["path"][1:])
    accelerator = result["units"]["accelerator"]
    by_module = accelerator["worst_by_module"]
    slowest = next(iter(by_module.values()))
    assert slowest["critical_path_ns"] == accelerator["critical_path_ns"]
    assert slowest["end"] == accelerator["end"]
    assert [p["critical_path_ns"] for p in by_module.values()] == sorted(
        (p["critical_path_ns"] for p in by_module.values()), reverse=True)
    assert len(by_module) >= 5 and accelerator["end_module"] in by_module
    assert result["cells"] > 1000 and result["flip_flops"] > 100
    assert "abc -D 2000" in result["method"] and "NanGate45" in result["method"]


def no_synthesis(monkeypatch):
    """Make any Yosys run fail the test: these calls must be answered from the cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("Yosys ran on a call the cache should answer")
    monkeypatch.setattr(timing, "run_script", refuse)


def test_a_warm_call_and_another_node_need_no_synthesis(small, monkeypatch):
    spec, first = small
    no_synthesis(monkeypatch)
    warm = timing.estimate_timing(spec)
    at_90 = timing.estimate_timing(ArchSpec(**{**spec.to_dict(), "tech_nm": 90}))
    assert warm["cached"] and at_90["cached"]
    assert warm["critical_path_ns"] == first["critical_path_ns"]
    assert at_90["critical_path_ns"] == pytest.approx(2 * first["critical_path_ns"])
    assert "scaled x 2 to 90 nm" in at_90["method"]


def test_cached_only_reads_the_cache_and_synthesizes_nothing(small, tmp_path, monkeypatch):
    spec, first = small
    as_read = json.loads(json.dumps({**first, "cached": True}))  # the cache's JSON: lists
    assert timing.estimate_timing(spec, cached_only=True) == as_read
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))  # an empty cache
    no_synthesis(monkeypatch)
    assert timing.estimate_timing(spec, cached_only=True) is None
    assert not list((tmp_path / "timing").glob("*.json"))  # no record made


def test_a_source_edit_that_keeps_the_verilog_needs_no_synthesis(small, tmp_path,
                                                                  monkeypatch):
    """The records without the index from sources to the Verilog's digest (as after an edit
    to pyhdl/): the Verilog is exported again, its digest finds the records."""
    spec, first = small
    for record in (cache_root() / "timing").glob("*.json"):
        if json.loads(record.read_text()).get("verilog_sha256"):
            (tmp_path / "timing").mkdir(exist_ok=True)
            shutil.copy(record, tmp_path / "timing")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    estimate = timing.estimate_timing(spec, cached_only=True)
    assert estimate == json.loads(json.dumps({**first, "cached": True}))
    assert len(list((tmp_path / "timing" / "verilog").glob("*.json"))) == len(timing.UNITS)


def test_the_report_carries_the_timing_and_warns_on_a_fast_clock(small):
    tiny, result = small
    slow = ArchSpec(**{**tiny.to_dict(), "clock_mhz": result["fmax_mhz"] / 2})
    fast = ArchSpec(**{**tiny.to_dict(), "clock_mhz": 2 * result["fmax_mhz"]})
    for spec in (slow, fast):
        estimate = timing.estimate_timing(spec)  # the clock is no part of the cache key
        assert estimate["cached"] and estimate["meets_clock"] == (spec is slow)
        table = table_for(spec)
        counters = {**dict.fromkeys(COUNTER_NAMES, 0), "cycles": 1000, "busy_cycles": 10,
                    "macs": 100, "array_transfers": 2 * 10 * spec.rows * spec.cols}
        layer = layer_entry(spec, "l", "conv", counters, table)
        report = build_report(spec, [layer], table, architecture_area(spec, synthesize=False),
                              timing=estimate)
        arch_timing = report["arch"]["timing"]
        assert arch_timing["critical_path_ns"] == result["critical_path_ns"]
        assert {"fmax_mhz", "method", "start", "end", "start_module", "end_module"} \
            <= set(arch_timing)
        warning = timing_warning(report["arch"])
        assert (warning is None) == estimate["meets_clock"]
        text = markdown(report, {})
        assert f"fmax {result['fmax_mhz']:.0f} MHz" in text
        assert ("**Warning:**" in text) == (not estimate["meets_clock"])
    assert f"exceeds the estimated fmax ({result['fmax_mhz']:.0f} MHz" in warning


def test_the_default_meets_its_own_clock(arch):
    """Issue 10's target: configs/default.yaml reaches its own clock (500 MHz) at 45 nm, every
    register-to-register path within the period.  Synthesizes the 16x16 the first time
    (minutes), then reads the cache."""
    spec = arch("default")
    result = timing.estimate_timing(spec)
    assert spec.clock_mhz == 500 and spec.tech_nm == 45
    assert result["meets_clock"], timing.summary(result, top=10)
    assert result["critical_path_ns"] <= 1e3 / spec.clock_mhz


def test_the_row_stationary_array_meets_its_clock(arch):
    """configs/rs-3x5.yaml (row-stationary, 500 MHz, 45 nm) reaches its clock: the RS array's
    placement stage and registered event strobes (pyhdl/rs_array.py) keep the pass
    configuration's chains off the counters and the buses.  Synthesizes the first time
    (minutes), then reads the cache."""
    spec = arch("rs-3x5")
    result = timing.estimate_timing(spec)
    assert spec.clock_mhz == 500 and spec.tech_nm == 45
    assert result["meets_clock"], timing.summary(result, top=10)


def test_the_compressing_default_meets_its_clock(arch):
    """configs/default-bitmask.yaml (the default with bitmask-compressed activations) reaches
    its clock (500 MHz) at 45 nm: the decompressor's output register and the compressor's
    staging register keep the bitmask codecs off the window's loop and the gearboxes'
    inputs (pyhdl/compress.py).  Synthesizes the 16x16 the first time (minutes), then reads
    the cache."""
    spec = arch("default-bitmask")
    result = timing.estimate_timing(spec)
    assert spec.activation_compression == "bitmask" and spec.clock_mhz == 500
    assert result["meets_clock"], timing.summary(result, top=10)
    assert result["critical_path_ns"] <= 1e3 / spec.clock_mhz


def test_the_2to4_default_meets_its_clock(arch):
    """configs/default-2to4.yaml (the default with 2:4 weight sparsity: input words of 32
    operands, five shifted windows of the folded layers' line buffer) reaches its clock
    (500 MHz) at 45 nm: the fold loop's element shift registered one-hot, its windows' and lane
    groups' AND-ORs balanced, keep the select's fanout off the array's gated count
    (pyhdl/tap_fold_loop.py).  Synthesizes the 16x16 the first time (minutes), then reads the
    cache."""
    spec = arch("default-2to4")
    result = timing.estimate_timing(spec)
    assert spec.weight_sparsity == "2:4" and spec.clock_mhz == 500
    assert result["meets_clock"], timing.summary(result, top=10)
    assert result["critical_path_ns"] <= 1e3 / spec.clock_mhz
