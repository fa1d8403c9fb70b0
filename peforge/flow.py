"""Flows: run a layer on the simulated RTL, checked against the golden model."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.mapper import ConvShape, MappingError, PostProcess, map_grouped_conv
from testbench.jobs import Job
from testbench.runner import DEFAULT_BUILD_ROOT, SimulationError, SimulationModel

from .errors import MismatchError, UserError


@dataclass
class LayerRun:
    """The outcome of one layer on the RTL: its useful MACs, its output, the golden one,
    the counters."""

    op: str
    macs: int
    output: object
    expected: object
    counters: dict

    @property
    def matches(self):
        return self.output.shape == self.expected.shape and bool(
            (self.output == self.expected).all())


def layer_shape(op, x, w, stride, pad):
    """The convolution shape and groups of a layer, refusing tensors that do not go
    together."""
    if op == "fc":
        if x.shape[1] != w.shape[1]:
            raise UserError(f"fc: inputs have C={x.shape[1]} but weights have C={w.shape[1]} "
                            f"(X is NxC, W is KxC)")
        if stride != 1 or pad != 0:
            raise UserError(f"fc: --stride {stride} --pad {pad}: fc takes neither")
        return ConvShape(n=1, c=x.shape[1], h=x.shape[0], w=1, k=w.shape[0]), 1
    (n, c, h, width), (k, cw, r, s) = x.shape, w.shape
    if op == "dwconv":
        if (k, cw) != (c, 1):
            raise UserError(f"dwconv: weights must be {c}x1xRxS for C={c} inputs, "
                            f"not {'x'.join(map(str, w.shape))}")
        return ConvShape(n, c, h, width, k, r, s, stride, pad), c
    if cw != c:
        raise UserError(f"conv: inputs have C={c} but weights have C={cw} "
                        f"(X is NCHW, W is KCRS)")
    return ConvShape(n, c, h, width, k, r, s, stride, pad), 1


def run_layer_on_rtl(spec, op, x, w, stride=1, pad=0, post=None, log=print):
    """Run one fc (X NxC, W KxC), conv (X NCHW, W KCRS) or dwconv (W Cx1xRxS) layer on the
    RTL of `spec`;
    `post` holds the post-processing: {"bias": array or None, "requant": (mult, shift,
    zero_point) or None, "relu": bool}."""
    post = post or {"bias": None, "requant": None, "relu": False}
    shape, groups = layer_shape(op, x, w, stride, pad)
    try:
        map_grouped_conv(spec, shape, groups, PostProcess(post["bias"] is not None,
                                                          post["requant"], post["relu"]))
    except MappingError as error:
        raise UserError(f"{op}: {error}") from None
    model = SimulationModel(spec)
    model.build(log=log)
    log(f"simulating {op} {'x'.join(map(str, x.shape))} * {'x'.join(map(str, w.shape))} "
        f"({shape.macs // groups} MACs) on {spec.rows}x{spec.cols}")
    job = Job("layer", "fc" if op == "fc" else "conv", x, w, stride=stride, pad=pad,
              groups=groups, **post)
    result = simulate(model, job, op)
    return LayerRun(op, shape.macs // groups, result.output, result.expected, result.counters)


def simulate(model, job, what):
    """Run one job on a built SimulationModel in a scratch directory under the build root;
    return its JobResult, or raise a UserError naming `what` if the simulator fails."""
    DEFAULT_BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=DEFAULT_BUILD_ROOT) as run_dir:
        try:
            [result] = model.run([job], Path(run_dir))
        except SimulationError as error:
            raise UserError(f"{what}: simulation failed: {error}") from None
    return result


def mismatch_error(prefix, output, expected):
    """A MismatchError naming the first element where the RTL's output differs, its message
    starting with `prefix`."""
    first = tuple(int(i) for i in np.argwhere(output != expected)[0])
    return MismatchError(f"{prefix}RTL output differs from the golden model at {first}: "
                         f"{int(output[first])} != {int(expected[first])}")
