"""The seven-metric report of a run: report.json (DESIGN.md's contract), report.md and plots.

Everything is derived from the activity counters, the per-action energy table and the area
estimates; nothing here measures anything itself.
"""

import json
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from models.energy import COMPONENTS, energy_breakdown, energy_by_action
from models.mapper import group_slice, map_grouped_conv
from models.sparsity import GROUP


ACCURACY_NAMES = {"float": "float", "int8_golden": "int8, golden model",
                  "int8_rtl": "int8, RTL"}
"""How report.md names the accuracies a run may measure."""


class WeightModes(NamedTuple):
    """A layer's modes on a 2:4 architecture, with dense weights and with 2:4 ones (the
    mapper picks per layer from the weights; `layer_entry` tells them apart by the
    counters)."""
    dense: str
    sparse: str


def layer_mode(spec, layer):
    """`layer_weights_mode` with the layer's weights unknown: on a 2:4 architecture, for a
    layer that may run 2:4 (ungrouped, whole groups of four channels), its `WeightModes`."""
    shape = layer.shape
    if spec.skips_weights and layer.groups == 1 and shape.c % GROUP == 0:
        pruned = np.zeros((shape.k, shape.c, shape.r, shape.s))   # any 2:4 weights map alike
        return WeightModes(layer_weights_mode(spec, layer),
                           layer_weights_mode(spec, layer, pruned))
    return layer_weights_mode(spec, layer)


def layer_weights_mode(spec, layer, weights=None):
    """How the hardware runs accelerator `layer` (a models.workloads.Layer), as the report
    names it, from one mapping of the layer: a grouped layer the mapper splits into
    block-diagonal parts, "depthwise" / "grouped (G groups)" "as P block-diagonal dense parts
    of C channels" (each part a convolution over an aligned channel slice whose weights are
    zero across groups, models.mapper.map_grouped_conv); any other, what its run is
    (`run_mode`; a depthwise layer run over slices of its channels says so, `slices_mode`) and
    how its tiles share weights and input bands (`tiling_mode`)."""
    shape, groups = layer.shape, layer.groups
    parts = map_grouped_conv(spec, shape, groups, layer.post, weights)
    mapping = parts[0].mapping
    if groups > 1 and not mapping.descriptor["depthwise"]:
        per_part = group_slice(spec, shape, groups, layer.post)
        kind = "depthwise" if groups == shape.c == shape.k else f"grouped ({groups} groups)"
        return (f"{kind} as {-(-groups // per_part)} block-diagonal dense parts of "
                f"{per_part * shape.c // groups} channels")
    return run_mode(layer, mapping.descriptor, slices_mode(parts)) + tiling_mode(mapping)


def slices_mode(parts):
    """" over N channel slices of C" when a depthwise layer runs as runs over slices of its
    channels (models.mapper `_depthwise_slices`; the last slice may be narrower); empty for
    one run."""
    if len(parts) == 1:
        return ""
    return f" over {len(parts)} channel slices of {parts[0].mapping.shape.c}"


def run_mode(layer, d, slices=""):
    """What the one run of `layer` (descriptor `d`) is: "fc as 1x1 conv over M rows" (a
    fully-connected layer's M input rows are the pixels of a 1x1 convolution, sharing each
    weight load); "depthwise, line buffer: ..." (models/depthwise.py with all its taps down
    the rows) or "depthwise across the columns, ..." (the array's depthwise mode); for a
    few-channel layer whose kernel taps the array rows take (models/tap_fold.py) "taps
    folded, N segments of R kernel rows, packed input" (or "N blocks of R' kernel rows" when
    a block takes several); else "dense".  `slices`: a depthwise run's `slices_mode`."""
    shape = layer.shape
    if layer.op == "fc":
        return f"fc as 1x1 conv over {shape.h} row{'s' if shape.h > 1 else ''}"
    if d["dw_line"]:
        return (f"depthwise, line buffer{slices}: a channel a column, all {shape.r * shape.s} taps "
                f"down the rows, {shape.r - 1} input rows from the line buffer")
    if d["depthwise"]:
        return (f"depthwise across the columns{slices}, a channel a column, {shape.r} kernel rows of "
                f"{shape.s} taps down the rows")
    if not d["fold"]:
        return "dense"
    if d["fold_rows"] > 1:
        return f"taps folded, {d['taps']} block{'s' if d['taps'] > 1 else ''} of " \
               f"{d['fold_rows']} kernel rows, packed input"
    return f"taps folded, {d['c_blocks']} segment{'s' if d['c_blocks'] > 1 else ''} of " \
           f"{shape.r} kernel rows, packed input"


def tiling_mode(mapping):
    """How the tiles of a run share its weights and input bands: for a dense or fc run (a
    depthwise run's few taps a channel are not named) ", tiles of N images" (each tile
    several whole images), ", weights resident" (fetched once for the layer, not once per
    tile) or ", weights resident but the last N of M filter blocks" (those fetched again
    every tile); ", input bands loaded ahead" (each tile's band loads while the previous tile
    streams, models/band_prefetch.py) and ", reduction blocks paired" (two blocks added in
    the accumulator before each output-buffer write-back, models/paired_blocks.py: the
    mapper takes it where it costs at most 2 % more cycles); empty if none."""
    d = mapping.descriptor
    mode = ""
    if not d["depthwise"]:
        if mapping.tile_images > 1:
            mode += f", tiles of {mapping.tile_images} images"
        if d["w_resident"]:
            mode += ", weights resident"
        if d["w_stream_blocks"]:
            mode += f" but the last {d['w_stream_blocks']} of {d['k_blocks']} filter blocks"
    if d["x_half_words"]:
        mode += ", input bands loaded ahead"
    if d["paired"]:
        mode += ", reduction blocks paired"
    return mode


def layer_entry(spec, name, op, counters, table, macs=None, requantized=None, mode=None):
    """One layer's figures: throughput, latency, traffic and energy from its counters.

    `macs` is the layer's useful work; it defaults to the counted MACs, which for a grouped
    layer also hold the structural zeros of its block-diagonal weights (all gated).
    `requantized`: the layer's outputs leave as operands, not int32 (None: not known; the
    post-processing energy is then an upper bound, models.energy.postprocess_words).
    `mode`: how the hardware runs it (layer_mode; None: not known); on a 2:4 architecture
    the counters tell whether its weights ran 2:4 (MACs skipped) or dense, which picks
    between `WeightModes` and is added."""
    if spec.skips_weights and mode is not None:
        sparse = counters["macs_skipped"] > 0
        if isinstance(mode, WeightModes):
            mode = mode.sparse if sparse else mode.dense
        mode += ("; 2:4 weights, half the MACs skipped" if sparse
                 else "; weights not 2:4: runs dense")
    cycles = counters["cycles"]
    macs = counters["macs"] if macs is None else macs
    seconds = cycles / (spec.clock_mhz * 1e6)
    energy = energy_breakdown(counters, table, spec, requantized)
    return {
        "name": name,
        "op": op,
        "mode": mode,
        "macs": macs,
        "cycles": cycles,
        "utilization": macs / (cycles * spec.peak_macs_per_cycle) if cycles else 0.0,
        "latency_s": seconds,
        "energy_pj": energy,
        "energy_by_action_pj": energy_by_action(counters, table, spec, requantized),
        "dram_bytes": {"read": counters["dram_bytes_read"],
                       "write": counters["dram_bytes_written"]},
        "glb_accesses": sum(value for key, value in counters.items() if key.startswith("glb_")),
        "counters": dict(counters),
    }


def totals(spec, layers, batch=1):
    """Whole-run figures: the sums, and the rates they imply for `batch` images per run."""
    macs = sum(layer["macs"] for layer in layers)
    cycles = sum(layer["cycles"] for layer in layers)
    seconds = sum(layer["latency_s"] for layer in layers)
    energy = {key: sum(layer["energy_pj"][key] for layer in layers)
              for key in layers[0]["energy_pj"]} if layers else {}
    by_action = {key: sum(layer["energy_by_action_pj"][key] for layer in layers)
                 for key in layers[0]["energy_by_action_pj"]} if layers else {}
    joules = energy.get("total", 0.0) * 1e-12
    ops = 2 * macs
    return {
        "macs": macs,
        "cycles": cycles,
        "latency_s": seconds,
        "utilization": macs / (cycles * spec.peak_macs_per_cycle) if cycles else 0.0,
        "macs_per_cycle": macs / cycles if cycles else 0.0,
        "inferences_per_s": batch / seconds if seconds else 0.0,
        "energy_per_inference_pj": energy.get("total", 0.0) / batch,
        "gops": ops / seconds / 1e9 if seconds else 0.0,
        "energy_pj": energy,
        "energy_by_action_pj": by_action,
        "average_power_w": joules / seconds if seconds else 0.0,
        "gops_per_w": ops / 1e9 / joules if joules else 0.0,
        "dram_bytes": {"read": sum(layer["dram_bytes"]["read"] for layer in layers),
                       "write": sum(layer["dram_bytes"]["write"] for layer in layers)},
        "glb_accesses": sum(layer["glb_accesses"] for layer in layers),
    }


TIMING_FIELDS = ("critical_path_ns", "fmax_mhz", "method", "start", "end", "start_module",
                 "end_module", "endpoint", "meets_clock", "units")
"""What report.json keeps of synthesis.timing.estimate_timing under arch.timing."""


def build_report(spec, layers, table, area, accuracy=None, batch=1, timing=None):
    """The report.json document of a run of `batch` images; `timing` is the architecture's
    synthesis.timing estimate, if it was made."""
    arch = spec.to_dict()
    if timing is not None:
        arch["timing"] = {key: timing[key] for key in TIMING_FIELDS}
    report = {
        "batch": batch,
        "arch": arch,
        "energy_table": table.name,
        "peak_macs_per_cycle": spec.peak_macs_per_cycle,
        "onchip_bytes": spec.onchip_bytes,
        "area_um2": area,
        "layers": layers,
        "totals": totals(spec, layers, batch),
    }
    if accuracy is not None:
        report["accuracy"] = accuracy
    return report


def atomic_write(path, write):
    """Call `write(tmp)` on a hidden file beside `path`, then rename it to `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def write_report(report, json_path):
    """Write report.json at `json_path`, and beside it the .md and the PNG plots."""
    from .plots import plot_area, plot_energy, plot_utilization

    json_path = Path(json_path)
    stem = json_path.with_suffix("")
    plots = {
        "energy": (plot_energy, Path(f"{stem}-energy.png")),
        "utilization": (plot_utilization, Path(f"{stem}-utilization.png")),
        "area": (plot_area, Path(f"{stem}-area.png")),
    }
    for plot, path in plots.values():
        atomic_write(path, lambda tmp, plot=plot: plot(report, tmp))
    atomic_write(json_path.with_suffix(".md"),
                  lambda tmp: tmp.write_text(markdown(report, {k: p.name for k, (_, p) in
                                                               plots.items()})))
    atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))


def _si(value, unit):
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""),
                           (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _area_rows(area):
    rows = [f"| area (components, hwcomponents) | {area['total'] / 1e6:.3f} mm² |"]
    synthesized = area.get("synthesized")
    if synthesized:
        rows.append(
            f"| area (synthesized PE array + SRAM) | "
            f"{synthesized['pe_array_and_sram'] / 1e6:.3f} mm²; PE array logic "
            f"{synthesized['pe_array_logic'] / 1e6:.3f} mm², "
            f"{100 * synthesized['pe_array_difference']:+.1f} % against the components |")
    return rows


def _timing_rows(arch):
    timing = arch.get("timing")
    if not timing:
        return []
    return [f"| clock | {arch['clock_mhz']:g} MHz; critical path "
            f"{timing['critical_path_ns']:.3f} ns, fmax {timing['fmax_mhz']:.0f} MHz "
            f"(from {timing['start']} in {timing['start_module']} to {timing['end']} in "
            f"{timing['end_module']}) |"]


def timing_warning(arch):
    """A sentence if the spec's clock exceeds the estimated fmax, else None."""
    timing = arch.get("timing")
    if not timing or timing["meets_clock"]:
        return None
    return (f"the clock ({arch['clock_mhz']:g} MHz) exceeds the estimated fmax "
            f"({timing['fmax_mhz']:.0f} MHz, critical path {timing['critical_path_ns']:.3f} ns "
            f"in {timing['end_module']}): the latency, throughput and power figures assume a "
            f"clock this design may not reach")


def markdown(report, plot_files):
    """report.md: the seven metrics in prose and tables, readable without the JSON."""
    arch, total = report["arch"], report["totals"]
    energy = total["energy_pj"]
    lines = [
        f"# peforge report: {arch['name']} ({arch['rows']}x{arch['cols']} "
        f"{arch['dataflow'].upper()}, int{arch['operand_bits']}, {arch['clock_mhz']:g} MHz, "
        f"{arch['tech_nm']} nm)",
        "",
        f"Energy table: {report['energy_table']}.",
        "",
        *([f"**Warning:** {timing_warning(arch)}.", ""] if timing_warning(arch) else []),
        "| metric | value |",
        "| --- | --- |",
    ]
    if "accuracy" in report:
        for key, value in report["accuracy"].items():
            lines.append(f"| accuracy ({ACCURACY_NAMES.get(key, key)}) | {100 * value:.2f} % "
                         f"of {report['batch']} images |")
    lines += [
        f"| throughput | {total['inferences_per_s']:.4g} inferences/s, "
        f"{total['gops']:.3g} GOPS |",
        f"| latency | {_si(total['latency_s'], 's')} ({total['cycles']} cycles)"
        + (f" for the batch of {report['batch']} |" if report["batch"] > 1 else " |"),
        f"| PE utilization | {100 * total['utilization']:.1f} % of "
        f"{report['peak_macs_per_cycle']} MACs/cycle |",
        f"| energy | {_si(total['energy_per_inference_pj'] * 1e-12, 'J')} per inference "
        f"({100 * energy['dram'] / energy['total']:.1f} % DRAM) |",
        f"| average power | {_si(total['average_power_w'], 'W')}, "
        f"{total['gops_per_w']:.3g} GOPS/W |",
        *_area_rows(report["area_um2"]),
        *_timing_rows(arch),
        f"| on-chip storage | {report['onchip_bytes']} bytes |",
        f"| DRAM traffic | {total['dram_bytes']['read']} B read, "
        f"{total['dram_bytes']['write']} B written |",
        "",
        "## Layers",
        "",
        "| layer | op | mode | MACs | cycles | util. | energy | DRAM share |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for layer in report["layers"]:
        e = layer["energy_pj"]
        lines.append(
            f"| {layer['name']} | {layer['op']} | {layer['mode'] or 'not known'} | "
            f"{layer['macs']} | {layer['cycles']} | "
            f"{100 * layer['utilization']:.1f} % | {_si(e['total'] * 1e-12, 'J')} | "
            f"{100 * e['dram'] / e['total']:.1f} % |")
    lines += ["", "## Energy by component", "", "| component | energy | share |",
              "| --- | ---: | ---: |"]
    for key in COMPONENTS:
        if key in energy:
            lines.append(f"| {key} | {_si(energy[key] * 1e-12, 'J')} | "
                         f"{100 * energy[key] / energy['total']:.1f} % |")
    by_action = total.get("energy_by_action_pj", {})
    dynamic = sum(by_action.values())
    if dynamic:
        lines += ["", "## Dynamic energy by action class (the same classes in every dataflow)",
                  "", "| action | energy | share |", "| --- | ---: | ---: |"]
        for key, value in by_action.items():
            if value:
                lines.append(f"| {key} | {_si(value * 1e-12, 'J')} | "
                             f"{100 * value / dynamic:.1f} % |")
    lines += ["", "## Area by component", "", "| component | area |", "| --- | ---: |"]
    for key, value in report["area_um2"].items():
        if isinstance(value, (int, float)):
            lines.append(f"| {key} | {value / 1e6:.4f} mm² |")
    for key, title in (("host_ops", "Host ops (run on the host between accelerator layers, "
                                    "not counted)"),
                       ("skipped_ops", "Skipped operators (--skip-unsupported)")):
        if report.get(key):
            lines += ["", f"{title}: {', '.join(report[key])}."]
    if "timing" in arch:
        lines += ["", f"Timing: {arch['timing']['method']}."]
    lines += [""]
    lines += [f"![{name}]({file})" for name, file in plot_files.items()]
    return "\n".join(lines) + "\n"
