"""Efficiency of the mapping on ResNet-18's convolutions: PE utilization and DRAM traffic.

For every convolution of ResNet-18 (224x224, batch 1, with its real padding) on a 16x16 array
with 128 KB of global buffer and a 16-byte DRAM bus (configs/resnet.yaml: the default array
with its buffer split 56/16/56 KB), in both dataflows
(weight- and output-stationary), prints

  utilization   MACs / (cycles x rows x cols): 100 % is the MACs/(rows·cols) bound
  DRAM x        DRAM bytes read and written / compulsory bytes (inputs + weights + int32
                outputs, each once)

per layer and for the network, with the cycles of the analytical model, which the test suite
holds equal to the RTL's cycles on every layer it simulates (run with --rtl to simulate the
3x3 layers here too and print both).  Targets (issue 3), for the better dataflow: >= 90 %
utilization on the 3x3 layers, <= 1.2x compulsory DRAM traffic over the network.

Usage: .venv/bin/python benchmarks/efficiency.py [--arch configs/resnet.yaml] [--rtl]
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from models.mapper import map_grouped_conv  # noqa: E402
from models.perf import model_counters  # noqa: E402
from models.spec import DATAFLOWS, DRAM_WORD_BITS, load_spec  # noqa: E402
from models.workloads import workload  # noqa: E402


def compulsory_bytes(spec, shape):
    operand = spec.operand_bits / 8
    return (shape.n * shape.c * shape.h * shape.w * operand
            + shape.k * shape.c * shape.r * shape.s * operand
            + shape.n * shape.k * shape.p * shape.q * DRAM_WORD_BITS / 8)


def simulate(spec, layer):
    from testbench.jobs import Job
    from testbench.runner import DEFAULT_BUILD_ROOT, SimulationModel

    shape = layer.shape
    rng = np.random.default_rng(0)
    job = Job(layer.name, "conv", rng.integers(-128, 128, (shape.n, shape.c, shape.h, shape.w)),
              rng.integers(-128, 128, (shape.k, shape.c, shape.r, shape.s)),
              stride=shape.stride, pad=shape.pad)
    [result] = SimulationModel(spec).run([job], DEFAULT_BUILD_ROOT / "efficiency")
    if not result.matches:
        raise SystemExit(f"{layer.name}: RTL differs from the golden model")
    return result.counters["cycles"]


def evaluate(spec, layer):
    """(cycles, DRAM bytes) of one layer on `spec`, from the analytical model."""
    runs = [model_counters(spec, part.mapping)
            for part in map_grouped_conv(spec, layer.shape, layer.groups)]
    return (sum(run["cycles"] for run in runs),
            sum(run["dram_bytes_read"] + run["dram_bytes_written"] for run in runs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=ROOT / "configs" / "resnet.yaml", type=Path)
    parser.add_argument("--rtl", action="store_true", help="simulate the 3x3 layers as well")
    args = parser.parse_args()
    base = load_spec(args.arch)
    specs = [replace(base, dataflow=flow, name=f"{base.name}-{flow}") for flow in DATAFLOWS]
    peak = base.peak_macs_per_cycle
    print(f"{base.name}: {base.rows}x{base.cols}, "
          f"{(base.glb_input_bytes + base.glb_weight_bytes + base.glb_output_bytes) // 1024} KB "
          f"global buffer, {base.dram_bus_bytes} B/cycle DRAM bus; both dataflows")
    print(f"{'layer':22} {'MACs':>11}" + "".join(
        f" {flow + ' cycles':>10} {'util.':>6} {'DRAM x':>6}" for flow in DATAFLOWS)
        + ("  RTL cycles" if args.rtl else ""))
    totals = {flow: [0, 0] for flow in DATAFLOWS}
    three_by_three = {flow: [] for flow in DATAFLOWS}
    total_macs = total_compulsory = 0
    for layer in workload("resnet18"):
        if layer.op != "conv":
            continue
        compulsory = compulsory_bytes(base, layer.shape)
        line = f"{layer.name:22} {layer.macs:11d}"
        for spec in specs:
            cycles, traffic = evaluate(spec, layer)
            utilization = layer.macs / (cycles * peak)
            line += f" {cycles:10d} {100 * utilization:5.1f}% {traffic / compulsory:5.2f}x"
            totals[spec.dataflow][0] += cycles
            totals[spec.dataflow][1] += traffic
            if layer.shape.r == 3:
                three_by_three[spec.dataflow].append(utilization)
        if args.rtl and layer.shape.r == 3:
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


if __name__ == "__main__":
    main()
