"""Area estimate (a): every item of the hardware inventory priced by hwcomponents.

    estimate = component_area(spec)       # cached per configuration, like the energy table
    estimate.components                   # {"mac": um^2, "rf", ..., "control", "total"}
    estimate.sources                      # {component: how its number was obtained}
    estimate.details                      # {component: {item: um^2}}, the items it adds up
    estimate.total                        # um^2

What is priced is models/inventory.py, the one list of the generated hardware that the
energy model reads too; each item goes to its `component`:

    mac          per PE: Aladdin intmac (operand_bits multiplier and an adder as wide as the
                 PE's: psum_bits in a weight-stationary PE, acc_bits in output- and
                 row-stationary ones) and the zero detect (two operand_bits comparators)
    rf           the weight register file and chain (ws), the accumulator (os)
    array        registers between PEs and at the array's edges, the gated-MAC count
    accumulate   the accumulator's tag delay, stage register and acc_bits adders
    glb_<p>      CACTI SRAM banks of the input, weight, output (two halves) and bias buffers
    dma          the DMA readers and writer: state, burst issuers, gearboxes, write FIFO
    postprocess  2 x cols 32x16 partial-product multipliers, adders, shifters, clamps and
                 the registers of its pipeline stages
    control      the controller (a formula, models/inventory.py), the activity counters, the
                 register block and the top's flags

Prices: registers are Aladdin registers (linear in width); multipliers, adders and
comparators Aladdin's (a multiplier of unequal widths a x b as the square one of the wider,
times the narrower over the wider); SRAM banks CACTI's (their read-data register is inside
the macro); a barrel shifter of w bits is w x ceil(log2 w) two-input multiplexers of the
NanGate45 library (models/cell_area.py), scaled to the node as that file scales.  Cell area
only: wiring, clock tree and placement density are left out, and so are multiplexers other
than the shifters'; it is a lower bound on a placed design.  synthesis/array_area.py gives the
synthesized area of the PE array (estimate b), which corresponds to mac + rf + array here.
"""

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import cell_area, hwlib
from .cache import cache_root, digest
from .inventory import fingerprint, geometry, inventory

COMPONENTS = ("mac", "rf", "array", "accumulate", "glb_input", "glb_weight", "glb_output",
              "glb_bias", "dma", "postprocess", "control")
"""The breakdown's components, in report order; `components` adds "total"."""


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
    return fingerprint(spec)


def spec_key(spec):
    """Identifies the configuration an estimate is for (the fields that matter)."""
    return digest(_inputs(spec))


def _cache_key(spec):
    return hwlib.result_key(_inputs(spec), Path(__file__))


def component_area(spec, use_cache=True):
    """The area estimate of `spec` from hwcomponents (CACTI for the buffers), per component.

    Cached as JSON in <cache_dir>/area/ (cache root $PEFORGE_CACHE_DIR, or <repo>/build/cache),
    keyed by the inventory, the hwcomponents package versions and the source of this file
    and models/hwlib.py; a first build takes a few seconds (CACTI), later ones read the file.
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


# --- pricing one inventory item --------------------------------------------------------------

def _model(item, tech):
    """(hwcomponents name, attributes) of one of `item`, or None if hwcomponents has no model
    (shifters)."""
    if item.kind == "mac":
        return "intmac", {"tech_node": tech, "multiplier_width": item.bits,
                          "adder_width": item.bits2}
    if item.kind == "multiplier":
        return "multiplier", {"tech_node": tech, "width": max(item.bits, item.bits2)}
    if item.kind == "sram":
        return "sram", {"tech_node": tech, "width": item.bits, "depth": item.depth,
                        "size": item.bits * item.depth}
    if item.kind in ("register", "adder", "comparator"):
        return item.kind, {"tech_node": tech, "width": item.bits}
    return None


def _shifter_um2(bits, tech_nm):
    """A barrel shifter: bits x ceil(log2 bits) MUX2 cells of models/cell_area.py."""
    return bits * math.ceil(math.log2(bits)) * cell_area.cell_area_um2("$_MUX_", tech_nm)


def _share(item):
    """The part of its model's price one item takes: a bits x bits2 multiplier is priced as
    the square one of the wider width, scaled by the narrower over the wider (an array
    multiplier's partial-product cells are bits x bits2); every other item whole."""
    if item.kind == "multiplier":
        return min(item.bits, item.bits2) / max(item.bits, item.bits2)
    return 1.0


def item_area_um2(item, tech_nm):
    """Area of all `item.count` of one inventory item, in um^2."""
    if item.kind == "shifter":
        return item.count * _shifter_um2(item.bits, tech_nm)
    model = _model(item, tech_nm * 1e-9)
    return 0.0 if model is None else item.count * _share(item) * hwlib.area_um2(*model)


def item_leak_w(item, tech):
    """Leakage power of all `item.count` of one inventory item, in W (0 without a model)."""
    model = _model(item, tech)
    return 0.0 if model is None else item.count * _share(item) * hwlib.leak_w(*model)


def pe_area_um2(spec):
    """Area of one PE: the pe_array block's items over the number of PEs."""
    items = inventory(spec)
    total = sum(item_area_um2(item, spec.tech_nm) for item in items if item.block == "pe_array")
    return total / geometry(spec).pes


def _describe(item, tech_nm):
    if item.kind == "shifter":
        return (f"{item.count} x {item.bits}-bit barrel shifter ({item.bits} x "
                f"{math.ceil(math.log2(item.bits))} NanGate45 MUX2_X1)")
    model = _model(item, tech_nm * 1e-9)
    return f"{item.count} x {hwlib.describe(*model)}"


def _build(spec):
    items = inventory(spec)
    details = {component: {} for component in COMPONENTS}
    lines = {component: [] for component in COMPONENTS}
    for item in items:
        area = item_area_um2(item, spec.tech_nm)
        key = f"{item.block}: {item.role}"
        details[item.component][key] = details[item.component].get(key, 0.0) + area
        lines[item.component].append(f"{item.role}: {_describe(item, spec.tech_nm)} = "
                                     f"{area:.4g} um^2 ({item.source})")
    components = {c: sum(details[c].values()) for c in COMPONENTS}
    total = 0.0
    for component in COMPONENTS:
        total += components[component]
    components["total"] = total
    extrapolated = ("" if 22 <= spec.tech_nm <= 90 else
                    f" {spec.tech_nm} nm is outside CACTI's 22-90 nm: hwcomponents scales "
                    f"the 22 nm area linearly with the node.")
    sources = {c: "hwcomponents, from models/inventory.py: " + "; ".join(lines[c])
               for c in COMPONENTS}
    for c in COMPONENTS:
        if c.startswith("glb_"):
            sources[c] += (". Each bank priced as a single-port SRAM (CACTI's default one "
                           "read/write port); the RTL's banks read and write in the same "
                           "cycle, which a two-port macro would make larger." + extrapolated)
    sources["control"] += (". The controller's items are a formula (models/inventory.py "
                           "CONTROLLER_*), its next-state logic and the register block's "
                           "read multiplexer are left out.")
    sources["total"] = ("sum of the components: cell area only, no wiring, clock tree, "
                        "placement density or I/O")
    versions = ", ".join(f"{k} {v}" for k, v in hwlib.versions().items())
    return AreaEstimate(
        components=components,
        sources=sources,
        details=details,
        spec_key=spec_key(spec),
        notes={"spec": spec.name, "tech_nm": spec.tech_nm, "versions": versions},
    )
