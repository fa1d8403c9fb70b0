"""The constrained-random regression: random layers on random architectures, on the
Verilator-simulated RTL, against the golden model and the analytical model.

A run is a seed and a number of architectures; architecture i is drawn from
`arch_seeds(seed, archs)[i]` and its layers from (arch seed, layer index) (testbench/
random_layers.py).  Each architecture is built once and all its layers run back to back in
one simulation (a crash, such as an RTL assertion, ends that simulation: the layers after the
crashing one run again in a fresh one).  Every case is checked for

- its output, bit for bit against the golden model;
- every activity counter: those of the loop nest exactly against
  models.perf.predict_counters, macs_gated exactly against the zero operands of its data,
  stall_cycles within its exact bounds (`check_counters` says which);
- its cycles, exactly against models.perf.predict_cycles when the DRAM has default timing;
- its writes: the DRAM model stops the simulation on any write outside the output region.

A failing case is run again alone on a traced build, which leaves a VCD waveform, and is
reported with its seeds and the one command that reproduces it:

    python -m testbench.regress --arch-seed A --layer I [--waves]

pytest runs the regression at CI size (tests/test_regression.py, one test per architecture,
in parallel with pytest-xdist); testbench/campaign.py runs it at any size as Dask tasks
(`make regress`); this module's command line reproduces one case or runs one architecture.
"""

import argparse
import json
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.compression import compressed_writes
from models.counters import COUNTER_NAMES
from models.mapper import block_diagonal_weights
from models.perf import line_buffer_step_bounds, predict_counters, predict_cycles
from models.sparsity import skipped_macs
from models.spec import ROW_STATIONARY

from .coverage import Coverage
from .jobs import expected_activations, read_results
from .random_layers import random_arch, random_case
from .runner import PROJECT_ROOT, WAVES_FILE, SimulationError, SimulationModel
from .tb import DramTiming

REGRESS_ROOT = PROJECT_ROOT / "build" / "regress"
"""Run directories and waveforms of the regression."""
MAX_TRACED = 3
"""Failing cases traced again per architecture (a systematic bug fails many alike)."""
CRASH_LINE = re.compile(r"\w+Error: .*|%Error: .*")
ASSERTION_LINE = re.compile(r".*Assertion failed.*")


def repro_command(arch_seed, index, waves=False):
    """The command that runs one case alone (from the repository root)."""
    return shlex.join([".venv/bin/python", "-m", "testbench.regress", "--arch-seed",
                       str(arch_seed), "--layer", str(index), *(["--waves"] if waves else [])])


KINDS = ("output", "counters", "cycles", "crash")
"""What a failure is about: the output against the golden model, the counters or the cycles
against the analytical model, or a simulation that stopped (exception, RTL assertion)."""


@dataclass
class Failure:
    """A case that failed: which check (one of KINDS), what went wrong, and where its
    waveform is (if it was traced)."""

    arch_seed: int
    index: int
    kind: str
    problem: str
    waves: Path | None = None

    def report(self):
        lines = [f"FAILED case r{self.arch_seed}-{self.index} (arch seed {self.arch_seed}, "
                 f"layer {self.index}), {self.kind}: {self.problem}",
                 f"  reproduce: {repro_command(self.arch_seed, self.index)}"]
        if self.waves is not None:
            lines.append(f"  waveform:  {self.waves}")
        return "\n".join(lines)


def conv_operands(job):
    """The job's operands as the convolution the hardware runs: X as NCHW, W as KCRS (an fc
    layer is a 1x1 convolution over an M x 1 image, as AcceleratorTB.run_fc lays it out)."""
    return job.conv_inputs, job.conv_weights


def expected_macs_gated(spec, job):
    """The gated MACs of `job`: of the MACs its hardware runs perform (a 2:4 run's kept
    half), those with a zero
    operand, an input (padding included, at its pad value) or a weight (a grouped layer's block-diagonal zeros
    included; not on a row-stationary array); computed from the data, independently of the
    analytical model."""
    x, w = conv_operands(job)
    shape = job.shape
    padded = np.pad(x, ((0, 0), (0, 0), (job.pad, job.pad), (job.pad, job.pad)),
                    constant_values=job.pad_value)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (shape.r, shape.s), axis=(2, 3))
    nonzero_x = (windows[:, :, ::job.stride, ::job.stride][:, :, :shape.p, :shape.q] != 0)
    performed = nonzero = 0
    for part in job.parts(spec):
        run = part.mapping.shape
        dense = block_diagonal_weights(w, job.groups, part) if job.groups > 1 else w
        # A row-stationary PE gates on a zero input only.
        nonzero_w = dense != 0 if spec.dataflow != ROW_STATIONARY else np.ones_like(dense, bool)
        nonzero += int(np.einsum("ncpqrs,kcrs->", nonzero_x[:, part.c0:part.c0 + run.c]
                                 .astype(np.int64), nonzero_w.astype(np.int64)))
        performed += run.macs - skipped_macs(spec, part.mapping)
    return performed - nonzero


def _compressed_outputs(spec, job, parts):
    """The golden outputs when the hardware writes them compressed (the model predicts the
    bytes and cycles from their zeros), else None."""
    if any(part.mapping.descriptor["y_compressed"] for part in parts):
        return expected_activations(spec, job)
    return None


def check_counters(spec, job, counters):
    """What is wrong with a case's counters, as (kind, message), or None.  Every counter is
    checked: those of the loop nest exactly against models.perf.predict_counters, macs_gated
    exactly against the data (expected_macs_gated), cycles exactly against predict_cycles with
    the DRAM's default timing, and stall_cycles, which no model predicts, within what is exact
    for every timing: the first read waits at least the DRAM's latency, and no counter of
    cycles can exceed `cycles`.  line_buffer_steps depends on the timing too (early weight
    shifts let blocks share steps): exact at the default timing, else within
    models.perf.line_buffer_step_bounds."""
    parts = job.parts(spec)
    outputs = _compressed_outputs(spec, job, parts)
    inputs = job.conv_inputs     # what a layer reading X compressed reads
    runs = [predict_counters(spec, part.mapping, inputs=inputs) for part in parts]
    for part, run in zip(parts, runs):
        run.update(compressed_writes(spec, part.mapping, outputs))
    expected = {name: sum(run[name] for run in runs) for name in runs[0]}
    expected["macs_gated"] = expected_macs_gated(spec, job)
    default_timing = job.timing == DramTiming()
    if not default_timing:
        steps_range = [sum(bounds) for bounds in zip(
            *(line_buffer_step_bounds(spec, part.mapping) for part in parts))]
        del expected["line_buffer_steps"]
    unchecked = set(COUNTER_NAMES) - set(expected) - {"cycles", "stall_cycles"} \
        - ({"line_buffer_steps"} if not default_timing else set())
    if unchecked:
        raise AssertionError(f"the regression has no check for counters {sorted(unchecked)}")
    differing = {name: (counters[name], value) for name, value in expected.items()
                 if counters[name] != value}
    if differing:
        return "counters", "counters differ from the analytical model and the data: " + \
            ", ".join(f"{name} {rtl} != {model}"
                      for name, (rtl, model) in sorted(differing.items()))
    if not default_timing and not steps_range[0] <= counters["line_buffer_steps"] \
            <= steps_range[1]:
        return "counters", (f"line_buffer_steps {counters['line_buffer_steps']} outside "
                            f"{steps_range} (the DRAM's timing is not the default)")
    stalls, cycles = counters["stall_cycles"], counters["cycles"]
    if not job.timing.latency <= stalls <= cycles:
        return "counters", (f"stall_cycles {stalls} outside [DRAM latency "
                            f"{job.timing.latency}, cycles {cycles}]")
    if default_timing:
        predicted = sum(predict_cycles(spec, part.mapping, outputs=outputs, inputs=inputs)
                        for part in parts)
        if cycles != predicted:
            return "cycles", f"{cycles} cycles, the analytical model says {predicted}"
    return None


def check_result(spec, job, result):
    """What is wrong with one simulated case, as (kind, message), or None."""
    if result.output.shape != result.expected.shape:
        return "output", f"output shape {result.output.shape}, golden {result.expected.shape}"
    wrong = np.argwhere(result.output != result.expected)
    if len(wrong):
        first = tuple(int(i) for i in wrong[0])
        return "output", (f"{len(wrong)} of {result.output.size} outputs differ from the "
                          f"golden model, first at {first}: RTL {int(result.output[first])}, "
                          f"golden {int(result.expected[first])}")
    return check_counters(spec, job, result.counters)


PHASES = ("draw", "build", "simulate", "check")
"""Where a regression task's time goes (ArchRun.seconds): drawing the architecture and its
layers (the mapper's refusals included), building (or finding) the Verilator model, the
simulations (start-up, DRAM images, the layers, the golden model) and the checks."""


@dataclass
class ArchRun:
    """One architecture's part of a regression: its spec, cases, failures, coverage, and the
    wall seconds of each of PHASES."""

    spec: object
    cases: list
    failures: list
    coverage: Coverage
    seconds: dict


def save_failures(cases, failures, path):
    """Write failures as JSON: the layers checked and one report per failure."""
    path.write_text(json.dumps({
        "cases": cases,
        "failures": [{"kind": f.kind, "report": f.report()} for f in failures]}))


def failure_summary(paths):
    """One line: cases run and failures by kind, over the files of `save_failures`."""
    cases, kinds = 0, dict.fromkeys(KINDS, 0)
    for path in paths:
        data = json.loads(Path(path).read_text())
        cases += data["cases"]
        for failure in data["failures"]:
            kinds[failure["kind"]] += 1
    return f"{cases} layers checked; failures: " + ", ".join(
        f"{kind} {count}" for kind, count in kinds.items())


def _simulate(model, cases, run_dir):
    """Run `cases` in one simulation; return (results, crash message or None)."""
    try:
        return model.run([case.job for case in cases], run_dir), None
    except SimulationError as error:
        return read_results(run_dir), f"{_crash_reason(Path(run_dir))} ({error})"


def _crash_reason(run_dir):
    """What stopped a simulation, from its log: the first RTL assertion that failed (its
    message, then Verilator's "%Error: FILE:LINE: Assertion failed"), else the last Python
    exception or Verilator error."""
    log = run_dir / "sim.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = ASSERTION_LINE.findall(text)[:1] or CRASH_LINE.findall(text)[-1:]
    return lines[0].strip() if lines else "no error message"


def run_arch(arch_seed, indices, work_dir, waves_on_failure=True, log=print):
    """Draw the architecture of `arch_seed` and its layers `indices`, simulate them, check
    every result; failing cases are traced again alone when `waves_on_failure`."""
    seconds = dict.fromkeys(PHASES, 0.0)
    clock = time.perf_counter()

    def phase(name):
        nonlocal clock
        now = time.perf_counter()
        seconds[name] += now - clock
        clock = now

    spec = random_arch(arch_seed)
    cases = [random_case(spec, arch_seed, index) for index in indices]
    phase("draw")
    model = SimulationModel(spec)
    model.build(log=log)
    phase("build")
    failures = []
    pending = list(zip(indices, cases))
    attempt = 0
    while pending:
        run_dir = Path(work_dir) / f"run{attempt}"
        results, crash = _simulate(model, [case for _, case in pending], run_dir)
        phase("simulate")
        for (index, case), result in zip(pending, results):
            problem = check_result(spec, case.job, result)
            if problem:
                failures.append(Failure(arch_seed, index, *problem))
        if len(results) < len(pending):
            failures.append(Failure(arch_seed, pending[len(results)][0], "crash",
                                    f"the simulation stopped in this case: {crash}"))
        pending = pending[len(results) + 1:]
        attempt += 1
        phase("check")
    if waves_on_failure:
        for failure in failures[:MAX_TRACED]:
            failure.waves = trace_case(spec, arch_seed, failure.index, work_dir, log)
    coverage = Coverage()
    coverage.add_arch(spec, cases)
    return ArchRun(spec, cases, failures, coverage, seconds)


def trace_case(spec, arch_seed, index, work_dir, log=print):
    """Run one case alone on the traced build of `spec`; return its waveform's path."""
    case = random_case(spec, arch_seed, index)
    run_dir = Path(work_dir) / f"waves-{arch_seed}-{index}"
    model = SimulationModel(spec, waves=True)
    model.build(log=log)
    _simulate(model, [case], run_dir)
    return run_dir / WAVES_FILE


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m testbench.regress",
        description="Run cases of the random regression on the RTL (one architecture).")
    parser.add_argument("--arch-seed", type=int, required=True,
                        help="the architecture's seed (printed with every failure)")
    parser.add_argument("--layer", type=int, action="append",
                        help="a layer index to run (repeatable); default: --layers of them")
    parser.add_argument("--layers", type=int, default=10, help="layers 0..N-1 (default 10)")
    parser.add_argument("--waves", action="store_true",
                        help="also trace the cases on the traced build (FST waveform)")
    args = parser.parse_args(argv)
    indices = args.layer or list(range(args.layers))
    work_dir = REGRESS_ROOT / f"repro-{args.arch_seed}"
    run = run_arch(args.arch_seed, indices, work_dir, waves_on_failure=True)
    spec = run.spec
    print(f"architecture r{args.arch_seed}: {spec}")
    failed = {failure.index for failure in run.failures}
    for index, case in zip(indices, run.cases):
        job = case.job
        print(f"  layer {index}: {job.op} x{list(job.inputs.shape)} w{list(job.weights.shape)} "
              f"stride {job.stride} pad {job.pad} groups {job.groups} ({case.distribution}, "
              f"{job.timing}, interrupt {job.interrupt}): "
              f"{'FAILED' if index in failed else 'ok'}")
    for failure in run.failures:
        print(failure.report())
    if args.waves:
        for index in sorted(set(indices) - failed):
            print(f"  waveform of layer {index}: "
                  f"{trace_case(spec, args.arch_seed, index, work_dir)}")
    print(run.coverage.summary())
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
