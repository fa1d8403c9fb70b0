"""`peforge run`: every layer of a network on the RTL or the analytical model, one report."""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from models.mapper import MappingError, map_grouped_conv
from models.perf import model_counters
from models.workloads import WorkloadError, load_scalesim_csv, with_batch, workload
from testbench.jobs import Job
from testbench.runner import DEFAULT_BUILD_ROOT, SimulationError, SimulationModel

from .errors import MismatchError, UserError
from .report import layer_entry

BACKENDS = ("rtl", "model")


def load_workload(name, batch):
    """A built-in workload by name, or a SCALE-Sim topology CSV, for `batch` images."""
    if name.endswith(".csv"):
        try:
            return with_batch(load_scalesim_csv(name), batch)
        except WorkloadError as error:
            raise UserError(str(error)) from None
    try:
        return workload(name, batch)
    except KeyError as error:
        raise UserError(f"--workload: {error.args[0]}") from None


def _parts(spec, layer):
    try:
        return map_grouped_conv(spec, layer.shape, layer.groups)
    except MappingError as error:
        raise UserError(f"layer {layer.name}: {error}") from None


def _predicted(spec, layer, parts):
    runs = [model_counters(spec, part.mapping, layer.shape.c // layer.groups)
            for part in parts]
    return {name: sum(run[name] for run in runs) for name in runs[0]}


def _random_job(layer, rng):
    shape = layer.shape
    if layer.op == "fc":
        x = rng.integers(-128, 128, (shape.h, shape.c))
        w = rng.integers(-128, 128, (shape.k, shape.c))
        return Job(layer.name, "fc", x, w)
    x = rng.integers(-128, 128, (shape.n, shape.c, shape.h, shape.w))
    w = rng.integers(-128, 128, (shape.k, shape.c // layer.groups, shape.r, shape.s))
    return Job(layer.name, "conv", x, w, stride=shape.stride, pad=shape.pad,
               groups=layer.groups)


class Progress:
    """One line per layer on stderr: count, name, and the time left, estimated from the
    analytical model's cycles and the simulation speed so far."""

    def __init__(self, total_cycles, layers):
        self.total, self.done, self.layers, self.count = total_cycles, 0, layers, 0
        self.started = time.monotonic()

    def step(self, name, cycles, note=""):
        self.done += cycles
        self.count += 1
        elapsed = time.monotonic() - self.started
        left = elapsed * (self.total - self.done) / self.done if self.done else 0
        print(f"peforge: [{self.count}/{self.layers}] {name}: {cycles} cycles{note}; "
              f"{elapsed:.0f} s elapsed, about {left:.0f} s left", file=sys.stderr, flush=True)


def run_network(spec, layers, backend, table, seed=0, log=print):
    """Run every accelerator layer; return (report entries, host-op names)."""
    accelerated = [(layer, _parts(spec, layer)) for layer in layers if layer.on_accelerator]
    host_ops = [layer.name for layer in layers if not layer.on_accelerator]
    predictions = [_predicted(spec, layer, parts) for layer, parts in accelerated]
    progress = Progress(sum(p["cycles"] for p in predictions), len(accelerated))
    entries = []
    if backend == "rtl":
        model = SimulationModel(spec)
        model.build(log=log)
        DEFAULT_BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for (layer, _), predicted in zip(accelerated, predictions):
        if backend == "model":
            counters = predicted
        else:
            with tempfile.TemporaryDirectory(prefix="run-", dir=DEFAULT_BUILD_ROOT) as run_dir:
                try:
                    [result] = model.run([_random_job(layer, rng)], Path(run_dir))
                except SimulationError as error:
                    raise UserError(f"layer {layer.name}: simulation failed: {error}") from None
            if not result.matches:
                raise MismatchError(f"layer {layer.name}: RTL output differs from the golden "
                                    f"model")
            counters = result.counters
        entries.append(layer_entry(spec, layer.name, layer.op, counters, table, layer.macs))
        progress.step(layer.name, counters["cycles"],
                      "" if backend == "model" else ", matches the golden model")
    return entries, host_ops
