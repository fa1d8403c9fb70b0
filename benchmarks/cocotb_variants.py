"""Diagnostic for benchmarks/sim_speed.py: what the cocotb flow's slowdown is made of.

Builds the cocotb simulation of `sim_top` in variants of the build that cocotb_tools' Verilator
runner does, runs the same layer job on each through the project's own test
(testbench.cocotb_layers, via SimulationModel.run with a swapped runner and build directory),
and prints the median time of the layer (the testbench's await on `done`):

  stock            cocotb's verilator.cpp main, --vpi --public-flat-rw (what the project uses)
  inertial-first   cocotb's main with one change: inertial VPI writes made by timed callbacks
                   (cocotb's clock) are applied before the time step's first eval_step, instead of
                   after it, which made every clock edge evaluate the model twice
  ports-public     stock main, --vpi but --public-flat-rw replaced by a control file making only
                   sim_top's own signals public (all the testbench touches)
  both             the two changes together

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
from pyhdl.export import export_verilog  # noqa: E402
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
PORTS_PUBLIC_VLT = '`verilator_config\npublic_flat_rw -module "sim_top" -var "*"\n'
VARIANTS = {
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


def build_variant(spec, name, root):
    patched_main, ports_public = VARIANTS[name]
    build_dir = root / f"{spec.name}-{name}"
    model = SimulationModel(spec)
    key = model.build_dir.name  # tracks the project's fingerprint of the hardware sources
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
    if not stamp.exists() or stamp.read_text() != key:
        shutil.rmtree(build_dir, ignore_errors=True)
        sources = [export_verilog(spec, build_dir / "rtl"), *SIM_SOURCES]
        if ports_public:
            vlt = build_dir / "ports_public.vlt"
            vlt.write_text(PORTS_PUBLIC_VLT)
            sources.append(vlt)
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
    job = Job("bench", "fc", x, w, DramTiming())
    root = sim_speed.BUILD_ROOT / "variants"
    models = {name: build_variant(spec, name, root) for name in args.variants}
    sim_speed.enable_probe()
    times = {name: [] for name in models}
    cycles = set()
    for rep in range(args.repeat):
        for name, model in models.items():
            result, timing = sim_speed.run_cocotb(model, job, root / "runs" / f"{name}-{rep}")
            if not np.array_equal(result.output, expected):
                sys.exit(f"variant {name}: output differs from models.golden.fc")
            cycles.add(result.counters["cycles"])
            times[name].append(timing["await_s"])
            print(f"  {name:15s} #{rep}: await done {timing['await_s']:.3f} s", flush=True)
    if len(cycles) != 1:
        sys.exit(f"variants disagree on the cycle count: {sorted(cycles)}")
    (count,) = cycles
    print(f"\nM={args.m} C={args.c} K={args.k}: {count} cycles; median of {args.repeat}, "
          "layer only (await done)")
    print(f"{'variant':15s} {'wall s':>8s} {'cycles/s':>10s}")
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"{name:15s} {seconds:8.3f} {count / seconds:10.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
