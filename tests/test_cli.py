"""The `peforge` command line: real layers on the RTL and the Verilog export (bad input:
tests/test_bad_input.py)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import golden
from models.layout import row_beats

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "tiny.yaml"


def peforge(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "peforge.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def layer_files(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (9, 13), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 13), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    return tmp_path, x, w


@pytest.mark.rtl
@pytest.mark.xdist_group("tiny")
def test_fc_layer_runs_on_rtl_and_writes_golden_output(layer_files):
    tmp, x, w = layer_files
    done = peforge("layer", "--arch", TINY, "--op", "fc", "--inputs", tmp / "x.npy",
                   "--weights", tmp / "w.npy", "--out", tmp / "y.npy",
                   "--report", tmp / "report.json")
    assert done.returncode == 0, done.stderr
    y = np.load(tmp / "y.npy")
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, golden.fc(x, w))
    report = json.loads((tmp / "report.json").read_text())
    [layer] = report["layers"]
    assert layer["macs"] == 9 * 13 * 6
    # 9 rows, more than the 4x4's rows + cols: its four reduction blocks run in pairs.
    assert layer["mode"] == "fc as 1x1 conv over 9 rows, reduction blocks paired"
    # Without --requant the outputs leave as int32: 6 of them, 24 B, 3 beats a row.
    assert layer["dram_bytes"]["write"] == 9 * row_beats(6, 32, 8) * 8
    assert 0 < layer["utilization"] <= 1
    assert layer["latency_s"] == pytest.approx(layer["cycles"] / 500e6)
    assert report["peak_macs_per_cycle"] == 16


@pytest.mark.rtl
@pytest.mark.xdist_group("tiny")
def test_conv_layer_runs_on_rtl(tmp_path):
    rng = np.random.default_rng(8)
    x = rng.integers(-128, 128, (1, 5, 7, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (3, 5, 3, 3), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    b = rng.integers(-5000, 5000, 3, dtype=np.int32)
    np.save(tmp_path / "b.npy", b)
    done = peforge("layer", "--arch", TINY, "--op", "conv", "--inputs", tmp_path / "x.npy",
                   "--weights", tmp_path / "w.npy", "--stride", 2, "--pad", 1,
                   "--bias", tmp_path / "b.npy", "--requant", 19000, 22, -3, "--relu",
                   "--out", tmp_path / "y.npy")
    assert done.returncode == 0, done.stderr
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.int8
    expected = golden.postprocess(golden.conv2d(x, w, stride=2, pad=1), b,
                                  requant=(19000, 22, -3), relu=True)
    np.testing.assert_array_equal(y, expected)
    assert len(np.unique(expected)) > 5


@pytest.mark.rtl
@pytest.mark.xdist_group("tiny")
def test_dwconv_layer_runs_on_rtl(tmp_path):
    rng = np.random.default_rng(9)
    x = rng.integers(-128, 128, (1, 6, 5, 5), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 1, 3, 3), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    done = peforge("layer", "--arch", TINY, "--op", "dwconv", "--inputs", tmp_path / "x.npy",
                   "--weights", tmp_path / "w.npy", "--pad", 1, "--out", tmp_path / "y.npy",
                   "--report", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  golden.conv2d(x, w, pad=1, groups=6))
    [layer] = json.loads((tmp_path / "r.json").read_text())["layers"]
    assert layer["macs"] == 6 * 5 * 5 * 9


def test_export_writes_verilog(tmp_path):
    done = peforge("export", "--arch", TINY, "--out", tmp_path / "hdl")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "hdl" / "peforge_top.v").read_text()
    assert "module peforge_top(" in text


@pytest.mark.xdist_group("tiny")
def test_lint_prints_the_timing(arch):
    from synthesis.timing import estimate_timing

    done = peforge("lint", "--arch", TINY)
    assert done.returncode == 0, done.stderr
    timing = estimate_timing(arch("tiny"))  # the run above cached it
    assert timing["cached"]
    assert (f"critical path {timing['critical_path_ns']:.3f} ns, fmax "
            f"{timing['fmax_mhz']:.0f} MHz at 45 nm") in done.stderr
    assert f"from {timing['start']} ({timing['start_module']}) to {timing['end']}" \
        in done.stderr
    assert "lint-clean under verilator -Wall" in done.stderr
