"""Shared fixtures: one Verilator build per architecture, reused by every test that needs it;
the random regression's options, its run directory and its coverage summary."""

import os
import time
from pathlib import Path

import pytest

from models.spec import load_spec
from synthesis.timing import REPORT_TIMING_ENV
from testbench.coverage import Coverage
from testbench.regress import REGRESS_ROOT, failure_summary

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
REGRESS_DIR_KEY = "peforge_regress_dir"
os.environ.setdefault(REPORT_TIMING_ENV, "cached")
"""A report's timing from the cache only: tests/test_timing.py and `peforge lint` in
tests/test_cli.py synthesize tiny.yaml; no test pays a 16x16's minutes for a figure it does
not check."""


@pytest.fixture(scope="session")
def arch():
    """Load a shipped architecture by name (configs/<name>.yaml)."""
    return lambda name: load_spec(CONFIGS / f"{name}.yaml")


def pytest_addoption(parser):
    group = parser.getgroup("peforge random regression (tests/test_regression.py)")
    group.addoption("--regress-seed", type=int, default=4,
                    help="seed of the run: it draws the architectures (default 4)")
    group.addoption("--regress-archs", type=int, default=3,
                    help="random architectures (default 3)")
    group.addoption("--regress-layers", type=int, default=10,
                    help="random layers per architecture (default 10)")


def pytest_configure(config):
    """The controller names this run's directory; xdist workers get it from the controller."""
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        config._regress_dir = Path(worker[REGRESS_DIR_KEY])
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        config._regress_dir = REGRESS_ROOT / f"seed{config.option.regress_seed}-{stamp}"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput[REGRESS_DIR_KEY] = str(node.config._regress_dir)


@pytest.fixture(scope="session")
def regress_dir(pytestconfig):
    """This run's directory for the regression's run directories, waveforms and coverage."""
    path = pytestconfig._regress_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_terminal_summary(terminalreporter, config):
    """The functional coverage of the architectures the regression ran, if it ran any."""
    files = sorted(config._regress_dir.glob("coverage-*.json"))
    if not files:
        return
    coverage = Coverage()
    for path in files:
        coverage.merge(Coverage.load(path))
    terminalreporter.write_sep("=", "random regression coverage")
    terminalreporter.write_line(coverage.summary())
    terminalreporter.write_line(failure_summary(config._regress_dir.glob("failures-*.json")))
    terminalreporter.write_line(f"run directory: {config._regress_dir}")
