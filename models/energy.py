"""The energy model: one price per physical action, the same in every dataflow.

    table = table_for(spec)                  # from hwcomponents, cached per configuration
    table = load_table("configs/energy/eyeriss.yaml")   # or a user table, every number sourced
    energy_breakdown(counters, table, spec)  # {"mac": pJ, "rf": ..., ..., "total": pJ}
    energy_by_action(counters, table, spec)  # {"mac": pJ, "register_bit_write": ..., ...}
    activity(counters, spec)                 # what happened: (component, what, action, count)

An `EnergyTable` holds one energy per action class (ACTIONS) and the leakage power of each
component, every number with a `source`.  `activity` turns the activity counters of
models/counters.py into the physical actions behind them, with the widths of the registers,
hops and adders taken from the hardware inventory (models/inventory.py); `energy_breakdown`
prices them.  The pricing rules, applied to every dataflow alike:

- A register (flip-flop) costs `register_bit_write` per bit each time it loads, at its own
  width (an 8-bit weight, a 10-bit input token, a 20-bit partial sum).  Reading a flip-flop
  costs nothing by itself: its output drives the logic that reads it (multiplier, adder,
  wire), which is priced as that logic.  So an output-stationary PE's accumulator is a write
  of acc_bits per load, a weight-stationary PE's partial-sum register one of psum_bits (the
  narrowest a column's sum cannot overflow, spec.psum_bits), and the register file's read is
  not charged.
- A hop between neighbouring PEs is the receiving register's load (above) plus `hop_bit` per
  bit of that register: a wire one PE pitch long per bit.  Inputs, weights and partial sums
  hop at their own widths (weight-stationary partial sums at psum_bits).
- An adder costs `add_bit` per bit of its width per addition (acc_bits in the accumulator),
  a comparator `compare_bit` per bit; the MAC is one `mac` (multiplier, acc_bits adder and
  the zero detect), a gated MAC the zero detect alone.
- A buffer access is one word of that buffer (`glb_<buffer>_<read|write>`), DRAM per byte.

    component    what it holds
    mac          MACs and gated MACs
    rf           registers that stay inside a PE: the weight register file (ws), the
                 accumulator (os), the filter, input and psum register files (rs)
    array        registers between PEs and at the array's edges, and the hops' wires;
                 row-stationary: the multicast buses and the psum chain
    accumulate   the accumulator's stage and tag registers and its acc_bits adders
    glb          input, weight, output and bias buffer accesses
    dma          the DMA engines' gearbox, FIFO and count registers
    dram         DRAM bytes
    postprocess  the post-processor (cols 32-bit requantizing multiplies, each two 32x16
                 partial products, adders, clamps) per output word
    control      the activity counters, their event registers and the controller's inner
                 loop registers
    leakage      leakage power of every block over the run time

Entries of a user table for buffer and DRAM actions may be given per bit (`pj_per_bit`)
instead of per action (`pj`); the architecture supplies their widths (`action_bits`).  Tables
built by `table_for` are for one architecture and refuse to price another.
"""

import functools
import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml

from . import hwlib
from .cache import cache_root, digest
from .counters import COUNTER_BITS, COUNTER_NAMES
from .hardware import (ADDR_BITS, BURST_BITS, COUNT_BITS, EVENT_BITS, POSTPROCESS_MULT_BITS,
                       POSTPROCESS_WIDE_BITS)
from .inventory import (RS_MAX_STRIDE, bitmask_prefix_adders, bits_for, fingerprint,
                        geometry, inventory, item_bits)
from .sparsity import GROUP
from .spec import DRAM_WORD_BITS, INDEX_BITS, ROW_STATIONARY

ACTIONS = (
    "mac", "mac_gated",
    "register_bit_write",
    "hop_bit",
    "add_bit", "compare_bit",
    "requantize_multiply",
    "glb_input_read", "glb_input_write",
    "glb_weight_read", "glb_weight_write",
    "glb_output_read", "glb_output_write",
    "glb_bias_read", "glb_bias_write",
    "dram_read_byte", "dram_write_byte",
    "rf_filter_read", "rf_filter_write",
    "rf_input_read", "rf_input_write",
    "rf_psum_read", "rf_psum_write",
)
"""Every priced action class; a table must give an energy (and a source) for each.  The
`rf_*` classes are one access of the row-stationary PE's register files (filter scratchpad,
input window, psum file), each at its own depth and width."""

COMPONENTS = ("mac", "rf", "array", "accumulate", "glb", "dma", "dram", "postprocess",
              "control", "leakage")
"""The breakdown's components, in report order; `energy_breakdown` adds "total"."""

WORD_ACTIONS = tuple(a for a in ACTIONS if a.startswith(("glb_", "dram_", "rf_")))
"""Actions with a data width: a user table may price them per bit (`pj_per_bit`)."""

DRAM_COMPONENTS = {"LPDDR4": "lpddr4", "DDR3": "ddr3", "HBM2": "hbm2"}
"""hwcomponents' DRAM model for each spec.dram_kind."""


class EnergyTableError(ValueError):
    """An energy table is malformed or incomplete, or does not fit the architecture."""


@dataclass(frozen=True)
class Entry:
    """Energy of one action in pJ (per action, or per bit if `per_bit`), and its source."""

    pj: float
    source: str
    per_bit: bool = False


@dataclass(frozen=True)
class Leak:
    """Leakage power of one component in W, and its source."""

    w: float
    source: str


@dataclass(frozen=True)
class EnergyTable:
    """Per-action energies (`actions`, one Entry per ACTIONS name) and leakage (`leakage`).

    `spec_key` is set on tables built for one architecture (`table_for`): pricing another
    architecture's counters with it is refused.  User tables have none.
    """

    name: str
    actions: dict
    leakage: dict
    spec_key: str | None = None
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        missing = [action for action in ACTIONS if action not in self.actions]
        if missing:
            raise EnergyTableError(f"{self.name}: no energy for action {missing[0]!r}")
        unknown = sorted(set(self.actions) - set(ACTIONS))
        if unknown:
            raise EnergyTableError(f"{self.name}: unknown action {unknown[0]!r}")
        object.__setattr__(self, "actions",
                           MappingProxyType({a: self.actions[a] for a in ACTIONS}))
        object.__setattr__(self, "leakage", MappingProxyType(dict(self.leakage)))
        object.__setattr__(self, "notes", MappingProxyType(dict(self.notes)))

    @property
    def leakage_w(self):
        """Total leakage power in W."""
        return sum(leak.w for leak in self.leakage.values())

    def per_action(self, spec):
        """{action: pJ per action} for `spec` (per-bit entries times the action's width)."""
        bits = action_bits(spec)
        return {action: entry.pj * bits[action] if entry.per_bit else entry.pj
                for action, entry in self.actions.items()}

    def replace(self, name=None, **changes):
        """A copy with some entries replaced: replace(dram_read_byte=Entry(...), ...)."""
        actions = dict(self.actions)
        leakage = dict(self.leakage)
        for key, value in changes.items():
            if isinstance(value, Leak):
                leakage[key] = value
            else:
                actions[key] = value
        return EnergyTable(name or self.name, actions, leakage, self.spec_key, dict(self.notes))

    def to_dict(self):
        def entry(e):
            return {("pj_per_bit" if e.per_bit else "pj"): e.pj, "source": e.source}
        return {
            "name": self.name,
            "spec_key": self.spec_key,
            "notes": dict(self.notes),
            "actions": {a: entry(e) for a, e in self.actions.items()},
            "leakage": {k: {"w": v.w, "source": v.source} for k, v in self.leakage.items()},
        }

    @classmethod
    def from_dict(cls, data, where="table"):
        """Build and validate a table from its dict form (the YAML / JSON layout)."""
        if not isinstance(data, dict):
            raise EnergyTableError(f"{where}: expected a mapping with 'actions' and "
                                   f"'leakage', not {type(data).__name__}")
        unknown = sorted(set(data) - {"name", "spec_key", "notes", "actions", "leakage"})
        if unknown:
            raise EnergyTableError(f"{where}: unknown key {unknown[0]!r} (known: name, "
                                   f"notes, actions, leakage)")
        name = data.get("name", where)
        if not isinstance(name, str) or not name:
            raise EnergyTableError(f"{where}: name: expected a non-empty string")
        notes = data.get("notes") or {}
        if not isinstance(notes, dict):
            raise EnergyTableError(f"{where}: notes: expected a mapping")
        actions = _section(data, "actions", where)
        for action in ACTIONS:
            if action not in actions:
                raise EnergyTableError(f"{where}: actions.{action}: missing (every action "
                                       f"needs an energy and its source)")
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            raise EnergyTableError(f"{where}: actions.{unknown[0]}: unknown action "
                                   f"(known: {', '.join(ACTIONS)})")
        parsed = {action: _entry(actions[action], f"{where}: actions.{action}", action)
                  for action in ACTIONS}
        leakage = _section(data, "leakage", where)
        if not leakage:
            raise EnergyTableError(f"{where}: leakage: empty (give at least one component, "
                                   f"e.g. `all: {{w: 0, source: ...}}`, to say why)")
        leaks = {str(key): _leak(value, f"{where}: leakage.{key}")
                 for key, value in leakage.items()}
        return cls(name, parsed, leaks, data.get("spec_key"), notes)


def _section(data, key, where):
    if key not in data:
        raise EnergyTableError(f"{where}: {key}: missing")
    value = data[key]
    if not isinstance(value, dict):
        raise EnergyTableError(f"{where}: {key}: expected a mapping, not {value!r}")
    return value


def _number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EnergyTableError(f"{where}: expected a number, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise EnergyTableError(f"{where}: must be a finite number >= 0, not {value!r}")
    return float(value)


def _source(value, where):
    source = value.get("source")
    if not isinstance(source, str) or not source.strip():
        raise EnergyTableError(f"{where}: source: missing (say where the number comes from)")
    return source.strip()


def _entry(value, where, action):
    if not isinstance(value, dict):
        raise EnergyTableError(f"{where}: expected {{pj: <number>, source: <text>}}, "
                               f"not {value!r}")
    unknown = sorted(set(value) - {"pj", "pj_per_bit", "source"})
    if unknown:
        raise EnergyTableError(f"{where}: unknown key {unknown[0]!r} "
                               f"(known: pj, pj_per_bit, source)")
    given = [key for key in ("pj", "pj_per_bit") if key in value]
    if len(given) != 1:
        raise EnergyTableError(f"{where}: give exactly one of pj (per action) or "
                               f"pj_per_bit (per bit of the action's width)")
    per_bit = given[0] == "pj_per_bit"
    if per_bit and action not in WORD_ACTIONS:
        raise EnergyTableError(f"{where}: pj_per_bit: only buffer and DRAM actions have a "
                               f"word width; this one is already per unit, give pj")
    pj = _number(value[given[0]], f"{where}: {given[0]}")
    return Entry(pj, _source(value, where), per_bit)


def _leak(value, where):
    if not isinstance(value, dict):
        raise EnergyTableError(f"{where}: expected {{w: <number>, source: <text>}}, "
                               f"not {value!r}")
    unknown = sorted(set(value) - {"w", "source"})
    if unknown:
        raise EnergyTableError(f"{where}: unknown key {unknown[0]!r} (known: w, source)")
    if "w" not in value:
        raise EnergyTableError(f"{where}: w: missing (leakage power in W)")
    return Leak(_number(value["w"], f"{where}: w"), _source(value, where))


def load_table(path):
    """Read a user energy table (YAML); anything missing or unsourced is refused by key."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise EnergyTableError(f"{path}: cannot read energy table "
                               f"({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise EnergyTableError(f"{path}: not valid YAML "
                               f"({getattr(error, 'problem', None) or error})") from None
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
        if "spec_key" in data:
            raise EnergyTableError(f"{path}: unknown key 'spec_key' (known: name, notes, "
                                   f"actions, leakage)")
    return EnergyTable.from_dict(data, where=str(path))


# --- widths of the word actions ----------------------------------------------------------

def action_bits(spec):
    """Bits of one access of each buffer and DRAM action on `spec` (for `pj_per_bit` entries):
    a word of the buffer (models/inventory.py geometry), a byte of DRAM."""
    g = geometry(spec)
    words = {"input": g.input_word_bits, "weight": g.weight_word_bits,
             "output": g.output_word_bits, "bias": g.bias_word_bits}
    bits = {f"glb_{part}_{verb}": width for part, width in words.items()
            for verb in ("read", "write")}
    bits.update(dram_read_byte=8, dram_write_byte=8)
    for operand, width in rs_file_widths(spec).items():
        bits[f"rf_{operand}_read"] = bits[f"rf_{operand}_write"] = width
    return bits


def rs_file_widths(spec):
    """{operand: bits of one entry} of the row-stationary PE's three register files."""
    return {"filter": spec.operand_bits, "input": spec.operand_bits, "psum": spec.acc_bits}


def rs_file_depths(spec):
    """{operand: entries} of the row-stationary PE's three register files."""
    return {"filter": spec.rs_filter_depth, "input": spec.rs_input_depth,
            "psum": spec.rs_psum_depth}


# --- what happened: the physical actions behind the counters -----------------------------

@dataclass(frozen=True)
class Use:
    """`count` units of `action` (a register bit loaded, a bit hopping one PE pitch, an adder
    bit, a buffer word, a DRAM byte, a MAC...) in `component`, for `what`."""

    component: str
    what: str
    action: str
    count: float


def counter_names(spec):
    """The counters a run on `spec` has: models/counters.py's (the row-stationary array's own
    events among them, RS_COUNTERS, zero on the other dataflows)."""
    return COUNTER_NAMES


def checked_counters(counters, spec):
    """The counters as ints, every name of `counter_names(spec)` present and nothing else."""
    names = counter_names(spec)
    missing = [name for name in names if name not in counters]
    if missing:
        raise ValueError(f"counters: {missing[0]!r} missing")
    unknown = sorted(set(counters) - set(names))
    if unknown:
        raise ValueError(f"counters: unknown counter {unknown[0]!r}")
    c = {}
    for name in names:
        value = counters[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"counters: {name} must be an integer >= 0, not {value!r}")
        c[name] = int(value)
    if c["macs_gated"] > c["macs"]:
        raise ValueError(f"counters: macs_gated ({c['macs_gated']}) exceeds macs "
                         f"({c['macs']})")
    if c["macs_gated"] + c["macs_skipped"] > c["macs"]:
        raise ValueError(f"counters: macs_gated ({c['macs_gated']}) and macs_skipped "
                         f"({c['macs_skipped']}) exceed macs ({c['macs']})")
    return c


@functools.lru_cache(maxsize=64)
def _register_bits(spec):
    """{(block, role): flip-flop bits of all registers of that role} of `spec`."""
    bits = {}
    for item in inventory(spec):
        if item.kind == "register":
            key = (item.block, item.role)
            bits[key] = bits.get(key, 0) + item.total_bits
    return bits


def postprocess_words(counters, spec, requantized=None):
    """Output words through the post-processor (and bias-buffer reads), from the counters.

    No counter counts them, but every word leaves through the DMA writer: `cols` values of
    operand_bits when the layer is requantized, of 32 bits otherwise, so the count is
    dram_bytes_written over a word's bytes (exact when output rows fill whole bus beats).
    `requantized` None (not known): priced as requantized, an upper bound (4x for int32
    outputs of an 8-bit array).
    """
    value_bits = DRAM_WORD_BITS if requantized is False else spec.operand_bits
    return math.ceil(8 * dense_bytes_written(counters, spec) / (spec.cols * value_bits))


def dense_bytes_written(counters, spec):
    """Bytes the DMA writer's rows take dense: what it wrote, with the compressor's output
    (rows and length tables) replaced by the dense beats that went into it."""
    return (counters["dram_bytes_written"] - counters["compressed_bytes_written"]
            + counters["compressor_beats"] * spec.dram_bus_bytes)


def dense_beats_read(counters, spec):
    """Beats the DMA readers' gearboxes take: what DRAM returned, with the compressed reads
    (rows and length-table beats) replaced by the dense beats the decompressor restored."""
    return ((counters["dram_bytes_read"] - counters["compressed_bytes_read"])
            // spec.dram_bus_bytes + counters["decompressor_beats"])


def activity(counters, spec, requantized=None):
    """The physical actions behind `counters` on `spec`: a tuple of Use.

    The counters' dataflow-specific meaning (models/counters.py, models/perf.py) is undone
    here: weight-stationary array_transfers are 2 x busy_cycles x PEs input and partial-sum
    hops plus the weight-chain shifts; output-stationary ones 2 x busy_cycles x PEs input and
    weight hops plus the drain chain's partial-sum hops; row-stationary arrays are priced from
    their own events (`row_stationary_activity`).  Widths come from the inventory;
    `requantized` says whether the layer's outputs leave as operands (see postprocess_words).
    """
    c = checked_counters(counters, spec)
    g = geometry(spec)
    regs = _register_bits(spec)
    rows, cols, ob, ab, pes = spec.rows, spec.cols, spec.operand_bits, spec.acc_bits, g.pes
    busy = c["busy_cycles"]
    moved = c["array_transfers"] - 2 * busy * pes
    if moved < 0 and spec.dataflow != ROW_STATIONARY:
        raise ValueError(f"counters: array_transfers ({c['array_transfers']}) below "
                         f"2 x busy_cycles x PEs ({2 * busy * pes}) of a {rows}x{cols} array")
    uses = []

    def use(component, what, action, count):
        if count:
            uses.append(Use(component, what, action, count))

    # A skipped MAC (2:4) costs nothing in the PE; each performed one (gated or not) first
    # selects its input among its group's four: three 2:1 selects of an operand.
    use("mac", "MACs", "mac", c["macs"] - c["macs_gated"] - c["macs_skipped"])
    use("mac", "gated MACs", "mac_gated", c["macs_gated"])
    if spec.skips_weights:
        use("mac", "2:4 index selections", "compare_bit",
            (c["macs"] - c["macs_skipped"]) * 3 * spec.operand_bits)
    if spec.dataflow == ROW_STATIONARY:
        row_stationary_activity(use, c, spec)
    elif spec.dataflow == "os":
        use("rf", "accumulator loads", "register_bit_write", c["rf_writes"] * ab)
        inputs = regs[("pe_array", "input element")]
        weights = regs[("pe_array", "weight")] + regs[("array_edges", "weight skew")]
        use("array", "input element loads", "register_bit_write", busy * inputs)
        use("array", "weight loads", "register_bit_write", busy * weights)
        # Each load cycle one row serializer loads and the others shift rows - 1 operands.
        serializer = regs[("array_edges", "row serializer")] // rows
        use("array", "row serializer loads and shifts", "register_bit_write",
            busy * (serializer + (rows - 1) * (rows - 1) * ob))
        use("array", "drain chain loads", "register_bit_write", moved * ab)
        edge = (regs[("array_edges", "output deskew")] + regs[("array_edges", "tag chain")])
        use("array", "output deskew and tag loads", "register_bit_write",
            c["glb_output_writes"] * edge)
        use("array", "input hops", "hop_bit", busy * pes * g.os_element_bits)
        use("array", "weight hops", "hop_bit", busy * pes * g.os_weight_bits)
        use("array", "partial-sum hops", "hop_bit", moved * ab)
        use("array", "gated count", "add_bit", busy * pes)
    else:
        commits = c["rf_writes"] // pes
        # A 2:4 array's weights carry their index; its counts are per index as well.
        wb = ob + (INDEX_BITS if spec.skips_weights else 0)
        per_row = GROUP if spec.skips_weights else 1
        use("rf", "register-file loads", "register_bit_write", c["rf_writes"] * wb)
        edges = sum(regs.get(("array_edges", role), 0)
                    for role in ("input skew", "input skew valid", "output deskew",
                                 "output deskew valid"))
        use("array", "input token loads", "register_bit_write",
            busy * regs[("pe_array", "input token")])
        # Partial sums move down the columns at psum_bits (models/hardware.py column_sum_bits).
        use("array", "partial-sum loads", "register_bit_write", busy * pes * spec.psum_bits)
        use("array", "input skew and output deskew loads", "register_bit_write", busy * edges)
        use("array", "weight chain loads", "register_bit_write", moved * wb)
        use("array", "zero-weight count loads", "register_bit_write",
            commits * rows * per_row * bits_for(cols))
        use("array", "input hops", "hop_bit", busy * pes * g.token_bits)
        use("array", "partial-sum hops", "hop_bit", busy * pes * spec.psum_bits)
        use("array", "weight hops", "hop_bit", moved * wb)
        use("array", "gated count", "add_bit",
            busy * (rows - 1) * bits_for(pes)
            + commits * rows * per_row * (cols - 1) * bits_for(cols))

    use("accumulate", "tag delay loads", "register_bit_write",
        busy * regs.get(("accumulator", "tag delay"), 0))
    use("accumulate", "stage loads", "register_bit_write",
        c["glb_output_writes"] * regs[("accumulator", "stage")])
    use("accumulate", "accumulate adds", "add_bit", c["glb_output_writes"] * cols * ab)

    words = postprocess_words(c, spec, requantized)
    for part in ("input", "weight", "output"):
        for verb in ("read", "write"):
            use("glb", f"{part} buffer {verb}s", f"glb_{part}_{verb}", c[f"glb_{part}_{verb}s"])
    use("glb", "bias buffer reads", "glb_bias_read", words)

    bus = spec.dram_bus_bytes
    beats_in, beats_out = dense_beats_read(c, spec), dense_bytes_written(c, spec) // bus
    stored = c["glb_input_writes"] + c["glb_weight_writes"]
    reader = regs[("dma", "reader gearbox buffer")]
    writer = regs[("dma", "writer gearbox buffer")]
    fifo_word = item_bits(spec, "writer FIFO")
    use("dma", "reader gearbox loads", "register_bit_write", (beats_in + stored) * reader)
    use("dma", "reader counts", "register_bit_write",
        beats_in * 2 * COUNT_BITS + stored * g.input_addr_bits)
    use("dma", "reader counts", "add_bit",
        beats_in * 2 * COUNT_BITS + stored * g.input_addr_bits)
    use("dma", "writer tag loads", "register_bit_write", words * regs[("dma", "writer tags")])
    use("dma", "writer FIFO loads", "register_bit_write", words * 2 * fifo_word)
    use("dma", "writer gearbox loads", "register_bit_write", (words + beats_out) * writer)
    use("dma", "writer counts", "register_bit_write",
        beats_out * BURST_BITS + words * (COUNT_BITS + g.output_addr_bits))
    use("dma", "writer counts", "add_bit",
        beats_out * BURST_BITS + words * (COUNT_BITS + g.output_addr_bits))

    _compressor_activity(use, c, spec, regs)
    _decompressor_activity(use, c, spec)

    use("dram", "DRAM bytes read", "dram_read_byte", c["dram_bytes_read"])
    use("dram", "DRAM bytes written", "dram_write_byte", c["dram_bytes_written"])

    values = words * cols
    use("postprocess", "requantizing multiplies", "requantize_multiply", values)
    # The partial products' sum is the split multiply's own final add, priced with it.
    use("postprocess", "bias, rounding and zero-point adds", "add_bit",
        values * (DRAM_WORD_BITS + 2 * POSTPROCESS_WIDE_BITS))
    use("postprocess", "clamps and ReLU", "compare_bit",
        values * (2 * POSTPROCESS_WIDE_BITS + DRAM_WORD_BITS))

    # Control: each activity counter loads (and adds) its COUNTER_BITS in every cycle its
    # count changes, at most min(its value, cycles) times (an upper bound: an increment
    # toggles few of the high bits); the controller's inner loop steps a loop count and an
    # address on every vector it issues.
    changes = sum(min(c[name], c["cycles"]) for name in COUNTER_NAMES)
    use("control", "activity counters", "register_bit_write", changes * COUNTER_BITS)
    use("control", "activity counters", "add_bit", changes * COUNTER_BITS)
    events = sum(min(c[name], c["cycles"]) for name in COUNTER_NAMES if name != "cycles")
    use("control", "activity event loads", "register_bit_write", events * EVENT_BITS)
    loop = busy * (COUNT_BITS + ADDR_BITS)
    use("control", "controller inner loop", "register_bit_write", loop)
    use("control", "controller inner loop", "add_bit", loop)
    return tuple(uses)


def row_stationary_activity(use, c, spec):
    """The row-stationary array's actions (pyhdl/rs_pe.py, pyhdl/rs_array.py), from its own
    events (models/counters.py RS_COUNTERS, counted by the RTL):

    - rf: every access of the three register files, each priced at its own depth and width
      (`rf_<filter|input|psum>_<read|write>`); a bus delivery is the receiving file's write.
    - mac: the MACs and gated MACs, and the MAC's pipeline registers per MAC issued (the
      input operand, the two filter indices, five stage flags) and per MAC not gated (the
      product, 2 x operand_bits).
    - array: the multicast buses and the psum chain.  A bus word is ONE drive of a wire
      however many PEs take it: the horizontal filter bus spans its PE row (cols pitches),
      the input bus a column spine and one PE row (rows + cols pitches), each at the word's
      width with its tag (set, and the diagonal for inputs); every PE compares the tag of
      every word on its buses (compare_bit).  A psum hop is acc_bits carried one pitch and
      added by the PE above (acc_bits add_bit); the chain is combinational, so no register
      loads on the way.  (The bottom PE's add of the column's incoming sum has no counter
      and is left out.)
    - control: the PEs' job sequencing (the scratchpad address and filter index per MAC, the
      window position and fill per input word, the drain index per hop).
    """
    ob, ab, rows, cols = spec.operand_bits, spec.acc_bits, spec.rows, spec.cols
    for operand in rs_file_widths(spec):
        for verb in ("read", "write"):
            use("rf", f"{operand} register-file {verb}s", f"rf_{operand}_{verb}",
                c[f"{operand}_rf_{verb}s"])
    filter_index = bits_for(spec.rs_psum_depth)
    taps = bits_for(min(spec.rs_filter_depth, spec.rs_input_depth))
    use("mac", "MAC pipeline loads", "register_bit_write",
        c["macs"] * (ob + 2 * filter_index + 5) + (c["macs"] - c["macs_gated"]) * 2 * ob)
    filter_word, input_word = rs_bus_bits(spec)
    use("array", "filter bus drives", "hop_bit", c["filter_bus_words"] * filter_word * cols)
    use("array", "input bus drives", "hop_bit",
        c["input_bus_sends"] * input_word * (rows + cols))
    use("array", "bus tag compares", "compare_bit",
        c["filter_bus_words"] * cols * (filter_word - ob)
        + c["input_bus_sends"] * rows * cols * (input_word - ob))
    use("array", "psum hops", "hop_bit", c["psum_hops"] * ab)
    use("array", "psum chain adds", "add_bit", c["psum_hops"] * ab)
    use("control", "PE job sequencing", "register_bit_write",
        c["macs"] * (bits_for(spec.rs_filter_depth) + filter_index)
        + c["input_rf_writes"] * 2 * taps + c["psum_hops"] * filter_index)


def rs_bus_bits(spec):
    """Bits of one word on the filter bus and on the input bus, tags included
    (pyhdl/rs_array.py: hset; vset and diagonal)."""
    diagonals = spec.rows + (spec.cols - 1) * RS_MAX_STRIDE
    return (spec.operand_bits + bits_for(spec.cols - 1),
            spec.operand_bits + bits_for(spec.rows - 1) + bits_for(diagonals - 1))


def _compressor_activity(use, c, spec, regs):
    """The DMA writer's RowCompressor (pyhdl/compress.py), per dense beat in (compressor_beats):
    its row-buffer entry loads, the zero detects, prefix counts and compaction selects of its
    two BitmaskEncoders, the load of the register before its gearbox; per chunk in and beat
    out, its gearbox's loads."""
    beats = c["compressor_beats"]
    if not beats:
        return
    bus = spec.dram_bus_bytes
    out = c["compressed_bytes_written"] // bus
    use("dma", "compressor row buffer loads", "register_bit_write",
        beats * item_bits(spec, "compressor row buffer"))
    use("dma", "bitmask zero detects", "compare_bit", beats * 2 * bus * 8)
    use("dma", "bitmask prefix counts", "add_bit",
        beats * 2 * bitmask_prefix_adders(bus) * bits_for(bus))
    use("dma", "bitmask compaction selects", "compare_bit",
        beats * bus * (bus + 1) // 2 * bits_for(bus))
    use("dma", "compressor staging register loads", "register_bit_write",
        beats * (8 * (bus + bus // 8) + bits_for(bus + bus // 8) + 1))
    use("dma", "compressor gearbox loads", "register_bit_write",
        (beats + out) * regs[("dma", "compressor gearbox buffer")])


def _decompressor_activity(use, c, spec):
    """The input DmaReader's CompressedRowFetcher (pyhdl/compress.py): per stored beat in
    (compressed_bytes_read, table beats included) a load of its byte window or table ring and
    the fetcher's counts; per dense beat out (decompressor_beats) a shift of the window, a
    BitmaskDecoder's prefix count and byte selects, and a load of the output
    register."""
    beats = c["decompressor_beats"]
    if not beats:
        return
    bus = spec.dram_bus_bytes
    stored = c["compressed_bytes_read"] // bus
    window = 8 * (2 * bus + bus // 8)     # pyhdl/compress.py PackedDecompressor: its capacity
    use("dma", "decompressor window loads", "register_bit_write", (stored + beats) * window)
    use("dma", "decompressor counts", "add_bit", stored * (2 * COUNT_BITS + 2 * ADDR_BITS))
    use("dma", "bitmask decoder prefix counts", "add_bit",
        beats * bitmask_prefix_adders(bus) * bits_for(bus))
    use("dma", "decompressor output register loads", "register_bit_write",
        beats * (8 * bus + 1))
    use("dma", "bitmask decoder selects", "compare_bit", beats * bus * bits_for(bus))


def _check_table(table, spec):
    if table.spec_key is not None and table.spec_key != spec_key(spec):
        raise EnergyTableError(f"{table.name}: built for another architecture than "
                               f"{spec.name!r}; use table_for(spec)")


def energy_breakdown(counters, table, spec, requantized=None):
    """Energy of one run in pJ: {component: pJ for each of COMPONENTS, "total": pJ}.

    Dynamic energy is the sum over `activity` of count x energy per action (`requantized`:
    see postprocess_words); leakage is the
    table's total leakage power times the run time, cycles / clock.  "total" is the sum of
    the components (in COMPONENTS order, so they add up to it exactly).
    """
    _check_table(table, spec)
    pj = table.per_action(spec)
    parts = dict.fromkeys(COMPONENTS, 0.0)
    for u in activity(counters, spec, requantized):
        parts[u.component] += u.count * pj[u.action]
    parts["leakage"] = table.leakage_w * int(counters["cycles"]) * 1e6 / spec.clock_mhz
    total = 0.0
    for component in COMPONENTS:
        total += parts[component]
    parts["total"] = total
    return parts


def energy_by_action(counters, table, spec, requantized=None):
    """Dynamic energy of one run in pJ per action class (ACTIONS order, zeros included):
    the same classes in every dataflow."""
    _check_table(table, spec)
    pj = table.per_action(spec)
    parts = dict.fromkeys(ACTIONS, 0.0)
    for u in activity(counters, spec, requantized):
        parts[u.action] += u.count * pj[u.action]
    return parts


# --- the table from hwcomponents ---------------------------------------------------------

def _inputs(spec):
    """Everything `table_for` derives its numbers from (and nothing else)."""
    return {**fingerprint(spec), "dram_kind": spec.dram_kind,
            "dram_bus_bytes": spec.dram_bus_bytes, "rs_files": rs_file_depths(spec)}


def spec_key(spec):
    """Identifies the architecture a generated table is for (the fields that matter)."""
    return digest(_inputs(spec))


def _cache_key(spec):
    return hwlib.result_key(_inputs(spec), Path(__file__))


def table_for(spec, use_cache=True):
    """The per-action energy table of `spec` from hwcomponents (CACTI for the buffers).

    Cached as JSON in <cache_dir>/energy/, keyed by the spec fields that matter, the
    hwcomponents package versions and the source of this file and models/hwlib.py; a first
    build takes a few seconds (CACTI), later ones read the file.
    """
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.name)[:40]
    path = cache_root() / "energy" / f"{label}-{_cache_key(spec)}.json"
    if use_cache and path.is_file():
        try:
            return EnergyTable.from_dict(json.loads(path.read_text()), where=str(path))
        except (ValueError, OSError):
            pass  # a damaged cache entry is rebuilt below
    table = _build_table(spec)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(table.to_dict(), indent=1) + "\n")
        os.replace(partial, path)
    return table


def per_bit(name, attrs, action, width_key="width"):
    """Energy per bit of width of an hwcomponents component whose energy is linear in its
    width (Aladdin registers, adders, comparators), from the acc_bits-wide one."""
    return hwlib.action_pj(name, attrs, action) / attrs[width_key]


def _build_table(spec):
    from .area import pe_area_um2

    q = hwlib.action_pj
    tech = spec.tech_nm * 1e-9
    ob, ab = spec.operand_bits, spec.acc_bits
    g = geometry(spec)
    actions = {}

    def use(action, pj, source):
        actions[action] = Entry(pj, source)

    # MAC: Aladdin's integer MAC (an operand_bits multiplier and an acc_bits adder) plus the
    # PE's zero detect on every MAC, two operand_bits comparators (an upper bound: a zero
    # detect is an OR tree).
    mac_attrs = {"tech_node": tech, "multiplier_width": ob, "adder_width": ab}
    cmp_attrs = {"tech_node": tech, "width": ob}
    mac = q("intmac", mac_attrs, "mac")
    zero_detect = 2 * q("comparator", cmp_attrs, "compare")
    use("mac", mac + zero_detect,
        f"hwcomponents {hwlib.describe('intmac', mac_attrs, 'mac')} = {mac:.4g} pJ "
        f"(Aladdin multiplier + adder) + zero detect 2 x "
        f"{hwlib.describe('comparator', cmp_attrs, 'compare')} = {zero_detect:.4g} pJ")
    # Gated MAC: a zero operand keeps the product out of the sum (pyhdl/pe.py,
    # os_array.py).  Assuming operand isolation (multiplier and adder inputs held, as
    # zero-gating designs such as Eyeriss do) only the zero detect switches; the partial-sum
    # register's load is priced as a register write in both dataflows.
    use("mac_gated", zero_detect,
        f"derived: zero detect only, 2 x {hwlib.describe('comparator', cmp_attrs, 'compare')}"
        f" (assumes operand isolation)")

    # One flip-flop bit loaded: Aladdin's register energy is linear in its width (checked at
    # 1, 8, 32, 64 bits), so every register of every block is priced per bit.
    reg_attrs = {"tech_node": tech, "width": ab}
    use("register_bit_write", per_bit("register", reg_attrs, "write"),
        f"hwcomponents {hwlib.describe('register', reg_attrs, 'write')} / {ab} bits "
        f"(Aladdin register, linear in width); a flip-flop read is not charged (its reader "
        f"is)")

    # One bit carried one PE pitch: the pitch is the square root of the PE's area (its
    # inventory priced by models/area.py), hwcomponents' wire at 0.2 fF/um and 0.7 V.
    pe_area = pe_area_um2(spec)
    pitch_m = math.sqrt(pe_area) * 1e-6
    wire_attrs = {"tech_node": tech, "length": pitch_m}
    use("hop_bit", q("wire", wire_attrs, "read"),
        f"hwcomponents {hwlib.describe('wire', wire_attrs, 'read')}: one bit, one PE pitch "
        f"= sqrt({pe_area:.0f} um^2 PE area)")

    add_attrs = {"tech_node": tech, "width": ab}
    use("add_bit", per_bit("adder", add_attrs, "add"),
        f"hwcomponents {hwlib.describe('adder', add_attrs, 'add')} / {ab} bits (Aladdin "
        f"adder, linear in width)")
    cmp32 = {"tech_node": tech, "width": DRAM_WORD_BITS}
    use("compare_bit", per_bit("comparator", cmp32, "compare"),
        f"hwcomponents {hwlib.describe('comparator', cmp32, 'compare')} / "
        f"{DRAM_WORD_BITS} bits (Aladdin comparator, linear in width)")
    mul_attrs = {"tech_node": tech, "width": POSTPROCESS_MULT_BITS}
    use("requantize_multiply", q("multiplier", mul_attrs, "multiply"),
        f"hwcomponents {hwlib.describe('multiplier', mul_attrs, 'multiply')} (Aladdin "
        f"multiplier; the RTL's two {POSTPROCESS_MULT_BITS}x{POSTPROCESS_MULT_BITS // 2} "
        f"partial products together are one {POSTPROCESS_MULT_BITS}-bit multiply; the "
        f"post-processor's 64-bit shifter has no model and is left out)")

    # Buffers: each access reads or writes one word in one bank, priced by CACTI for one
    # bank (pyhdl/buffer.py; the output buffer is two halves of glb_banks banks each).
    extrapolated = ("" if 22 <= spec.tech_nm <= 90 else
                    f"; {spec.tech_nm} nm is outside CACTI's 22-90 nm, so hwcomponents "
                    f"extrapolates from 22 nm")
    srams = {}
    for item in inventory(spec):
        if item.kind == "sram" and item.component.startswith("glb_"):
            srams.setdefault(item.component.removeprefix("glb_"), item)
    for part, item in srams.items():
        attrs = {"tech_node": tech, "width": item.bits, "depth": item.depth,
                 "size": item.bits * item.depth}
        for verb in ("read", "write"):
            use(f"glb_{part}_{verb}", q("sram", attrs, verb),
                f"hwcomponents/CACTI {hwlib.describe('sram', attrs, verb)} (one bank of "
                f"{item.role}{extrapolated})")

    # The row-stationary PE's register files, each one access of one entry at its own depth
    # and width (hwcomponents' SRAM model; the window and psum file are flip-flops in the
    # RTL, priced as a register file of their size: a write and a read-out multiplexer).
    widths = rs_file_widths(spec)
    for operand, depth in rs_file_depths(spec).items():
        attrs = {"tech_node": tech, "width": widths[operand], "depth": depth,
                 "size": widths[operand] * depth}
        for verb in ("read", "write"):
            use(f"rf_{operand}_{verb}", q("sram", attrs, verb),
                f"hwcomponents {hwlib.describe('sram', attrs, verb)} (the row-stationary "
                f"PE's {operand} register file, one entry)")

    dram = DRAM_COMPONENTS[spec.dram_kind]
    for action, verb in (("dram_read_byte", "read"), ("dram_write_byte", "write")):
        use(action, q(dram, {}, verb, {"bits_per_action": 8}),
            f"hwcomponents {hwlib.describe(dram, {}, verb, {'bits_per_action': 8})} "
            f"({spec.dram_kind} energy per bit x 8)")

    versions = ", ".join(f"{k} {v}" for k, v in hwlib.versions().items())
    wire_per_um = q("wire", {"tech_node": tech, "length": 1e-6}, "read")
    return EnergyTable(
        name=f"hwcomponents {spec.tech_nm} nm",
        actions=actions,
        leakage=_leakage(spec),
        spec_key=spec_key(spec),
        notes={"spec": spec.name, "tech_nm": spec.tech_nm, "versions": versions,
               "pe_area_um2": pe_area, "pe_pitch_um": math.sqrt(pe_area),
               "wire_pj_per_bit_um": wire_per_um, "token_bits": g.token_bits},
    )


def _leakage(spec):
    """Leakage power per area component: every item of the inventory that hwcomponents
    prices (models/area.py item_leak_w)."""
    from .area import item_leak_w

    tech = spec.tech_nm * 1e-9
    parts = {}
    for item in inventory(spec):
        watts = item_leak_w(item, tech)
        if watts:
            parts[item.component] = parts.get(item.component, 0.0) + watts
    return {component: Leak(w, f"hwcomponents leakage of the {component} items of "
                               f"models/inventory.py (CACTI itrs-lstp cells for SRAM)")
            for component, w in parts.items()}
