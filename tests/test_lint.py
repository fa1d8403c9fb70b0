"""RTL hygiene: the exported Verilog of several architectures is clean under `verilator
--lint-only -Wall` with only the documented waivers for what Amaranth's backend emits by
construction, and the whole accelerator synthesizes in Yosys without a latch or an error."""

import pytest

from models.spec import ArchSpec
from synthesis.lint import lint_spec, synth_check_spec
from synthesis.yosys import LatchError, run_yosys

SPECS = [
    ArchSpec(name="square", rows=4, cols=4, glb_input_bytes=2048, glb_weight_bytes=1024,
             glb_output_bytes=2048, dram_bus_bytes=8),
    ArchSpec(name="odd", rows=3, cols=5, operand_bits=4, acc_bits=20, rf_depth=1,
             glb_input_bytes=1024, glb_weight_bytes=512, glb_output_bytes=4096, glb_banks=1,
             dram_bus_bytes=4),
    ArchSpec(name="wide16", rows=2, cols=6, operand_bits=16, rf_depth=3, glb_input_bytes=1024,
             glb_weight_bytes=512, glb_output_bytes=4096, dram_bus_bytes=32),
    ArchSpec(name="odd_os", rows=5, cols=3, dataflow="os", glb_input_bytes=1280,
             glb_weight_bytes=768, glb_output_bytes=3072, glb_banks=2, dram_bus_bytes=8),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exported_verilog_is_lint_clean(spec):
    ok, messages = lint_spec(spec)
    assert ok, messages


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_accelerator_synthesizes_without_latches(spec):
    cells = synth_check_spec(spec)
    assert any(kind.startswith("$mem") for kind in cells), "the buffers became memories"
    assert sum(n for kind, n in cells.items() if "dff" in kind) > 100
    assert not [kind for kind in cells if "latch" in kind or kind == "$sr"]


def test_synthesis_check_catches_a_latch():
    """The check is not vacuous: a combinational block that holds a value is refused."""
    latch = ("module top(input en, input d, output reg q);\n"
             "  always @* if (en) q = d;\nendmodule\n")
    from synthesis.lint import SYNTH_CHECK_SCRIPT
    with pytest.raises(LatchError, match="latch"):
        run_yosys(latch, "top", SYNTH_CHECK_SCRIPT.replace("peforge_top", "top"))
