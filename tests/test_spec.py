"""The architecture spec: shipped configs load, and every bad value is refused by name."""

from pathlib import Path

import pytest

from models.spec import ArchSpec, SpecError, load_spec

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_load(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.input_words % spec.glb_banks == 0


def test_non_square_config_is_shipped():
    assert any(load_spec(p).rows != load_spec(p).cols for p in CONFIGS)


@pytest.mark.parametrize("field,value,message", [
    ("rows", 0, "rows: must be from 1 to 64, not 0"),
    ("cols", 65, "cols: must be from 1 to 64, not 65"),
    ("dataflow", "xs", "dataflow: must be one of ws, os, rs, not 'xs'"),
    ("operand_bits", 6, "operand_bits: must be one of 4, 8, 16, not 6"),
    ("acc_bits", 12, "acc_bits: must be from 16 to 32, not 12"),
    ("dram_bus_bytes", 12, "dram_bus_bytes: must be a power of two from 4 to 64, not 12"),
    ("glb_banks", 3, "glb_banks: must be a power of two up to 16, not 3"),
    ("glb_input_bytes", 16, "glb_input_bytes: must be from 128 (two words per bank)"),
    ("dram_kind", "GDDR9", "dram_kind: must be one of LPDDR4, DDR3, HBM2, not 'GDDR9'"),
    ("rows", "16", "rows: expected int, not '16'"),
    ("rows", True, "rows: expected int, not True"),
])
def test_bad_values_are_refused_naming_the_field(field, value, message):
    with pytest.raises(SpecError) as error:
        ArchSpec(**{field: value})
    assert message in str(error.value)


def test_spec_is_frozen():
    spec = ArchSpec()
    with pytest.raises(AttributeError):
        spec.rows = 8


def test_clock_accepts_integers_as_floats():
    assert ArchSpec(clock_mhz=250).clock_mhz == 250.0


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="a.yaml: expected a mapping"):
        load_spec(path)
    path.write_text("rows: 3\ncols: 70\n")
    with pytest.raises(SpecError, match="a.yaml: cols: must be from 1 to 64, not 70"):
        load_spec(path)


def test_a_field_given_twice_is_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("rows: 4\ncols: 4\nrows: 8\n")
    with pytest.raises(SpecError, match=r"twice.yaml: field 'rows' given twice \(line 3\)"):
        load_spec(path)


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="latin1.yaml: not a UTF-8 text file"):
        load_spec(path)
