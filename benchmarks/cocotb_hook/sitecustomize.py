"""Timing probe for benchmarks/sim_speed.py, loaded into the cocotb simulator's Python.

benchmarks/sim_speed.py puts this folder on the simulator's PYTHONPATH and sets
PEFORGE_BENCH_TIMING=1; Python then imports this module at start-up.  It changes no behaviour:
once `testbench.tb` is imported it wraps that module's `with_timeout` (the call in which the
testbench awaits `done`) to note the wall time and simulated time the await took, and appends
them to $PEFORGE_RUN_DIR/bench_timing.jsonl.  Without the variable it does nothing.
"""

import os
import sys

if os.environ.get("PEFORGE_BENCH_TIMING") == "1":
    import importlib.abc
    import json
    import time
    from pathlib import Path

    TARGET = "testbench.tb"

    def _instrument(module):
        original = getattr(module, "with_timeout", None)
        if original is None:
            return
        from cocotb.simtime import get_sim_time

        async def timed_with_timeout(trigger, *args, **kwargs):
            sim0, wall0 = get_sim_time("ns"), time.perf_counter()
            result = await original(trigger, *args, **kwargs)
            wall1, sim1 = time.perf_counter(), get_sim_time("ns")
            out = Path(os.environ.get("PEFORGE_RUN_DIR", ".")) / "bench_timing.jsonl"
            with open(out, "a") as log:
                log.write(json.dumps({"wall_s": wall1 - wall0, "sim_ns": sim1 - sim0}) + "\n")
            return result

        module.with_timeout = timed_with_timeout

    class _InstrumentOnImport(importlib.abc.MetaPathFinder):
        """Finds `testbench.tb` through the other finders and instruments it once loaded."""

        def find_spec(self, name, path, target=None):
            if name != TARGET:
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
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
