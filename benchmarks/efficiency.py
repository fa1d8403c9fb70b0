"""Efficiency of the mapping: PE utilization, DRAM traffic and energy, from the analytical model.

The analytical model's cycles and counters are what the test suite holds equal to the RTL's on
every layer it simulates.  Two measurements:

ResNet-18's convolutions (default): every convolution of ResNet-18 (224x224, batch 1, with
its real padding, bias, int8 requantization and ReLUs) on a 16x16 array with 128 KB of global
buffer and a 16-byte DRAM bus (configs/resnet.yaml: the default array with its buffer split
56/16/56 KB), in both dataflows (weight- and output-stationary), per layer and for the network:

  utilization   MACs / (cycles x rows x cols): 100 % is the MACs/(rows·cols) bound
  DRAM x        DRAM bytes read and written / compulsory bytes (inputs + weights + outputs
                at the width they leave the chip, each once)

(--rtl simulates the 3x3 layers too, on generated data, and prints the RTL's cycles).
Targets (issue 3), for the better dataflow: >= 90 % utilization on the 3x3 layers, <= 1.2x
compulsory DRAM traffic over the network.

--networks: ResNet-18, MobileNetV2, AlexNet and VGG-16 (batch 1) and the digits CNN (its 360
held-out images) on the default 16x16 array (configs/default.yaml), both dataflows, per
network: utilization (AlexNet also over its convolutions alone), energy per MAC
(hwcomponents' per-action table for the architecture), DRAM's share of that energy, DRAM
traffic / compulsory bytes, and its MACs, cycles and energy; where each network's cycles
go (first layer, depthwise and grouped, 1x1, other convolutions, fully connected: each one's
share of the cycles and utilization); ResNet-18's energy per MAC by component and its global
buffers' by operand; then every bound of issue 13's "Done means"
(ISSUE_BOUNDS, AlexNet also at batch 16) on both dataflows, each with pass or miss.  --int32
runs the four built-in networks as they ran before they were int8 networks: int32 outputs
between layers, no bias, requantization or ReLU in hardware.  AlexNet's and VGG-16's large
fully-connected layers give the mapper 512 tilings each to weigh, so --networks takes minutes
(about 10 on a busy 2-core machine); `--networks --only NAME` prints one network's lines,
both dataflows.

Usage: .venv/bin/python benchmarks/efficiency.py [--arch A.yaml] [--rtl]
       .venv/bin/python benchmarks/efficiency.py --networks [--int32] [--only NAME] [--arch A.yaml]
"""

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from models.energy import COMPONENTS, energy_breakdown, energy_by_action, table_for  # noqa: E402
from models.mapper import PostProcess  # noqa: E402
from models.spec import DATAFLOWS, DRAM_WORD_BITS, load_spec  # noqa: E402
from models.workloads import GENERATED_NETWORKS, generated_operands, workload  # noqa: E402
from models.perf import weight_fetches  # noqa: E402
from peforge.network import layer_parts, predicted_counters  # noqa: E402

DIGITS_IMAGES = 360
"""The digits CNN's held-out images, one batch (the main job of the README)."""


@dataclass(frozen=True)
class Bound:
    """One bound of issue 13's "Done means" on a figure of `network_figures` for `network`
    at `batch` images: the figure is at least `limit`, or at most with `at_most`."""

    network: str
    batch: int
    figure: str
    limit: float
    at_most: bool = False

    def met(self, value):
        return value <= self.limit if self.at_most else value >= self.limit

    def describe(self, value):
        """The bound, the measured value and pass or miss, on one line."""
        scale, unit = FIGURE_UNITS[self.figure]
        relation = "<=" if self.at_most else ">="
        return (f"{self.network} (batch {self.batch}) {self.figure.replace('_', ' ')} {relation} "
                f"{scale * self.limit:g}{unit}: {scale * value:.4g}{unit} "
                f"{'pass' if self.met(value) else 'miss'}")


FIGURE_UNITS = {"utilization": (100, " %"), "conv_utilization": (100, " %"),
                "traffic": (1, "x compulsory"), "pj_per_mac": (1, " pJ/MAC"),
                "weight_fetches": (1, "")}
"""How a bounded figure prints: scale and unit (weight_fetches: how many times the layer
that fetches its weights most often fetches them)."""

ISSUE_BOUNDS = (
    Bound("resnet18", 1, "utilization", 0.90),
    Bound("mobilenetv2", 1, "utilization", 0.60),
    Bound("alexnet", 1, "conv_utilization", 0.85),
    Bound("alexnet", 16, "utilization", 0.75),
    Bound("digits", DIGITS_IMAGES, "utilization", 0.60),
    Bound("digits", DIGITS_IMAGES, "weight_fetches", 1, at_most=True),
    Bound("resnet18", 1, "traffic", 1.1, at_most=True),
    Bound("mobilenetv2", 1, "traffic", 1.1, at_most=True),
    Bound("resnet18", 1, "pj_per_mac", 2.7, at_most=True),
)
"""Issue 13's "Done means" on the default 16x16 (VGG-16 has none), each checked on both
dataflows."""

GLB_OPERANDS = ("input", "weight", "output", "bias")
"""The global buffers, one per operand (their reads and writes are the `glb` component)."""

ENERGY_NETWORK = "resnet18"
"""The network whose energy per MAC issue 13 bounds: its breakdown is printed by component."""

LAYER_KINDS = ("first", "grouped", "1x1", "kxk", "fc")
"""Where a network's cycles go: its first layer, depthwise and grouped convolutions, 1x1
convolutions, the other convolutions, fully-connected layers."""


def layer_kind(index, layer):
    """The LAYER_KINDS entry of the `index`th accelerator layer of a network."""
    if index == 0:
        return "first"
    if layer.op == "fc":
        return "fc"
    if layer.groups > 1:
        return "grouped"
    return "1x1" if layer.shape.r == layer.shape.s == 1 else "kxk"


def compulsory_bytes(spec, layer):
    """Inputs, weights and outputs (operands if requantized, else int32) each once."""
    shape = layer.shape
    operand = spec.operand_bits / 8
    out_bits = spec.operand_bits if layer.post.requant is not None else DRAM_WORD_BITS
    return (shape.n * shape.c * shape.h * shape.w * operand
            + shape.k * shape.c // layer.groups * shape.r * shape.s * operand
            + shape.n * shape.k * shape.p * shape.q * out_bits / 8)


def simulate(spec, layer):
    """The RTL's cycles for `layer` on generated data, checked against the golden model."""
    from testbench.jobs import Job
    from testbench.runner import DEFAULT_BUILD_ROOT, SimulationModel

    shape, post = layer.shape, layer.post
    x, w, bias = generated_operands(layer, spec.operand_bits, np.random.default_rng(0))
    job = Job(layer.name, "conv", x, w, stride=shape.stride, pad=shape.pad,
              groups=layer.groups, bias=bias, requant=post.requant, relu=post.relu)
    [result] = SimulationModel(spec).run([job], DEFAULT_BUILD_ROOT / "efficiency")
    if not result.matches:
        raise SystemExit(f"{layer.name}: RTL differs from the golden model")
    return result.counters["cycles"]


def evaluate(spec, layer):
    """(cycles, DRAM bytes) of one layer on `spec`, from the analytical model."""
    counters = predicted_counters(spec, layer)
    return counters["cycles"], counters["dram_bytes_read"] + counters["dram_bytes_written"]


def dataflow_specs(base):
    return [replace(base, dataflow=flow, name=f"{base.name}-{flow}") for flow in DATAFLOWS]


def resnet_layers(base, rtl):
    """The per-layer table of ResNet-18's convolutions."""
    specs = dataflow_specs(base)
    peak = base.peak_macs_per_cycle
    print(f"{base.name}: {base.rows}x{base.cols}, "
          f"{(base.glb_input_bytes + base.glb_weight_bytes + base.glb_output_bytes) // 1024} KB "
          f"global buffer, {base.dram_bus_bytes} B/cycle DRAM bus; both dataflows")
    print(f"{'layer':22} {'MACs':>11}" + "".join(
        f" {flow + ' cycles':>10} {'util.':>6} {'DRAM x':>6}" for flow in DATAFLOWS)
        + ("  RTL cycles" if rtl else ""))
    totals = {flow: [0, 0] for flow in DATAFLOWS}
    three_by_three = {flow: [] for flow in DATAFLOWS}
    total_macs = total_compulsory = 0
    for layer in workload("resnet18", bits=base.operand_bits):
        if layer.op != "conv":
            continue
        compulsory = compulsory_bytes(base, layer)
        line = f"{layer.name:22} {layer.macs:11d}"
        for spec in specs:
            cycles, traffic = evaluate(spec, layer)
            utilization = layer.macs / (cycles * peak)
            line += f" {cycles:10d} {100 * utilization:5.1f}% {traffic / compulsory:5.2f}x"
            totals[spec.dataflow][0] += cycles
            totals[spec.dataflow][1] += traffic
            if layer.shape.r == 3:
                three_by_three[spec.dataflow].append(utilization)
        if rtl and layer.shape.r == 3:
            line += "  " + " ".join(f"{simulate(spec, layer):d}" for spec in specs)
        print(line, flush=True)
        total_macs += layer.macs
        total_compulsory += compulsory
    line = f"{'network (convolutions)':22} {total_macs:11d}"
    for flow in DATAFLOWS:
        cycles, traffic = totals[flow]
        line += (f" {cycles:10d} {100 * total_macs / (cycles * peak):5.1f}% "
                 f"{traffic / total_compulsory:5.2f}x")
    print(line)
    for flow in DATAFLOWS:
        utils = three_by_three[flow]
        print(f"{flow}: 3x3 layers at {100 * min(utils):.1f}% to {100 * max(utils):.1f}% "
              f"utilization (median {100 * np.median(utils):.1f}%); network DRAM traffic "
              f"{totals[flow][1] / total_compulsory:.3f}x compulsory")


def network_figures(spec, table, layers):
    """Utilization (all layers, convolutions alone), pJ per MAC, DRAM share of the energy
    and DRAM traffic / compulsory of the accelerator layers of one network on `spec`."""
    sums = dict.fromkeys(("macs", "cycles", "conv_macs", "conv_cycles", "energy", "dram",
                          "traffic", "compulsory"), 0.0)
    kinds = {kind: [0, 0] for kind in LAYER_KINDS}
    components = dict.fromkeys(COMPONENTS, 0.0)
    buffers = dict.fromkeys(GLB_OPERANDS, 0.0)
    fetches = 0
    for index, layer in enumerate(layers):
        counters = predicted_counters(spec, layer)
        kinds[layer_kind(index, layer)][0] += layer.macs
        kinds[layer_kind(index, layer)][1] += counters["cycles"]
        fetches = max([fetches] + [weight_fetches(part.mapping)
                                   for part in layer_parts(spec, layer)])
        energy = energy_breakdown(counters, table, spec, layer.post.requant is not None)
        for component in COMPONENTS:
            components[component] += energy[component]
        actions = energy_by_action(counters, table, spec, layer.post.requant is not None)
        for operand in GLB_OPERANDS:
            buffers[operand] += actions[f"glb_{operand}_read"] + actions[f"glb_{operand}_write"]
        conv = layer.op != "fc"
        sums["macs"] += layer.macs
        sums["cycles"] += counters["cycles"]
        sums["conv_macs"] += layer.macs * conv
        sums["conv_cycles"] += counters["cycles"] * conv
        sums["energy"] += energy["total"]
        sums["dram"] += energy["dram"]
        sums["traffic"] += counters["dram_bytes_read"] + counters["dram_bytes_written"]
        sums["compulsory"] += compulsory_bytes(spec, layer)
    peak = spec.peak_macs_per_cycle
    return {"macs": sums["macs"], "cycles": sums["cycles"], "energy_pj": sums["energy"],
            "utilization": sums["macs"] / (sums["cycles"] * peak),
            "conv_utilization": sums["conv_macs"] / (sums["conv_cycles"] * peak),
            "pj_per_mac": sums["energy"] / sums["macs"],
            "dram_share": sums["dram"] / sums["energy"],
            "traffic": sums["traffic"] / sums["compulsory"], "weight_fetches": fetches,
            "kinds": kinds, "components": components, "buffers": buffers}


def network_layers(name, bits, int32, batch):
    """The accelerator layers of workload `name` for `batch` images; with `int32` the
    built-in networks' layers write int32 outputs with no post-processing (as before they
    were int8)."""
    layers = [layer for layer in workload(name, batch, bits) if layer.on_accelerator]
    if int32 and name in GENERATED_NETWORKS:
        layers = [replace(layer, post=PostProcess()) for layer in layers]
    return layers


def input_bound_utilization(spec, layer):
    """The most of the peak a depthwise or grouped `layer` can reach on an array fed one
    input-buffer word (`rows` operands) a cycle: each input operand enters K/groups x R x S /
    stride^2 products on average (its group's filters at every tap whose window holds it),
    so at most rows x that many MACs a cycle, of rows x cols."""
    shape = layer.shape
    uses = shape.k // layer.groups * shape.r * shape.s / shape.stride ** 2
    return min(1.0, uses / spec.cols)


def grouped_at_bound(spec, layers, figures):
    """The network's utilization with its grouped layers at `input_bound_utilization` and
    every other layer's cycles as the analytical model has them."""
    peak = spec.peak_macs_per_cycle
    grouped = [layer for layer in layers if layer.groups > 1]
    bound_cycles = sum(layer.macs / (peak * input_bound_utilization(spec, layer))
                       for layer in grouped)
    other_cycles = figures["cycles"] - sum(predicted_counters(spec, layer)["cycles"]
                                           for layer in grouped)
    return figures["macs"] / ((other_cycles + bound_cycles) * peak)


def cycle_shares(figures, peak):
    """Where a network's cycles go, as one line: each kind's share of the cycles and its
    utilization (`peak` MACs a cycle)."""
    total = figures["cycles"]
    return "; ".join(f"{kind} {100 * cycles / total:.0f}% at {100 * macs / (cycles * peak):.1f}%"
                     for kind, (macs, cycles) in figures["kinds"].items() if cycles)


def energy_lines(figures):
    """A network's energy per MAC by component (they add up to its pJ/MAC), then its global
    buffers' share by operand, as two indented lines."""
    macs = figures["macs"]
    parts = ", ".join(f"{name} {pj / macs:.3f}" for name, pj in figures["components"].items())
    buffers = ", ".join(f"{operand} {pj / macs:.3f}" for operand, pj in figures["buffers"].items())
    return (f"{'':12} {'':5} {'':4} pJ/MAC by component: {parts}\n"
            f"{'':12} {'':5} {'':4} glb by operand: {buffers}")


def networks(base, int32, only=None):
    """The per-network table of the built-in networks and digits, where their cycles go,
    and issue 13's bounds (or network `only`'s lines alone)."""
    outputs = "int32 outputs between layers" if int32 else "int8 networks"
    print(f"{base.name}: {base.rows}x{base.cols}, {base.tech_nm} nm, {outputs}; analytical "
          f"model, hwcomponents energy")
    print(f"{'network':12} {'batch':>5} {'flow':4} {'util.':>6} {'conv util.':>10} "
          f"{'pJ/MAC':>7} {'DRAM share':>10} {'DRAM x':>7} {'MACs':>9} {'cycles':>11} "
          f"{'energy':>9}")
    runs = [(name, DIGITS_IMAGES if name == "digits" else 1)
            for name in (*GENERATED_NETWORKS, "digits")]
    runs += sorted({(b.network, b.batch) for b in ISSUE_BOUNDS} - set(runs))
    if only is not None:
        runs = [run for run in runs if run[0] == only][:1]
    measured = {}
    for spec in dataflow_specs(base):
        table = table_for(spec)
        peak = spec.peak_macs_per_cycle
        for name, batch in runs:
            layers = network_layers(name, spec.operand_bits, int32, batch)
            figures = network_figures(spec, table, layers)
            measured[spec.dataflow, name, batch] = figures
            print(f"{name:12} {batch:5d} {spec.dataflow:4} {100 * figures['utilization']:5.1f}% "
                  f"{100 * figures['conv_utilization']:9.1f}% {figures['pj_per_mac']:7.2f} "
                  f"{100 * figures['dram_share']:9.1f}% {figures['traffic']:6.2f}x "
                  f"{figures['macs'] / 1e9:8.4f}G {int(figures['cycles']):11,d} "
                  f"{figures['energy_pj'] / 1e9:7.3f}mJ", flush=True)
            print(f"{'':12} {'':5} {'':4} cycles: {cycle_shares(figures, peak)}", flush=True)
            if name == ENERGY_NETWORK:
                print(energy_lines(figures), flush=True)
            if any(layer.groups > 1 for layer in layers):
                print(f"{'':12} {'':5} {'':4} with its grouped layers at their input-word "
                      f"bound: {100 * grouped_at_bound(spec, layers, figures):.1f}%")
    if int32 or only is not None:
        return
    print(f"issue 13's bounds on {base.name}:")
    met = 0
    for bound in ISSUE_BOUNDS:
        for flow in DATAFLOWS:
            value = measured[flow, bound.network, bound.batch][bound.figure]
            met += bound.met(value)
            print(f"  {flow}: {bound.describe(value)}")
    print(f"{met} of {len(ISSUE_BOUNDS) * len(DATAFLOWS)} bounds met")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=Path, help="the architecture (default: "
                        "configs/resnet.yaml, with --networks configs/default.yaml)")
    parser.add_argument("--rtl", action="store_true", help="simulate the 3x3 layers as well")
    parser.add_argument("--networks", action="store_true",
                        help="the per-network table of the built-in networks and digits")
    parser.add_argument("--int32", action="store_true",
                        help="with --networks: int32 outputs between layers (as before)")
    parser.add_argument("--only", choices=(*GENERATED_NETWORKS, "digits"),
                        help="with --networks: that network alone (batch 1), without the "
                        "bounds")
    args = parser.parse_args()
    if args.only and not args.networks:
        parser.error("--only applies to --networks only")
    if args.int32 and not args.networks:
        parser.error("--int32 applies to --networks only")
    if args.rtl and args.networks:
        parser.error("--rtl applies to ResNet-18's layer table only, not --networks")
    default = "default.yaml" if args.networks else "resnet.yaml"
    base = load_spec(args.arch or ROOT / "configs" / default)
    if args.networks:
        networks(base, args.int32, args.only)
    else:
        resnet_layers(base, args.rtl)


if __name__ == "__main__":
    main()
