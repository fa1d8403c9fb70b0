"""Timing probe for benchmarks/sim_speed.py, loaded into the cocotb simulator's Python.

benchmarks/sim_speed.py puts this folder on the simulator's PYTHONPATH and sets
PEFORGE_BENCH_TIMING=1; Python then imports this module at start-up.  It changes no behaviour:
it wraps cocotb's `with_timeout` as cocotb loads it, and for calls made from `testbench.tb`
(where the testbench awaits `done`) notes the wall time, the process's CPU time and the
simulated time the await took, appending them to $PEFORGE_RUN_DIR/bench_timing.jsonl.
Without the variable it does nothing.

The wrap happens when `cocotb._extended_awaitables` (where `with_timeout` is defined) is
imported, before `cocotb.triggers` re-exports it and before cocotb installs pytest's assertion
rewriting import hook, which later loads the test modules (so they cannot be patched on import).
"""

import os
import sys

if os.environ.get("PEFORGE_BENCH_TIMING") == "1":
    import functools
    import importlib.abc
    import json
    import time
    from pathlib import Path

    DEFINING_MODULE = "cocotb._extended_awaitables"
    CALLER = "testbench.tb"

    def _record(wall_s, cpu_s, sim_ns):
        out = Path(os.environ.get("PEFORGE_RUN_DIR", ".")) / "bench_timing.jsonl"
        with open(out, "a") as log:
            log.write(json.dumps({"wall_s": wall_s, "cpu_s": cpu_s, "sim_ns": sim_ns}) + "\n")

    def _instrument(module):
        original = getattr(module, "with_timeout", None)
        if original is None:
            return

        async def timed(awaitable):
            from cocotb.simtime import get_sim_time

            sim0, wall0, cpu0 = get_sim_time("ns"), time.perf_counter(), time.process_time()
            result = await awaitable
            _record(time.perf_counter() - wall0, time.process_time() - cpu0,
                    get_sim_time("ns") - sim0)
            return result

        @functools.wraps(original)
        def with_timeout(*args, **kwargs):
            awaitable = original(*args, **kwargs)
            if sys._getframe(1).f_globals.get("__name__") != CALLER:
                return awaitable
            return timed(awaitable)

        module.with_timeout = with_timeout

    class _InstrumentOnImport(importlib.abc.MetaPathFinder):
        """Finds the module through the other finders and instruments it once loaded."""

        def find_spec(self, name, path, target=None):
            if name != DEFINING_MODULE:
                return None
            sys.meta_path.remove(self)  # one module to patch; stay out of every other import
            for finder in sys.meta_path:
                find_spec = getattr(finder, "find_spec", None)
                spec = find_spec(name, path, target) if find_spec else None
                if spec is not None and spec.loader is not None:
                    break
            else:
                return None
            exec_module = spec.loader.exec_module

            def exec_and_instrument(module):
                exec_module(module)
                _instrument(module)

            spec.loader.exec_module = exec_and_instrument
            return spec

    sys.meta_path.insert(0, _InstrumentOnImport())
