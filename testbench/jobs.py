"""Layer jobs handed to a simulation run, and the results it hands back, as files.

A run's directory holds `jobs.json` (the architecture and, per job, its op, tensor files and
DRAM timing) and the tensors as .npy; the simulation adds `results.json` and one output .npy
per job.  Files keep the simulator process free of anything but the layers it runs.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from models import golden
from models.mapper import ConvShape, PostProcess, fc_shape
from models.spec import ArchSpec

from .placement import layer_parts
from .tb import DramTiming


@dataclass
class Job:
    """One layer to run: `op` ("fc" or "conv"), its int tensors (fc: X is M x C, W is K x C;
    conv: X is NCHW, W is K x C/groups x R x S), stride, padding and groups, post-processing
    (an int32 bias of K, requantization (mult, shift, zero point), ReLU), and the DRAM's
    timing for it.  With `interrupt` set, a first attempt of the layer is cut by a reset that
    many cycles after its start, and the layer then runs again from scratch.  With
    `x_compressed`, the host places X compressed and the layer reads it so, when it can
    (testbench/placement.py)."""

    name: str
    op: str
    inputs: np.ndarray
    weights: np.ndarray
    timing: DramTiming = field(default_factory=DramTiming)
    stride: int = 1
    pad: int = 0
    groups: int = 1
    bias: np.ndarray | None = None
    requant: tuple | None = None
    relu: bool = False
    interrupt: int | None = None
    pad_value: int = 0
    x_compressed: bool = False

    @property
    def post(self):
        """The post-processing keyword arguments of AcceleratorTB.run_conv / golden."""
        return {"bias": self.bias, "requant": self.requant, "relu": self.relu}

    @property
    def shape(self):
        """The convolution the layer is (fc: a 1x1 one over an M x 1 image)."""
        if self.op == "fc":
            (m, c), k = self.inputs.shape, self.weights.shape[0]
            return fc_shape(m, c, k)
        (n, c, h, w), (k, _, r, s) = self.inputs.shape, self.weights.shape
        return ConvShape(n, c, h, w, k, r, s, self.stride, self.pad, self.pad_value)

    @property
    def post_process(self):
        """The layer's post-processing as the mapper takes it."""
        return PostProcess(self.bias is not None, self.requant, self.relu)

    def parts(self, spec):
        """The hardware runs of the layer on `spec` (models.mapper.map_grouped_conv)."""
        return layer_parts(spec, self.shape, self.groups, self.post_process,
                           self.conv_weights, self.x_compressed)

    @property
    def conv_inputs(self):
        """X as the convolution the layer is takes it, NCHW (fc: an M x 1 image of C
        channels, as AcceleratorTB.run_fc lays it out)."""
        if self.op == "fc":
            return self.inputs.T.reshape(1, self.inputs.shape[1], self.inputs.shape[0], 1)
        return self.inputs

    @property
    def conv_weights(self):
        """W as the convolution the layer is takes it, K x C/groups x R x S."""
        if self.op == "fc":
            return self.weights.reshape(*self.weights.shape, 1, 1)
        return self.weights


def expected_output(spec, job):
    """What the golden model says `job` computes on `spec` (the scoreboard's reference)."""
    if job.op == "fc":
        acc = golden.fc(job.inputs, job.weights, spec.acc_bits)
    elif job.op == "conv":
        acc = golden.conv2d(job.inputs, job.weights, job.stride, job.pad, job.groups,
                            acc_bits=spec.acc_bits, pad_value=job.pad_value)
    else:
        raise ValueError(f"unknown op {job.op!r}")
    return golden.postprocess(acc, bits=spec.operand_bits, **job.post)


@dataclass
class JobResult:
    name: str
    output: np.ndarray
    expected: np.ndarray
    counters: dict

    @property
    def matches(self):
        return self.output.shape == self.expected.shape and bool(
            np.array_equal(self.output, self.expected))


def expected_activations(spec, job):
    """The golden outputs as the hardware lays them out, N x K x P x Q (fc: K x M x 1 of one
    image)."""
    expected = expected_output(spec, job)
    if job.op == "fc":
        return expected.T[np.newaxis, :, :, np.newaxis]
    return expected


def write_jobs(run_dir, spec, jobs):
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, job in enumerate(jobs):
        np.save(run_dir / f"inputs_{index}.npy", job.inputs)
        np.save(run_dir / f"weights_{index}.npy", job.weights)
        if job.bias is not None:
            np.save(run_dir / f"bias_{index}.npy", job.bias)
        entries.append({"name": job.name, "op": job.op, "timing": asdict(job.timing),
                        "stride": job.stride, "pad": job.pad, "groups": job.groups,
                        "bias": job.bias is not None,
                        "requant": job.requant, "relu": job.relu,
                        "interrupt": job.interrupt, "pad_value": job.pad_value,
                        "x_compressed": job.x_compressed})
    (run_dir / "results.json").unlink(missing_ok=True)
    (run_dir / "jobs.json").write_text(json.dumps({"arch": spec.to_dict(), "jobs": entries}))


def read_jobs(run_dir):
    run_dir = Path(run_dir)
    data = json.loads((run_dir / "jobs.json").read_text())
    jobs = [Job(entry["name"], entry["op"],
                np.load(run_dir / f"inputs_{index}.npy"),
                np.load(run_dir / f"weights_{index}.npy"),
                DramTiming(**entry["timing"]), entry["stride"], entry["pad"], entry["groups"],
                np.load(run_dir / f"bias_{index}.npy") if entry["bias"] else None,
                tuple(entry["requant"]) if entry["requant"] else None, entry["relu"],
                entry["interrupt"], entry["pad_value"], entry["x_compressed"])
            for index, entry in enumerate(data["jobs"])]
    return ArchSpec(**data["arch"]), jobs


def write_results(run_dir, results):
    run_dir = Path(run_dir)
    entries = []
    for index, result in enumerate(results):
        np.save(run_dir / f"output_{index}.npy", result.output)
        np.save(run_dir / f"expected_{index}.npy", result.expected)
        entries.append({"name": result.name, "counters": result.counters})
    (run_dir / "results.json").write_text(json.dumps(entries))


def read_results(run_dir):
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    if not path.exists():
        return []
    return [JobResult(entry["name"], np.load(run_dir / f"output_{index}.npy"),
                      np.load(run_dir / f"expected_{index}.npy"), entry["counters"])
            for index, entry in enumerate(json.loads(path.read_text()))]
