"""The energy model: activity counters x per-action energies, plus leakage over the run time.

    table = table_for(spec)                  # from hwcomponents, cached per configuration
    table = load_table("configs/energy/eyeriss.yaml")   # or a user table, every number sourced
    energy_breakdown(counters, table, spec)  # {"mac": pJ, "rf": ..., ..., "total": pJ}

An `EnergyTable` holds one energy per action (ACTIONS) and the leakage power of each
component, every number with a `source` saying where it comes from.  `energy_breakdown`
prices the activity counters of models/counters.py with it:

    action            counter(s)                      component
    mac               macs - macs_gated               mac
    mac_gated         macs_gated                      mac
    rf_read/write     rf_reads / rf_writes            rf
    array_transfer    array_transfers                 array
    glb_<p>_read      glb_<p>_reads  (p = input,      glb
    glb_<p>_write     glb_<p>_writes  weight, output)
    dram_read_byte    dram_bytes_read                 dram
    dram_write_byte   dram_bytes_written              dram
    control_cycle     cycles                          control
    (leakage, W)      cycles / clock                  leakage

busy_cycles and stall_cycles are not priced: they are already inside `cycles`.

Entries of a user table may be given per bit (`pj_per_bit`) instead of per action (`pj`);
the architecture then supplies the width of each action (`action_bits`), so one table
serves every architecture.  Tables built by `table_for` are per action, for one
architecture, and refuse to price another.
"""

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
from .counters import COUNTER_NAMES, COUNTERS
from .spec import DRAM_WORD_BITS, component_geometry

ACTIONS = (
    "mac", "mac_gated",
    "rf_read", "rf_write",
    "array_transfer",
    "glb_input_read", "glb_input_write",
    "glb_weight_read", "glb_weight_write",
    "glb_output_read", "glb_output_write",
    "dram_read_byte", "dram_write_byte",
    "control_cycle",
)
"""Every priced action; a table must give an energy (and a source) for each."""

COMPONENTS = ("mac", "rf", "array", "glb", "dram", "control", "leakage")
"""The breakdown's components, in report order; `energy_breakdown` adds "total"."""

COMPONENT_OF = {
    "mac": "mac", "mac_gated": "mac",
    "rf_read": "rf", "rf_write": "rf",
    "array_transfer": "array",
    "glb_input_read": "glb", "glb_input_write": "glb",
    "glb_weight_read": "glb", "glb_weight_write": "glb",
    "glb_output_read": "glb", "glb_output_write": "glb",
    "dram_read_byte": "dram", "dram_write_byte": "dram",
    "control_cycle": "control",
}

PER_ACTION_ONLY = ("mac", "mac_gated", "control_cycle")
"""Actions that have no data width, so a table must give them per action (`pj`)."""

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
    if per_bit and action in PER_ACTION_ONLY:
        raise EnergyTableError(f"{where}: pj_per_bit: this action has no data width; "
                               f"give pj")
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


# --- widths of the actions ---------------------------------------------------------------

def action_bits(spec):
    """Bits moved by one action on `spec` (for per-bit table entries).

    Weight-stationary: array_transfer counts operand hops (operand_bits: inputs moving
    right, weights shifting in) and partial-sum hops (acc_bits: psums moving down) alike;
    while the array computes there is one of each per PE per cycle, so a hop is priced at
    the mean width, and a register-file access is one weight entry.  Output-stationary: the
    hops are inputs moving right and weights moving down (operand_bits; the finished sums'
    climb out is a small share), and the register file is the PE's accumulator (acc_bits).
    Buffer words are those of pyhdl/top.py: rows x operand_bits for the input buffer, the
    spec's weight lanes x operand_bits for the weight buffer, cols x 32 bits for the output
    buffer.
    """
    in_word = spec.rows * spec.operand_bits
    weight_word = spec.weight_lanes * spec.operand_bits
    out_word = spec.cols * DRAM_WORD_BITS
    return {
        "mac": None, "mac_gated": None, "control_cycle": None,
        "rf_read": _rf_bits(spec), "rf_write": _rf_bits(spec),
        "array_transfer": _hop_bits(spec),
        "glb_input_read": in_word, "glb_input_write": in_word,
        "glb_weight_read": weight_word, "glb_weight_write": weight_word,
        "glb_output_read": out_word, "glb_output_write": out_word,
        "dram_read_byte": 8, "dram_write_byte": 8,
    }


def _hop_bits(spec):
    if spec.dataflow == "os":
        return spec.operand_bits
    bits = (spec.operand_bits + spec.acc_bits) / 2
    return int(bits) if bits == int(bits) else bits


def _rf_bits(spec):
    return spec.acc_bits if spec.dataflow == "os" else spec.operand_bits


# --- pricing the counters ----------------------------------------------------------------

def action_counts(counters):
    """{action: how many times it happened} from a full set of activity counters."""
    missing = [name for name in COUNTER_NAMES if name not in counters]
    if missing:
        raise ValueError(f"counters: {missing[0]!r} missing")
    unknown = sorted(set(counters) - set(COUNTER_NAMES))
    if unknown:
        raise ValueError(f"counters: unknown counter {unknown[0]!r}")
    c = {}
    for name in COUNTER_NAMES:
        value = counters[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"counters: {name} must be an integer >= 0, not {value!r}")
        c[name] = int(value)
    if c["macs_gated"] > c["macs"]:
        raise ValueError(f"counters: macs_gated ({c['macs_gated']}) exceeds macs "
                         f"({c['macs']})")
    return {
        "mac": c["macs"] - c["macs_gated"],
        "mac_gated": c["macs_gated"],
        "rf_read": c["rf_reads"],
        "rf_write": c["rf_writes"],
        "array_transfer": c["array_transfers"],
        "glb_input_read": c["glb_input_reads"],
        "glb_input_write": c["glb_input_writes"],
        "glb_weight_read": c["glb_weight_reads"],
        "glb_weight_write": c["glb_weight_writes"],
        "glb_output_read": c["glb_output_reads"],
        "glb_output_write": c["glb_output_writes"],
        "dram_read_byte": c["dram_bytes_read"],
        "dram_write_byte": c["dram_bytes_written"],
        "control_cycle": c["cycles"],
    }


def energy_breakdown(counters, table, spec):
    """Energy of one run in pJ: {component: pJ for each of COMPONENTS, "total": pJ}.

    Dynamic energy is the sum over actions of count x energy per action; leakage is the
    table's total leakage power times the run time, cycles / clock.  "total" is the sum of
    the components (in COMPONENTS order, so they add up to it exactly).
    """
    if table.spec_key is not None and table.spec_key != spec_key(spec):
        raise EnergyTableError(f"{table.name}: built for another architecture than "
                               f"{spec.name!r}; use table_for(spec)")
    counts = action_counts(counters)
    pj = table.per_action(spec)
    parts = dict.fromkeys(COMPONENTS, 0.0)
    for action in ACTIONS:
        parts[COMPONENT_OF[action]] += counts[action] * pj[action]
    parts["leakage"] = table.leakage_w * int(counters["cycles"]) * 1e6 / spec.clock_mhz
    total = 0.0
    for component in COMPONENTS:
        total += parts[component]
    parts["total"] = total
    return parts


# --- the table from hwcomponents ---------------------------------------------------------

def _inputs(spec):
    """Everything `table_for` derives its numbers from (and nothing else)."""
    return {
        **component_geometry(spec),
        "dram_kind": spec.dram_kind,
    }


def spec_key(spec):
    """Identifies the architecture a generated table is for (the fields that matter)."""
    return digest(_inputs(spec))


def _cache_key(spec):
    return hwlib.result_key(_inputs(spec), Path(__file__))


def table_for(spec, use_cache=True):
    """The per-action energy table of `spec` from hwcomponents (CACTI for the buffers).

    Cached as JSON in <cache_dir>/energy/, keyed by the spec fields that matter, the
    hwcomponents package versions and the source of this file and models/hwlib.py; a first
    build takes about a second (CACTI), later ones read the file.
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


def _build_table(spec):
    q = hwlib.action_pj
    tech = spec.tech_nm * 1e-9
    ob, ab = spec.operand_bits, spec.acc_bits
    actions, leakage = {}, {}

    def use(action, pj, source):
        actions[action] = Entry(pj, source)

    # MAC: Aladdin's integer MAC (an operand_bits x operand_bits multiplier and an acc_bits
    # adder) plus the PE's zero detect, which runs on every MAC (x == 0 | w == 0).  The
    # zero detect is priced as two operand_bits-wide Aladdin comparators (an upper bound:
    # a zero detect is only an OR tree).
    mac_attrs = {"tech_node": tech, "multiplier_width": ob, "adder_width": ab}
    cmp_attrs = {"tech_node": tech, "width": ob}
    mac = q("intmac", mac_attrs, "mac")
    zero_detect = 2 * q("comparator", cmp_attrs, "compare")
    use("mac", mac + zero_detect,
        f"hwcomponents {hwlib.describe('intmac', mac_attrs, 'mac')} = {mac:.4g} pJ "
        f"(Aladdin multiplier + adder) + zero detect 2 x "
        f"{hwlib.describe('comparator', cmp_attrs, 'compare')} = {zero_detect:.4g} pJ")
    # Gated MAC: no hwcomponents model.  In pyhdl/pe.py a zero operand keeps the product
    # out of the sum (psum_out <= psum_in).  Assuming operand isolation (the multiplier and
    # adder inputs held while gated, as zero-gating designs such as Eyeriss do), they do
    # not switch and what remains is the zero detect.  The psum register still loads
    # psum_in, but that load is the psum hop priced by array_transfer for gated and ungated
    # MACs alike.  Without operand isolation in the netlist a gated MAC would cost up to
    # `mac`.
    use("mac_gated", zero_detect,
        f"derived: zero detect only, 2 x {hwlib.describe('comparator', cmp_attrs, 'compare')}"
        f" (assumes operand isolation: multiplier and adder inputs held; the psum register "
        f"load is priced by array_transfer)")

    # Register file: one operand_bits entry of Aladdin flip-flop registers per access (the
    # rf_depth:1 read mux is not modelled; hwcomponents' NeuroSim mux does not initialize);
    # output-stationary: the PE's acc_bits accumulator.
    rf_attrs = {"tech_node": tech, "width": _rf_bits(spec)}
    rf_what = "the PE's accumulator" if spec.dataflow == "os" else "one RF entry"
    for action, verb in (("rf_read", "read"), ("rf_write", "write")):
        use(action, q("register", rf_attrs, verb),
            f"hwcomponents {hwlib.describe('register', rf_attrs, verb)} "
            f"(Aladdin register, {rf_what})")

    # One hop between neighbouring PEs: the receiving register's write plus a wire one PE
    # pitch long per bit, at the mean of operand and psum widths (see action_bits).  The
    # pitch is the square root of the PE's area from hwcomponents: MAC, zero detect and
    # its registers (rf_depth entries, weight chain, input token, psum).
    hop_bits = _hop_bits(spec)
    slot_bits = max((spec.rf_depth - 1).bit_length(), 1)
    if spec.dataflow == "os":   # accumulator, drain chain, input element, weight
        pe_reg_bits = 2 * ab + (ob + 2) + (ob + 1)
    else:                       # rf_depth entries, weight chain, input token, psum
        pe_reg_bits = spec.rf_depth * ob + ob + (ob + 1 + slot_bits) + ab
    pe_area = (hwlib.area_um2("intmac", mac_attrs) + 2 * hwlib.area_um2("comparator", cmp_attrs)
               + hwlib.area_um2("register", {"tech_node": tech, "width": pe_reg_bits}))
    pitch_m = math.sqrt(pe_area) * 1e-6
    hop_attrs = {"tech_node": tech, "width": hop_bits}
    wire_attrs = {"tech_node": tech, "length": pitch_m}
    hop_reg = q("register", hop_attrs, "write")
    hop_wire = hop_bits * q("wire", wire_attrs, "read")
    use("array_transfer", hop_reg + hop_wire,
        f"derived: {hwlib.describe('register', hop_attrs, 'write')} = {hop_reg:.4g} pJ + "
        f"{hop_bits:g} x {hwlib.describe('wire', wire_attrs, 'read')} = {hop_wire:.4g} pJ "
        f"(one wire per bit, one PE pitch = sqrt({pe_area:.0f} um^2 PE area), "
        f"hwcomponents' default 0.2 fF/um at 0.7 V; "
        f"{hop_bits:g} bits = "
        f"{'operand width' if spec.dataflow == 'os' else 'mean of operand and psum widths'})")

    # Global buffer: each partition is glb_banks single-port SRAM banks; an access reads or
    # writes one word in one bank, priced by CACTI for one bank of words/banks words.
    # CACTI has technology files for 22-90 nm; outside that hwcomponents extrapolates.
    extrapolated = ("" if 22 <= spec.tech_nm <= 90 else
                    f"; {spec.tech_nm} nm is outside CACTI's 22-90 nm, so hwcomponents "
                    f"extrapolates from 22 nm")
    for part, width, words in (("input", spec.rows * ob, spec.input_words),
                               ("weight", spec.weight_lanes * ob, spec.weight_words),
                               ("output", spec.cols * DRAM_WORD_BITS, spec.output_words)):
        depth = words // spec.glb_banks
        attrs = {"tech_node": tech, "width": width, "depth": depth, "size": width * depth}
        for verb in ("read", "write"):
            use(f"glb_{part}_{verb}", q("sram", attrs, verb),
                f"hwcomponents/CACTI {hwlib.describe('sram', attrs, verb)} "
                f"(one of {spec.glb_banks} banks, {words} words of {width} bits in all"
                f"{extrapolated})")
        bank_leak = hwlib.leak_w("sram", attrs)
        leakage[f"glb_{part}"] = Leak(
            spec.glb_banks * bank_leak,
            f"hwcomponents/CACTI {spec.glb_banks} x {hwlib.describe('sram', attrs)} "
            f"leakage ({bank_leak:.4g} W per bank; CACTI itrs-lstp cells{extrapolated})")

    # DRAM: hwcomponents' per-bit interface energy for the spec's DRAM kind, per byte.
    dram = DRAM_COMPONENTS[spec.dram_kind]
    for action, verb in (("dram_read_byte", "read"), ("dram_write_byte", "write")):
        use(action, q(dram, {}, verb, {"bits_per_action": 8}),
            f"hwcomponents {hwlib.describe(dram, {}, verb, {'bits_per_action': 8})} "
            f"({spec.dram_kind} energy per bit x 8)")

    # Control: a lower bound.  By definition the 48-bit `cycles` activity counter counts
    # every cycle; the controller FSM, the DMA address counters and the register block are
    # not modelled (hwcomponents has no model for them).
    counter_attrs = {"tech_node": tech, "width": 48}
    use("control_cycle", q("counter", counter_attrs, "count"),
        f"hwcomponents {hwlib.describe('counter', counter_attrs, 'count')} (the cycles "
        f"counter; lower bound: controller FSM and DMA address logic not modelled)")

    # Leakage of the logic: every PE's MAC, zero detect and registers; the counter bank.
    pe_leak = (hwlib.leak_w("intmac", mac_attrs) + 2 * hwlib.leak_w("comparator", cmp_attrs)
               + hwlib.leak_w("register", {"tech_node": tech, "width": pe_reg_bits}))
    leakage["pe_array"] = Leak(
        spec.rows * spec.cols * pe_leak,
        f"hwcomponents {spec.rows * spec.cols} PEs x ({hwlib.describe('intmac', mac_attrs)} "
        f"+ 2 x comparator(width={ob}) + register(width={pe_reg_bits})) leakage "
        f"({pe_leak:.4g} W per PE)")
    counter_leak = hwlib.leak_w("counter", counter_attrs)
    leakage["counters"] = Leak(
        len(COUNTERS) * counter_leak,
        f"hwcomponents {len(COUNTERS)} x {hwlib.describe('counter', counter_attrs)} leakage")

    versions = ", ".join(f"{k} {v}" for k, v in hwlib.versions().items())
    return EnergyTable(
        name=f"hwcomponents {spec.tech_nm} nm",
        actions=actions,
        leakage=leakage,
        spec_key=spec_key(spec),
        notes={"spec": spec.name, "tech_nm": spec.tech_nm, "versions": versions,
               "array_transfer_bits": hop_bits, "pe_area_um2": pe_area},
    )
