"""Exported Verilog is clean under `verilator --lint-only -Wall` with only the documented
waivers for what Amaranth's backend emits by construction."""

import pytest

from models.spec import ArchSpec
from peforge.lint import lint_spec


@pytest.mark.parametrize("spec", [
    ArchSpec(name="square", rows=4, cols=4, glb_input_bytes=2048, glb_weight_bytes=1024,
             glb_output_bytes=2048, dram_bus_bytes=8),
    ArchSpec(name="odd", rows=3, cols=5, operand_bits=4, acc_bits=20, rf_depth=1,
             glb_input_bytes=1024, glb_weight_bytes=512, glb_output_bytes=4096, glb_banks=1,
             dram_bus_bytes=4),
    ArchSpec(name="wide16", rows=2, cols=6, operand_bits=16, rf_depth=3, glb_input_bytes=1024,
             glb_weight_bytes=512, glb_output_bytes=4096, dram_bus_bytes=32),
], ids=lambda s: s.name)
def test_exported_verilog_is_lint_clean(spec):
    ok, messages = lint_spec(spec)
    assert ok, messages
