"""The random regression at any size, as Dask tasks (`make regress`):

    python -m testbench.campaign --seed S --archs A --layers L [--cover] [--scheduler ADDRESS]

A task is a batch of layers of one architecture (testbench/regress.py's `run_arch` on them);
a worker builds each architecture's Verilator model once into its build cache (fingerprinted
as every build) and reuses it for every batch of that architecture it gets.  Without
`--scheduler` the tasks run on a local cluster of this machine's cores.  A batch whose task
fails for good (it raised on every try, or the workers running it kept dying) is reported as
a crash of its first layer, with the command reproducing the batch; every other batch's
results are kept.  The failures and the coverage of all batches merge into one report, also
written to the run directory (failures.json, coverage.json).  With `--cover` the architectures
are chosen for coverage from a larger draw (testbench/arch_cover.py) instead of taken as drawn.
`--plan` draws and maps the same layers without building or simulating anything and prints
the coverage the run would reach (seconds, not an hour): a seed whose plan leaves holes can be
swapped before the run is spent on it.
"""

import argparse
import shlex
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .arch_cover import covering_arch_seeds
from .cluster import ClusterError, dask_client, run_tasks, workers_of
from .coverage import Coverage
from .random_layers import arch_seeds, random_arch, random_case
from .regress import PHASES, REGRESS_ROOT, Failure, run_arch, save_failures

BATCH_LAYERS = 25
"""Layers per task: enough to amortise a simulation's start-up (one to several seconds on a
shared machine), few enough that a lost worker costs little and both cores stay busy to the
end."""


@dataclass
class BatchResult:
    """What a task hands back: its failures, the coverage of its layers and the seconds of
    each of its phases (testbench.regress.PHASES)."""

    arch_seed: int
    indices: list
    failures: list
    coverage: Coverage
    seconds: dict


def run_batch(arch_seed, indices, work_root):
    """The Dask task: run layers `indices` of architecture `arch_seed` and check them; its run
    directory is new for every try, so a rerun never meets a lost try's files."""
    work_dir = Path(work_root) / f"r{arch_seed}" / f"layers{indices[0]}-{uuid.uuid4().hex[:8]}"
    run = run_arch(arch_seed, indices, work_dir)
    run.coverage.archs = 0  # the campaign counts architectures, not batches
    return BatchResult(arch_seed, indices, run.failures, run.coverage, run.seconds)


def batches(seed, archs, layers, batch_layers=BATCH_LAYERS, cover=False):
    """(arch seed, layer indices) of every task of a campaign, taking the architectures in
    turn (each one's first batch, then each one's second, ...), so that the workers start by
    building different architectures rather than waiting for one build; with `cover`, the
    architectures chosen for coverage."""
    seeds = covering_arch_seeds(seed, archs) if cover else arch_seeds(seed, archs)
    return [(arch_seed, list(range(first, min(first + batch_layers, layers))))
            for first in range(0, layers, batch_layers) for arch_seed in seeds]


def plan_coverage(seed, archs, layers, cover=False):
    """The coverage a campaign of these arguments reaches, from its layers' draws and
    mappings alone (bins follow from the drawn layer and its mapping, not from simulating it)."""
    coverage = Coverage()
    seeds = covering_arch_seeds(seed, archs) if cover else arch_seeds(seed, archs)
    for arch_seed in seeds:
        spec = random_arch(arch_seed)
        coverage.add_arch(spec, [random_case(spec, arch_seed, index) for index in range(layers)])
    return coverage


def batch_command(arch_seed, indices):
    """The command that runs one batch alone (from the repository root)."""
    layers = [word for index in indices for word in ("--layer", str(index))]
    return shlex.join([".venv/bin/python", "-m", "testbench.regress", "--arch-seed",
                       str(arch_seed), *layers])


@dataclass
class Campaign:
    """A whole regression's result: layers checked, failures, merged coverage, wall time,
    and the tasks' seconds by phase, summed over the workers."""

    seed: int
    archs: int
    layers: int
    failures: list
    coverage: Coverage
    seconds: float
    run_dir: Path
    phases: dict

    def summary(self):
        kinds = {}
        for failure in self.failures:
            kinds[failure.kind] = kinds.get(failure.kind, 0) + 1
        shown = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        per_hour = self.coverage.cases / self.seconds * 3600 if self.seconds else 0
        return (f"{self.coverage.cases} of {self.archs * self.layers} layers checked on "
                f"{self.archs} architectures (seed {self.seed}) in {self.seconds:.0f} s "
                f"({per_hour:,.0f} layers/hour); failures: {shown or 'none'}")

    def time_summary(self):
        """Where the workers' time went, phase by phase."""
        total = sum(self.phases.values()) or 1
        return "task time by phase (summed over the workers): " + ", ".join(
            f"{name} {value:.0f} s ({value / total:.0%})" for name, value in self.phases.items())


def time_left(elapsed, checked, total):
    """", about N min left" at the pace so far (the first tasks also build their
    architectures, so early figures run high), or "" when nothing is checked yet or all is."""
    if not checked or checked >= total:
        return ""
    return f", about {elapsed / checked * (total - checked) / 60:.0f} min left"


def run_campaign(seed, archs, layers, scheduler=None, workers=None,
                 batch_layers=BATCH_LAYERS, run_dir=None, log=print, cover=False):
    """Run the regression of `archs` architectures drawn from `seed` (chosen for coverage
    with `cover`), `layers` layers each, as Dask tasks on `scheduler` (default: a local
    cluster of `workers` processes)."""
    run_dir = Path(run_dir or REGRESS_ROOT / f"seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    tasks = batches(seed, archs, layers, batch_layers, cover)
    failures, coverage, phases = [], Coverage(), dict.fromkeys(PHASES, 0.0)
    started = time.perf_counter()
    with dask_client(scheduler, workers) as client:
        run_dir.mkdir(parents=True, exist_ok=True)
        chosen = " chosen for coverage" if cover else ""
        log(f"{archs * layers} layers on {archs} architectures{chosen}, {len(tasks)} tasks of "
            f"up to {batch_layers} layers, on {workers_of(client)} Dask workers "
            f"({scheduler or 'local cluster'}); run directory {run_dir}")
        results = run_tasks(client, [(run_batch, (*task, str(run_dir))) for task in tasks],
                            key_prefix=f"regress-{seed}-{uuid.uuid4().hex[:8]}")
        for done, (index, result) in enumerate(results, start=1):
            arch_seed, indices = tasks[index]
            if isinstance(result, BaseException):
                failures.append(Failure(arch_seed, indices[0], "crash", (
                    f"the task of layers {indices[0]}-{indices[-1]} failed on every try "
                    f"({type(result).__name__}: {result}); rerun the batch with: "
                    f"{batch_command(arch_seed, indices)}")))
                outcome = "task FAILED"
            else:
                failures += result.failures
                coverage.merge(result.coverage)
                for name, value in result.seconds.items():
                    phases[name] += value
                outcome = f"{len(result.failures)} failures" if result.failures else "ok"
            elapsed = time.perf_counter() - started
            log(f"[{done}/{len(tasks)}] r{arch_seed} layers {indices[0]}-{indices[-1]}: "
                f"{outcome} ({coverage.cases} layers checked, {elapsed:.0f} s"
                f"{time_left(elapsed, coverage.cases, archs * layers)})")
    coverage.archs = archs
    campaign = Campaign(seed, archs, layers, failures, coverage,
                        time.perf_counter() - started, run_dir, phases)
    coverage.save(run_dir / "coverage.json")
    save_failures(coverage.cases, failures, run_dir / "failures.json")
    return campaign


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m testbench.campaign",
        description="Run the random regression as Dask tasks (a local cluster by default).")
    parser.add_argument("--seed", type=int, default=1, help="draws the architectures")
    parser.add_argument("--archs", type=int, default=20, help="random architectures")
    parser.add_argument("--layers", type=int, default=50, help="random layers per architecture")
    parser.add_argument("--cover", action="store_true",
                        help="choose the architectures for coverage from a larger draw")
    parser.add_argument("--plan", action="store_true",
                        help="print the coverage the run would reach, without simulating")
    parser.add_argument("--scheduler", help="a Dask scheduler's address (tcp://HOST:PORT); "
                                            "default: a local cluster of this machine's cores")
    parser.add_argument("--workers", type=int,
                        help="processes of the local cluster (default: the cores available)")
    parser.add_argument("--batch", type=int, default=BATCH_LAYERS,
                        help=f"layers per task (default {BATCH_LAYERS})")
    args = parser.parse_args(argv)
    for name in ("archs", "layers", "workers", "batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            print(f"{parser.prog}: error: --{name} must be at least 1, not {value}",
                  file=sys.stderr)
            return 2
    if args.plan:
        coverage = plan_coverage(args.seed, args.archs, args.layers, args.cover)
        print(coverage.summary())
        print(f"plan of seed {args.seed}: {coverage.cases} layers on {args.archs} architectures, "
              f"{len(coverage.holes())} holes (nothing simulated)")
        return 0
    try:
        campaign = run_campaign(args.seed, args.archs, args.layers, args.scheduler,
                                args.workers, args.batch, cover=args.cover)
    except ClusterError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    for failure in campaign.failures:
        print(failure.report())
    print(campaign.coverage.summary())
    print(campaign.time_summary())
    print(campaign.summary())
    print(f"run directory: {campaign.run_dir}")
    return 1 if campaign.failures else 0


if __name__ == "__main__":
    sys.exit(main())
