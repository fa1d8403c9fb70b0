"""Diagnostic for benchmarks/sim_speed.py: what the cocotb flow's slowdown is made of.

Builds the cocotb simulation of `sim_top` in variants of the build that cocotb_tools' Verilator
runner does, runs the same layer job on each through the project's own test
(testbench.cocotb_layers, via SimulationModel.run with a swapped runner and build directory),
and prints the median time of the layer (the testbench's await on `done`) next to the C++
harness (benchmarks/harness/sim_main.cpp) built with the same Verilator flags, so each ratio
compares one model driven two ways:

  stock            cocotb's verilator.cpp main, --vpi --public-flat-rw (cocotb's own build)
  inertial-first   cocotb's main with one change: inertial VPI writes made by timed callbacks
                   (cocotb's clock) are applied before the time step's first eval_step, instead of
                   after it, which made every clock edge evaluate the model twice
  ports-public     stock main, --vpi without --public-flat-rw: only sim_top's ports public
                   (testbench/sim_top.vlt, all the testbench touches)
  both             the two changes together (what the project's runner builds)

Nothing in testbench/ or pyhdl/ is changed; variants build under build/bench/variants.
Usage: .venv/bin/python benchmarks/cocotb_variants.py [--m 256 --c 512 --k 256 --repeat 3]
"""

import argparse
import shutil
import statistics
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import cocotb_tools.config  # noqa: E402
import numpy as np  # noqa: E402
from cocotb_tools.runner import Verilator  # noqa: E402

import sim_speed  # noqa: E402
from models import golden  # noqa: E402
from models.spec import load_spec  # noqa: E402
from testbench.jobs import Job  # noqa: E402
from testbench.runner import SIM_SOURCES, VERILATOR_ARGS, SimulationModel  # noqa: E402
from testbench.tb import DramTiming  # noqa: E402
from testbench.toolchain import use_verilator  # noqa: E402

STOCK_MAIN = cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"
TIMED_CBS = "        VerilatedVpi::callTimedCbs();\n        settle_value_callbacks();\n"
APPLY_INERTIAL = (
    "        // Apply the inertial writes the timed callbacks just made (cocotb's clock) before\n"
    "        // this time step's first eval_step, so that eval sees the new clock value.\n"
    "        VerilatedVpi::doInertialPuts();\n"
    "        settle_value_callbacks();\n"
)
VARIANTS = {
    # name: (patched main, ports public instead of --public-flat-rw)
    "stock": (False, False),
    "inertial-first": (True, False),
    "ports-public": (False, True),
    "both": (True, True),
}


class VariantVerilator(Verilator):
    """cocotb's Verilator runner with its main file swapped and/or --public-flat-rw dropped."""

    def __init__(self, main_cpp, drop_public_flat_rw):
        super().__init__()
        self.main_cpp = str(main_cpp)
        self.drop = {"--public-flat-rw"} if drop_public_flat_rw else set()

    def _build_command(self):
        commands = super()._build_command()
        commands[0] = [self.main_cpp if arg == str(STOCK_MAIN) else arg
                       for arg in commands[0] if arg not in self.drop]
        return commands


def harness_of(variant):
    """The C++ harness build (sim_speed.HARNESS_BUILDS) with the variant's Verilator flags."""
    return "cocotb" if VARIANTS[variant][1] else "public-flat-rw"


def build_variant(spec, name, root, rtl):
    """The project's SimulationModel, rebuilt in `root` as variant `name` from `rtl`
    (sim_speed.export_rtl's (path, digest)), with its runner swapped for the variant's."""
    patched_main, ports_public = VARIANTS[name]
    rtl_path, rtl_digest = rtl
    build_dir = root / f"{spec.name}-{name}"
    model = SimulationModel(spec)
    main_cpp = STOCK_MAIN
    if patched_main:
        text = STOCK_MAIN.read_text()
        if TIMED_CBS not in text:
            sys.exit(f"cannot find the timed-callback step in {STOCK_MAIN}")
        main_cpp = root / "verilator_inertial_first.cpp"
        root.mkdir(parents=True, exist_ok=True)
        main_cpp.write_text(text.replace(TIMED_CBS, TIMED_CBS + APPLY_INERTIAL))
    model.runner = VariantVerilator(main_cpp, ports_public)
    model.build_dir = build_dir
    stamp = build_dir / "built.stamp"
    key = rtl_digest + " " + sim_speed.hashlib.sha256(
        b"".join(path.read_bytes() for path in SIM_SOURCES)).hexdigest()[:12]
    if not stamp.exists() or stamp.read_text() != key:
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        sources = [rtl_path, *SIM_SOURCES]
        print(f"building variant {name!r} in {build_dir} ...", flush=True)
        model.runner.build(sources=sources, hdl_toplevel="sim_top", build_dir=build_dir,
                           parameters=model.parameters, build_args=list(VERILATOR_ARGS),
                           log_file=build_dir / "build.log")
        stamp.write_text(key)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default=str(sim_speed.ROOT / "configs" / "default.yaml"))
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--c", type=int, default=512)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)

    use_verilator()
    spec = load_spec(args.arch)
    x, w = sim_speed.make_operands(spec, args.m, args.c, args.k, seed=1)
    expected = golden.fc(x, w, spec.acc_bits)
    timing = DramTiming()
    job = Job("bench", "fc", x, w, timing)
    root = sim_speed.BUILD_ROOT / "variants"
    rtl = sim_speed.export_rtl(spec)
    models = {name: build_variant(spec, name, root, rtl) for name in args.variants}
    harness_builds = sorted({harness_of(name) for name in args.variants})
    harnesses = {build: sim_speed.build_harness(spec, SimulationModel(spec), build, rtl)[0]
                 for build in harness_builds}
    sim_speed.enable_probe()
    times = {name: [] for name in [*models, *(f"C++ {build}" for build in harnesses)]}
    cycles = set()
    for rep in range(args.repeat):
        for name, model in models.items():
            result, timings = sim_speed.run_cocotb(model, job, root / "runs" / f"{name}-{rep}")
            if not np.array_equal(result.output, expected):
                sys.exit(f"variant {name}: output differs from models.golden.fc")
            cycles.add(result.counters["cycles"])
            times[name].append(timings["await_s"])
            print(f"  cocotb {name:15s} #{rep}: await done {timings['await_s']:.3f} s",
                  flush=True)
        for build, exe in harnesses.items():
            out = sim_speed.run_harness(exe, spec, x, w, timing, root / "runs" / f"C++{build}")
            problems = sim_speed.check_harness_run(out, expected, x.shape[0] * x.shape[1]
                                                   * w.shape[0], f"C++ {build}")
            if problems:
                sys.exit("\n".join(problems))
            cycles.add(out["registers"]["cycles"])
            times[f"C++ {build}"].append(out["compute_s"])
            print(f"  C++    {build:15s} #{rep}: compute loop {out['compute_s']:.3f} s",
                  flush=True)
    if len(cycles) != 1:
        sys.exit(f"runs disagree on the cycle count: {sorted(cycles)}")
    (count,) = cycles
    seconds = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nM={args.m} C={args.c} K={args.k}: {count} cycles; median of {args.repeat}, "
          "layer only (cocotb: await done; C++: compute loop)")
    print(f"{'cocotb variant':15s} {'wall s':>8s} {'cycles/s':>10s}   {'C++ same flags':16s} "
          f"{'wall s':>8s} {'cycles/s':>10s}  {'ratio':>6s}")
    for name in models:
        build = harness_of(name)
        cpp = seconds[f"C++ {build}"]
        print(f"{name:15s} {seconds[name]:8.3f} {count / seconds[name]:10.4g}   "
              f"{build:16s} {cpp:8.3f} {count / cpp:10.4g}  {seconds[name] / cpp:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
