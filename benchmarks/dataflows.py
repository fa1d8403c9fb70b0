"""Weight-, output- and row-stationary on one silicon budget, and the Eyeriss chip beside its
published figures (docs/dataflows.md).

1. WS, OS and RS at equal PE count and equal on-chip storage (`--arch`, default
   configs/default.yaml: 16x16, 128 KB of global buffer): the RS twin has Eyeriss's register
   files (224 / 12 / 24 entries) and a global buffer cut so that its on-chip bytes (buffers,
   bias buffer and every PE register file) do not exceed the WS architecture's.  On AlexNet's
   and ResNet-18's conv layers (models/workloads.py, int8, requantized): cycles, and pJ per
   MAC split by level (DRAM, global buffer, array network, register files, MAC, the rest),
   priced with the architecture's hwcomponents table and with the Eyeriss-normalized one
   (configs/energy/eyeriss.yaml), each dataflow's ratio against WS.
2. ResNet-18 conv2_x (C = K = 64, 56x56, 3x3, int8 outputs) on the same three: pJ per MAC
   per component against the 1.91 pJ/MAC of issue 14.
3. AlexNet's five conv layers at batch 4 on configs/eyeriss.yaml (65 nm hwcomponents table)
   beside Eyeriss v1's measured figures (JSSC 2017), with each layer's weight bytes fetched
   from DRAM against its own and the DRAM accesses each weight once for the batch would give.

WS and OS figures are the exact analytical model's (models/perf.py, equal to the RTL's
counters and cycles on every RTL test); RS figures are models/rs_perf.py's
`rs_layer_figures` of the accelerator's own mapping (bands of output rows and chunks of
channels that fit the buffers), equal to the RTL on every RS test (tests/test_rs_rtl.py).
A layer whose smallest tile does not fit (`rs_layer_fits` False) is priced on the
whole-image schedule with the buffers' bounds lifted; the tables count such layers.

Usage: .venv/bin/python benchmarks/dataflows.py [--arch configs/default.yaml] [--part all]
"""

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.energy import (COMPONENTS, action_bits, activity, energy_breakdown,  # noqa: E402
                           load_table, table_for)
from models.mapper import ConvShape, map_conv  # noqa: E402
from models.rs_perf import rs_layer_figures, rs_layer_fits  # noqa: E402
from models.spec import SpecError, load_spec  # noqa: E402
from models.workloads import workload  # noqa: E402
from peforge.network import predicted_counters  # noqa: E402

EYERISS_TABLE = ROOT / "configs" / "energy" / "eyeriss.yaml"
EYERISS_ARCH = ROOT / "configs" / "eyeriss.yaml"
LEVELS = ("dram", "glb", "array", "rf", "mac")
"""The levels of the comparison; every other component is summed under "other"."""
BASELINE = "ws"
TARGET_PJ_PER_MAC = 1.91
"""Issue 14: AccelForge's best mapping of a 16x16 WS array on the same hwcomponents costs."""
EYERISS_PUBLISHED = {"frames_per_s": 35.0, "dram_accesses_per_mac": 0.0029, "power_mw": 278.0}
"""Eyeriss v1 on AlexNet's conv layers at batch 4, 200 MHz (Chen et al., IEEE JSSC 52(1),
2017, pp. 127-138, doi:10.1109/JSSC.2016.2616357, abstract)."""
EYERISS_ACCESS_BYTES = 2
"""Eyeriss counts DRAM accesses of its 16-bit words."""
CONV2_X = ConvShape(1, 64, 56, 56, 64, 3, 3, 1, 1)


def row_stationary_twin(spec):
    """`spec` as a row-stationary array of the same PEs and no more on-chip bytes: Eyeriss's
    register-file depths, the global-buffer partitions scaled down by one factor (whole
    KB per partition) to make room for them."""
    rs = replace(spec, name=f"{spec.name}-rs", dataflow="rs")
    budget = spec.onchip_bytes - (rs.onchip_bytes - _glb_bytes(rs))
    if budget <= 0:
        raise SpecError(f"{spec.name}: no global buffer is left beside the row-stationary "
                        f"register files and the bias buffer "
                        f"({rs.onchip_bytes - _glb_bytes(rs)} bytes)")
    scale = budget / _glb_bytes(spec)
    parts = {name: int(getattr(spec, name) * scale) // 1024 * 1024
             for name in ("glb_input_bytes", "glb_weight_bytes", "glb_output_bytes")}
    return replace(rs, **parts)


def _glb_bytes(spec):
    return spec.glb_input_bytes + spec.glb_weight_bytes + spec.glb_output_bytes


def dataflow_specs(spec):
    """{dataflow: spec}: the WS and OS arrays of `spec` and its row-stationary twin."""
    return {"ws": replace(spec, name=f"{spec.name}-ws", dataflow="ws"),
            "os": replace(spec, name=f"{spec.name}-os", dataflow="os"),
            "rs": row_stationary_twin(spec)}


def layer_run(spec, layer, batch=1):
    """(counters with cycles) of one accelerator layer on `spec`: the exact model for WS and
    OS, rs_layer_figures for RS."""
    if spec.dataflow == "rs":
        counters, cycles = rs_layer_figures(spec, layer.shape, layer.groups, batch, layer.post)
        return {**counters, "cycles": cycles}
    if batch != 1:
        layer = replace(layer, shape=replace(layer.shape, n=layer.shape.n * batch))
    return predicted_counters(spec, layer)


def movement(counters, spec, pitch_um, requantized):
    """Data moved at each level, whatever it costs: DRAM and global-buffer bits, array-network
    bit-millimetres (bits carried times wire length), register-file bits read or written
    (models.energy.activity's uses)."""
    bits = action_bits(spec)
    moved = dict.fromkeys(("dram", "glb", "array", "rf"), 0.0)
    for use in activity(counters, spec, requantized):
        if use.component in ("dram", "glb"):
            moved[use.component] += use.count * bits[use.action]
        elif use.component == "array" and use.action == "hop_bit":
            moved["array"] += use.count * pitch_um / 1000
        elif use.component == "rf":
            moved["rf"] += use.count * bits.get(use.action, 1)
    return moved


def network_figures(spec, layers, tables, batch=1):
    """Totals over `layers` on `spec`: MACs, cycles, DRAM bytes, the row-stationary layers
    priced with the buffers' bounds lifted (`rs_layer_fits`), the data moved per level
    (`movement`, at the PE pitch of `tables`' first, a hwcomponents table) and, per table
    name, the energy per component (pJ)."""
    totals = {"macs": 0, "cycles": 0, "dram_bytes": 0, "lifted": 0,
              "moved": dict.fromkeys(("dram", "glb", "array", "rf"), 0.0),
              "energy": {name: dict.fromkeys((*COMPONENTS, "total"), 0.0) for name in tables}}
    pitch_um = next(iter(tables.values())).notes["pe_pitch_um"]
    for layer in layers:
        counters = layer_run(spec, layer, batch)
        if spec.dataflow == "rs" and not rs_layer_fits(spec, layer.shape, layer.groups, batch):
            totals["lifted"] += 1
        totals["macs"] += counters["macs"]
        totals["cycles"] += counters["cycles"]
        totals["dram_bytes"] += counters["dram_bytes_read"] + counters["dram_bytes_written"]
        for level, amount in movement(counters, spec, pitch_um,
                                      layer.post.requant is not None).items():
            totals["moved"][level] += amount
        for name, table in tables.items():
            parts = energy_breakdown(counters, table, spec, layer.post.requant is not None)
            for component, pj in parts.items():
                totals["energy"][name][component] += pj
    return totals


def by_level(energy, macs):
    """pJ/MAC per level of LEVELS, "other" (the remaining components) and "total"."""
    levels = {level: energy[level] / macs for level in LEVELS}
    levels["other"] = (energy["total"] - sum(energy[level] for level in LEVELS)) / macs
    levels["total"] = energy["total"] / macs
    return levels


def conv_layers(name, bits):
    return [layer for layer in workload(name, bits=bits) if layer.op == "conv"]


def _tables(spec):
    return {"hwcomponents": table_for(spec), "eyeriss": load_table(EYERISS_TABLE)}


def _log(text):
    print(f"dataflows: {text}", file=sys.stderr, flush=True)


def compare_dataflows(spec, networks=("alexnet", "resnet18")):
    specs = dataflow_specs(spec)
    print(f"## WS, OS and RS at {spec.rows}x{spec.cols} PEs and at most "
          f"{spec.onchip_bytes} on-chip bytes (RS: global buffer "
          f"{_glb_bytes(specs['rs']) // 1024} KB, on-chip {specs['rs'].onchip_bytes} B)\n")
    for network in networks:
        layers = conv_layers(network, spec.operand_bits)
        figures = {}
        for dataflow, s in specs.items():
            started = time.monotonic()
            figures[dataflow] = network_figures(s, layers, _tables(s))
            _log(f"{network} on {s.name}: {time.monotonic() - started:.1f} s")
        print(f"### {network}: {len(layers)} conv layers, "
              f"{figures[BASELINE]['macs'] / 1e9:.3f} G MACs; RS runs "
              f"{len(layers) - figures['rs']['lifted']} of them on its buffers, "
              f"{figures['rs']['lifted']} priced with the bounds lifted\n")
        print("| dataflow | table | cycles | x WS | DRAM B/MAC | "
              + " | ".join(f"{level} pJ/MAC" for level in (*LEVELS, "other", "total"))
              + " | x WS |")
        print("|---|---|---:|---:|---:|" + "---:|" * (len(LEVELS) + 3))
        for table in ("hwcomponents", "eyeriss"):
            base = by_level(figures[BASELINE]["energy"][table], figures[BASELINE]["macs"])
            for dataflow, f in figures.items():
                levels = by_level(f["energy"][table], f["macs"])
                print(f"| {dataflow} | {table} | {f['cycles']:,} | "
                      f"{f['cycles'] / figures[BASELINE]['cycles']:.2f} | "
                      f"{f['dram_bytes'] / f['macs']:.4f} | "
                      + " | ".join(f"{levels[k]:.3f}" for k in (*LEVELS, "other", "total"))
                      + f" | {levels['total'] / base['total']:.2f} |")
        print("\n| dataflow | DRAM bits/MAC | global-buffer bits/MAC | array bit-mm/MAC "
              "(PE pitch) | register-file bits/MAC |")
        print("|---|---:|---:|---:|---:|")
        for dataflow, f in figures.items():
            moved = {level: amount / f["macs"] for level, amount in f["moved"].items()}
            pitch = _tables(specs[dataflow])["hwcomponents"].notes["pe_pitch_um"]
            print(f"| {dataflow} | {moved['dram']:.3f} | {moved['glb']:.2f} | "
                  f"{moved['array']:.3f} ({pitch:.0f} um) | {moved['rf']:.1f} |")
        print()


LEVERS = (
    ("weight buffer 64 KB, input 32 KB (same storage)",
     {"glb_weight_bytes": 65536, "glb_input_bytes": 32768}),
    ("25-bit accumulators (conv2_x needs 25)", {"acc_bits": 25}),
    ("both", {"glb_weight_bytes": 65536, "glb_input_bytes": 32768, "acc_bits": 25}),
)
"""Changes of the WS and OS arrays measured on conv2_x: weights fetched once instead of once
per tile, and accumulators as wide as the layer's sums (576 products of two int8 reach
2^23.2, so 25 signed bits)."""
RS_LEVERS = tuple((f"register files {f}/{i}/{p}",
                   {"rs_filter_depth": f, "rs_input_depth": i, "rs_psum_depth": p})
                  for f, i, p in ((224, 12, 8), (112, 12, 12), (72, 12, 8))) + (
    ("25-bit accumulators (conv2_x needs 25)", {"acc_bits": 25}),
)
"""Changes of the RS array measured on conv2_x: register-file depths (filter, input, psum),
and psums as wide as the layer's sums."""


def done_line(spec):
    """ResNet-18 conv2_x, int8 outputs, on the three arrays and their levers, hwcomponents
    table: pJ/MAC per component against TARGET_PJ_PER_MAC."""
    layer = next(layer for layer in conv_layers("resnet18", spec.operand_bits)
                 if layer.shape == CONV2_X)
    print(f"## ResNet-18 conv2_x (64->64, 56x56, 3x3, int8 outputs), hwcomponents "
          f"{spec.tech_nm} nm, target {TARGET_PJ_PER_MAC} pJ/MAC\n")
    print("| array | on-chip B | cycles | " + " | ".join(COMPONENTS)
          + " | total | over target |")
    print("|---|---:|---:|" + "---:|" * (len(COMPONENTS) + 2))
    specs = dataflow_specs(spec)
    runs = [(dataflow, s) for dataflow, s in specs.items()]
    runs += [(f"{dataflow}, {label}", replace(specs[dataflow], **change))
             for dataflow in ("ws", "os") for label, change in LEVERS]
    runs += [(f"rs, {label}", replace(specs["rs"], **change)) for label, change in RS_LEVERS]
    for label, s in runs:
        counters = layer_run(s, layer)
        parts = energy_breakdown(counters, table_for(s), s, requantized=True)
        macs = counters["macs"]
        print(f"| {label} | {s.onchip_bytes:,} | {counters['cycles']:,} | "
              + " | ".join(f"{parts[c] / macs:.3f}" for c in COMPONENTS)
              + f" | {parts['total'] / macs:.3f} | "
              f"{parts['total'] / macs - TARGET_PJ_PER_MAC:+.3f} |")
    print()


def eyeriss(batch=4):
    """AlexNet's five conv layers at `batch` on configs/eyeriss.yaml beside the chip."""
    spec = load_spec(EYERISS_ARCH)
    layers = conv_layers("alexnet", spec.operand_bits)
    table = table_for(spec)
    f = network_figures(spec, layers, {"hw": table}, batch)
    energy = f["energy"]["hw"]
    seconds = f["cycles"] / (spec.clock_mhz * 1e6)
    onchip_mw = (energy["total"] - energy["dram"]) * 1e-12 / seconds * 1e3
    ours = {"frames_per_s": batch / seconds,
            "dram_accesses_per_mac": f["dram_bytes"] / EYERISS_ACCESS_BYTES / f["macs"],
            "power_mw": onchip_mw}
    print(f"## AlexNet's conv layers at batch {batch} on {spec.name} ({spec.rows}x{spec.cols} "
          f"RS, {spec.operand_bits}-bit, {spec.clock_mhz:.0f} MHz, {spec.tech_nm} nm): "
          f"{f['macs'] / batch / 1e6:.1f} M MACs a frame, {f['cycles']:,} cycles "
          f"({f['macs'] / f['cycles'] / spec.peak_macs_per_cycle:.1%} of peak); "
          f"{len(layers) - f['lifted']} of {len(layers)} layers on the accelerator's mapping\n")
    print("| layer | tile rows | tiles an image | channel chunks | weights | weight bytes "
          "from DRAM (x the layer's) | cycles | DRAM accesses/MAC |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    fetched = once = 0      # weight bytes from DRAM; each weight once for the batch
    for layer in layers:
        shape = replace(layer.shape, n=layer.shape.n * batch)
        counters = layer_run(spec, layer, batch)
        accesses = (counters["dram_bytes_read"] + counters["dram_bytes_written"]) \
            / EYERISS_ACCESS_BYTES / counters["macs"]
        weights = counters["glb_weight_writes"] * spec.weight_word_bytes
        layer_weights = (layer.shape.k * layer.reduction * spec.operand_bits) // 8
        fetched, once = fetched + weights, once + layer_weights
        loads = f"{weights:,} ({weights / layer_weights:.1f}x)"
        if rs_layer_fits(spec, layer.shape, layer.groups, batch):
            d = map_conv(spec, shape, layer.post).descriptor
            print(f"| {layer.name} | {d['tile_p']} | {d['tiles']} | {d['c_chunks']} | "
                  f"{'resident' if d['w_resident'] else 'loaded every tile'} | {loads} | "
                  f"{counters['cycles']:,} | {accesses:.4f} |")
        else:
            print(f"| {layer.name} | bounds lifted | | | | {loads} | {counters['cycles']:,} | "
                  f"{accesses:.4f} |")
    print(f"\nWeights are {fetched / f['dram_bytes']:.1%} of the {f['dram_bytes']:,} DRAM bytes "
          f"(the weight buffer's words written, {spec.weight_word_bytes} bytes each); with "
          f"each weight once for the batch (the rest as it is) the DRAM accesses per MAC "
          f"would be {(f['dram_bytes'] - fetched + once) / EYERISS_ACCESS_BYTES / f['macs']:.5f}"
          f"; the weight bytes alone take {fetched // spec.dram_bus_bytes:,} DRAM beats of "
          f"{spec.dram_bus_bytes} bytes.\n")
    print("| figure | peforge (model) | Eyeriss v1 (JSSC 2017) | ratio |")
    print("|---|---:|---:|---:|")
    labels = {"frames_per_s": "frames/s", "dram_accesses_per_mac": "DRAM accesses "
              f"({8 * EYERISS_ACCESS_BYTES}-bit) per MAC", "power_mw": "power, chip (mW)"}
    for key, label in labels.items():
        print(f"| {label} | {ours[key]:.4g} | {EYERISS_PUBLISHED[key]:.4g} | "
              f"{ours[key] / EYERISS_PUBLISHED[key]:.2f} |")
    total_mw = energy["total"] * 1e-12 / seconds * 1e3
    print(f"\nWith DRAM ({spec.dram_kind}): {total_mw:.4g} mW. On-chip energy per MAC: "
          + ", ".join(f"{c} {energy[c] / f['macs']:.3f}" for c in COMPONENTS if c != "dram")
          + " pJ.\n")


PARTS = ("dataflows", "conv2_x", "eyeriss")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=str(ROOT / "configs" / "default.yaml"),
                        help="the WS architecture whose PEs and storage the three share")
    parser.add_argument("--part", choices=("all", *PARTS), default="all")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.arch)
        dataflow_specs(spec)    # refuse an architecture without room for the RS twin now
    except SpecError as error:
        print(f"dataflows: error: {error}", file=sys.stderr)
        return 2
    if args.part in ("all", "dataflows"):
        compare_dataflows(spec)
    if args.part in ("all", "conv2_x"):
        done_line(spec)
    if args.part in ("all", "eyeriss"):
        eyeriss()
    return 0


if __name__ == "__main__":
    sys.exit(main())
