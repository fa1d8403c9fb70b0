"""Efficiency of the mapping on ResNet-18's convolutions: PE utilization and DRAM traffic.

For every convolution of ResNet-18 (224x224, batch 1, with its real padding) on a 16x16 array
with 128 KB of global buffer and a 16-byte DRAM bus (configs/default.yaml), prints

  utilization   MACs / (cycles x rows x cols): 100 % is the MACs/(rows·cols) bound
  DRAM x        DRAM bytes read and written / compulsory bytes (inputs + weights + int32
                outputs, each once)

per layer and for the network, with the cycles of the analytical model, which the test suite
holds equal to the RTL's cycles on every layer it simulates (run with --rtl to simulate the
3x3 layers here too and print both).  Targets (issue 3): >= 90 % utilization on the 3x3
layers, <= 1.2x compulsory DRAM traffic over the network.

Usage: .venv/bin/python benchmarks/efficiency.py [--arch configs/default.yaml] [--rtl]
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from models.mapper import map_grouped_conv  # noqa: E402
from models.perf import model_counters  # noqa: E402
from models.spec import DRAM_WORD_BITS, load_spec  # noqa: E402
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=ROOT / "configs" / "default.yaml", type=Path)
    parser.add_argument("--rtl", action="store_true", help="simulate the 3x3 layers as well")
    args = parser.parse_args()
    spec = load_spec(args.arch)
    peak = spec.peak_macs_per_cycle
    print(f"{spec.name}: {spec.rows}x{spec.cols} {spec.dataflow}, "
          f"{(spec.glb_input_bytes + spec.glb_weight_bytes + spec.glb_output_bytes) // 1024} KB "
          f"global buffer, {spec.dram_bus_bytes} B/cycle DRAM bus")
    header = f"{'layer':22} {'MACs':>11} {'cycles':>9} {'util.':>7} {'DRAM x':>7}"
    print(header + ("  RTL cycles" if args.rtl else ""))
    total_macs = total_cycles = total_traffic = total_compulsory = 0
    three_by_three = []
    for layer in workload("resnet18"):
        if layer.op != "conv":
            continue
        runs = [model_counters(spec, part.mapping)
                for part in map_grouped_conv(spec, layer.shape, layer.groups)]
        cycles = sum(run["cycles"] for run in runs)
        traffic = sum(run["dram_bytes_read"] + run["dram_bytes_written"] for run in runs)
        compulsory = compulsory_bytes(spec, layer.shape)
        utilization = layer.macs / (cycles * peak)
        line = (f"{layer.name:22} {layer.macs:11d} {cycles:9d} {100 * utilization:6.1f}% "
                f"{traffic / compulsory:6.2f}x")
        if layer.shape.r == 3:
            three_by_three.append(utilization)
            if args.rtl:
                line += f"  {simulate(spec, layer):10d}"
        print(line, flush=True)
        total_macs += layer.macs
        total_cycles += cycles
        total_traffic += traffic
        total_compulsory += compulsory
    print(f"{'network (convolutions)':22} {total_macs:11d} {total_cycles:9d} "
          f"{100 * total_macs / (total_cycles * peak):6.1f}% "
          f"{total_traffic / total_compulsory:6.2f}x")
    print(f"3x3 layers: utilization {100 * min(three_by_three):.1f}% to "
          f"{100 * max(three_by_three):.1f}% (median {100 * np.median(three_by_three):.1f}%); "
          f"network DRAM traffic {total_traffic / total_compulsory:.2f}x compulsory")


if __name__ == "__main__":
    main()
