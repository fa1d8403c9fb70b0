"""Area estimate (a): every part of the accelerator priced by hwcomponents at `spec.tech_nm`.

    estimate = component_area(spec)       # cached per configuration, like the energy table
    estimate.components                   # {"mac": um^2, "rf", "array", "glb_input",
                                          #  "glb_weight", "glb_output", "control", "total"}
    estimate.sources                      # {component: how its number was obtained}
    estimate.details                      # {component: {item: um^2}}, the items it adds up
    estimate.total                        # um^2

What each component holds (the hardware of pyhdl/):

    mac         per PE: Aladdin intmac (operand_bits x operand_bits multiplier and an
                acc_bits adder) + the zero detect that gates it (two operand_bits comparators,
                as the energy model prices it)
    rf          per PE: rf_depth weight registers of operand_bits, and the weight chain register
    array       per PE: the x token register (value, valid, slot) and the psum register; the
                input skew (rows(rows-1)/2 tokens) and output deskew (cols(cols-1)/2 psums)
                triangles; and the array's gated-multiply count for the macs_gated counter
    glb_<p>     glb_banks CACTI SRAM banks of (word width, words / glb_banks) per partition
    control     what is left of the top: the activity counters, the host register block,
                the accumulator, the two DMA engines and the layer controller, as an inventory
                of their registers, adders and multipliers (rough: see `_control`)

The estimate is cell area only: multiplexers and shifters (no hwcomponents model answers
for them), wiring, clock tree and placement density are left out, so it is a lower bound on
a placed design.  peforge/synth.py gives the synthesized area of the PE array (estimate b):
it corresponds to mac + rf + array here.

Every number is `hwlib.area_um2` of one hwcomponents component times a count; registers are
Aladdin registers, whose area is linear in width.  Pure-model layer: reads the spec and
models' tables only.  Facts of pyhdl/ that the inventory needs (DMA job widths and the
like) are repeated below with the file they come from.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import hwlib
from .cache import cache_root, digest
from .counters import COUNTER_BITS, COUNTER_NAMES
from .registers import DESCRIPTOR_NAMES
from .spec import DRAM_WORD_BITS, component_geometry

COMPONENTS = ("mac", "rf", "array", "glb_input", "glb_weight", "glb_output", "control")
"""The breakdown's components, in report order; `components` adds "total"."""

# Facts of pyhdl/ the control inventory uses (models/ cannot import pyhdl).
DMA_ADDR_BITS = 32       # pyhdl/interfaces.py ADDR_BITS: DRAM beat address
DMA_BURST_BITS = 16      # pyhdl/interfaces.py BURST_BITS: beats per burst
DMA_COUNT_BITS = 16      # pyhdl/dma.py COUNT_BITS: row and element counts
DMA_WRITE_FIFO_DEPTH = 4  # pyhdl/dma.py DmaWriter.FIFO_DEPTH
CONTROLLER_STATES = 10   # pyhdl/controller.py GemmController FSM states


class AreaError(ValueError):
    """A cached area estimate is damaged (it is then rebuilt)."""


@dataclass(frozen=True)
class AreaEstimate:
    """Area in um^2 per component (COMPONENTS, then "total"), each with its source.

    `details` lists the items each component adds up ({item: um^2}); `spec_key` names the
    configuration it was built for; `notes` records the node and the package versions.
    All plain dicts, so that `components` goes into report.json as it is.
    """

    components: dict
    sources: dict
    details: dict
    spec_key: str
    notes: dict = field(default_factory=dict)

    @property
    def total(self):
        """Total area in um^2."""
        return self.components["total"]

    def to_dict(self):
        return {"spec_key": self.spec_key, "notes": self.notes, "components": self.components,
                "sources": self.sources, "details": self.details}

    @classmethod
    def from_dict(cls, data):
        try:
            estimate = cls(dict(data["components"]), dict(data["sources"]),
                           {k: dict(v) for k, v in data["details"].items()},
                           str(data["spec_key"]), dict(data.get("notes") or {}))
        except (KeyError, TypeError, AttributeError) as error:
            raise AreaError(f"malformed area estimate ({error!r})") from None
        expected = list(COMPONENTS) + ["total"]
        if list(estimate.components) != expected or set(estimate.sources) != set(expected):
            raise AreaError("area estimate: components or sources do not match COMPONENTS")
        return estimate


# --- the configuration ---------------------------------------------------------------------

def _inputs(spec):
    """Everything the estimate is derived from (and nothing else)."""
    return {
        **component_geometry(spec),
        "dram_bus_bytes": spec.dram_bus_bytes,
        "counters": [len(COUNTER_NAMES), COUNTER_BITS],
        "descriptor_registers": len(DESCRIPTOR_NAMES),
    }


def spec_key(spec):
    """Identifies the configuration an estimate is for (the fields that matter)."""
    return digest(_inputs(spec))


def _cache_key(spec):
    return hwlib.result_key(_inputs(spec), Path(__file__))


def component_area(spec, use_cache=True):
    """The area estimate of `spec` from hwcomponents (CACTI for the buffers), per component.

    Cached as JSON in <cache_dir>/area/ (cache root $PEFORGE_CACHE_DIR, or <repo>/build/cache),
    keyed by the spec fields that matter, the hwcomponents package versions and the source
    of this file and models/hwlib.py; a first build takes about a second (CACTI), later ones
    read the file.
    """
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.name)[:40]
    path = cache_root() / "area" / f"{label}-{_cache_key(spec)}.json"
    if use_cache and path.is_file():
        try:
            estimate = AreaEstimate.from_dict(json.loads(path.read_text()))
            if estimate.spec_key == spec_key(spec):
                return estimate
        except (ValueError, OSError):
            pass  # a damaged cache entry is rebuilt below
    estimate = _build(spec)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(estimate.to_dict(), indent=1) + "\n")
        os.replace(partial, path)
    return estimate


# --- the estimate --------------------------------------------------------------------------

class _Tally:
    """Items of each component: count x the area of one hwcomponents component."""

    def __init__(self, tech_nm):
        self.tech = tech_nm * 1e-9
        self.items = {component: {} for component in COMPONENTS}
        self.lines = {component: [] for component in COMPONENTS}

    def add(self, component, item, count, name, attrs, what):
        """Add `count` x `name(attrs)` to `component` as `item`; `what` says what they are.

        Nothing is added for a count of zero or a width of zero (a 1-row array has no skew).
        """
        if count == 0 or attrs.get("width") == 0:
            return
        attrs = {"tech_node": self.tech, **attrs}
        unit = hwlib.area_um2(name, attrs)
        self.items[component][item] = self.items[component].get(item, 0.0) + count * unit
        self.lines[component].append(
            f"{item}: {count} x {hwlib.describe(name, attrs)} = {count} x {unit:.4g} um^2 "
            f"({what})")

    def registers(self, component, item, count, bits, what):
        """`count` Aladdin registers of `bits` bits each."""
        self.add(component, item, count, "register", {"width": bits}, what)

    def source(self, component, preface, caveat=""):
        text = f"{preface}: " + "; ".join(self.lines[component])
        return text + (f". {caveat}" if caveat else "")


RF_CAVEATS = {
    "ws": "The rf_depth:1 read multiplexer and the write decode are left out (hwcomponents' "
          "NeuroSim mux does not run here).",
    "os": "The accumulator's clear-on-capture multiplexer is left out.",
}
ARRAY_CAVEATS = {
    "ws": "The last column's x token registers are counted, though nothing reads them "
          "(synthesis removes them); the slot multiplexers of the gated count are left out.",
    "os": "The last column's x element and the last row's weight registers are counted, though "
          "nothing reads them (synthesis removes them); the serializers' shift multiplexers "
          "are left out.",
}


def _bits(n):
    """Bits of an unsigned value up to n."""
    return max(int(n).bit_length(), 1)


def _weight_stationary_array(t, spec):
    """Register file and array of pyhdl/pe.py and pyhdl/array.py."""
    rows, cols, pes = spec.rows, spec.cols, spec.rows * spec.cols
    ob, ab, depth = spec.operand_bits, spec.acc_bits, spec.rf_depth
    slot_bits = max((depth - 1).bit_length(), 1)
    token_bits = 1 + slot_bits + ob  # pyhdl/pe.py token_layout: valid, slot, value

    # Register file: rf_depth entries and the weight chain register per PE (pyhdl/pe.py).
    t.registers("rf", "weight entries", pes * depth, ob, f"{depth} per PE")
    t.registers("rf", "weight chain", pes, ob, "one per PE, the weight shift chain")

    # Array: the pipeline registers between PEs and at the edges (pyhdl/pe.py, array.py).
    t.registers("array", "x token", pes, token_bits,
                f"one per PE: {ob}-bit value, valid, {slot_bits}-bit slot")
    t.registers("array", "psum", pes, ab, "one per PE")
    t.registers("array", "input skew", rows * (rows - 1) // 2, token_bits,
                "row r delayed r cycles")
    t.registers("array", "output deskew", cols * (cols - 1) // 2, ab,
                "column c delayed cols-1-c cycles")
    t.registers("array", "output deskew", 1, cols - 1, "the valid bit of column 0's delay")
    # The gated-multiply count (SystolicArray._count_gated): zero weights per row and slot
    # counted as the chain commits, then one sum per input vector.
    count_bits = _bits(cols)
    t.registers("array", "gated count", rows * depth, count_bits,
                "zero-weight count per row and register-file slot")
    t.add("array", "gated count", pes, "comparator", {"width": ob},
          "chain register == 0, one per PE")
    t.add("array", "gated count", rows, "comparator", {"width": ob}, "input == 0, one per row")
    t.add("array", "gated count", rows, "adder", {"width": cols - 1},
          "a row's zero-weight count, a popcount of cols bits: about cols - 1 full adders")
    t.add("array", "gated count", rows - 1, "adder", {"width": _bits(pes)},
          "adding the rows' counts")


def _output_stationary_array(t, spec):
    """Accumulators and array of pyhdl/os_array.py."""
    rows, cols, pes = spec.rows, spec.cols, spec.rows * spec.cols
    ob, ab = spec.operand_bits, spec.acc_bits
    tag_bits = 2 + _bits(spec.output_words - 1)
    # The PE's accumulator is its register file: one acc_bits sum per PE.
    t.registers("rf", "accumulator", pes, ab, "one per PE, the output's sum")
    t.registers("array", "x element", pes, ob + 2, f"one per PE: {ob}-bit value, valid, last")
    t.registers("array", "weight", pes, ob + 1, f"one per PE: {ob}-bit value, active")
    t.registers("array", "drain chain", pes, ab, "one per PE, finished sums climbing out")
    t.registers("array", "row serializers", rows, rows * ob + 2 * _bits(rows) + 1 + tag_bits,
                "per row: a word of rows operands, index, active count, last, tag")
    t.registers("array", "weight skew", cols * (cols + 1) // 2, ob + 1,
                "column c delayed c + 1 cycles")
    t.registers("array", "tag chain", rows + cols - 1, tag_bits,
                "beside column 0, then its deskew")
    t.registers("array", "output deskew", cols * (cols - 1) // 2, ab,
                "column c delayed cols-1-c cycles")
    t.add("array", "gated count", pes, "adder", {"width": 1},
          "a popcount of the rows x cols gated flags: about one full adder per PE")


def _build(spec):
    t = _Tally(spec.tech_nm)
    rows, cols, pes = spec.rows, spec.cols, spec.rows * spec.cols
    ob, ab = spec.operand_bits, spec.acc_bits

    # MAC: as the energy model's "mac" action (models/energy.py): Aladdin's intmac and the
    # zero detect (x == 0 | w == 0) that keeps a zero product out of the sum.
    t.add("mac", "intmac", pes, "intmac", {"multiplier_width": ob, "adder_width": ab},
          "one per PE: Aladdin multiplier + adder")
    t.add("mac", "zero detect", 2 * pes, "comparator", {"width": ob},
          "two per PE, input == 0 and weight == 0; an upper bound, a zero detect is an "
          "OR tree")

    if spec.dataflow == "os":
        _output_stationary_array(t, spec)
    else:
        _weight_stationary_array(t, spec)

    # Global buffer: each partition is glb_banks SRAM banks (pyhdl/buffer.py), priced by CACTI
    # one bank at a time, as the energy model does.
    extrapolated = ("" if 22 <= spec.tech_nm <= 90 else
                    f" {spec.tech_nm} nm is outside CACTI's 22-90 nm: hwcomponents scales "
                    f"the 22 nm area linearly with the node.")
    glb_sources = {}
    for part, width, words in (("input", rows * ob, spec.input_words),
                               ("weight", spec.weight_lanes * ob, spec.weight_words),
                               ("output", cols * DRAM_WORD_BITS, spec.output_words)):
        bank_depth = words // spec.glb_banks
        t.add(f"glb_{part}", "banks", spec.glb_banks, "sram",
              {"width": width, "depth": bank_depth, "size": width * bank_depth},
              f"{words} words of {width} bits in all")
        glb_sources[f"glb_{part}"] = t.source(
            f"glb_{part}", "hwcomponents/CACTI",
            "Each bank priced as a single-port SRAM (CACTI's default one read/write port, as "
            "in the energy model); the RTL's banks read and write in the same cycle, which a "
            "two-port macro would make larger. Bank-select logic left out." + extrapolated)

    _control(t, spec)

    components = {c: sum(t.items[c].values()) for c in COMPONENTS}
    total = 0.0
    for component in COMPONENTS:
        total += components[component]
    components["total"] = total
    sources = {
        "mac": t.source("mac", "hwcomponents", "The psum bypass multiplexer is left out."),
        "rf": t.source("rf", "hwcomponents (Aladdin registers)", RF_CAVEATS[spec.dataflow]),
        "array": t.source("array", "hwcomponents (Aladdin registers, comparators, adders)",
                          ARRAY_CAVEATS[spec.dataflow]),
        **glb_sources,
        "control": t.source("control", CONTROL_PREFACE, CONTROL_CAVEAT),
        "total": ("sum of the components: cell area only, no wiring, clock tree, placement "
                  "density or I/O"),
    }
    versions = ", ".join(f"{k} {v}" for k, v in hwlib.versions().items())
    return AreaEstimate(
        components=components,
        sources=sources,
        details={c: dict(t.items[c]) for c in COMPONENTS},
        spec_key=spec_key(spec),
        notes={"spec": spec.name, "tech_nm": spec.tech_nm, "versions": versions},
    )


CONTROL_PREFACE = ("rough inventory of the registers, adders and multipliers of pyhdl/"
                   "counters.py, csr.py, accumulator.py, dma.py, gearbox.py and "
                   "controller.py, priced by hwcomponents")
CONTROL_CAVEAT = ("Left out: every multiplexer and shifter (the register block's read "
                  "multiplexer over all registers, the DMA gearboxes' barrel shifters and "
                  "masks, the FIFO's read multiplexer), comparators other than the "
                  "controller's loop ends, and the FSM's next-state logic; these make the "
                  "synthesized control logic larger, perhaps by 1.5-2x")


def _control(t, spec):
    """The activity counters, register block, accumulator, DMA engines and controller.

    Storage is counted bit by bit from the RTL; arithmetic as one adder per counter or
    address that steps.  Widths of the DMA jobs and the controller's loop registers are
    those of pyhdl/ at the time of writing (see the DMA_* constants).
    """
    rows, cols, ob, ab = spec.rows, spec.cols, spec.operand_bits, spec.acc_bits
    in_addr = _bits(spec.input_words - 1)
    w_addr = _bits(spec.weight_words - 1)
    out_addr = _bits(spec.output_words - 1)
    slot_bits = max((spec.rf_depth - 1).bit_length(), 1)
    latency = rows + cols - 1  # SystolicArray.latency
    c = "control"

    # Activity counters (pyhdl/counters.py): `cycles` counts by one, the others add a
    # per-cycle increment, so each is a register and an adder.
    t.add(c, "activity counters", 1, "counter", {"width": COUNTER_BITS}, "cycles")
    t.registers(c, "activity counters", len(COUNTER_NAMES) - 1, COUNTER_BITS,
                "the other counters' registers")
    t.add(c, "activity counters", len(COUNTER_NAMES) - 1, "adder", {"width": COUNTER_BITS},
          "the other counters' adders")

    # Host register block (pyhdl/csr.py): the descriptor, the read data and the done flag.
    t.registers(c, "register block", len(DESCRIPTOR_NAMES), 32, "descriptor registers")
    t.registers(c, "register block", 1, 32 + 1, "read data and done flag")

    # Accumulator (pyhdl/accumulator.py): the tag shift register beside the array, the
    # stage register, one adder per column.
    tag_bits = out_addr + 2
    t.registers(c, "accumulator", latency + 1, tag_bits, "tag pipeline and stage tag")
    t.registers(c, "accumulator", 1, cols * ab, "stage register of the array's partial sums")
    t.add(c, "accumulator", cols, "adder", {"width": ab}, "accumulate into the output word")

    # DMA engines (pyhdl/dma.py, gearbox.py).  Reader: a gearbox from bus beats to input
    # words; writer: a FIFO of output words and a gearbox to bus beats.
    reader_in, reader_out = 8 * spec.dram_bus_bytes // ob, rows
    writer_in, writer_out = cols, 8 * spec.dram_bus_bytes // DRAM_WORD_BITS
    for name, elem, n_in, n_out in (("reader", ob, reader_in, reader_out),
                                    ("writer", DRAM_WORD_BITS, writer_in, writer_out)):
        capacity = n_in + n_out
        t.registers(c, "DMA gearboxes", 1, capacity * elem + _bits(capacity) + 1,
                    f"{name}: {capacity} elements of {elem} bits, fill and row end")
    chunk_bits = cols * DRAM_WORD_BITS + _bits(cols) + 1
    t.registers(c, "DMA write FIFO", DMA_WRITE_FIFO_DEPTH, chunk_bits,
                "output words with count and last")
    bursts = DMA_COUNT_BITS + DMA_ADDR_BITS + DMA_BURST_BITS
    read_job = DMA_ADDR_BITS + DMA_COUNT_BITS + DMA_BURST_BITS + DMA_COUNT_BITS
    write_job = DMA_ADDR_BITS + 3 * DMA_COUNT_BITS + DMA_BURST_BITS
    reader_state = bursts + read_job + 2 * DMA_COUNT_BITS + DMA_BURST_BITS + max(in_addr, w_addr)
    writer_state = (bursts + write_job + 2 * DMA_COUNT_BITS + out_addr + DMA_ADDR_BITS + 1
                    + _bits(cols) + 1 + 3 * _bits(DMA_WRITE_FIFO_DEPTH))
    t.registers(c, "DMA state", 1, reader_state + writer_state,
                f"jobs, burst issuers, row/beat/element counts and buffer addresses "
                f"({reader_state} reader + {writer_state} writer bits)")
    t.add(c, "DMA arithmetic", 3, "adder", {"width": DMA_ADDR_BITS},
          "two burst addresses, the writer's beat count")
    t.add(c, "DMA arithmetic", 7, "adder", {"width": DMA_COUNT_BITS},
          "row, beat, element and word counts")
    t.add(c, "DMA arithmetic", 1, "multiplier", {"width": DMA_COUNT_BITS},
          "the writer's rows x row beats")

    # Layer controller (pyhdl/controller.py): loop counters, DRAM and buffer addresses, the
    # register-file slot timers and the FSM state.
    controller_bits = (4 * 32 + 5 * 16 + w_addr + in_addr + 2 * out_addr + 2
                       + 2 * slot_bits + _bits(cols + 1) + 3
                       + spec.rf_depth * _bits(latency + 1) + _bits(CONTROLLER_STATES - 1))
    t.registers(c, "controller", 1, controller_bits,
                "loop counts and addresses (4 x 32 + 5 x 16 bits), buffer addresses, "
                "slot timers, tag, FSM state")
    t.add(c, "controller", 4, "adder", {"width": 32}, "DRAM addresses and rows left")
    t.add(c, "controller", 6, "adder", {"width": 16},
          "block, row and buffer-address steps")
    t.add(c, "controller", 4, "comparator", {"width": 16}, "loop ends")
    t.add(c, "controller", 1, "multiplier", {"width": 7}, "active rows x active columns")
