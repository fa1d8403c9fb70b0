"""The cell library the timing estimate maps onto, from the numbers of
synthesis/nangate45_cells.py: a linear delay model for the static timing (synthesis/timing.py),
and the small Liberty file Yosys's `dfflibmap` and ABC read, written from those numbers.

The Liberty file has no table of the source's: every delay table is the cell's line
(intrinsic + slope * load) sampled at two loads, the same at any input transition, and every
output transition is NOMINAL_SLEW_NS, so ABC sizes and buffers with the delays the static
timing uses.
"""

from dataclasses import dataclass

from . import nangate45_cells as source

LOADS_FF = (0.0, 100.0)
"""The two loads each delay line is written at (ABC extrapolates linearly beyond)."""


@dataclass(frozen=True)
class Arc:
    """A linear delay, ns, from `related_pin` to the output: intrinsic + slope * load (fF)."""

    related_pin: str
    intrinsic: float
    slope: float

    def delay(self, load):
        return self.intrinsic + self.slope * load


@dataclass(frozen=True)
class Cell:
    name: str
    area: float
    inputs: dict          # pin: capacitance, fF
    output: str
    function: str         # of the output, Liberty notation; "IQ" for a flip-flop's Q
    arcs: tuple           # Arcs into the output (a flip-flop's: its clock-to-Q)
    setup: float = None   # a flip-flop's setup time, ns
    data: str = None      # a flip-flop's data and clock pins
    clock: str = None

    @property
    def sequential(self):
        return self.setup is not None


@dataclass(frozen=True)
class Library:
    source: str
    default_input_pin_cap: float
    wire_load: dict
    cells: dict

    def net_capacitance(self, fanout):
        """The wire-load model's net capacitance (fF) for `fanout` sinks: its fanout-to-length
        table, interpolated, continued with its slope beyond the last entry."""
        if fanout <= 0:
            return 0.0
        table = sorted(self.wire_load["fanout_length"].items())
        if fanout >= table[-1][0]:
            length = table[-1][1] + self.wire_load["slope"] * (fanout - table[-1][0])
        else:
            (f0, l0), (f1, l1) = next((a, b) for a, b in zip(table, table[1:])
                                      if a[0] <= fanout <= b[0])
            length = l0 + (l1 - l0) * (fanout - f0) / (f1 - f0)
        return self.wire_load["capacitance_ff"] * length

    def flip_flop(self):
        return next(c for c in self.cells.values() if c.sequential)


def _cell(name, numbers):
    if "flip_flop" in numbers:
        pins = numbers["flip_flop"]
        return Cell(name, numbers["area"], numbers["inputs"], pins["output"], "IQ",
                    (Arc(pins["clock"], *numbers["clock_to_q"]),), numbers["setup"],
                    pins["data"], pins["clock"])
    output, function = numbers["output"]
    return Cell(name, numbers["area"], numbers["inputs"], output, function,
                tuple(Arc(pin, *line) for pin, line in numbers["arcs"].items()))


def load_library():
    """The Library of synthesis/nangate45_cells.py."""
    return Library(source.SOURCE, source.DEFAULT_INPUT_PIN_CAP_FF, source.WIRE_LOAD,
                   {name: _cell(name, numbers) for name, numbers in source.CELLS.items()})


def _table(kind, values):
    """A 2x2 table of `values` at LOADS_FF (index_2), equal at both transitions (index_1)."""
    slew = source.NOMINAL_SLEW_NS
    row = f'"{values[0]:.6f}, {values[1]:.6f}"'
    return (f"      {kind} (linear_2x2) {{\n"
            f'        index_1 ("{slew / 2:.6f}, {2 * slew:.6f}");\n'
            f'        index_2 ("{LOADS_FF[0]:.6f}, {LOADS_FF[1]:.6f}");\n'
            f"        values ({row}, {row});\n      }}")


def _timing(arc, sequential):
    delays = [arc.delay(load) for load in LOADS_FF]
    return "\n".join([
        "    timing () {", f'      related_pin : "{arc.related_pin}";',
        *(["      timing_type : rising_edge;"] if sequential else []),
        _table("cell_rise", delays), _table("cell_fall", delays),
        _table("rise_transition", [source.NOMINAL_SLEW_NS] * 2),
        _table("fall_transition", [source.NOMINAL_SLEW_NS] * 2),
        "    }"])


def _liberty_cell(cell):
    lines = [f"  cell ({cell.name}) {{", f"    area : {cell.area};"]
    if cell.sequential:
        lines.append(f'    ff (IQ, IQN) {{ next_state : "{cell.data}"; '
                     f'clocked_on : "{cell.clock}"; }}')
    for pin, capacitance in cell.inputs.items():
        lines.append(f"    pin ({pin}) {{ direction : input; capacitance : {capacitance}; "
                     + ("clock : true; " if pin == cell.clock else "") + "}")
    lines += [f"    pin ({cell.output}) {{", "    direction : output;",
              f'    function : "{cell.function}";',
              *(_timing(arc, cell.sequential) for arc in cell.arcs),
              "    }", "  }"]
    return "\n".join(lines)


def liberty_text(library):
    """A Liberty file of `library` for `dfflibmap` and ABC (see the module's docstring)."""
    slew = source.NOMINAL_SLEW_NS
    return "\n".join([
        "/* Written by synthesis/cells.py from synthesis/nangate45_cells.py: linear delays",
        f" * fitted from {library.source}. */",
        "library (peforge_nangate45_linear) {",
        "  delay_model : table_lookup;", '  time_unit : "1ns";', "  capacitive_load_unit (1, ff);",
        '  voltage_unit : "1V";', '  current_unit : "1mA";', '  pulling_resistance_unit : "1kohm";',
        "  nom_process : 1.0;", "  nom_voltage : 1.1;", "  nom_temperature : 25.0;",
        f"  default_input_pin_cap : {library.default_input_pin_cap};",
        "  lu_table_template (linear_2x2) {",
        "    variable_1 : input_net_transition;", "    variable_2 : total_output_net_capacitance;",
        f'    index_1 ("{slew / 2:.6f}, {2 * slew:.6f}");',
        f'    index_2 ("{LOADS_FF[0]:.6f}, {LOADS_FF[1]:.6f}");', "  }",
        *(_liberty_cell(cell) for cell in library.cells.values()),
        "}", ""])
