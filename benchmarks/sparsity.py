"""Cycles saved by 2:4 weight sparsity on a 3x3, 64-channel layer (docs/sparsity.md).

Runs a 3x3 convolution, 64 channels in and out, padding 1, over a 16x16 image, with random
int8 weights pruned to 2:4 (the two largest magnitudes of every group of four channels
kept), on the Verilator RTL of the 2:4 twin of an architecture (by default
configs/default.yaml, 16x16, and its twin the same with `weight_sparsity: 2:4`); checks the
outputs against the golden model and every counter and the cycles against the analytical
model, and prints the cycles, MACs skipped and DRAM bytes against the same layer on the
architecture without sparsity support: the analytical model's prediction, which the test
suite holds equal to the RTL on every layer it simulates, or with --rtl-dense its RTL too.

Usage: .venv/bin/python benchmarks/sparsity.py [--arch configs/default.yaml] [--size 16]
       [--channels 64] [--rtl-dense]
The output-stationary 16x16 and its 2:4 twin: --arch configs/default-os-2to4.yaml.
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

from models.perf import fetched_weight_beats, model_counters, weight_dram_rows  # noqa: E402
from models.sparsity import GROUP, magnitude_mask, mapping_is_sparse  # noqa: E402
from models.spec import SpecError, load_spec  # noqa: E402
from testbench.jobs import Job  # noqa: E402
from testbench.regress import check_counters  # noqa: E402
from testbench.runner import SimulationModel  # noqa: E402


def layer(size, channels, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (1, channels, size, size))
    w = rng.integers(-128, 128, (channels, channels, 3, 3))
    w = w * magnitude_mask(w)
    return Job("conv_3x3_2to4", "conv", x, w, stride=1, pad=1)


def weight_bytes(spec, mapping):
    """DRAM bytes of weights the layer reads (the model's, part of `dram_bytes_read`)."""
    rows = weight_dram_rows(spec, mapping.shape, mapping_is_sparse(spec, mapping))
    return fetched_weight_beats(spec, mapping, rows) * spec.dram_bus_bytes


def run(spec, job, label):
    """The layer's counters on `spec`'s RTL, checked; None (after a message) if wrong."""
    print(f"sparsity: building (first time: minutes) and running on {spec.name} ({label})",
          file=sys.stderr, flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as run_dir:
        [result] = SimulationModel(spec).run([job], Path(run_dir))
    if not result.matches:
        print(f"sparsity: the RTL differs from the golden model on {spec.name}",
              file=sys.stderr)
        return None
    problem = check_counters(spec, job, result.counters)
    if problem:
        print(f"sparsity: {spec.name}: {problem[1]}", file=sys.stderr)
        return None
    print(f"sparsity: {spec.name} done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return result.counters


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("--size", type=int, default=16, help="image height and width")
    parser.add_argument("--channels", type=int, default=64,
                        help="input and output channels (a multiple of 4)")
    parser.add_argument("--rtl-dense", action="store_true",
                        help="simulate the dense architecture too (another Verilator build)")
    args = parser.parse_args(argv)
    if args.channels < GROUP or args.channels % GROUP or args.size < 1:
        print(f"sparsity: --channels must be a positive multiple of 4 and --size positive, "
              f"not {args.channels} and {args.size}", file=sys.stderr)
        return 2
    try:
        spec = load_spec(args.arch)
        base = replace(spec, name=spec.name.removesuffix("-2to4"), weight_sparsity="none")
        twin = replace(base, name=f"{base.name}-2to4", weight_sparsity="2:4")
    except SpecError as error:
        print(f"sparsity: {error}", file=sys.stderr)
        return 2
    job = layer(args.size, args.channels)
    [part] = job.parts(twin)
    if part.mapping.descriptor["dense_lanes"]:
        print("sparsity: the mapper runs this layer dense", file=sys.stderr)
        return 1
    sparse = run(twin, job, "2:4 array")
    [dense_part] = job.parts(base)
    dense = run(base, job, "dense array") if args.rtl_dense \
        else model_counters(base, dense_part.mapping)
    if dense is None or sparse is None:
        return 1
    for spec, counters, source in ((base, dense, "RTL = model" if args.rtl_dense else "model"),
                                   (twin, sparse, "RTL = model")):
        print(f"{spec.name}: {counters['cycles']} cycles ({source}), {counters['macs']} MACs, "
              f"{counters['macs_skipped']} skipped, {counters['macs_gated']} gated, "
              f"DRAM {counters['dram_bytes_read']} B read, "
              f"{counters['dram_bytes_written']} B written")
    print(f"cycles: {sparse['cycles'] / dense['cycles']:.3f}x of the dense array's")
    w_sparse, w_dense = weight_bytes(twin, part.mapping), weight_bytes(base, dense_part.mapping)
    print(f"weights: {w_sparse} B read from DRAM, {w_sparse / w_dense:.3f}x the dense "
          f"array's {w_dense} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
