"""A reader for the subset of Liberty synthesis/fit_cells.py fits the timing model from
(and the tests read synthesis/cells.py's Liberty back with): cell areas, pin directions and
capacitances, the delay and setup tables of each timing arc, and the library's default
wire-load model.  Non-linear delay model (NLDM) tables are looked up by bilinear
interpolation, extrapolated linearly beyond their last index, as static timing tools do.
"""

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

_GROUP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)\s*\{")
_ATTRIBUTE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*\"?([^;\"]*)\"?\s*;")


def groups(text, start=0):
    """(name, argument, begin, end) of each group `name (argument) { ... }` opening at
    brace depth 0 of `text[start:]` (up to the brace that closes the enclosing group), with
    `text[begin:end]` the whole group."""
    depth, position = 0, start
    while True:
        match = _GROUP.search(text, position)
        brace = text.find("}", position)
        if match is None or (brace != -1 and brace < match.start()):
            if brace == -1 or depth == 0:
                return
            depth, position = depth - 1, brace + 1
            continue
        if depth == 0:
            end = group_end(text, match.end())
            yield match.group(1), match.group(2).strip().strip('"'), match.start(), end
            position = end
        else:
            depth, position = depth + 1, match.end()


def group_end(text, after_brace):
    """The index just past the brace closing the group whose `{` ends at `after_brace`."""
    depth, index = 1, after_brace
    while depth:
        index = min(i for i in (text.find("{", index), text.find("}", index)) if i != -1)
        depth += 1 if text[index] == "{" else -1
        index += 1
    return index


def _children(text):
    """[(name, argument, body)] of the groups directly inside the group `text`."""
    start = text.index("{") + 1
    return [(name, arg, text[b:e]) for name, arg, b, e in groups(text, start)]


def _attributes(text):
    """{name: value} of the simple attributes of a group, its sub-groups left out."""
    body = text[text.index("{") + 1:]
    for _, _, b, e in sorted(groups(text, text.index("{") + 1), key=lambda g: -g[2]):
        offset = text.index("{") + 1
        body = body[:b - offset] + body[e - offset:]
    return {name: value.strip() for name, value in _ATTRIBUTE.findall(body)}


def _numbers(text):
    return tuple(float(v) for v in re.split(r"[,\s\\]+", text.strip().strip('"')) if v)


@dataclass(frozen=True)
class Table:
    """An NLDM table: `values[i][j]` at `index_1[i]`, `index_2[j]` (one row if 1-D)."""

    index_1: tuple
    index_2: tuple
    values: tuple

    @classmethod
    def parse(cls, text):
        index_1 = re.search(r"index_1\s*\(\s*\"([^\"]*)\"", text)
        index_2 = re.search(r"index_2\s*\(\s*\"([^\"]*)\"", text)
        rows = re.findall(r"\"([^\"]*)\"", re.search(r"values\s*\((.*?)\)\s*;", text,
                                                    re.S).group(1))
        values = tuple(_numbers(row) for row in rows)
        return cls(_numbers(index_1.group(1)), _numbers(index_2.group(1)) if index_2 else (),
                   values)

    def lookup(self, x1, x2=0.0):
        """The table's value at (x1, x2), bilinear, extrapolated linearly at the edges."""
        if not self.index_2:
            return _interpolate(self.index_1, self.values[0], x1)
        if len(self.values) == 1:  # one row: the table varies along index_2 only
            return _interpolate(self.index_2, self.values[0], x2)
        column = [_interpolate(self.index_2, row, x2) for row in self.values]
        return _interpolate(self.index_1, column, x1)


def _interpolate(xs, ys, x):
    if len(xs) == 1:
        return ys[0]
    i = min(max(bisect.bisect_right(xs, x) - 1, 0), len(xs) - 2)
    x0, x1 = xs[i], xs[i + 1]
    return ys[i] + (ys[i + 1] - ys[i]) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class Arc:
    """A timing arc into an output pin (delay) or onto an input (setup)."""

    related_pin: str
    timing_type: str
    tables: dict

    def delay(self, slew, load):
        """Worst of the rise and fall delay, ns, for an input slew (ns) and load (fF)."""
        return max(self.tables[k].lookup(slew, load) for k in ("cell_rise", "cell_fall")
                   if k in self.tables)

    def constraint(self, data_slew, clock_slew):
        return max(self.tables[k].lookup(data_slew, clock_slew)
                   for k in ("rise_constraint", "fall_constraint") if k in self.tables)


@dataclass(frozen=True)
class Pin:
    name: str
    direction: str
    capacitance: float
    arcs: tuple = ()


@dataclass(frozen=True)
class Cell:
    name: str
    area: float
    pins: dict
    sequential: bool

    def inputs(self):
        return [p for p in self.pins.values() if p.direction == "input"]

    def outputs(self):
        return [p for p in self.pins.values() if p.direction == "output"]


@dataclass(frozen=True)
class WireLoad:
    """A wire-load model: net capacitance from fanout, `capacitance` (fF per unit length)
    times the length of `fanout_length`, continued with `slope` per fanout beyond it."""

    name: str
    capacitance: float
    slope: float
    fanout_length: tuple


@dataclass(frozen=True)
class Library:
    name: str
    default_input_pin_cap: float
    wire_load: WireLoad   # the default wire-load model, None if the library names none
    cells: dict


def _pin(name, text):
    attributes = _attributes(text)
    arcs = []
    for group, _, body in _children(text):
        if group != "timing":
            continue
        arc_attributes = _attributes(body)
        tables = {kind: Table.parse(table) for kind, _, table in _children(body)}
        arcs.append(Arc(arc_attributes["related_pin"],
                        arc_attributes.get("timing_type", "combinational"), tables))
    return Pin(name, attributes["direction"], float(attributes.get("capacitance", 0.0)),
               tuple(arcs))


def _cell(name, text):
    attributes = _attributes(text)
    children = _children(text)
    pins = {pin: _pin(pin, body) for group, pin, body in children if group == "pin"}
    sequential = any(group in ("ff", "latch") for group, _, _ in children)
    return Cell(name, float(attributes["area"]), pins, sequential)


def _wire_load(name, children):
    [text] = [body for group, arg, body in children if group == "wire_load" and arg == name]
    attributes = _attributes(text)
    fanout_length = tuple((int(f), float(length)) for f, length in re.findall(
        r"fanout_length\s*\(\s*(\d+)\s*,\s*([\d.eE+-]+)\s*\)", text))
    return WireLoad(name, float(attributes["capacitance"]), float(attributes["slope"]),
                    fanout_length)


def read_library(path, cells):
    """The Library in the Liberty file `path`, of its `cells` only."""
    text = Path(path).read_text()
    [(_, name, begin, end)] = [g for g in groups(text) if g[0] == "library"]
    library = text[begin:end]
    attributes = _attributes(library)
    children = _children(library)
    default_wire_load = attributes.get("default_wire_load")
    return Library(
        name=name,
        default_input_pin_cap=float(attributes["default_input_pin_cap"]),
        wire_load=default_wire_load and _wire_load(default_wire_load, children),
        cells={cell: _cell(cell, body) for group, cell, body in children
               if group == "cell" and cell in cells},
    )
