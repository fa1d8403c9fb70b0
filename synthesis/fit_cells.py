"""Fit the linear cell delays of synthesis/nangate45_cells.py from a full Liberty library.
A development-time tool: nothing at run time imports it.

    python -m synthesis.fit_cells FULL.lib > synthesis/nangate45_cells.py

FULL.lib is the NanGate FreePDK45 Open Cell Library at its typical corner, as OpenSTA ships
it (examples/nangate45_typ.lib.gz of github.com/The-OpenROAD-Project/OpenSTA, gunzipped; the
same library as OpenROAD-flow-scripts flow/platforms/nangate45/lib/
NangateOpenCellLibrary_typical.lib).  For each cell of CELLS it keeps the area, each input's
capacitance and each output's function, and reduces each timing arc's non-linear delay
tables (synthesis/liberty.py reads them) to one line:

- the input transition is fixed at NOMINAL_SLEW_NS;
- at each load of the table's first FIT_POINTS load indices (the range that cell's drive
  strength is characterized for, smallest first) the delay is the worse of cell_rise and
  cell_fall;
- a least-squares line through those points gives delay = intrinsic + slope * load
  (ns, ns per fF), and the largest deviation of the points from it is reported on stderr.

A flip-flop's clock-to-Q arc is fitted the same way (the clock's transition also
NOMINAL_SLEW_NS); its setup time is the worse of the rise and fall constraints at
NOMINAL_SLEW_NS on both data and clock.  The library's default wire-load model is copied as
its few numbers (capacitance per unit length, the fanout-to-length table, the slope beyond
it).
"""

import re
import sys
from pprint import pformat

from .liberty import groups, read_library

SOURCE = ("NanGate FreePDK45 Open Cell Library, typical corner (TypTyp, 1.10 V, 25 C), "
          "Liberty as shipped by OpenSTA (github.com/The-OpenROAD-Project/OpenSTA "
          "examples/nangate45_typ.lib.gz at commit d1b2b3962cd47539c748bb163da5de2bd5d2f85f)")
CELLS = ("INV_X1", "INV_X2", "INV_X4", "INV_X8", "BUF_X1", "BUF_X2", "BUF_X4", "BUF_X8",
         "NAND2_X1", "NAND2_X2", "NOR2_X1", "NOR2_X2", "AND2_X1", "OR2_X1", "NAND3_X1",
         "NOR3_X1", "XOR2_X1", "XNOR2_X1", "MUX2_X1", "AOI21_X1", "OAI21_X1", "AOI22_X1",
         "OAI22_X1", "DFF_X1")
"""The cells ABC maps onto (and DFF_X1, the one flip-flop `dfflibmap` uses)."""
NOMINAL_SLEW_NS = 0.03
"""The input transition every arc is fitted at: about that of a gate driving a few gates."""
FIT_POINTS = 5
WIDTH = 96
"""The generated module's line length."""


def fit_line(points):
    """(intrinsic, slope, largest deviation) of the least-squares line through points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in points)
             / sum((x - mean_x) ** 2 for x, _ in points))
    intrinsic = mean_y - slope * mean_x
    return intrinsic, slope, max(abs(y - intrinsic - slope * x) for x, y in points)


def fit_arc(arc):
    loads = arc.tables["cell_rise"].index_2[:FIT_POINTS]
    return fit_line([(load, arc.delay(NOMINAL_SLEW_NS, load)) for load in loads])


def _line(arc):
    intrinsic, slope, deviation = fit_arc(arc)
    return (round(intrinsic, 5), round(slope, 6)), deviation


def cell_entry(cell, raw_functions, deviations):
    """{area, inputs, and output, function and arcs or a flip-flop's pins, clock-to-Q and
    setup} of one cell; each fit's deviation appended to `deviations`."""
    entry = {"area": cell.area, "inputs": {p.name: round(p.capacitance, 4)
                                           for p in cell.inputs()}}
    if cell.sequential:
        [clock_to_q] = [a for a in cell.pins["Q"].arcs if a.timing_type == "rising_edge"]
        line, deviation = _line(clock_to_q)
        deviations.append((cell.name, f"{clock_to_q.related_pin}->Q", deviation))
        setup = max(a.constraint(NOMINAL_SLEW_NS, NOMINAL_SLEW_NS)
                    for a in cell.pins["D"].arcs if a.timing_type == "setup_rising")
        return {**entry, "flip_flop": {"data": "D", "clock": clock_to_q.related_pin,
                                       "output": "Q"},
                "clock_to_q": line, "setup": round(setup, 5)}
    [out] = cell.outputs()
    arcs = {}
    for arc in out.arcs:
        arcs[arc.related_pin], deviation = _line(arc)
        deviations.append((cell.name, f"{arc.related_pin}->{out.name}", deviation))
    return {**entry, "output": (out.name, raw_functions[cell.name]), "arcs": arcs}


def functions(text, cells):
    """{cell: the Liberty function of its one output} read from the library text."""
    [(_, _, begin, _)] = [g for g in groups(text) if g[0] == "library"]
    found = {}
    for name, argument, b, e in groups(text, text.index("{", begin) + 1):
        if name == "cell" and argument in cells:
            match = re.search(r"function\s*:\s*\"([^\"]+)\"", text[b:e])
            found[argument] = match.group(1).strip() if match else None
    return found


def module_text(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    library = read_library(path, CELLS)
    missing = [c for c in CELLS if c not in library.cells]
    if missing:
        raise SystemExit(f"not in {path}: {', '.join(missing)}")
    raw = functions(text, CELLS)
    deviations = []
    cells = {c: cell_entry(library.cells[c], raw, deviations) for c in CELLS}
    wire = library.wire_load
    wire_load = {"name": wire.name, "capacitance_ff": wire.capacitance, "slope": wire.slope,
                 "fanout_length": dict(wire.fanout_length)}
    worst = max(deviations, key=lambda d: d[2])
    print(f"largest deviation of a table point from its line: {1e3 * worst[2]:.2f} ps "
          f"({worst[0]} {worst[1]})", file=sys.stderr)
    source = pformat(SOURCE, width=WIDTH - len("SOURCE = "))
    return "\n".join([
        '"""NanGate45 cells for the timing estimate: areas, input capacitances, functions and',
        "linear delays (delay ns = intrinsic + slope * load fF, the worse of rise and fall),",
        "fitted by synthesis/fit_cells.py (which documents how) from SOURCE; do not edit by",
        'hand."""',
        "",
        "SOURCE = " + source.replace("\n", "\n" + " " * len("SOURCE = ")),
        f"NOMINAL_SLEW_NS = {NOMINAL_SLEW_NS}",
        '"""The input transition every delay was fitted at."""',
        f"DEFAULT_INPUT_PIN_CAP_FF = {library.default_input_pin_cap}",
        "WIRE_LOAD = " + pformat(wire_load, width=WIDTH - len("WIRE_LOAD = "),
                                 sort_dicts=False).replace("\n", "\n" + " " * 12),
        '"""The default wire-load model: net capacitance = capacitance_ff x length(fanout)."""',
        "",
        "CELLS = " + pformat(cells, width=WIDTH - len("CELLS = "), sort_dicts=False)
        .replace("\n", "\n" + " " * len("CELLS = ")),
        '"""{cell: {"area" (um^2), "inputs" ({pin: capacitance fF}), and "output" (pin, Liberty',
        'function) with "arcs" ({input pin: (intrinsic ns, slope ns/fF)}), or a flip-flop\'s',
        '"flip_flop" pins, "clock_to_q" (intrinsic, slope) and "setup" (ns)}."""',
        "",
    ])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    sys.stdout.write(module_text(argv[0]))


if __name__ == "__main__":
    main()
