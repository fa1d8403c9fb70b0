"""RTL hygiene of an architecture's exported Verilog: `verilator --lint-only -Wall`, and a
Yosys synthesis of the whole accelerator that must infer no latch and pass `check -assert`.

Every Verilator warning class left on is fatal.  The waivers (testbench.toolchain.
AMARANTH_WAIVERS) cover only what Amaranth's Verilog backend emits by construction, each with
the reason it is safe.  Nothing here edits generated code.

The synthesis check reads the Verilog as SystemVerilog (the RTL's Amaranth `Assert`s become
immediate `assert` statements, see the README), refuses any latch after `proc`, removes the
assertions and their messages (simulation only), runs Yosys's coarse synthesis (flattening,
FSM extraction, memory inference; memories stay memories, as a real flow maps them to SRAM
macros) and its `check -assert` (no multiple drivers, no combinational loops, no undriven
wires), then refuses any latch again.
"""

import subprocess
import tempfile
from pathlib import Path

from models.cell_area import LATCH_PATTERNS
from pyhdl.export import TOP_NAME, export_verilog, verilog_text
from testbench.toolchain import AMARANTH_WAIVERS as WAIVERS
from testbench.toolchain import verilator_env

from .yosys import run_yosys

_LATCHES = " ".join(f"t:{pattern}" for pattern in LATCH_PATTERNS)

SYNTH_CHECK_SCRIPT = f"""\
# peforge RTL hygiene (synthesis/lint.py): the whole accelerator, no latches, no errors.
read_verilog -sv design.v
hierarchy -check -top {TOP_NAME}
proc
tee -q -o premap.json stat -json
tee -q -o latches.txt select -list {_LATCHES}
# The Asserts and their messages are for simulation only.
chformal -remove
delete t:$print
synth -flatten -top {TOP_NAME} -run begin:fine
check -assert
select -assert-none {_LATCHES}
tee -q -o stat.json stat -json
"""


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


def synth_check_spec(spec, progress=None):
    """Synthesize the accelerator of `spec` with SYNTH_CHECK_SCRIPT; return its coarse cells
    ({type: count}).  Raises synthesis.yosys.LatchError on a latch, SynthesisError on any
    other Yosys error.  `progress(seconds, step)` is called about every 10 s."""
    cells, _ = run_yosys(verilog_text(spec), TOP_NAME, SYNTH_CHECK_SCRIPT, progress)
    return cells
