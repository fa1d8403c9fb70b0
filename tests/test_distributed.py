"""The random regression and `peforge sweep` on a real Dask cluster: a `dask scheduler` and two
`dask worker` processes on 127.0.0.1 (free ports, stopped after), no mocks.

The regression's architectures are the first two of the CI regression (seed 4: 5x4 and 2x2
weight-stationary), so their Verilator builds are the ones tests/test_regression.py uses.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client

from models.spec import load_spec
from peforge.sweep import grid, run_sweep
from testbench.campaign import batches, plan_coverage, run_campaign
from testbench.coverage import Coverage
from testbench.regress import run_arch

ROOT = Path(__file__).resolve().parent.parent
DASK = Path(sys.executable).parent / "dask"
SEED, ARCHS, LAYERS = 4, 2, 3
"""The regression run through the cluster: small, on architectures CI builds anyway."""
START_TIMEOUT_S = 120

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("dask")]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaskCluster:
    """A scheduler and `workers` single-threaded workers (no nanny, so a killed worker stays
    dead), as separate processes; `stop()` ends every one of them."""

    def __init__(self, tmp_path, workers=2):
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.logs = tmp_path
        self.scheduler = self._start("scheduler", "scheduler", "--host", "127.0.0.1",
                                     "--port", self.address.rsplit(":", 1)[1], "--no-dashboard")
        self.workers = {f"w{i}": self._start(f"w{i}", "worker", self.address, "--name", f"w{i}",
                                             "--nthreads", "1", "--no-nanny", "--no-dashboard")
                        for i in range(workers)}
        with Client(self.address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT_S)

    def _start(self, log_name, *args):
        return subprocess.Popen([str(DASK), *args], cwd=ROOT, start_new_session=True,
                                stdout=open(self.logs / f"{log_name}.log", "w"),
                                stderr=subprocess.STDOUT)

    def kill_worker(self, name):
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()

    def stop(self):
        for process in [*self.workers.values(), self.scheduler]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers.values(), self.scheduler]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def cluster(tmp_path):
    cluster = DaskCluster(tmp_path)
    yield cluster
    cluster.stop()


def local_regression(tmp_path):
    """The same layers run here, one architecture after another, without Dask."""
    coverage, failures = Coverage(), []
    for arch_seed, indices in batches(SEED, ARCHS, LAYERS, batch_layers=LAYERS):
        run = run_arch(arch_seed, indices, tmp_path / f"local-r{arch_seed}")
        coverage.merge(run.coverage)
        failures += run.failures
    return coverage, failures


def test_regression_and_sweep_through_a_scheduler_equal_local_runs(cluster, tmp_path):
    campaign = run_campaign(SEED, ARCHS, LAYERS, scheduler=cluster.address, batch_layers=1,
                            run_dir=tmp_path / "campaign", log=lambda message: None)
    coverage, failures = local_regression(tmp_path)
    assert campaign.coverage.cases == ARCHS * LAYERS
    assert campaign.coverage.to_dict() == coverage.to_dict()
    assert plan_coverage(SEED, ARCHS, LAYERS).to_dict() == coverage.to_dict()
    assert [f.report() for f in campaign.failures] == [f.report() for f in failures] == []
    assert (tmp_path / "campaign" / "coverage.json").exists()

    points = grid(load_spec(ROOT / "configs" / "tiny.yaml"), {"rows": [2, 4], "cols": [2, 4]})
    sweep = [points, "digits", 1, "model", None, False]
    remote = run_sweep(*sweep, jobs=2, scheduler=cluster.address, log=lambda message: None)
    local = run_sweep(*sweep, jobs=1, log=lambda message: None)
    assert remote == local
    assert [(row["rows"], row["cols"]) for row in remote] == [(2, 2), (2, 4), (4, 2), (4, 4)]


def test_a_worker_killed_mid_run_loses_no_layer(cluster, tmp_path):
    killed = []
    observer = Client(cluster.address, timeout=START_TIMEOUT_S)

    def kill_a_busy_worker(message):
        """After the first progress line, kill a worker that is running a task."""
        if killed or not message.startswith("["):
            return
        deadline = time.monotonic() + START_TIMEOUT_S
        while not killed and time.monotonic() < deadline:
            info = observer.scheduler_info(n_workers=-1)["workers"]
            for address, keys in observer.processing().items():
                if keys and address in info:
                    killed.append(info[address]["name"])
                    cluster.kill_worker(killed[-1])
                    break
            time.sleep(0.05)

    layers = 6
    try:
        campaign = run_campaign(SEED, 1, layers, scheduler=cluster.address, batch_layers=1,
                                run_dir=tmp_path / "campaign", log=kill_a_busy_worker)
    finally:
        observer.close()
    assert len(killed) == 1 and cluster.workers[killed[0]].returncode is not None
    assert campaign.coverage.cases == layers
    assert campaign.failures == []
