"""`peforge run`: every layer of a network on the RTL or the analytical model, one report."""

import sys
import time

import numpy as np

from models.mapper import MappingError, map_grouped_conv
from models.perf import model_counters
from models.workloads import (WorkloadError, generated_operands, load_scalesim_csv, with_batch,
                              workload)
from testbench.jobs import Job
from testbench.runner import SimulationError, SimulationModel
from testbench.session import SimulationSession

from .errors import UserError
from .flow import mismatch_error
from .report import layer_entry, layer_mode

BACKENDS = ("rtl", "model")


def load_workload(name, batch, skip_unsupported=False, bits=8):
    """(layers, skipped node names) of a built-in workload (requantizing to `bits`-bit
    operands), a SCALE-Sim topology CSV or an ONNX graph, for `batch` images."""
    skipped = []
    try:
        if name.endswith(".csv"):
            layers = load_scalesim_csv(name)
        elif name.endswith(".onnx"):
            from models.onnx_import import load_onnx

            layers, skipped = load_onnx(name, skip_unsupported)
        else:
            layers = workload(name, bits=bits)
    except WorkloadError as error:
        raise UserError(str(error)) from None
    except KeyError as error:
        raise UserError(f"--workload: {error.args[0]}") from None
    return with_batch(layers, batch), skipped


def layer_parts(spec, layer, weights=None):
    """The hardware runs of an accelerator layer (with its `weights`, if known: on a 2:4
    architecture they decide 2:4 or dense), or a UserError naming what does not fit."""
    if weights is not None and layer.op == "fc":
        weights = weights.reshape(*weights.shape, 1, 1)
    try:
        return map_grouped_conv(spec, layer.shape, layer.groups, layer.post, weights=weights)
    except MappingError as error:
        raise UserError(f"layer {layer.name}: {error}") from None


def predicted_counters(spec, layer, weights=None):
    """The analytical model's counters of a whole layer (every hardware run summed)."""
    runs = [model_counters(spec, part.mapping, layer.shape.c // layer.groups)
            for part in layer_parts(spec, layer, weights)]
    return {name: sum(run[name] for run in runs) for name in runs[0]}


def _random_job(spec, layer, rng):
    """The layer with generated operands and bias (models.workloads.generated_operands); its
    requantization and ReLU are the layer's own."""
    shape, post = layer.shape, layer.post
    x, w, bias = generated_operands(layer, spec.operand_bits, rng)
    extra = {"bias": bias, "requant": post.requant, "relu": post.relu}
    if layer.op == "fc":
        return Job(layer.name, "fc", x, w, **extra)
    return Job(layer.name, "conv", x, w, stride=shape.stride, pad=shape.pad,
               groups=layer.groups, **extra)


class Simulator:
    """The RTL of one architecture, built once, running checked layers one after another in
    one simulation (testbench.session): use it as a context manager around the layers."""

    def __init__(self, spec, log=print):
        self.model = SimulationModel(spec)
        self.model.build(log=log)
        self.session = SimulationSession(self.model)

    def __enter__(self):
        try:
            self.session.__enter__()
        except SimulationError as error:
            raise UserError(f"simulation failed: {error}") from None
        return self

    def __exit__(self, *stop):
        try:
            self.session.__exit__(*stop)
        except SimulationError as error:
            raise UserError(f"simulation failed: {error}") from None

    def run(self, job):
        """The JobResult of `job`; MismatchError if the RTL differs from the golden model."""
        try:
            result = self.session.run(job)
        except SimulationError as error:
            raise UserError(f"layer {job.name}: simulation failed: {error}") from None
        if not result.matches:
            raise mismatch_error(f"layer {job.name}: ", result.output, result.expected)
        return result


class Progress:
    """A progress bar on stderr: layers done, the current layer's name, time elapsed and the
    time left.  The estimate weighs each layer by the analytical model's cycles plus a fixed
    cost per layer (its DRAM image in and out, the golden check) and scales by the speed
    measured so far; before the first layer ends it assumes PRIOR_CYCLES_PER_S.  On a
    terminal the bar redraws in place; in a log it prints one line per layer."""

    OVERHEAD_CYCLES = 75_000
    PRIOR_CYCLES_PER_S = 45_000
    WIDTH = 24

    def __init__(self, names, cycles, stream=None):
        self.names, self.weights = names, [c + self.OVERHEAD_CYCLES for c in cycles]
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.done, self.count = 0, 0
        self.started = time.monotonic()

    def _left(self, elapsed, running=0):
        remaining = sum(self.weights) - self.done - running
        rate = self.done / elapsed if self.done and elapsed > 0 else self.PRIOR_CYCLES_PER_S
        return remaining / rate

    def _line(self, text):
        filled = self.WIDTH * self.count // len(self.names)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return f"peforge: [{bar}] {self.count}/{len(self.names)} {text}"

    def _show(self, line, final):
        if self.live:
            self.stream.write(f"\r\033[K{line}" + ("\n" if final else ""))
        elif final:
            self.stream.write(line + "\n")
        self.stream.flush()

    def start(self, index):
        """Layer `index` begins (redraws the bar on a terminal)."""
        elapsed = time.monotonic() - self.started
        self._show(self._line(f"{self.names[index]} running; {elapsed:.0f} s elapsed, "
                              f"ETA {self._left(elapsed):.0f} s"), final=False)

    def finish(self, index, cycles, note=""):
        """Layer `index` ended after `cycles` simulated (or predicted) cycles."""
        self.done += self.weights[index]
        self.count += 1
        elapsed = time.monotonic() - self.started
        last = self.count == len(self.names)
        self._show(self._line(f"{self.names[index]}: {cycles} cycles{note}; "
                              f"{elapsed:.0f} s elapsed"
                              + ("" if last else f", ETA {self._left(elapsed):.0f} s")),
                   final=last or not self.live)


def run_network(spec, layers, backend, table, seed=0, log=print):
    """Run every accelerator layer with random data; return (report entries, host-op
    names)."""
    accelerated = [layer for layer in layers if layer.on_accelerator]
    host_ops = [layer.name for layer in layers if not layer.on_accelerator]
    predictions = [predicted_counters(spec, layer) for layer in accelerated]
    if backend == "model":
        return [layer_entry(spec, layer.name, layer.op, counters, table, layer.macs,
                            layer.post.requant is not None, layer_mode(spec, layer))
                for layer, counters in zip(accelerated, predictions)], host_ops
    simulator = Simulator(spec, log)
    progress = Progress([layer.name for layer in accelerated],
                        [p["cycles"] for p in predictions])
    rng = np.random.default_rng(seed)
    entries = []
    with simulator:
        for index, layer in enumerate(accelerated):
            progress.start(index)
            counters = simulator.run(_random_job(spec, layer, rng)).counters
            entries.append(layer_entry(spec, layer.name, layer.op, counters, table, layer.macs,
                                       layer.post.requant is not None, layer_mode(spec, layer)))
            progress.finish(index, counters["cycles"], ", matches the golden model")
    return entries, host_ops
