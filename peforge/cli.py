"""The `peforge` command line: `layer` runs one layer on the RTL, `export` writes Verilog."""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from models.energy import EnergyTableError, load_table, table_for
from models.spec import SpecError, load_spec

from .area import architecture_area
from .errors import MismatchError, UserError
from .flow import run_layer_on_rtl
from .network import BACKENDS, load_workload, run_network
from .report import build_report, layer_entry, write_report
from .tensors import check_bias, check_operand, load_npy

OPS = ("conv", "dwconv", "fc")


def log(message):
    print(f"peforge: {message}", file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line, like every other refusal (exit 2)."""

    def error(self, message):
        log(f"error: {self.prog}: {message} (see {self.prog} --help)")
        sys.exit(2)


def _parser():
    parser = _Parser(
        prog="peforge", description="Evaluate a DNN accelerator on its simulated RTL.")
    commands = parser.add_subparsers(dest="command", required=True)

    layer = commands.add_parser(
        "layer", help="run one layer on the RTL and check it against the golden model")
    layer.add_argument("--arch", required=True, type=Path, help="architecture YAML")
    layer.add_argument("--op", required=True, choices=OPS)
    layer.add_argument("--inputs", required=True, type=Path,
                       help="X.npy: int8, NxC for fc (NCHW for conv)")
    layer.add_argument("--weights", required=True, type=Path,
                       help="W.npy: int8, KxC for fc (KCRS for conv)")
    layer.add_argument("--bias", type=Path, help="B.npy: int32 of length K")
    layer.add_argument("--requant", type=int, nargs=3, metavar=("MULT", "SHIFT", "ZERO_POINT"),
                       help="requantize to int8: round-half-up(acc * MULT / 2**SHIFT) + "
                            "ZERO_POINT, saturated")
    layer.add_argument("--relu", action="store_true",
                       help="clamp at 0 (at ZERO_POINT when requantizing)")
    layer.add_argument("--stride", type=int, default=1)
    layer.add_argument("--pad", type=int, default=0)
    layer.add_argument("--out", required=True, type=Path, help="where to write Y.npy (int32)")
    layer.add_argument("--report", type=Path,
                       help="where to write report.json (report.md and plots go beside it)")
    layer.add_argument("--energy-table", type=Path,
                       help="per-action energy table (YAML) instead of hwcomponents' numbers")

    run = commands.add_parser(
        "run", help="run a network on the RTL or the analytical model and report on it")
    run.add_argument("--arch", required=True, type=Path, help="architecture YAML")
    run.add_argument("--workload", required=True,
                     help="resnet18, mobilenetv2, alexnet, vgg16, or a SCALE-Sim topology CSV")
    run.add_argument("--backend", choices=BACKENDS, default="model",
                     help="rtl: every layer simulated and checked against the golden model; "
                          "model: the analytical model (seconds per network); default model")
    run.add_argument("--batch", type=int, default=1, help="images per inference (default 1)")
    run.add_argument("--out", required=True, type=Path, help="directory for the report")
    run.add_argument("--energy-table", type=Path,
                     help="per-action energy table (YAML) instead of hwcomponents' numbers")
    run.add_argument("--seed", type=int, default=0, help="seed of the RTL backend's data")

    export = commands.add_parser("export", help="write the Verilog of an architecture")
    export.add_argument("--arch", required=True, type=Path, help="architecture YAML")
    export.add_argument("--out", required=True, type=Path, help="output directory")
    lint = commands.add_parser("lint", help="lint the exported Verilog with Verilator -Wall")
    lint.add_argument("--arch", required=True, type=Path, help="architecture YAML")
    return parser


def load_arch(path):
    """`load_spec`, with a file that is not UTF-8 text refused like any other bad
    architecture file (load_spec lets the UnicodeDecodeError through)."""
    try:
        return load_spec(path)
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not a UTF-8 text file (byte {error.start})") from None


def _check_writable(path, what):
    if path.is_dir():
        raise UserError(f"{what}: {str(path)!r} is a directory, not a file name")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise UserError(f"{what}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{what}: directory {str(parent)!r} is not writable")


def cmd_layer(args):
    spec = load_arch(args.arch)
    _check_writable(args.out, "--out")
    if args.report is not None:
        _check_writable(args.report, "--report")
    table = energy_table(spec, args.energy_table)
    rank = 2 if args.op == "fc" else 4
    x = check_operand(load_npy(args.inputs, "--inputs"), "--inputs", spec.operand_bits, rank)
    w = check_operand(load_npy(args.weights, "--weights"), "--weights", spec.operand_bits, rank)
    bias = None
    if args.bias is not None:
        bias = check_bias(load_npy(args.bias, "--bias"), w.shape[0])
    post = {"bias": bias, "requant": tuple(args.requant) if args.requant else None,
            "relu": args.relu}

    run = run_layer_on_rtl(spec, args.op, x, w, args.stride, args.pad, post, log=log)
    if not run.matches:
        first = tuple(int(i) for i in np.argwhere(run.output != run.expected)[0])
        raise MismatchError(f"RTL output differs from the golden model at {first}: "
                            f"{int(run.output[first])} != {int(run.expected[first])}")
    entry = layer_entry(spec, args.out.stem, run.op, run.counters, table, run.macs)
    tmp = args.out.with_name(f".{args.out.name}.tmp.npy")
    np.save(tmp, run.output.astype(output_dtype(spec, args.requant)))
    os.replace(tmp, args.out)
    log(f"RTL matches the golden model: {entry['macs']} MACs in {entry['cycles']} cycles "
        f"({100 * entry['utilization']:.1f}% of peak), "
        f"{entry['energy_pj']['total'] / 1e6:.3g} µJ; wrote {args.out}")
    if args.report is not None:
        write_report(build_report(spec, [entry], table, architecture_area(spec)), args.report)
        log(f"wrote {args.report} and its .md and plots")
    return 0


def cmd_run(args):
    spec = load_arch(args.arch)
    if args.batch < 1:
        raise UserError(f"--batch must be at least 1, not {args.batch}")
    table = energy_table(spec, args.energy_table)
    layers = load_workload(args.workload, args.batch)
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out: {str(args.out)!r} exists and is not a directory")
    entries, host_ops = run_network(spec, layers, args.backend, table, args.seed, log=log)
    report = build_report(spec, entries, table, architecture_area(spec))
    report.update(workload=args.workload, batch=args.batch, backend=args.backend,
                  host_ops=host_ops)
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(report, args.out / "report.json")
    total = report["totals"]
    log(f"{args.workload} on {spec.name} ({args.backend}): {total['macs'] / 1e9:.3g} G MACs in "
        f"{total['cycles']} cycles ({100 * total['utilization']:.1f}% of peak), "
        f"{total['energy_pj']['total'] / 1e6:.4g} µJ; wrote {args.out}/report.json, .md and "
        f"plots")
    return 0


def output_dtype(spec, requant):
    """int32 accumulators, or requantized operands in the smallest integer type holding them."""
    if requant is None:
        return np.int32
    return np.int8 if spec.operand_bits <= 8 else np.int16


def energy_table(spec, path):
    """The user's table if given, else hwcomponents' numbers for this architecture."""
    return table_for(spec) if path is None else load_table(path)


def cmd_export(args):
    from pyhdl.export import export_verilog

    spec = load_arch(args.arch)
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out: {str(args.out)!r} exists and is not a directory")
    path = export_verilog(spec, args.out)
    log(f"wrote {path}")
    return 0


def cmd_lint(args):
    from .lint import WAIVERS, lint_spec, synth_check_spec
    from .synth import SynthesisError

    spec = load_arch(args.arch)
    ok, messages = lint_spec(spec)
    if not ok:
        print(messages, file=sys.stderr)
        raise UserError(f"verilator --lint-only -Wall found problems in {spec.name!r}")
    log(f"{spec.name!r} is lint-clean under verilator -Wall "
        f"(waived by design: {', '.join(WAIVERS)})")
    try:
        cells = synth_check_spec(spec)
    except SynthesisError as error:
        print(error, file=sys.stderr)
        raise UserError(f"Yosys synthesis of {spec.name!r} failed or inferred a latch") from None
    log(f"{spec.name!r} synthesizes in Yosys without latches or errors "
        f"({sum(cells.values())} coarse cells)")
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    command = {"layer": cmd_layer, "run": cmd_run, "export": cmd_export,
               "lint": cmd_lint}[args.command]
    try:
        return command(args)
    except MismatchError as error:
        log(f"error: {error}")
        return 1
    except (UserError, SpecError, EnergyTableError) as error:
        log(f"error: {error}")
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
