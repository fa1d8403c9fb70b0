"""Standard-cell areas for the synthesized-area estimate (synthesis/array_area.py).

Yosys maps the PE array onto its own generic gate cells: `abc -g` with the gate set
`ABC_GATES` below for the logic, and `dfflegalize` down to one plain rising-edge flip-flop,
so enables and synchronous resets become gates too.  Every one of those Yosys cells is a
single cell of the NanGate FreePDK45 Open Cell Library at drive strength X1, and its area
is that cell's footprint.

Source of every number: NanGate FreePDK45 Open Cell Library, LEF macro SIZE (width x
height, height 1.4 um for every core cell; placement site 0.19 um x 1.4 um = 0.266 um^2),
as shipped in OpenROAD-flow-scripts,
flow/platforms/nangate45/lef/NangateOpenCellLibrary.macro.mod.lef; area = width x 1.4.  Each
row below quotes the LEF SIZE it comes from.

Other technology nodes: the 45 nm areas are scaled by (tech_nm / 45)^2, ideal constant-
field (Dennard) scaling of both layout dimensions.  That is a first-order assumption, not a
library: below about 22 nm real cell areas shrink less than this (fin, contacted-poly and
metal pitches scale slower), so the estimate is optimistic there.

Nothing here imports Amaranth or runs Yosys.
"""

import fnmatch

REFERENCE_NODE_NM = 45
LIBRARY = "NanGate FreePDK45 Open Cell Library (NangateOpenCellLibrary), X1 drive strength"
LIBRARY_SOURCE = ("OpenROAD-flow-scripts flow/platforms/nangate45/lef/"
                  "NangateOpenCellLibrary.macro.mod.lef, MACRO ... SIZE w BY 1.4")

# Yosys cell type: (NanGate cell, area at 45 nm in um^2, source: LEF SIZE of that cell).
CELLS = {
    "$_NOT_": ("INV_X1", 0.532, "INV_X1 SIZE 0.38 BY 1.4"),
    "$_BUF_": ("BUF_X1", 0.798, "BUF_X1 SIZE 0.57 BY 1.4"),
    "$_NAND_": ("NAND2_X1", 0.798, "NAND2_X1 SIZE 0.57 BY 1.4"),
    "$_NOR_": ("NOR2_X1", 0.798, "NOR2_X1 SIZE 0.57 BY 1.4"),
    "$_AND_": ("AND2_X1", 1.064, "AND2_X1 SIZE 0.76 BY 1.4"),
    "$_OR_": ("OR2_X1", 1.064, "OR2_X1 SIZE 0.76 BY 1.4"),
    "$_XOR_": ("XOR2_X1", 1.596, "XOR2_X1 SIZE 1.14 BY 1.4"),
    "$_XNOR_": ("XNOR2_X1", 1.596, "XNOR2_X1 SIZE 1.14 BY 1.4"),
    "$_MUX_": ("MUX2_X1", 1.862, "MUX2_X1 SIZE 1.33 BY 1.4"),
    # $_AOI3_ = ~((A & B) | C) is AOI21; $_OAI3_ = ~((A | B) & C) is OAI21.
    "$_AOI3_": ("AOI21_X1", 1.064, "AOI21_X1 SIZE 0.76 BY 1.4"),
    "$_OAI3_": ("OAI21_X1", 1.064, "OAI21_X1 SIZE 0.76 BY 1.4"),
    # $_AOI4_ = ~((A & B) | (C & D)) is AOI22; $_OAI4_ = ~((A | B) & (C | D)) is OAI22.
    "$_AOI4_": ("AOI22_X1", 1.330, "AOI22_X1 SIZE 0.95 BY 1.4"),
    "$_OAI4_": ("OAI22_X1", 1.330, "OAI22_X1 SIZE 0.95 BY 1.4"),
    # The only flip-flop left after `dfflegalize -cell $_DFF_P_ 01`: enables are MUX2
    # cells and synchronous resets AND2 cells in front of it, as in a library (like this
    # one) without enable or synchronous-reset flops.
    "$_DFF_P_": ("DFF_X1", 4.522, "DFF_X1 SIZE 3.23 BY 1.4"),
}

ABC_GATES = ("AND", "NAND", "OR", "NOR", "XOR", "XNOR", "MUX", "AOI3", "OAI3", "AOI4", "OAI4")
"""The gate set for `abc -g`: each maps to one cell above (NOT and BUF are always allowed)."""

FLIP_FLOP_PATTERNS = ("$_DFF_*", "$_DFFE_*", "$_SDFF_*", "$_SDFFE_*", "$_SDFFCE_*",
                      "$_DFFSR_*", "$_DFFSRE_*", "$_ALDFF_*", "$_ALDFFE_*")
LATCH_PATTERNS = ("$_DLATCH_*", "$_DLATCHSR_*", "$_SR_*", "$dlatch", "$adlatch", "$dlatchsr",
                  "$sr")
"""Yosys cell types that hold state without a clock edge: a design containing any is refused."""


class UnknownCellError(KeyError):
    """A cell type the table has no area for (a changed synthesis script or gate set)."""

    def __str__(self):
        return self.args[0]


def _check_node(tech_nm):
    if isinstance(tech_nm, bool) or not isinstance(tech_nm, (int, float)) or tech_nm <= 0:
        raise ValueError(f"tech_nm: expected a positive feature size in nm, not {tech_nm!r}")


def scale_factor(tech_nm):
    """Area scale from the 45 nm library to `tech_nm`: (tech_nm / 45)^2."""
    _check_node(tech_nm)
    return (tech_nm / REFERENCE_NODE_NM) ** 2


def cell_area_um2(cell_type, tech_nm=REFERENCE_NODE_NM):
    """Area in um^2 of one Yosys generic cell `cell_type` (e.g. "$_NAND_") at `tech_nm`."""
    try:
        _, area, _ = CELLS[cell_type]
    except KeyError:
        raise UnknownCellError(f"no area for Yosys cell type {cell_type!r} (known: "
                               f"{', '.join(sorted(CELLS))})") from None
    return area * scale_factor(tech_nm)


def area_table(tech_nm=REFERENCE_NODE_NM):
    """{Yosys cell type: area in um^2} at `tech_nm`."""
    return {cell: cell_area_um2(cell, tech_nm) for cell in CELLS}


def design_area_um2(cell_counts, tech_nm=REFERENCE_NODE_NM):
    """Total cell area of {cell type: count}; an unknown cell type raises UnknownCellError."""
    return sum(count * cell_area_um2(cell, tech_nm) for cell, count in cell_counts.items())


def library_cell(cell_type):
    """The NanGate cell a Yosys cell type stands for, e.g. "$_AOI3_" -> "AOI21_X1"."""
    return CELLS[cell_type][0]


def is_flip_flop(cell_type):
    return any(fnmatch.fnmatchcase(cell_type, p) for p in FLIP_FLOP_PATTERNS)


def is_latch(cell_type):
    return any(fnmatch.fnmatchcase(cell_type, p) for p in LATCH_PATTERNS)
