"""The constrained-random regression (testbench/regress.py): random layers on random
architectures, on the RTL, against the golden and the analytical model.

One test per architecture, each in its own xdist group, so each architecture is built once
and the architectures run in parallel.  The size comes from the command line (defaults: the
small CI run): `--regress-seed S --regress-archs A --regress-layers L`, or `make regress`.
Run directories and the waveforms of failing cases go to build/regress/<run>/; the coverage
of the whole run is printed at the end (tests/conftest.py).
"""

import pytest

from testbench.random_layers import arch_seeds
from testbench.regress import run_arch, save_failures

pytestmark = pytest.mark.rtl


def pytest_generate_tests(metafunc):
    if "arch_seed" in metafunc.fixturenames:
        options = metafunc.config.option
        seeds = arch_seeds(options.regress_seed, options.regress_archs)
        metafunc.parametrize("arch_seed", [
            pytest.param(seed, id=f"r{seed}", marks=pytest.mark.xdist_group(f"r{seed}"))
            for seed in seeds])


def test_random_layers_match_golden(arch_seed, request, regress_dir):
    layers = request.config.option.regress_layers
    run = run_arch(arch_seed, list(range(layers)), regress_dir / f"r{arch_seed}")
    run.coverage.save(regress_dir / f"coverage-r{arch_seed}.json")
    save_failures(run, regress_dir / f"failures-r{arch_seed}.json")
    assert len(run.cases) == layers
    assert not run.failures, "\n".join(failure.report() for failure in run.failures)
