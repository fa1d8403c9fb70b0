"""`peforge sweep`: one workload over a grid of architectures, as Dask tasks.

    peforge sweep --arch A.yaml --vary rows=4,8,16,32 cols=4,8,16,32 --workload resnet18 --out D

Each grid point is one task, run on the Dask scheduler of `--scheduler` or on a local cluster
of `--jobs` processes (testbench/cluster.py); a task whose worker dies is run again elsewhere.

Any spec field can vary, and `glb_kb` sizes the whole global buffer in KiB, split as the
default architecture splits it (half inputs, a quarter weights, a quarter outputs).  Every
value is checked, and every grid point built and validated, before anything runs; the table
(CSV and markdown) and the plot are written only when every point has run.
"""

import csv
import io
import itertools
import uuid
from dataclasses import fields

from models.energy import load_table, table_for
from models.spec import ArchSpec, SpecError
from testbench.cluster import ClusterError, dask_client, local_cores, run_tasks

from .area import ARRAY_COMPONENTS, architecture_area
from .errors import UserError
from .network import load_workload, run_network
from .report import atomic_write, build_report

GLB_SPLIT = {"glb_input_bytes": 2, "glb_weight_bytes": 4, "glb_output_bytes": 4}
"""`glb_kb`: each partition gets 1/n of the total, as in configs/default.yaml."""
ALIASES = {"glb_kb": lambda kb: {name: kb * 1024 // part for name, part in GLB_SPLIT.items()}}
COLUMNS = (
    ("pes", "PEs", "{}"),
    ("macs", "MACs", "{}"),
    ("cycles", "cycles", "{}"),
    ("utilization", "utilization", "{:.3f}"),
    ("inferences_per_s", "inferences/s", "{:.4g}"),
    ("energy_per_inference_uj", "energy/inference (µJ)", "{:.4g}"),
    ("dram_bytes", "DRAM bytes", "{}"),
    ("area_mm2", "area (mm²)", "{:.4g}"),
    ("array_area_mm2", "PE array area (mm²)", "{:.4g}"),
    ("onchip_kib", "on-chip KiB", "{:.1f}"),
    ("gops_per_w", "GOPS/W", "{:.4g}"),
)
"""The figures of each grid point: key, column title, markdown format."""


def _field_types():
    return {f.name: (float if f.type is float else f.type) for f in fields(ArchSpec)
            if f.name != "name"}


def parse_vary(items):
    """{parameter: [values]} from `name=v1,v2,...` items, or UserError naming the bad item."""
    types = {**_field_types(), **{name: int for name in ALIASES}}
    vary = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise UserError(f"--vary {item!r}: expected NAME=V1,V2,...")
        if name not in types:
            raise UserError(f"--vary {item!r}: unknown parameter {name!r} (one of "
                            f"{', '.join(sorted(types))})")
        if name in vary:
            raise UserError(f"--vary {item!r}: {name} is already varied")
        kind, parsed = types[name], []
        for text in values.split(","):
            try:
                parsed.append(kind(text))
            except ValueError:
                what = {int: "a whole number", float: "a number"}.get(kind, "a value")
                raise UserError(f"--vary {item!r}: {text!r} is not {what}") from None
        if len(set(parsed)) != len(parsed):
            raise UserError(f"--vary {item!r}: a value is repeated")
        vary[name] = parsed
    return vary


def grid(base, vary):
    """[(point, spec)] for every combination of the varied values, each spec validated."""
    points = []
    for values in itertools.product(*vary.values()):
        point = dict(zip(vary, values))
        changes = {}
        for name, value in point.items():
            changes.update(ALIASES[name](value) if name in ALIASES else {name: value})
        label = "-".join(f"{name}{value}" for name, value in point.items())
        try:
            spec = ArchSpec(**{**base.to_dict(), **changes, "name": f"{base.name}-{label}"})
        except SpecError as error:
            shown = " ".join(f"{name}={value}" for name, value in point.items())
            raise UserError(f"--vary {shown}: {error}") from None
        points.append((point, spec))
    return points


def evaluate(spec, workload, batch, backend, energy_table, skip_unsupported):
    """The sweep table's figures for one architecture (runs in a worker process), or its
    `error` when the workload does not map onto it (a layer does not fit a buffer)."""
    table = table_for(spec) if energy_table is None else load_table(energy_table)
    layers, _ = load_workload(workload, batch, skip_unsupported, spec.operand_bits)
    try:
        entries, _ = run_network(spec, layers, backend, table, log=lambda message: None)
    except UserError as error:
        return {"pes": spec.rows * spec.cols, "error": str(error)}
    report = build_report(spec, entries, table, architecture_area(spec, synthesize=False),
                          batch=batch)
    total = report["totals"]
    return {
        "pes": spec.rows * spec.cols,
        "macs": total["macs"],
        "cycles": total["cycles"],
        "utilization": total["utilization"],
        "inferences_per_s": total["inferences_per_s"],
        "energy_per_inference_uj": total["energy_per_inference_pj"] * 1e-6,
        "dram_bytes": total["dram_bytes"]["read"] + total["dram_bytes"]["write"],
        "area_mm2": report["area_um2"]["total"] * 1e-6,
        "array_area_mm2": sum(report["area_um2"][key] for key in ARRAY_COMPONENTS) * 1e-6,
        "onchip_kib": spec.onchip_bytes / 1024,
        "gops_per_w": total["gops_per_w"],
    }


def run_sweep(points, workload, batch, backend, energy_table, skip_unsupported, jobs,
              scheduler=None, log=print):
    """Rows (the point's values, then the figures) of every grid point, in grid order, each
    point a Dask task on `scheduler` (default: a local cluster of up to `jobs` processes).
    Raises UserError if the scheduler cannot be reached or a point failed on every try."""
    rows = [None] * len(points)
    tasks = [(evaluate, (spec, workload, batch, backend, energy_table, skip_unsupported))
             for _, spec in points]
    failed = []
    try:
        with dask_client(scheduler, min(jobs, len(points))) as client:
            results = run_tasks(client, tasks, key_prefix=f"sweep-{uuid.uuid4().hex[:8]}")
            for done, (index, result) in enumerate(results, start=1):
                point = points[index][0]
                shown = " ".join(f"{name}={value}" for name, value in point.items())
                if isinstance(result, BaseException):
                    failed.append(f"{shown} ({type(result).__name__}: {result})")
                    log(f"[{done}/{len(points)}] {shown}: FAILED on every try")
                    continue
                row = rows[index] = {**point, **result}
                log(f"[{done}/{len(points)}] {shown}: " + (
                    row["error"] if "error" in row else
                    f"{row['inferences_per_s']:.4g} inferences/s, "
                    f"{row['energy_per_inference_uj']:.4g} µJ/inference, "
                    f"{row['area_mm2']:.3f} mm²"))
    except ClusterError as error:
        raise UserError(f"--scheduler: {error}") from None
    if failed:
        raise UserError(f"{len(failed)} of {len(points)} grid points failed: "
                        + "; ".join(failed))
    return rows


def to_csv(rows, varied):
    """One line per grid point; a point the workload does not fit has only its `error`."""
    out = io.StringIO()
    writer = csv.writer(out)
    keys = [key for key, _, _ in COLUMNS]
    writer.writerow([*varied, *keys, "error"])
    for row in rows:
        writer.writerow([row[name] for name in varied] + [row.get(key, "") for key in keys]
                        + [row.get("error", "")])
    return out.getvalue()


def to_markdown(rows, varied, title):
    lines = [f"# {title}", "",
             "| " + " | ".join([*varied, *(name for _, name, _ in COLUMNS)]) + " |",
             "| " + " | ".join(["---:"] * (len(varied) + len(COLUMNS))) + " |"]
    misfits = []
    for row in rows:
        cells = [str(row[name]) for name in varied]
        if "error" in row:
            misfits.append(f"- {' '.join(cells)}: {row['error']}")
            cells += [str(row["pes"])] + ["does not fit"] + [""] * (len(COLUMNS) - 2)
        else:
            cells += [fmt.format(row[key]) for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    if misfits:
        lines += ["", "Architectures the workload does not fit:", "", *misfits]
    return "\n".join(lines) + "\n"


def write_sweep(rows, varied, out_dir, title):
    """sweep.csv, sweep.md and sweep.png in `out_dir`; each appears whole or not at all."""
    from .plots import plot_sweep

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "sweep.png", lambda tmp: plot_sweep(rows, varied, title, tmp))
    atomic_write(out_dir / "sweep.csv", lambda tmp: tmp.write_text(to_csv(rows, varied)))
    atomic_write(out_dir / "sweep.md", lambda tmp: tmp.write_text(
        to_markdown(rows, varied, title) + "\n![sweep](sweep.png)\n"))


def default_jobs():
    return max(1, min(local_cores(), 8))
