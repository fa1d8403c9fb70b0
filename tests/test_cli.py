"""The `peforge` command line: a real layer on the RTL, and every kind of bad input refused
with one line naming the problem, a non-zero exit, no traceback and no output file."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import golden

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


def bad_input_cases(tmp):
    """(name, extra files to write, arguments) for each way the input can be wrong."""
    good = ["--inputs", tmp / "x.npy", "--weights", tmp / "w.npy"]
    return {
        "missing_inputs": (["--arch", TINY, "--op", "fc", "--inputs", tmp / "nope.npy",
                            "--weights", tmp / "w.npy"], "no such file"),
        "missing_arch": (["--arch", tmp / "nope.yaml", "--op", "fc", *good],
                         "cannot read architecture file"),
        "float_inputs": (["--arch", TINY, "--op", "fc", "--inputs", tmp / "float.npy",
                          "--weights", tmp / "w.npy"], "dtype float32"),
        "three_dims": (["--arch", TINY, "--op", "fc", "--inputs", tmp / "cube.npy",
                        "--weights", tmp / "w.npy"], "expected 2 dimensions"),
        "reduction_mismatch": (["--arch", TINY, "--op", "fc", "--inputs", tmp / "x.npy",
                                "--weights", tmp / "w_wide.npy"], "C=13 but weights have C=14"),
        "truncated_npy": (["--arch", TINY, "--op", "fc", "--inputs", tmp / "cut.npy",
                           "--weights", tmp / "w.npy"], "not a readable .npy"),
        "out_of_range": (["--arch", tmp / "int4.yaml", "--op", "fc", *good],
                         "does not fit a 4-bit signed operand"),
        "bad_field": (["--arch", tmp / "rows0.yaml", "--op", "fc", *good],
                      "rows: must be from 1 to 64, not 0"),
        "unknown_field": (["--arch", tmp / "typo.yaml", "--op", "fc", *good],
                          "unknown field 'colums'"),
        "malformed_yaml": (["--arch", tmp / "broken.yaml", "--op", "fc", *good],
                           "not valid YAML"),
        "does_not_fit": (["--arch", TINY, "--op", "fc", "--inputs", tmp / "x_huge.npy",
                          "--weights", tmp / "w_huge.npy"], "glb_input_bytes=4096"),
        "bias_wrong_length": (["--arch", TINY, "--op", "fc", *good, "--bias", tmp / "w.npy"],
                              "--bias: expected shape (6,)"),
        "zero_point_out_of_range": (["--arch", TINY, "--op", "fc", *good, "--requant", "1", "2",
                                     "300"], "zero point must be from -128 to 127, not 300"),
        "bad_energy_table": (["--arch", TINY, "--op", "fc", *good, "--energy-table",
                              tmp / "broken.yaml"], "not valid YAML"),
        "conv_wrong_rank": (["--arch", TINY, "--op", "conv", *good], "expected 4 dimensions"),
        "dwconv_wrong_weights": (["--arch", TINY, "--op", "dwconv", "--inputs", tmp / "cube4.npy",
                                  "--weights", tmp / "cube4.npy"], "dwconv: weights must be 2x1xRxS"),
        "fc_with_stride": (["--arch", TINY, "--op", "fc", *good, "--stride", "2"],
                           "fc takes neither"),
    }


def write_bad_files(tmp):
    rng = np.random.default_rng(6)
    np.save(tmp / "float.npy", rng.random((9, 13)).astype(np.float32))
    np.save(tmp / "cube.npy", np.zeros((2, 3, 4), dtype=np.int8))
    np.save(tmp / "cube4.npy", np.zeros((1, 2, 3, 3), dtype=np.int8))
    np.save(tmp / "w_wide.npy", np.zeros((6, 14), dtype=np.int8))
    np.save(tmp / "x_huge.npy", np.zeros((2, 5000), dtype=np.int8))
    np.save(tmp / "w_huge.npy", np.zeros((3, 5000), dtype=np.int8))
    (tmp / "cut.npy").write_bytes((tmp / "x.npy").read_bytes()[:90])
    (tmp / "int4.yaml").write_text("name: int4\nrows: 4\ncols: 4\noperand_bits: 4\n")
    (tmp / "rows0.yaml").write_text("rows: 0\n")
    (tmp / "typo.yaml").write_text("colums: 4\n")
    (tmp / "broken.yaml").write_text("rows: [4\n")


@pytest.mark.parametrize("case", list(bad_input_cases(Path("."))))
def test_bad_input_is_refused_cleanly(layer_files, case):
    tmp = layer_files[0]
    write_bad_files(tmp)
    args, message = bad_input_cases(tmp)[case]
    out = tmp / "y.npy"
    report = tmp / "report.json"
    done = peforge("layer", *args, "--out", out, "--report", report)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("peforge: error: "), done.stderr
    assert message in lines[0]
    assert not out.exists() and not report.exists()
    assert not list(tmp.glob(".*tmp*"))


def test_output_directory_must_exist(layer_files):
    tmp = layer_files[0]
    done = peforge("layer", "--arch", TINY, "--op", "fc", "--inputs", tmp / "x.npy",
                   "--weights", tmp / "w.npy", "--out", tmp / "missing" / "y.npy")
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_export_writes_verilog(tmp_path):
    done = peforge("export", "--arch", TINY, "--out", tmp_path / "hdl")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "hdl" / "peforge_top.v").read_text()
    assert "module peforge_top(" in text
