"""The seven-metric report: its contract, its files, and a real ResNet-18 layer's energy."""

import json
from pathlib import Path

import numpy as np
import pytest

from models.counters import COUNTER_NAMES
from models.energy import ACTIONS, COMPONENTS, load_table, table_for
from models.spec import ArchSpec
from peforge.area import architecture_area
from peforge.report import build_report, layer_entry, write_report
from testbench.jobs import Job
from testbench.runner import SimulationModel

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
LAYER_KEYS = {"name", "op", "mode", "macs", "cycles", "utilization", "latency_s", "energy_pj",
              "energy_by_action_pj", "dram_bytes", "glb_accesses", "counters"}


def fake_counters(scale=1):
    counters = {name: 0 for name in COUNTER_NAMES}
    counters.update(cycles=1000 * scale, busy_cycles=800 * scale, macs=200_000 * scale,
                    macs_gated=1000 * scale, rf_reads=200_000 * scale, rf_writes=512 * scale,
                    array_transfers=400_000 * scale, glb_input_reads=800 * scale,
                    glb_input_writes=100 * scale, glb_output_reads=800 * scale,
                    glb_output_writes=800 * scale, dram_bytes_read=4096 * scale,
                    dram_bytes_written=2048 * scale)
    return counters


def test_report_follows_the_contract(tmp_path):
    spec = ArchSpec(name="small", rows=4, cols=4, glb_input_bytes=4096, glb_weight_bytes=2048,
                    glb_output_bytes=4096, dram_bus_bytes=8)
    table = table_for(spec)
    layers = [layer_entry(spec, f"l{i}", "conv", fake_counters(i + 1), table) for i in range(3)]
    report = build_report(spec, layers, table, architecture_area(spec, synthesize=False))
    for layer in report["layers"]:
        assert set(layer) == LAYER_KEYS
        assert set(layer["energy_pj"]) == {*COMPONENTS, "total"}
        assert layer["energy_pj"]["postprocess"] > 0 and layer["energy_pj"]["control"] > 0
        assert set(layer["energy_by_action_pj"]) == set(ACTIONS)
        assert set(layer["dram_bytes"]) == {"read", "write"}
        assert layer["latency_s"] == layer["cycles"] / (spec.clock_mhz * 1e6)
    total = report["totals"]
    assert total["macs"] == sum(layer["macs"] for layer in layers)
    assert total["energy_pj"]["total"] == pytest.approx(
        sum(layer["energy_pj"]["total"] for layer in layers))
    assert total["gops"] == pytest.approx(2 * total["macs"] / total["latency_s"] / 1e9)
    assert report["peak_macs_per_cycle"] == 16
    assert report["onchip_bytes"] == spec.onchip_bytes
    assert report["area_um2"]["postprocess"] > 0 and report["area_um2"]["control"] > 0
    assert report["area_um2"]["total"] == pytest.approx(
        sum(v for k, v in report["area_um2"].items() if k != "total"))

    path = tmp_path / "report.json"
    write_report(report, path)
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    markdown = (tmp_path / "report.md").read_text()
    assert "PE utilization" in markdown and "| dram |" in markdown
    for plot in ("energy", "utilization", "area"):
        assert (tmp_path / f"report-{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))


@pytest.mark.rtl
@pytest.mark.xdist_group("default")
def test_resnet18_3x3_layer_energy_split(arch, tmp_path):
    """ResNet-18 conv3_x on the default 16x16 RTL: the split adds up, each component is its
    counters times its per-action energies, data movement costs more than the MACs, and
    with Eyeriss's normalized costs DRAM and buffer alone outweigh the MACs."""
    spec = arch("default")
    rng = np.random.default_rng(18)
    x = rng.integers(-128, 128, (1, 128, 28, 28))
    w = rng.integers(-128, 128, (128, 128, 3, 3))
    [result] = SimulationModel(spec).run([Job("conv3_x", "conv", x, w, pad=1)], tmp_path)
    np.testing.assert_array_equal(result.output, result.expected)
    table = table_for(spec)
    energy = layer_entry(spec, "conv3_x", "conv", result.counters, table)["energy_pj"]
    assert sum(energy[key] for key in COMPONENTS) == pytest.approx(energy["total"], rel=1e-12)
    pj = table.per_action(spec)
    c = result.counters
    assert energy["dram"] == pytest.approx(c["dram_bytes_read"] * pj["dram_read_byte"]
                                           + c["dram_bytes_written"] * pj["dram_write_byte"])
    mac = pj["multiply"] + spec.psum_bits * pj["add_bit"]
    assert energy["mac"] == pytest.approx((c["macs"] - c["macs_gated"]) * mac
                                          + c["macs_gated"] * pj["mac_gated"])
    assert pj["dram_read_byte"] > 10 * mac and pj["glb_input_read"] > 5 * mac
    movement = energy["dram"] + energy["glb"] + energy["array"] + energy["rf"]
    assert movement > energy["mac"]
    eyeriss = load_table(CONFIGS / "energy" / "eyeriss.yaml")
    normalized = layer_entry(spec, "conv3_x", "conv", c, eyeriss)["energy_pj"]
    assert normalized["dram"] + normalized["glb"] > normalized["mac"]
