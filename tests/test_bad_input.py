"""Bad input to the `peforge` command line: every case is refused with one line naming the
problem ("peforge: error: ..."), exit status 2, no traceback, and no output file written
(nor a temporary one left behind).  None of them reaches the simulator."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "tiny.yaml"

ARCH_FILES = {
    "int4.yaml": "name: int4\nrows: 4\ncols: 4\noperand_bits: 4\n",
    "rows0.yaml": "rows: 0\n",
    "typo.yaml": "colums: 4\n",
    "broken.yaml": "rows: [4\n",
    "empty.yaml": "",
    "list.yaml": "- rows: 4\n",
    "rows_text.yaml": "rows: four\n",
    "tiny_glb.yaml": "glb_input_bytes: 1\n",
}


def write_files(tmp):
    """The good layer (fc: X 9x13, W 6x13; conv: X 1x3x5x5, W 2x3x3x3) and the bad files."""
    rng = np.random.default_rng(6)
    np.save(tmp / "x.npy", rng.integers(-128, 128, (9, 13), dtype=np.int8))
    np.save(tmp / "w.npy", rng.integers(-128, 128, (6, 13), dtype=np.int8))
    np.save(tmp / "x4.npy", rng.integers(-128, 128, (1, 3, 5, 5), dtype=np.int8))
    np.save(tmp / "w4.npy", rng.integers(-128, 128, (2, 3, 3, 3), dtype=np.int8))
    np.save(tmp / "w4_c4.npy", np.zeros((2, 4, 3, 3), dtype=np.int8))
    np.save(tmp / "float.npy", rng.random((9, 13)).astype(np.float32))
    np.save(tmp / "bool.npy", np.zeros((9, 13), dtype=bool))
    np.save(tmp / "float_bias.npy", np.zeros(6, dtype=np.float64))
    np.save(tmp / "cube.npy", np.zeros((2, 3, 4), dtype=np.int8))
    np.save(tmp / "cube4.npy", np.zeros((1, 2, 3, 3), dtype=np.int8))
    np.save(tmp / "w_wide.npy", np.zeros((6, 14), dtype=np.int8))
    np.save(tmp / "x_huge.npy", np.zeros((2, 5000), dtype=np.int8))
    np.save(tmp / "w_huge.npy", np.zeros((3, 5000), dtype=np.int8))
    np.save(tmp / "x_wide_image.npy", np.zeros((1, 3, 3, 3000), dtype=np.int8))
    np.save(tmp / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp / "archive.npz", x=np.zeros((9, 13), dtype=np.int8))
    good = (tmp / "x.npy").read_bytes()
    (tmp / "cut.npy").write_bytes(good[:90])
    (tmp / "cut_header.npy").write_bytes(good[:20])
    (tmp / "cut_weights.npy").write_bytes((tmp / "w.npy").read_bytes()[:-7])
    (tmp / "text.npy").write_text("1 2 3\n")
    for name, text in ARCH_FILES.items():
        (tmp / name).write_text(text)
    (tmp / "latin1.yaml").write_bytes(b"name: \xe9t\xe9\n")
    (tmp / "a_directory").mkdir()


def layer_cases(tmp):
    """(arguments of `peforge layer` before --out/--report, what the message must say)."""
    fc = ["--arch", TINY, "--op", "fc"]
    good = ["--inputs", tmp / "x.npy", "--weights", tmp / "w.npy"]
    conv = ["--arch", TINY, "--op", "conv", "--weights", tmp / "w4.npy"]

    def arch(name):
        return ["--arch", tmp / name, "--op", "fc", *good]

    def inputs(name, weights="w.npy"):
        return [*fc, "--inputs", tmp / name, "--weights", tmp / weights]

    return {
        # missing files
        "missing_inputs": (inputs("nope.npy"), "--inputs: no such file"),
        "missing_weights": (inputs("x.npy", "nope.npy"), "--weights: no such file"),
        "missing_bias": ([*fc, *good, "--bias", tmp / "nope.npy"], "--bias: no such file"),
        "missing_arch": (arch("nope.yaml"), "cannot read architecture file"),
        "missing_energy_table": ([*fc, *good, "--energy-table", tmp / "nope.yaml"], "nope.yaml"),
        # malformed or invalid architecture files
        "malformed_yaml": (arch("broken.yaml"), "not valid YAML"),
        "empty_yaml": (arch("empty.yaml"), "expected a mapping of architecture fields, not None"),
        "yaml_list": (arch("list.yaml"), "expected a mapping of architecture fields"),
        "not_utf8_yaml": (arch("latin1.yaml"), "not a UTF-8 text file"),
        "arch_is_directory": (arch("a_directory"), "cannot read architecture file"),
        "bad_field_value": (arch("rows0.yaml"), "rows: must be from 1 to 64, not 0"),
        "bad_field_type": (arch("rows_text.yaml"), "rows: expected int, not 'four'"),
        "unknown_field": (arch("typo.yaml"), "unknown field 'colums'"),
        "buffer_too_small": (arch("tiny_glb.yaml"), "glb_input_bytes: must be from"),
        "bad_energy_table": ([*fc, *good, "--energy-table", tmp / "broken.yaml"],
                             "not valid YAML"),
        # tensors of the wrong dtype, shape or size, or not readable
        "float_inputs": (inputs("float.npy"), "expected an integer array (int8), not dtype float32"),
        "bool_inputs": (inputs("bool.npy"), "not dtype bool"),
        "float_bias": ([*fc, *good, "--bias", tmp / "float_bias.npy"],
                       "--bias: expected an integer array (int32), not dtype float64"),
        "out_of_range": (arch("int4.yaml"), "does not fit a 4-bit signed operand"),
        "three_dims": (inputs("cube.npy"), "expected 2 dimensions"),
        "conv_wrong_rank": (["--arch", TINY, "--op", "conv", *good], "expected 4 dimensions"),
        "reduction_mismatch": (inputs("x.npy", "w_wide.npy"), "C=13 but weights have C=14"),
        "conv_channel_mismatch": (["--arch", TINY, "--op", "conv", "--inputs", tmp / "x4.npy",
                                   "--weights", tmp / "w4_c4.npy"],
                                  "conv: inputs have C=3 but weights have C=4"),
        "dwconv_wrong_weights": (["--arch", TINY, "--op", "dwconv", "--inputs", tmp / "cube4.npy",
                                  "--weights", tmp / "cube4.npy"], "dwconv: weights must be 2x1xRxS"),
        "bias_wrong_length": ([*fc, *good, "--bias", tmp / "w.npy"], "--bias: expected shape (6,)"),
        "truncated_npy": (inputs("cut.npy"), "not a readable .npy"),
        "truncated_header": (inputs("cut_header.npy"), "not a readable .npy"),
        "truncated_weights": (inputs("x.npy", "cut_weights.npy"), "--weights: "),
        "text_npy": (inputs("text.npy"), "not a readable .npy"),
        "pickled_objects": (inputs("objects.npy"), "not a readable .npy"),
        "npz_archive": (inputs("archive.npz"), "holds no single array"),
        "inputs_is_directory": (inputs("a_directory"), "not a readable .npy"),
        # layers that cannot run
        "fc_does_not_fit": (inputs("x_huge.npy", "w_huge.npy"), "glb_input_bytes=4096"),
        "conv_does_not_fit": ([*conv, "--inputs", tmp / "x_wide_image.npy"],
                              "conv: one output row needs"),
        "zero_stride": ([*conv, "--inputs", tmp / "x4.npy", "--stride", "0"],
                        "stride must be from 1"),
        "pad_too_large": ([*conv, "--inputs", tmp / "x4.npy", "--pad", "3"],
                          "pad must be from 0 to kernel size - 1 (2), not 3"),
        "fc_with_stride": ([*fc, *good, "--stride", "2"], "fc takes neither"),
        "zero_point_out_of_range": ([*fc, *good, "--requant", "1", "2", "300"],
                                    "zero point must be from -128 to 127, not 300"),
        "shift_out_of_range": ([*fc, *good, "--requant", "1", "70", "0"],
                               "requantization shift must be from 0 to 63, not 70"),
        "multiplier_out_of_range": ([*fc, *good, "--requant", "4294967296", "1", "0"],
                                    "multiplier must fit int32"),
        # command-line syntax
        "unknown_op": (["--arch", TINY, "--op", "pool", *good], "invalid choice: 'pool'"),
        "stride_not_a_number": ([*fc, *good, "--stride", "two"], "invalid int value: 'two'"),
        "missing_weights_flag": ([*fc, "--inputs", tmp / "x.npy"],
                                 "the following arguments are required: --weights"),
    }


def peforge(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "peforge.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def assert_refused(done, message):
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("peforge: error: "), done.stderr
    assert message in lines[0], lines[0]


@pytest.fixture
def bad_files(tmp_path):
    write_files(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", list(layer_cases(Path("."))))
def test_layer_refuses_bad_input(bad_files, case):
    args, message = layer_cases(bad_files)[case]
    before = set(bad_files.iterdir())
    out, report = bad_files / "y.npy", bad_files / "report.json"
    assert_refused(peforge("layer", *args, "--out", out, "--report", report), message)
    assert set(bad_files.iterdir()) == before, "an output or temporary file was written"


@pytest.mark.parametrize("flag", ["--out", "--report"])
def test_layer_refuses_a_directory_as_output(bad_files, flag):
    other = {"--out": bad_files / "y.npy", "--report": bad_files / "r.json"}
    other[flag] = bad_files / "a_directory"
    before = set(bad_files.iterdir())
    done = peforge("layer", "--arch", TINY, "--op", "fc", "--inputs", bad_files / "x.npy",
                   "--weights", bad_files / "w.npy", *(a for pair in other.items() for a in pair))
    assert_refused(done, f"{flag}: ")
    assert "is a directory" in done.stderr
    assert set(bad_files.iterdir()) == before
    assert not list((bad_files / "a_directory").iterdir())


def test_layer_refuses_a_missing_output_directory(bad_files):
    done = peforge("layer", "--arch", TINY, "--op", "fc", "--inputs", bad_files / "x.npy",
                   "--weights", bad_files / "w.npy", "--out", bad_files / "missing" / "y.npy")
    assert_refused(done, "does not exist")
    assert not (bad_files / "missing").exists()


def test_export_refuses_bad_architecture(bad_files):
    out = bad_files / "hdl"
    assert_refused(peforge("export", "--arch", bad_files / "rows0.yaml", "--out", out),
                   "rows: must be from 1 to 64, not 0")
    assert not out.exists()


def test_export_refuses_a_file_as_output_directory(bad_files):
    target = bad_files / "x.npy"
    content = target.read_bytes()
    assert_refused(peforge("export", "--arch", TINY, "--out", target),
                   "exists and is not a directory")
    assert target.read_bytes() == content


def test_lint_refuses_missing_architecture(bad_files):
    assert_refused(peforge("lint", "--arch", bad_files / "nope.yaml"),
                   "cannot read architecture file")
