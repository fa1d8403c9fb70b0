"""Flows: run a layer on the simulated RTL, checked against the golden model."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from models.mapper import MappingError, map_fc
from testbench.jobs import Job
from testbench.runner import DEFAULT_BUILD_ROOT, SimulationError, SimulationModel

from .errors import UserError


@dataclass
class LayerRun:
    """The outcome of one layer on the RTL: its output, the golden one, the counters."""

    op: str
    output: object
    expected: object
    counters: dict

    @property
    def matches(self):
        return self.output.shape == self.expected.shape and bool(
            (self.output == self.expected).all())


def run_fc_on_rtl(spec, x, w, log=print):
    """Y = X . W^T on the RTL of `spec`; X is (N, C), W is (K, C)."""
    if x.shape[1] != w.shape[1]:
        raise UserError(f"fc: inputs have C={x.shape[1]} but weights have C={w.shape[1]} "
                        f"(X is NxC, W is KxC)")
    try:
        map_fc(spec, x.shape[0], x.shape[1], w.shape[0])
    except MappingError as error:
        raise UserError(str(error)) from None
    model = SimulationModel(spec)
    model.build(log=log)
    DEFAULT_BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="layer-", dir=DEFAULT_BUILD_ROOT) as run_dir:
        log(f"simulating fc {x.shape[0]}x{x.shape[1]} . {w.shape[0]}x{w.shape[1]} "
            f"on {spec.rows}x{spec.cols}")
        try:
            [result] = model.run([Job("layer", "fc", x, w)], Path(run_dir))
        except SimulationError as error:
            raise UserError(f"simulation failed: {error}") from None
    return LayerRun("fc", result.output, result.expected, result.counters)
