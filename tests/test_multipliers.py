"""No multiplier between two run-time signals outside the PEs and the post-processor
(issue 10: the mapper computes every per-layer product, the RTL steps addresses with
adders), counted in the exported Verilog of the default and an output-stationary 16x16."""

import re

import pytest

from models.spec import ArchSpec
from pyhdl.export import TOP_NAME, verilog_text
from synthesis.multipliers import is_literal, signal_products

ALLOWED = re.compile(rf"{TOP_NAME}\.(array\.pe_\d+_\d+|post)")
"""The modules that multiply by design: the PEs' MACs and the requantization."""


def test_a_product_with_a_literal_is_not_a_multiplier():
    verilog = ("module \\top.a (x, y);\n  assign \\$1 = x * 6'h20;\n"
               "  assign \\$2 = $signed(x[9:2]) * $signed(\\$7 );\nendmodule\n"
               "module \\top.b (x);\n  assign \\$3 = $signed(8'sh10) * x;\nendmodule\n")
    assert signal_products(verilog) == {"top.a": ["$signed(x[9:2]) * $signed(\\$7 )"]}
    assert is_literal("32'd7") and is_literal("$signed(8'sh10)") and not is_literal("x")


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_only_pes_and_post_processor_multiply_signals(arch, dataflow):
    spec = ArchSpec(**{**arch("default").to_dict(), "dataflow": dataflow,
                       "name": f"default-{dataflow}"})
    products = signal_products(verilog_text(spec))
    # The PEs' MACs and the requantizing multiply are written as `*`: the scanner finds them.
    assert f"{TOP_NAME}.post" in products and f"{TOP_NAME}.array.pe_0_0" in products
    stray = {name: found for name, found in products.items() if not ALLOWED.fullmatch(name)}
    assert not stray, "\n".join(
        [f"{spec.name}: multipliers of two run-time signals outside the PEs and the "
         "post-processor:"]
        + [f"  {name}: {len(found)}: {', '.join(found[:6])}{', ...' if len(found) > 6 else ''}"
           for name, found in sorted(stray.items())])
