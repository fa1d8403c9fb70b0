"""The `peforge` command line: `layer` runs one layer on the RTL, `run` a network, `sweep` a
network over a grid of architectures, `export` writes Verilog, `lint` checks it."""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from models.energy import EnergyTableError, load_table, table_for
from models.spec import SpecError, check_built, load_spec
from models.mapper import PostProcess
from models.workloads import WORKLOADS, Layer

from .accuracy import DIGITS_WEIGHTS, check_inputs, check_labels, run_digits, run_graph
from .area import architecture_area
from .errors import MismatchError, UserError
from .flow import layer_shape, mismatch_error, run_layer_on_rtl
from .network import BACKENDS, load_workload, run_network
from .report import (ACCURACY_NAMES, build_report, layer_entry, layer_mode, timing_warning,
                     write_report)
from .sweep import default_jobs, grid, parse_vary, run_sweep, write_sweep
from .tensors import check_bias, check_operand, load_npy

OPS = ("conv", "dwconv", "fc")
GRAPH_WORKLOAD = "fashion-mnist"
"""The ResNet-style CNN of models/fashion_mnist.onnx on Fashion-MNIST's test images."""
FASHION_CALIBRATION = 1000
"""Fashion-MNIST's post-training calibration: the first training images."""


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
    _network_arguments(run, "architecture YAML", "minutes per network")
    run.add_argument("--out", required=True, type=Path, help="directory for the report")
    run.add_argument("--seed", type=int, default=0, help="seed of the RTL backend's data")
    run.add_argument("--images", type=int,
                     help="digits, fashion-mnist, an ONNX graph with --inputs: only the first "
                          "N inputs (default all)")
    run.add_argument("--inputs", type=Path,
                     help="ONNX: X.npy in the graph's input layout and dtype; the graph runs "
                          "with its own weights on them and DIR/outputs.npy gets its output")
    run.add_argument("--labels", type=Path,
                     help="with --inputs: y.npy, one integer class per input; the report gains "
                          "top-1 accuracy")
    run.add_argument("--calibrate", type=Path,
                     help="a float graph: C.npy, the inputs that set the activation ranges of "
                          "post-training quantization (default: the first inputs)")
    run.add_argument("--per-tensor", action="store_true",
                     help="a float graph: one weight scale per layer (requantized in hardware) "
                          "instead of one per output channel")

    sweep = commands.add_parser(
        "sweep", help="run a workload over a grid of architectures and tabulate and plot it")
    _network_arguments(sweep, "base architecture YAML", "one Verilator build per point")
    sweep.add_argument("--vary", required=True, nargs="+", metavar="NAME=V1,V2,...",
                       help="spec fields to vary (rows, cols, glb_kb = the whole global "
                            "buffer in KiB, ...); the grid is every combination")
    sweep.add_argument("--out", required=True, type=Path,
                       help="directory for the table and plot")
    sweep.add_argument("--jobs", type=int, default=default_jobs(),
                       help="processes of the local Dask cluster (default: the cores "
                            "available); ignored with --scheduler")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the grid points as tasks on this Dask scheduler "
                            "(tcp://HOST:PORT) instead of a local cluster")

    export = commands.add_parser("export", help="write the Verilog of an architecture")
    export.add_argument("--arch", required=True, type=Path, help="architecture YAML")
    export.add_argument("--out", required=True, type=Path, help="output directory")
    lint = commands.add_parser(
        "lint", help="lint the exported Verilog with Verilator -Wall, check it synthesizes "
                     "without latches and estimate its critical path and fmax")
    lint.add_argument("--arch", required=True, type=Path, help="architecture YAML")
    return parser


def _network_arguments(parser, arch_help, rtl_note):
    """The options `run` and `sweep` share: architecture, workload, backend and energy."""
    parser.add_argument("--arch", required=True, type=Path, help=arch_help)
    parser.add_argument("--workload", required=True,
                        help=f"{', '.join(WORKLOADS)}, digits-2to4, fashion-mnist, a SCALE-Sim "
                             f"topology CSV or an ONNX file; digits (digits-2to4: pruned to 2:4) "
                             f"and fashion-mnist run their test images and report accuracy")
    parser.add_argument("--backend", choices=BACKENDS, default="model",
                        help="rtl: every layer simulated and checked against the golden "
                             f"model ({rtl_note}); model: the analytical model (seconds per "
                             f"network); default model")
    parser.add_argument("--batch", type=int, default=1,
                        help="images per inference (default 1)")
    parser.add_argument("--energy-table", type=Path,
                        help="per-action energy table (YAML) instead of hwcomponents' numbers")
    parser.add_argument("--skip-unsupported", action="store_true",
                        help="ONNX: skip operators that neither the accelerator nor the host "
                             "runs")


def _check_writable(path, what):
    if path.is_dir():
        raise UserError(f"{what}: {str(path)!r} is a directory, not a file name")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise UserError(f"{what}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{what}: directory {str(parent)!r} is not writable")


def cmd_layer(args):
    spec = load_spec(args.arch)
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
        raise mismatch_error("", run.output, run.expected)
    shape, groups = layer_shape(args.op, x, w, args.stride, args.pad)
    layer = Layer(args.out.stem, args.op, shape, groups,
                  PostProcess(bias is not None, post["requant"], args.relu))
    entry = layer_entry(spec, args.out.stem, run.op, run.counters, table, run.macs,
                        args.requant is not None, layer_mode(spec, layer))
    tmp = args.out.with_name(f".{args.out.name}.tmp.npy")
    np.save(tmp, run.output.astype(output_dtype(spec, args.requant)))
    os.replace(tmp, args.out)
    log(f"RTL matches the golden model: {entry['macs']} MACs in {entry['cycles']} cycles "
        f"({100 * entry['utilization']:.1f}% of peak), "
        f"{entry['energy_pj']['total'] / 1e6:.3g} µJ; wrote {args.out}")
    if args.report is not None:
        report = build_report(spec, [entry], table, architecture_area(spec),
                              timing=report_timing(spec))
        write_report(report, args.report)
        log(f"wrote {args.report} and its .md and plots")
    return 0


def _check_out_dir(path):
    if path.exists() and not path.is_dir():
        raise UserError(f"--out: {str(path)!r} exists and is not a directory")


def cmd_run(args):
    spec = load_spec(args.arch)
    if args.batch < 1:
        raise UserError(f"--batch must be at least 1, not {args.batch}")
    _check_out_dir(args.out)
    table = energy_table(spec, args.energy_table)
    accuracy, skipped, batch = None, [], args.batch
    real_data = args.workload in (*DIGITS_WEIGHTS, GRAPH_WORKLOAD) or args.inputs is not None
    if real_data and args.batch != 1:
        raise UserError(f"--batch {args.batch}: {args.workload} runs its inputs as one batch "
                        f"(choose how many with --images)")
    if not real_data and args.images is not None:
        raise UserError(f"--images applies only to real inputs (digits, {GRAPH_WORKLOAD}, "
                        f"an ONNX graph with --inputs), not {args.workload!r}")
    if args.workload != GRAPH_WORKLOAD and args.inputs is None and (
            args.labels or args.calibrate or args.per_tensor):
        raise UserError("--labels, --calibrate and --per-tensor need --inputs (or "
                        f"--workload {GRAPH_WORKLOAD})")
    outputs, scheme = None, None
    if args.workload == GRAPH_WORKLOAD or args.inputs is not None:
        graph, inputs, labels, calibration = graph_workload(args)
        entries, host_ops, accuracy, outputs, scheme = run_graph(
            spec, graph, inputs, args.backend, table, labels, calibration,
            not args.per_tensor, log=log)
        batch = len(inputs)
    elif args.workload in DIGITS_WEIGHTS:
        entries, host_ops, accuracy, batch = run_digits(spec, args.backend, table,
                                                         args.images, log=log,
                                                         workload=args.workload)
    else:
        layers, skipped = load_workload(args.workload, args.batch, args.skip_unsupported,
                                        spec.operand_bits)
        entries, host_ops = run_network(spec, layers, args.backend, table, args.seed, log=log)
    report = build_report(spec, entries, table, architecture_area(spec), accuracy, batch,
                          report_timing(spec))
    report.update(workload=args.workload, backend=args.backend, host_ops=host_ops,
                  skipped_ops=skipped)
    if scheme is not None:
        report["quantization"] = scheme
    args.out.mkdir(parents=True, exist_ok=True)
    if outputs is not None:
        tmp = args.out / ".outputs.tmp.npy"
        np.save(tmp, outputs)
        os.replace(tmp, args.out / "outputs.npy")
    write_report(report, args.out / "report.json")
    total = report["totals"]
    if accuracy is not None:
        held_out = "held-out " if args.workload in DIGITS_WEIGHTS else ""
        log(f"accuracy on {batch} {held_out}images: " + ", ".join(
            f"{ACCURACY_NAMES.get(key, key)} {100 * value:.2f} %"
            for key, value in accuracy.items()))
    log(f"{args.workload} on {spec.name} ({args.backend}): {total['macs'] / 1e9:.3g} G MACs in "
        f"{total['cycles']} cycles ({100 * total['utilization']:.1f}% of peak), "
        f"{total['energy_pj']['total'] / 1e6:.4g} µJ for {batch} image(s); wrote "
        f"{args.out}/report.json, .md and plots")
    return 0


def graph_workload(args):
    """(graph, inputs, labels or None, calibration inputs or None) of `run` on real inputs:
    the Fashion-MNIST CNN on its test images, or an ONNX graph on --inputs; every file and
    shape checked before anything runs."""
    from models import fashion_mnist
    from models.onnx_graph import GraphError, load_graph

    path = fashion_mnist.MODEL_PATH if args.workload == GRAPH_WORKLOAD else args.workload
    if not str(path).endswith(".onnx"):
        raise UserError(f"--inputs needs an ONNX graph as --workload, not {args.workload!r}")
    try:
        graph = load_graph(path)
    except GraphError as error:
        raise UserError(str(error)) from None
    calibration = None
    if args.workload == GRAPH_WORKLOAD and args.inputs is None:
        try:
            inputs, labels = fashion_mnist.images("test"), fashion_mnist.labels("test")
            if args.calibrate is None:
                calibration = fashion_mnist.images("train")[:FASHION_CALIBRATION]
        except fashion_mnist.DatasetMissing as error:
            raise UserError(str(error)) from None
    else:
        inputs = check_inputs(graph, load_npy(args.inputs, "--inputs"), "--inputs")
        labels = None if args.labels is None else check_labels(
            load_npy(args.labels, "--labels"), len(inputs))
    if args.calibrate is not None:
        calibration = check_inputs(graph, load_npy(args.calibrate, "--calibrate"),
                                   "--calibrate")
    count = len(inputs) if args.images is None else args.images
    if not 1 <= count <= len(inputs):
        raise UserError(f"--images must be from 1 to {len(inputs)}, not {count}")
    return graph, inputs[:count], None if labels is None else labels[:count], calibration


def cmd_sweep(args):
    base = load_spec(args.arch)
    if args.batch < 1:
        raise UserError(f"--batch must be at least 1, not {args.batch}")
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, not {args.jobs}")
    _check_out_dir(args.out)
    vary = parse_vary(args.vary)
    points = grid(base, vary)
    if args.energy_table is not None:
        load_table(args.energy_table)
    load_workload(args.workload, args.batch, args.skip_unsupported)
    where = args.scheduler or f"a local cluster of {min(args.jobs, len(points))} processes"
    log(f"sweeping {len(points)} architectures on {args.workload} ({args.backend}) on {where}")
    rows = run_sweep(points, args.workload, args.batch, args.backend, args.energy_table,
                     args.skip_unsupported, args.jobs, args.scheduler, log=log)
    if all("error" in row for row in rows):
        raise UserError(f"{args.workload} fits none of the {len(rows)} architectures "
                        f"(the first: {rows[0]['error']})")
    title = f"{args.workload} on {base.name} with " + ", ".join(
        f"{name} in {{{', '.join(map(str, values))}}}" for name, values in vary.items())
    write_sweep(rows, list(vary), args.out, title)
    log(f"wrote {args.out}/sweep.csv, sweep.md and sweep.png")
    return 0


def synthesis_progress(what):
    """A progress callback for a long Yosys run: one line on stderr every ~10 s."""
    return lambda seconds, step: log(f"{what}: synthesizing, {seconds:.0f} s ({step})")


def report_timing(spec):
    """The timing a report carries: architecture_timing, from the cache only if
    synthesis.timing.REPORT_TIMING_ENV says so."""
    from synthesis.timing import REPORT_TIMING_ENV

    return architecture_timing(spec, cached_only=os.environ.get(REPORT_TIMING_ENV) == "cached")


def architecture_timing(spec, cached_only=False):
    """The critical path and fmax of `spec` (synthesis.timing; cached per architecture,
    minutes the first time for a 16x16), with a warning if its clock is faster than fmax.
    With `cached_only`, None (and a note saying so) unless the cache holds it."""
    from synthesis.timing import estimate_timing

    timing = estimate_timing(spec, progress=synthesis_progress(f"timing {spec.name}"),
                             cached_only=cached_only)
    if timing is None:
        log(f"no timing estimate in the report: {spec.name!r} has none cached and "
            f"the environment asks for cached timing only (`peforge lint --arch` makes one)")
        return None
    warning = timing_warning({"clock_mhz": spec.clock_mhz, "timing": timing})
    if warning:
        log(f"warning: {warning}")
    return timing


def output_dtype(spec, requant):
    """int32 accumulators, or requantized operands in the smallest integer type holding them."""
    if requant is None:
        return np.int32
    return np.int8 if spec.operand_bits <= 8 else np.int16


def energy_table(spec, path):
    """The user's table if given, else hwcomponents' numbers for this architecture."""
    check_built(spec)   # the cost models price row-stationary specs; the accelerator not yet
    return table_for(spec) if path is None else load_table(path)


def cmd_export(args):
    from pyhdl.export import export_verilog

    spec = load_spec(args.arch)
    _check_out_dir(args.out)
    path = export_verilog(spec, args.out)
    log(f"wrote {path}")
    return 0


def cmd_lint(args):
    from synthesis.lint import WAIVERS, lint_spec, synth_check_spec
    from synthesis.timing import summary
    from synthesis.yosys import SynthesisError

    spec = load_spec(args.arch)
    ok, messages = lint_spec(spec)
    if not ok:
        print(messages, file=sys.stderr)
        raise UserError(f"verilator --lint-only -Wall found problems in {spec.name!r}")
    log(f"{spec.name!r} is lint-clean under verilator -Wall "
        f"(waived by design: {', '.join(WAIVERS)})")
    try:
        cells = synth_check_spec(spec, progress=synthesis_progress(f"lint {spec.name}"))
    except SynthesisError as error:
        print(error, file=sys.stderr)
        raise UserError(f"Yosys synthesis of {spec.name!r} failed or inferred a latch") from None
    log(f"{spec.name!r} synthesizes in Yosys without latches or errors "
        f"({sum(cells.values())} coarse cells)")
    try:
        timing = architecture_timing(spec)
    except SynthesisError as error:
        print(error, file=sys.stderr)
        raise UserError(f"the timing synthesis of {spec.name!r} failed") from None
    for line in summary(timing).splitlines():
        log(line)
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    command = {"layer": cmd_layer, "run": cmd_run, "sweep": cmd_sweep, "export": cmd_export,
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
