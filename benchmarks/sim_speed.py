"""Simulation speed of the Verilated accelerator: the project's cocotb flow vs plain C++.

Runs one large GEMM (default M=256, C=512, K=256 int8: ~0.16 M cycles, a few seconds) on an
architecture (default configs/default.yaml) two ways, `--repeat` times each, interleaved, and
reports medians:

  cocotb   testbench.runner.SimulationModel(spec).run([Job(...)], run_dir), as the project
           runs layers.  The layer's own time is the wall time of the testbench's
           `await with_timeout(RisingEdge(done))`, noted by a probe loaded into the simulator's
           Python (benchmarks/cocotb_hook/sitecustomize.py; it changes no behaviour).  The whole
           `run` call, cocotb's own test time (results.xml) and `run` minus a tiny job's `run`
           are reported too.
  C++      benchmarks/harness/sim_main.cpp on the same Verilated `sim_top` (same Verilog and
           control file, same Verilator options as the project's runner: --vpi with only
           sim_top's ports public, same -G parameters and make flags), driven from a plan file:
           reset, the DRAM load, the write guard, register writes, CONTROL=1, clock until `done`
           (timed), counters, the DRAM dump.  Its output is
           checked against models.golden.fc; the script exits non-zero if it (or cocotb's) is
           wrong.

Usage (from the repository root):  .venv/bin/python benchmarks/sim_speed.py [--m 512 ...]
The project's model is built where SimulationModel builds it; the harness under build/bench.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
HARNESS_SOURCE = BENCH_DIR / "harness" / "sim_main.cpp"
HOOK_DIR = BENCH_DIR / "cocotb_hook"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from models import golden  # noqa: E402
from models.counters import COUNTER_NAMES  # noqa: E402
from models.golden import operand_range  # noqa: E402
from models.layout import pack_rows  # noqa: E402
from models.mapper import map_fc  # noqa: E402
from models.registers import (CONTROL, COUNTER_WORDS, STATUS, STATUS_DONE,  # noqa: E402
                              counter_address, descriptor_address)
from models.spec import load_spec  # noqa: E402
from pyhdl.export import export_verilog  # noqa: E402
from testbench.dram_image import HEADER, read_image, write_image  # noqa: E402
from testbench.jobs import Job  # noqa: E402
from testbench.runner import (MAKE_ARGS, SIM_SOURCES, VERILATOR_ARGS,  # noqa: E402
                              SimulationModel)
from testbench.tb import (DUMP_FILE, LOAD_FILE, POISON, DramTiming,  # noqa: E402
                          timeout_cycles)
from testbench.toolchain import verilator_env  # noqa: E402

BUILD_ROOT = ROOT / "build" / "bench"
# What the project's runner gives Verilator on top of VERILATOR_ARGS (testbench.runner's
# SimTopVerilator: cocotb's runner minus --public-flat-rw, sim_top.vlt among SIM_SOURCES), minus
# the cocotb VPI library on the link line and cocotb's main (the harness replaces it).
COCOTB_VERILATOR_FLAGS = ("--vpi",)
HARNESS_BUILDS = {
    # name: Verilator flags
    "cocotb": COCOTB_VERILATOR_FLAGS,  # the model cocotb simulates
    "plain": (),  # no VPI: what Verilator does unconstrained
    "public-flat-rw": ("--vpi", "--public-flat-rw"),  # cocotb's stock build: every signal public
}


def log(message):
    print(message, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------------------------------
# The C++ harness


def export_rtl(spec):
    """Export the accelerator's Verilog once per distinct text; return (path, digest).

    Build directories here are keyed by the Verilog itself, so they follow every change that
    reaches the RTL (models/registers.py included, which the project's fingerprint skips)."""
    staging = BUILD_ROOT / "rtl" / f"staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    exported = export_verilog(spec, staging)
    digest = hashlib.sha256(exported.read_bytes()).hexdigest()[:12]
    final = BUILD_ROOT / "rtl" / f"{spec.name}-{digest}"
    if final.exists():
        shutil.rmtree(staging)
    else:
        staging.rename(final)
    return final / exported.name, digest


def build_harness(spec, model, build="cocotb", rtl=None):
    """Build sim_main.cpp against sim_top: the Verilog `rtl` (export_rtl's (path, digest);
    exported now if not given) with the -G parameters and VERILATOR_ARGS of `model` (a
    testbench.runner.SimulationModel) and the Verilator flags of `build` (HARNESS_BUILDS;
    "cocotb" is the cocotb runner's).  Returns (executable, whether the Verilog is
    byte-identical to the one `model` was built from, None if that is not built)."""
    flags = HARNESS_BUILDS[build]
    rtl_path, rtl_digest = rtl or export_rtl(spec)
    parameters = [f"-G{name}={value}" for name, value in model.parameters.items()]
    sim_sources = b"".join(path.read_bytes() for path in SIM_SOURCES)
    key = hashlib.sha256(json.dumps([rtl_digest, list(flags), list(MAKE_ARGS),
                                     list(VERILATOR_ARGS), parameters]).encode()
                         + sim_sources + HARNESS_SOURCE.read_bytes()).hexdigest()[:12]
    build_dir = BUILD_ROOT / f"{spec.name}-{'' if build == 'cocotb' else build + '-'}{key}"
    exe = build_dir / "obj" / "sim_top_harness"
    stamp = build_dir / "built.stamp"
    if not stamp.exists():
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        sources = [rtl_path, *SIM_SOURCES]
        command = [
            "verilator", "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 1),
            "-Mdir", str(build_dir / "obj"), "--top-module", "sim_top",
            *flags, "--prefix", "Vtop", "-o", exe.name,
            *(["-MAKEFLAGS", " ".join(MAKE_ARGS)] if MAKE_ARGS else []),
            *VERILATOR_ARGS, *parameters,
            str(HARNESS_SOURCE), *map(str, sources),
        ]
        log(f"building the C++ harness ({build}) in {build_dir} ...")
        (build_dir / "command.txt").write_text(" ".join(command) + "\n")
        started = time.perf_counter()
        with open(build_dir / "build.log", "w") as out:
            done = subprocess.run(command, env=verilator_env(), stdout=out,
                                  stderr=subprocess.STDOUT)
        if done.returncode:
            sys.exit(f"harness build failed; see {build_dir / 'build.log'}")
        log(f"  built in {time.perf_counter() - started:.0f} s")
        stamp.write_text(" ".join(command))
    model_rtl = model.build_dir / "rtl" / "peforge_top.v"
    same_rtl = rtl_path.read_bytes() == model_rtl.read_bytes() if model_rtl.exists() else None
    return exe, same_rtl


def unpack_int32_rows(data, rows, cols, row_beats, bus_bytes):
    """`rows` x `cols` int32 values from rows of `row_beats` beats (models/layout.py's layout)."""
    pitch = row_beats * bus_bytes
    data = np.asarray(data, dtype=np.uint8)[:rows * pitch].reshape(rows, pitch)
    return data[:, :cols * 4].copy().view("<i4").reshape(rows, cols).astype(np.int32)


def load_image(path, bus_bytes):
    """A DRAM load image (testbench/dram_image.py) as {beat address: beat bytes}, whatever
    the order of its regions."""
    data, image, offset = Path(path).read_bytes(), {}, 0
    while offset < len(data):
        first, beats = np.frombuffer(data, HEADER, 2, offset)
        offset += 2 * HEADER.itemsize
        for beat in range(int(beats)):
            image[int(first) + beat] = data[offset:offset + bus_bytes]
            offset += bus_bytes
    return image


def write_plan(path, spec, mapping, timing):
    y_beats = mapping.y_beats
    lines = [f"cfg {timing.latency} {timing.gap} {timing.stall} {timing.seed}", "reset", "load",
             f"guard {mapping.y_addr} {mapping.y_addr + y_beats - 1}"]
    lines += [f"write {descriptor_address(name)} {value}"
              for name, value in mapping.descriptor.items()]
    lines.append(f"start {CONTROL} 1 {timeout_cycles(spec, mapping)}")
    lines.append(f"read status {STATUS} 1")
    lines += [f"read {name} {counter_address(name)} {COUNTER_WORDS}" for name in COUNTER_NAMES]
    lines.append(f"dump {mapping.y_addr} {mapping.y_addr + y_beats - 1}")
    Path(path).write_text("\n".join(lines) + "\n")


def run_harness(exe, spec, x, w, timing, run_dir, extra_args=()):
    """One harness run; returns its timings, counters and output (checked by the caller)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (m, c), k = x.shape, w.shape[0]
    # The layout of testbench/tb.py's run_fc: rows of X, rows of W, then Y (poisoned first).
    mapping = map_fc(spec, m, c, k)
    bus = spec.dram_bus_bytes
    load, dump, plan = run_dir / LOAD_FILE, run_dir / DUMP_FILE, run_dir / "plan.txt"
    write_image(load, [
        (mapping.x_addr, pack_rows(x, spec.operand_bits, bus)),
        (mapping.w_addr, pack_rows(w, spec.operand_bits, bus)),
        (mapping.y_addr, np.full(mapping.y_beats * bus, POISON, dtype=np.uint8)),
    ], bus)
    dump.unlink(missing_ok=True)
    write_plan(plan, spec, mapping, timing)
    started = time.perf_counter()
    done = subprocess.run([str(exe), str(plan), *extra_args,
                           f"+dram_load={load}", f"+dram_dump={dump}"],
                          capture_output=True, text=True, cwd=run_dir)
    process_s = time.perf_counter() - started
    (run_dir / "harness.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        sys.exit(f"C++ harness failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    values, registers = {}, {}
    for line in done.stdout.splitlines():
        words = line.split()
        if words and words[0] == "reg":
            registers[words[1]] = int(words[2])
        elif len(words) == 2:
            values[words[0]] = float(words[1])
    output = unpack_int32_rows(read_image(dump), m, k, mapping.y_beats // m, bus)
    return {"compute_s": values["compute_seconds"], "compute_cpu_s": values["compute_cpu_seconds"],
            "compute_cycles": int(values["compute_cycles"]),
            "process_s": process_s, "registers": registers, "output": output}


# ---------------------------------------------------------------------------------------------
# cocotb, the project's way


def run_cocotb(model, job, run_dir):
    """SimulationModel.run with the timing probe; returns (result, timings)."""
    run_dir = Path(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    results = model.run([job], run_dir)
    run_s = time.perf_counter() - started
    if len(results) != 1:
        sys.exit(f"cocotb run returned {len(results)} results; see {run_dir / 'sim.log'}")
    probe = run_dir / "bench_timing.jsonl"
    awaits = [json.loads(line) for line in probe.read_text().splitlines()] \
        if probe.exists() else []
    test_s = float("nan")
    xml = run_dir / "results.xml"
    if xml.exists():
        times = [float(case.get("time", "nan")) for case in ET.parse(xml).iter("testcase")]
        test_s = sum(times) if times else test_s
    return results[0], {
        "run_s": run_s,
        "test_s": test_s,
        "await_s": awaits[0]["wall_s"] if awaits else float("nan"),
        "await_cpu_s": awaits[0]["cpu_s"] if awaits else float("nan"),
        "await_ns": awaits[0]["sim_ns"] if awaits else float("nan"),
    }


def enable_probe():
    """Make the simulator's Python load benchmarks/cocotb_hook/sitecustomize.py.

    The cocotb runner hands the simulator this process's sys.path as PYTHONPATH; the
    environment variable is set too in case a runner passes os.environ's PYTHONPATH instead.
    """
    os.environ["PEFORGE_BENCH_TIMING"] = "1"
    if str(HOOK_DIR) not in sys.path:
        sys.path.insert(0, str(HOOK_DIR))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(HOOK_DIR), os.environ.get("PYTHONPATH")]))


# ---------------------------------------------------------------------------------------------


def make_operands(spec, m, c, k, seed):
    rng = np.random.default_rng(seed)
    low, high = operand_range(spec.operand_bits)
    return rng.integers(low, high + 1, (m, c)), rng.integers(low, high + 1, (k, c))


def check_harness_run(out, expected, macs_layer, label):
    """Problems with one harness run: wrong output, STATUS not done, wrong MAC count."""
    problems = []
    registers = out["registers"]
    if not np.array_equal(out["output"], expected):
        bad = int(np.count_nonzero(out["output"] != expected))
        problems.append(f"{label}: {bad} of {expected.size} outputs differ from "
                        "models.golden.fc")
    if not registers.get("status", 0) & STATUS_DONE:
        problems.append(f"{label}: STATUS {registers.get('status')} does not say done")
    if registers.get("macs") != macs_layer:
        problems.append(f"{label}: macs counter {registers.get('macs')} != {macs_layer}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--c", type=int, default=512)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median reported)")
    parser.add_argument("--no-tiny", action="store_true",
                        help="skip the tiny-job cocotb runs (start-up overhead estimate)")
    parser.add_argument("--diagnose", action="store_true",
                        help="also time the C++ harness with --stale-eval (cocotb's two "
                             "evaluations per clock edge)")
    parser.add_argument("--plain", action="store_true",
                        help="also time a harness built without --vpi (not the cocotb model: "
                             "shows what VPI access to the ports costs)")
    parser.add_argument("--whole-design-public", action="store_true",
                        help="also time a harness built with cocotb's --public-flat-rw (the "
                             "model the project simulated before only the ports were public)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    os.environ.update(verilator_env())
    spec = load_spec(args.arch)
    mapping = map_fc(spec, args.m, args.c, args.k)  # raises MappingError if it does not fit
    x, w = make_operands(spec, args.m, args.c, args.k, args.seed)
    expected = golden.fc(x, w, spec.acc_bits)
    timing = DramTiming()
    macs_layer = args.m * args.c * args.k
    work = BUILD_ROOT / "runs"

    model = SimulationModel(spec)
    log(f"arch {spec.name} ({spec.rows}x{spec.cols}, int{spec.operand_bits}), "
        f"GEMM M={args.m} C={args.c} K={args.k} "
        f"({getattr(mapping, 'tiles', getattr(mapping, 'm_tiles', '?'))} tiles), "
        f"{macs_layer / 1e6:.1f} M MACs, DRAM timing {timing}")
    model.build(log=log)
    rtl = export_rtl(spec)
    harness, same_rtl = build_harness(spec, model, rtl=rtl)
    if not same_rtl:
        log("WARNING: the Verilog exported now differs from the one the cocotb model was built "
            "from (did the sources change without changing the model's fingerprint? it hashes "
            "pyhdl/ and testbench/, not models/): the comparison is not like for like")
    # (label, executable, extra arguments, row label, note) of every C++ variant timed
    variants = [("C++", harness, (), "C++:    compute loop (layer)", "same model, no VPI use")]
    if args.diagnose:
        variants.append(("C++stale", harness, ("--stale-eval",),
                         "C++ --stale-eval: compute loop", "2 evals per edge, like cocotb"))
    if args.plain:
        variants.append(("C++plain", build_harness(spec, model, "plain", rtl)[0], (),
                         "C++ plain: compute loop",
                         "no --vpi: NOT the same model"))
    if args.whole_design_public:
        variants.append(("C++public", build_harness(spec, model, "public-flat-rw", rtl)[0], (),
                         "C++ --public-flat-rw: loop", "every signal public: the old model"))

    enable_probe()
    job = Job("bench", "fc", x, w, timing)
    tiny_x, tiny_w = make_operands(spec, spec.rows, spec.rows, spec.cols, args.seed)
    tiny = Job("tiny", "fc", tiny_x, tiny_w, timing)
    cocotb_runs, tiny_runs, same_image = [], [], None
    cpp_runs = {label: [] for label, *_ in variants}
    failures = []
    for rep in range(args.repeat):
        result, timings = run_cocotb(model, job, work / f"cocotb-{rep}")
        if not result.matches or not np.array_equal(result.output, expected):
            failures.append(f"cocotb run {rep}: output differs from models.golden.fc")
        timings["cycles"] = result.counters["cycles"]
        timings["macs"] = result.counters["macs"]
        cocotb_runs.append(timings)
        log(f"  cocotb    #{rep}: run {timings['run_s']:.2f} s, test {timings['test_s']:.2f} s,"
            f" await done {timings['await_s']:.2f} s, {timings['cycles']} cycles")

        for label, exe, extra, *_ in variants:
            out = run_harness(exe, spec, x, w, timing, work / f"{label}-{rep}", extra)
            failures += check_harness_run(out, expected, macs_layer, f"{label} run {rep}")
            out["cycles"] = out["registers"].get("cycles", out["compute_cycles"])
            cpp_runs[label].append(out)
            if label == "C++" and rep == 0:
                same_image = load_image(work / "C++-0" / LOAD_FILE, spec.dram_bus_bytes) == \
                    load_image(work / "cocotb-0" / LOAD_FILE, spec.dram_bus_bytes)
            log(f"  {label:9s} #{rep}: process {out['process_s']:.2f} s, compute loop "
                f"{out['compute_s']:.2f} s, {out['cycles']} cycles (loop "
                f"{out['compute_cycles']})")

        if not args.no_tiny:
            tiny_result, tiny_timings = run_cocotb(model, tiny, work / f"tiny-{rep}")
            if not tiny_result.matches:
                failures.append(f"tiny cocotb run {rep}: output differs from golden")
            tiny_runs.append(tiny_timings)

    cycles = cocotb_runs[0]["cycles"]
    all_cycles = [run["cycles"] for run in cocotb_runs] + \
        [run["cycles"] for runs in cpp_runs.values() for run in runs]
    if any(value != cycles for value in all_cycles):
        failures.append(f"cycle counts differ between runs: {all_cycles}")

    rows = []
    await_s = median([r["await_s"] for r in cocotb_runs])
    cpp_s = median([r["compute_s"] for r in cpp_runs["C++"]])
    cpp_process_s = median([r["process_s"] for r in cpp_runs["C++"]])
    run_s = median([r["run_s"] for r in cocotb_runs])
    await_cpu_s = median([r["await_cpu_s"] for r in cocotb_runs])
    cpp_cpu_s = median([r["compute_cpu_s"] for r in cpp_runs["C++"]])
    rows.append(("cocotb: await done (layer)", await_s, "Python awaits RisingEdge(done)"))
    rows.append(("cocotb: await done, CPU time", await_cpu_s, "the simulator process's CPU"))
    for label, _, _, row_label, note in variants:
        rows.append((row_label, median([r["compute_s"] for r in cpp_runs[label]]), note))
        rows.append((f"{row_label[:20]}, CPU time",
                     median([r["compute_cpu_s"] for r in cpp_runs[label]]), "CPU, not wall"))
    rows.append(("cocotb: whole run() call", run_s, "start-up, load, golden, dump"))
    rows.append(("cocotb: test (results.xml)", median([r["test_s"] for r in cocotb_runs]),
                 "cocotb's own test wall time"))
    if tiny_runs:
        rows.append(("cocotb: run() - tiny run()",
                     run_s - median([r["run_s"] for r in tiny_runs]),
                     "fixed start-up subtracted"))
    rows.append(("C++:    whole process", cpp_process_s,
                 "incl. model init, DRAM load and dump"))

    macs = cocotb_runs[0]["macs"]
    print()
    print(f"{spec.name} {spec.rows}x{spec.cols}: M={args.m} C={args.c} K={args.k}, "
          f"{cycles} simulated cycles, {macs} MACs; median of {args.repeat} runs")
    print("cocotb and C++ simulate the same model: "
          f"{'identical' if same_rtl else 'DIFFERENT (!)'} exported Verilog + "
          f"{', '.join(path.name for path in SIM_SOURCES)}, same Verilator options "
          f"({' '.join(COCOTB_VERILATOR_FLAGS)} {' '.join(VERILATOR_ARGS)}, only sim_top's "
          f"ports public), same -G parameters, make flags {' '.join(MAKE_ARGS) or '(default)'}"
          "; the harness's DRAM "
          f"image is {'identical to' if same_image else 'DIFFERENT from (!)'} the cocotb run's")
    header = f"{'':32s} {'wall s':>8s} {'cycles/s':>10s} {'MACs/s':>10s}  note"
    print(header)
    print("-" * len(header))
    for label, seconds, note in rows:
        print(f"{label:32s} {seconds:8.3f} {cycles / seconds:10.4g} {macs / seconds:10.4g}  "
              f"{note}")
    ratio = await_s / cpp_s
    print(f"\nratio cocotb/C++ (layer):               {ratio:.2f}x (target <= 1.1x)"
          f"{'' if ratio <= 1.1 else '  ABOVE TARGET'}")
    print(f"ratio cocotb/C++ (layer, CPU time):     {await_cpu_s / cpp_cpu_s:.2f}x")
    print(f"ratio cocotb run()/C++ process (whole): {run_s / cpp_process_s:.2f}x")
    if any(np.isnan(r["await_s"]) for r in cocotb_runs):
        print("note: the await-done probe recorded nothing (did testbench/tb.py change?)")

    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print("\nresults: cocotb and C++ outputs match models.golden.fc bit for bit, "
          "same cycle counts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
