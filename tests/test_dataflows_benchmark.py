"""benchmarks/dataflows.py: the three dataflows on one silicon budget, and configs/eyeriss.yaml."""

import subprocess
import sys
from pathlib import Path

import pytest

from models.energy import COMPONENTS, table_for
from models.spec import ArchSpec, load_spec
from models.workloads import Layer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from dataflows import (CONV2_X, LEVELS, by_level, dataflow_specs, layer_run,  # noqa: E402
                       network_figures, row_stationary_twin)


@pytest.mark.parametrize("spec", [ArchSpec(), ArchSpec(name="wide", rows=8, cols=32)])
def test_row_stationary_twin_has_the_same_pes_and_no_more_storage(spec):
    rs = row_stationary_twin(spec)
    assert (rs.dataflow, rs.rows, rs.cols) == ("rs", spec.rows, spec.cols)
    assert (rs.rs_filter_depth, rs.rs_input_depth, rs.rs_psum_depth) == (224, 12, 24)
    assert rs.onchip_bytes <= spec.onchip_bytes
    assert rs.onchip_bytes > spec.onchip_bytes - 3 * 1024   # whole KB per partition cut off
    assert {s.dataflow for s in dataflow_specs(spec).values()} == {"ws", "os", "rs"}


def test_a_budget_without_room_for_the_register_files_is_refused(tmp_path):
    arch = tmp_path / "small.yaml"
    arch.write_text("name: small\nrows: 16\ncols: 16\nglb_input_bytes: 4096\n"
                    "glb_weight_bytes: 4096\nglb_output_bytes: 8192\n")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dataflows.py"),
                           "--arch", str(arch)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "dataflows: error: small: no global buffer is left beside the row-stationary "
        "register files and the bias buffer (101376 bytes)"]


def test_levels_add_up_and_every_dataflow_does_the_same_macs():
    layer = Layer("conv", "conv", CONV2_X)
    specs = dataflow_specs(ArchSpec())
    macs = {df: layer_run(s, layer)["macs"] for df, s in specs.items()}
    assert set(macs.values()) == {CONV2_X.macs}
    figures = network_figures(specs["rs"], [layer], {"hw": table_for(specs["rs"])})
    energy = figures["energy"]["hw"]
    assert sum(energy[c] for c in COMPONENTS) == pytest.approx(energy["total"])
    levels = by_level(energy, figures["macs"])
    assert sum(levels[k] for k in (*LEVELS, "other")) == pytest.approx(levels["total"])


def test_eyeriss_configuration_is_the_published_chip():
    spec = load_spec(ROOT / "configs" / "eyeriss.yaml")
    assert (spec.rows * spec.cols, spec.dataflow, spec.operand_bits) == (168, "rs", 16)
    assert spec.glb_input_bytes + spec.glb_weight_bytes + spec.glb_output_bytes == 108 * 1024
    assert (spec.rs_filter_depth, spec.rs_input_depth, spec.rs_psum_depth) == (224, 12, 24)
    assert (spec.clock_mhz, spec.tech_nm) == (200.0, 65)
