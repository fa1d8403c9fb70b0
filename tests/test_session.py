"""A simulation session (testbench.session): layers handed over one at a time to one
simulator process, as `peforge run --backend rtl` runs a network, each checked against the
golden model; a simulation that stops mid-session is reported, naming the layer."""

import shutil

import numpy as np
import pytest

from models import golden
from models.golden import operand_range
from peforge.errors import MismatchError
from peforge.network import Simulator
from testbench import session as session_module
from testbench.jobs import Job
from testbench.regress import check_counters
from testbench.runner import SimulationError, SimulationModel
from testbench.session import SimulationSession
from testbench.tb import DramTiming

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("tiny")]


def operands(spec, rng, shape):
    low, high = operand_range(spec.operand_bits)
    return rng.integers(low, high + 1, shape)


def test_a_network_runs_in_one_simulation_every_layer_checked(arch, monkeypatch):
    """conv 3x3 (bias, requantized ReLU) -> grouped conv 3x3 stride 2 -> flatten on the
    host -> fc, each layer fed the RTL's output of the one before."""
    spec = arch("tiny")
    model = SimulationModel(spec)
    started = []
    run_test = model.run_test
    monkeypatch.setattr(model, "run_test", lambda *args: started.append(args[0])
                        or run_test(*args))
    rng = np.random.default_rng(3)
    runs = []
    with SimulationSession(model) as session:
        def run(job):
            runs.append((job, session.run(job)))
            return runs[-1][1].output

        y = run(Job("conv", "conv", operands(spec, rng, (2, 3, 9, 7)),
                    operands(spec, rng, (8, 3, 3, 3)), pad=1, bias=rng.integers(-99, 99, 8),
                    requant=(3, 9, 0), relu=True))
        y = run(Job("grouped", "conv", y, operands(spec, rng, (8, 4, 3, 3)), stride=2, pad=1,
                    groups=2, requant=(1, 8, 0)))
        run(Job("fc", "fc", y.reshape(len(y), -1), operands(spec, rng, (5, y[0].size))))
    assert started == ["testbench.cocotb_session"]
    for job, result in runs:
        assert result.matches, job.name
        assert check_counters(spec, job, result.counters) is None, job.name
    assert not session.run_dir.exists()


def test_a_simulation_that_stops_names_the_layer_and_keeps_its_log(arch):
    spec = arch("tiny")
    rng = np.random.default_rng(4)
    never_ready = DramTiming(gap=60_000, stall=255)      # far past the layer's timeout
    model = SimulationModel(spec)
    with pytest.raises(SimulationError, match="while running stuck; see .*sim.log"):
        with SimulationSession(model) as session:
            session.run(Job("fine", "fc", rng.integers(-9, 9, (3, 5)),
                            rng.integers(-9, 9, (2, 5))))
            session.run(Job("stuck", "fc", rng.integers(-9, 9, (3, 5)),
                            rng.integers(-9, 9, (2, 5)), never_ready))
    log = (session.run_dir / "sim.log").read_text()
    assert "stuck: running" in log and "SimTimeoutError" in log
    shutil.rmtree(session.run_dir)


def test_a_mismatch_names_the_layer_and_the_first_differing_output(arch, monkeypatch):
    spec = arch("tiny")
    rng = np.random.default_rng(5)
    job = Job("fc1", "fc", rng.integers(-9, 9, (3, 5)), rng.integers(-9, 9, (2, 5)))
    wrong = golden.fc(job.inputs, job.weights).astype(np.int32)
    wrong[1, 0] += 1
    monkeypatch.setattr(session_module, "expected_output", lambda *_: wrong)
    with pytest.raises(MismatchError, match=r"layer fc1: .* at \(1, 0\)"):
        with Simulator(spec) as simulator:
            simulator.run(job)
