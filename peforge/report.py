"""Reports of runs: the per-layer figures of DESIGN.md's report.json, from the counters."""

import json
import os
from pathlib import Path


def layer_figures(spec, counters):
    """Throughput and traffic figures of one layer from its activity counters."""
    cycles = counters["cycles"]
    return {
        "macs": counters["macs"],
        "cycles": cycles,
        "utilization": counters["macs"] / (cycles * spec.peak_macs_per_cycle) if cycles else 0.0,
        "latency_s": cycles / (spec.clock_mhz * 1e6),
        "dram_bytes": {"read": counters["dram_bytes_read"],
                       "write": counters["dram_bytes_written"]},
        "glb_accesses": sum(value for name, value in counters.items()
                            if name.startswith("glb_")),
        "counters": dict(counters),
    }


def architecture_figures(spec):
    return {
        "arch": spec.to_dict(),
        "onchip_bytes": spec.onchip_bytes,
        "peak_macs_per_cycle": spec.peak_macs_per_cycle,
    }


def write_json_atomically(path, data):
    """Write `data` as JSON to `path` through a temporary file, so no half file is left."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
