"""Which modules of an exported accelerator multiply two run-time signals.

Amaranth's Verilog backend writes every operator as its own `assign`, so a multiply is
`assign \\$n = A * B;`.  A product with a literal operand (`8'h20`) is a shift-and-add of
constants; one of two signals is a multiplier in silicon.  Only the PEs and the
post-processor (requantization) should hold those.
"""

import re

_MODULE = re.compile(r"^module\s+(\S+?)\s*\(.*?^endmodule", re.S | re.M)
_PRODUCT = re.compile(r"^\s*assign\s+(.+?)\s*=\s*(.+?)\s+\*\s+(.+?)\s*;", re.M)
_LITERAL = re.compile(r"(\$signed\(|\$unsigned\()?\s*\d*\s*'s?[hdbo][0-9a-fA-F_xzXZ]+\s*\)?")


def is_literal(operand):
    return bool(_LITERAL.fullmatch(operand.strip()))


def signal_products(verilog_text):
    """{module name: ["A * B", ...]} of the products of two non-literal operands."""
    found = {}
    for module in _MODULE.finditer(verilog_text):
        name = module.group(1).lstrip("\\")
        products = [f"{a} * {b}" for _, a, b in _PRODUCT.findall(module.group(0))
                    if not is_literal(a) and not is_literal(b)]
        if products:
            found[name] = products
    return found
