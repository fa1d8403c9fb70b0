"""DRAM bytes saved by bitmask-compressed activations on a ReLU layer (docs/sparsity.md).

Runs a 3x3, 32-channel convolution over a 56x56 image with 60 % zero inputs, requantized
with ReLU at zero point 0 after a bias that leaves about 60 % zero outputs, on an architecture
(by default configs/wide.yaml, 8x32) with `activation_compression: bitmask` (Verilator RTL):
its inputs placed compressed by the host (`compress_rows`, packed by image row,
testbench/cocotb_chain.py) and read through the DMA reader's decompressor, its outputs
written compressed (packed by output row).  Checks the
outputs against the golden model and the counters against the analytical model from the
inputs' and outputs' zeros, and prints the bytes written and read and the cycles against the
same layer dense (the analytical model's dense prediction, which the test suite holds equal
to the RTL on every layer it simulates) on the same array without compression.  The cycles
are checked against the model too, from the inputs' and outputs' zeros.

Usage: .venv/bin/python benchmarks/compression.py [--arch configs/wide.yaml] [--size 56]
       [--channels 32] [--input-zeros 0.6] [--output-zeros 0.6]
"""

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from models import golden  # noqa: E402
from models.compression import compressed_writes  # noqa: E402
from testbench.cocotb_chain import chain_mappings  # noqa: E402
from models.energy import energy_breakdown, table_for  # noqa: E402
from models.perf import predict_counters, predict_cycles  # noqa: E402
from models.spec import SpecError, load_spec  # noqa: E402
from testbench.jobs import Job  # noqa: E402
from testbench.runner import SimulationModel  # noqa: E402


def relu_layer(spec, size, channels, input_zeros, output_zeros, seed=1):
    """The layer: random int8 inputs (`input_zeros` of them zero) and weights, a bias per
    channel that puts `output_zeros` of its accumulators at or below zero, requantized so the
    outputs spread over int8, ReLU at zero point 0."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (1, channels, size, size))
    x = np.where(rng.random(x.shape) < input_zeros, 0, x)
    w = rng.integers(-128, 128, (channels, channels, 3, 3))
    acc = golden.conv2d(x, w, 1, 1, acc_bits=spec.acc_bits).astype(np.int64)
    bias = -np.quantile(acc.transpose(1, 0, 2, 3).reshape(channels, -1), output_zeros,
                        axis=1).astype(np.int64)
    shift = 14 + int(np.abs(acc).max()).bit_length() - 6
    return Job("relu_3x3", "conv", x, w, stride=1, pad=1, bias=bias,
               requant=(1 << 14, shift, 0), relu=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=str(ROOT / "configs" / "wide.yaml"))
    parser.add_argument("--size", type=int, default=56, help="image height and width")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--input-zeros", type=float, default=0.6)
    parser.add_argument("--output-zeros", type=float, default=0.6,
                        help="share of the outputs ReLU sets to zero (about)")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.arch)
    except SpecError as error:
        print(f"compression: {error}", file=sys.stderr)
        return 2
    dense_spec = replace(spec, activation_compression="none")
    spec = replace(spec, name=f"{spec.name}-bitmask", activation_compression="bitmask")
    job = relu_layer(spec, args.size, args.channels, args.input_zeros, args.output_zeros)
    [dense_part] = job.parts(dense_spec)
    [mapping] = chain_mappings(spec, [job])
    if not (mapping.descriptor["y_compressed"] and mapping.descriptor["x_compressed"]):
        print(f"compression: the mapper reads this layer's inputs or writes its outputs "
              f"dense on {spec.name} (docs/sparsity.md says when)", file=sys.stderr)
        return 2
    print(f"compression: building (first time: minutes) and running {args.size}x{args.size}x"
          f"{args.channels} on {spec.name}", file=sys.stderr, flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as run_dir:
        [result] = SimulationModel(spec).run([job], Path(run_dir),
                                             test_module="testbench.cocotb_chain")
    if not result.matches:
        print("compression: the RTL differs from the golden model", file=sys.stderr)
        return 1
    exact = predict_counters(spec, mapping, inputs=job.inputs)
    exact.update(compressed_writes(spec, mapping, result.expected),
                 cycles=predict_cycles(spec, mapping, inputs=job.inputs,
                                       outputs=result.expected))
    dense = predict_counters(dense_spec, dense_part.mapping)
    measured = result.counters
    if any(measured[name] != value for name, value in exact.items()):
        print("compression: the RTL's counters or cycles differ from the analytical model",
              file=sys.stderr)
        return 1
    zeros = float(np.mean(result.expected == 0))
    dense_total = dense["dram_bytes_read"] + dense["dram_bytes_written"]
    total = measured["dram_bytes_read"] + measured["dram_bytes_written"]
    dense_cycles = predict_cycles(dense_spec, dense_part.mapping)
    print(f"inputs zero: {100 * float(np.mean(job.inputs == 0)):.1f} %, outputs zero: "
          f"{100 * zeros:.1f} %; RTL {measured['cycles']} cycles against {dense_cycles} dense "
          f"({measured['cycles'] / dense_cycles:.3f}x), {time.monotonic() - started:.0f} s")
    print(f"bytes written: {measured['dram_bytes_written']} compressed "
          f"({measured['compressed_bytes_written']} with the length table) against "
          f"{dense['dram_bytes_written']} dense: "
          f"{measured['dram_bytes_written'] / dense['dram_bytes_written']:.3f}x")
    print(f"bytes read: {measured['dram_bytes_read']} ({measured['compressed_bytes_read']} of "
          f"compressed inputs with their length table; {measured['decompressor_beats']} dense "
          f"beats decoded) against {dense['dram_bytes_read']} dense: "
          f"{measured['dram_bytes_read'] / dense['dram_bytes_read']:.3f}x")
    print(f"bytes moved: {total} against {dense_total} dense: {total / dense_total:.3f}x")
    # The dense run's counters: the same data (so the same gated MACs), the dense traffic and
    # cycles of the model (held equal to the RTL by the tests), no (de)compressor.
    dense_counters = {**measured, **dense, "cycles": dense_cycles, "stall_cycles": 0}
    energy = energy_breakdown(measured, table_for(spec), spec, True)
    dense_energy = energy_breakdown(dense_counters, table_for(dense_spec), dense_spec, True)
    print(f"energy (models/energy.py): {energy['total'] / 1e6:.2f} uJ against "
          f"{dense_energy['total'] / 1e6:.2f} uJ dense: "
          f"{energy['total'] / dense_energy['total']:.3f}x (DRAM {energy['dram'] / 1e6:.2f} "
          f"against {dense_energy['dram'] / 1e6:.2f} uJ, DMA {energy['dma'] / 1e6:.3f} "
          f"against {dense_energy['dma'] / 1e6:.3f} uJ)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
