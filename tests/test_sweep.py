"""`peforge sweep`: the grid, its table and plot, and bad --vary values refused up front."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from models.spec import load_spec
from peforge.errors import UserError
from peforge.sweep import grid, parse_vary

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "tiny.yaml"


def peforge(*args):
    return subprocess.run([sys.executable, "-m", "peforge.cli", *map(str, args)],
                          capture_output=True, text=True)


def test_grid_is_every_combination_with_glb_kb_split_like_the_default():
    base = load_spec(TINY)
    points = grid(base, parse_vary(["rows=2,4", "glb_kb=16,64"]))
    assert [point for point, _ in points] == [
        {"rows": 2, "glb_kb": 16}, {"rows": 2, "glb_kb": 64},
        {"rows": 4, "glb_kb": 16}, {"rows": 4, "glb_kb": 64}]
    spec = points[1][1]
    assert (spec.rows, spec.cols, spec.glb_input_bytes, spec.glb_weight_bytes,
            spec.glb_output_bytes) == (2, base.cols, 32768, 16384, 16384)
    assert len({spec.name for _, spec in points}) == 4


@pytest.mark.parametrize("item, message", [
    ("rows=4,x", "--vary 'rows=4,x': 'x' is not a whole number"),
    ("rowz=4", "--vary 'rowz=4': unknown parameter 'rowz'"),
    ("rows", "--vary 'rows': expected NAME=V1,V2,..."),
    ("clock_mhz=100,fast", "--vary 'clock_mhz=100,fast': 'fast' is not a number"),
    ("cols=4,4", "--vary 'cols=4,4': a value is repeated"),
])
def test_bad_vary_items_name_the_bad_value(item, message):
    with pytest.raises(UserError) as error:
        parse_vary([item])
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("vary, message", [
    (["rows=4,128"], "peforge: error: --vary rows=128: rows: must be from 1 to 64, not 128"),
    (["cols=4,x"], "peforge: error: --vary 'cols=4,x': 'x' is not a whole number"),
])
def test_bad_vary_values_exit_2_and_write_nothing(tmp_path, vary, message):
    done = peforge("sweep", "--arch", TINY, "--vary", *vary, "--workload", "digits",
                   "--out", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [message]
    assert not (tmp_path / "out").exists()


def test_sweep_writes_table_and_plot(tmp_path):
    done = peforge("sweep", "--arch", TINY, "--vary", "rows=2,4,8", "cols=2,4",
                   "--workload", "digits", "--out", tmp_path, "--jobs", 2)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert [(row["rows"], row["cols"]) for row in rows] == [
        ("2", "2"), ("2", "4"), ("4", "2"), ("4", "4"), ("8", "2"), ("8", "4")]
    assert len({row["macs"] for row in rows}) == 1
    by_size = {(int(row["rows"]), int(row["cols"])): row for row in rows}
    for small, large in (((2, 2), (4, 4)), ((4, 2), (8, 4)), ((2, 2), (2, 4))):
        # More PEs: more throughput, at most proportionally more; more PE-array area.
        ratio = float(by_size[large]["inferences_per_s"]) / float(
            by_size[small]["inferences_per_s"])
        pes = int(by_size[large]["pes"]) / int(by_size[small]["pes"])
        assert 1 < ratio <= pes * 1.0001
        assert float(by_size[large]["array_area_mm2"]) > float(by_size[small]["array_area_mm2"])
    markdown = (tmp_path / "sweep.md").read_text()
    assert markdown.count("\n| ") == 2 + len(rows) and "![sweep](sweep.png)" in markdown
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_architectures_the_workload_does_not_fit_are_listed(tmp_path):
    done = peforge("sweep", "--arch", TINY, "--vary", "glb_kb=4,32", "--workload", "resnet18",
                   "--out", tmp_path, "--jobs", 1)
    assert done.returncode == 0, done.stderr
    small, large = csv.DictReader((tmp_path / "sweep.csv").open())
    assert small["error"].startswith("layer conv1: ")
    assert small["cycles"] == "" and large["error"] == "" and int(large["cycles"]) > 0
    assert "Architectures the workload does not fit" in (tmp_path / "sweep.md").read_text()


def test_a_workload_that_fits_no_architecture_writes_nothing(tmp_path):
    done = peforge("sweep", "--arch", TINY, "--vary", "glb_kb=2,4", "--workload", "resnet18",
                   "--out", tmp_path / "out", "--jobs", 1)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(
        "peforge: error: resnet18 fits none of the 2 architectures (the first: layer conv1:")
    assert not (tmp_path / "out").exists()
