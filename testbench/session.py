"""One simulation that runs layers as the host hands them over: a whole network, its host
ops computed in this process between layers, costs one simulator start-up.

`SimulationSession(model)` starts the simulator of a built SimulationModel with the cocotb
test of testbench/cocotb_session.py, which connects back to this process over a Unix socket;
`run(job)` sends a Job and returns its JobResult, the golden model's output computed here
while the simulator runs the layer.  Use it as a context manager: leaving it ends the
simulation; the run directory (sim.log, the DRAM images) is removed unless the simulation
failed.
"""

import shutil
import socket
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from .cocotb_session import SESSION_ENV
from .jobs import JobResult, expected_output
from .runner import DEFAULT_BUILD_ROOT, SimulationError

CONNECT_POLL_S = 0.5
"""How often, while waiting for the simulator to connect, the host checks it still runs."""


class SimulationSession:
    """One simulation of `model` serving jobs (see the module's docstring); its run
    directory is a new one under `build_root`."""

    def __init__(self, model, build_root=DEFAULT_BUILD_ROOT):
        self.model = model
        self.build_root = Path(build_root)
        self.run_dir = self.socket_dir = self.address = self.connection = self.stopped = None
        self.failed = False
        self.thread = threading.Thread(target=self._simulate, daemon=True)

    def _simulate(self):
        try:
            self.model.run_test("testbench.cocotb_session", self.run_dir,
                                {SESSION_ENV: self.address})
        except (SystemExit, RuntimeError) as stop:
            self.stopped = stop

    def _accept(self, server):
        server.settimeout(CONNECT_POLL_S)
        while True:
            try:
                client, _ = server.accept()
                client.setblocking(True)
                return Connection(client.detach())
            except TimeoutError:
                if not self.thread.is_alive():
                    raise SimulationError(f"the simulator stopped before it took a job; see "
                                          f"{self.run_dir / 'sim.log'}") from None

    def __enter__(self):
        self.model.build()
        self.build_root.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="session-", dir=self.build_root))
        # A Unix socket's path must be short (about 100 bytes), so it lives in /tmp.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="peforge-"))
        self.address = str(self.socket_dir / "session")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(self.address)
            server.listen(1)
            self.thread.start()
            try:
                self.connection = self._accept(server)
            except SimulationError:
                self.failed = True
                shutil.rmtree(self.socket_dir, ignore_errors=True)
                raise
        self.connection.send(self.model.spec)
        return self

    def run(self, job):
        """Run `job` on the RTL; its JobResult (the caller decides what a mismatch means)."""
        try:
            self.connection.send(job)
            expected = expected_output(self.model.spec, job)
            output, counters = self.connection.recv()
        except (EOFError, OSError):
            self.failed = True
            raise SimulationError(f"the simulation stopped while running {job.name}; see "
                                  f"{self.run_dir / 'sim.log'}") from None
        return JobResult(job.name, output, expected, counters)

    def __exit__(self, kind, *_):
        if self.connection is not None:
            try:
                self.connection.send(None)
            except OSError:
                self.failed = True
            self.connection.close()
        if self.thread.ident is not None:    # started
            self.thread.join()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        if self.stopped is None and not self.failed:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        elif kind is None and not self.failed:
            self.failed = True
            raise SimulationError(f"the simulation ended with an error ({self.stopped}); see "
                                  f"{self.run_dir / 'sim.log'}")
