"""Lint the exported Verilog with `verilator --lint-only -Wall`.

Every warning class left on is fatal.  The waivers (testbench.toolchain.AMARANTH_WAIVERS)
cover only what Amaranth's Verilog backend emits by construction, each with the reason it is
safe.  Nothing here edits generated code.
"""

import subprocess
import tempfile
from pathlib import Path

from pyhdl.export import TOP_NAME, export_verilog
from testbench.toolchain import AMARANTH_WAIVERS as WAIVERS
from testbench.toolchain import verilator_env



def lint_command(verilog_path):
    return ["verilator", "--lint-only", "-Wall", "--top-module", TOP_NAME,
            *(f"-Wno-{name}" for name in WAIVERS), str(verilog_path)]


def lint_spec(spec, work_dir=None):
    """Export `spec` and lint it; return (ok, verilator's messages)."""
    with tempfile.TemporaryDirectory(prefix="lint-") as scratch:
        path = export_verilog(spec, Path(work_dir or scratch))
        done = subprocess.run(lint_command(path), env=verilator_env(), capture_output=True,
                              text=True)
    return done.returncode == 0, (done.stdout + done.stderr).strip()
