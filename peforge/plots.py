"""The report's plots (PNG, matplotlib): energy per layer, utilization against the roofline,
and the area breakdown."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

COMPONENT_COLOURS = {
    "mac": "#4c72b0", "rf": "#55a868", "array": "#8172b2", "accumulate": "#937860",
    "glb": "#ccb974", "dma": "#da8bc3", "dram": "#c44e52", "postprocess": "#8c8c8c",
    "control": "#64b5cd", "leakage": "#999999",
}


def plot_energy(report, path):
    """Energy per layer, stacked by component, DRAM included."""
    layers = report["layers"]
    names = [layer["name"] for layer in layers]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names) + 3), 4))
    bottom = [0.0] * len(layers)
    for component, colour in COMPONENT_COLOURS.items():
        values = [layer["energy_pj"].get(component, 0.0) * 1e-6 for layer in layers]
        if any(values):
            ax.bar(names, values, bottom=bottom, label=component, color=colour)
            bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("energy (µJ)")
    ax.set_title(f"Energy per layer by component ({report['energy_table']})")
    ax.legend(fontsize="small")
    ax.tick_params(axis="x", labelrotation=60 if len(names) > 6 else 0)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def plot_utilization(report, path):
    """Achieved MACs/cycle of each layer against the roofline of the array and the DRAM bus."""
    arch = report["arch"]
    peak = report["peak_macs_per_cycle"]
    bus = arch["dram_bus_bytes"]
    fig, ax = plt.subplots(figsize=(6, 4))
    points = []
    for layer in report["layers"]:
        traffic = layer["dram_bytes"]["read"] + layer["dram_bytes"]["write"]
        intensity = layer["macs"] / traffic if traffic else float("inf")
        points.append((intensity, layer["macs"] / layer["cycles"], layer["name"]))
    finite = [p[0] for p in points if p[0] != float("inf")] or [1.0]
    low, high = min(finite) / 4, max(max(finite) * 4, 4 * peak / bus)
    xs = [low * (high / low) ** (i / 200) for i in range(201)]
    ax.loglog(xs, [min(peak, bus * x) for x in xs], "k-", label="roofline")
    for intensity, achieved, name in points:
        ax.loglog(intensity, achieved, "o")
        ax.annotate(name, (intensity, achieved), fontsize="x-small",
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("operational intensity (MACs per DRAM byte)")
    ax.set_ylabel("MACs per cycle")
    ax.set_title(f"Utilization against the roofline (peak {peak}, bus {bus} B/cycle)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def plot_area(report, path):
    """Area by component."""
    area = {key: value for key, value in report["area_um2"].items()
            if isinstance(value, (int, float)) and key != "total"}
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.barh(list(area), [value / 1e6 for value in area.values()], color="#4c72b0")
    ax.set_xlabel("area (mm²)")
    ax.set_title(f"Area by component: {report['area_um2']['total'] / 1e6:.3f} mm² in all")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


SWEEP_PANELS = (
    ("inferences_per_s", "throughput (inferences/s)", "ideal: proportional to PEs",
     lambda base, scale: base["inferences_per_s"] * scale),
    ("energy_per_inference_uj", "energy per inference (µJ)", "ideal: unchanged",
     lambda base, scale: base["energy_per_inference_uj"]),
    ("area_mm2", "area (mm²)", "ideal: PE array proportional to PEs, the rest unchanged",
     lambda base, scale: base["area_mm2"] + base["array_area_mm2"] * (scale - 1)),
)
"""Each panel of the sweep plot: the figure, its axis title, and its ideal scaling from the
smallest array (`base`, a table row) to one `scale` times as many PEs."""


def _point_label(row, shown):
    """A point's values of the parameters in `shown` ("RxC" for the array's shape)."""
    parts = [f"{row['rows']}x{row['cols']}"] if {"rows", "cols"} <= set(shown) else []
    return " ".join(parts + [f"{name}={row[name]}" for name in shown
                             if name not in ("rows", "cols") or not parts])


def plot_sweep(rows, varied, title, path):
    """Throughput, energy per inference and area against the number of PEs (when the array
    size varies, with the ideal-scaling line from the smallest array) or else against the
    first varied parameter.  Points the workload does not fit are left out."""
    from matplotlib.ticker import ScalarFormatter

    rows = [row for row in rows if "error" not in row]
    by_pes = "rows" in varied or "cols" in varied
    key = "pes" if by_pes else varied[0]
    xs = [row[key] for row in rows]
    shown = [name for name in varied if len({row[name] for row in rows}) > 1]
    smallest = [row for row in rows if row[key] == min(xs)]
    base = max(smallest, key=lambda row: row["inferences_per_s"])
    fig, axes = plt.subplots(1, len(SWEEP_PANELS), figsize=(15, 4.5))
    for ax, (metric, label, ideal_label, ideal) in zip(axes, SWEEP_PANELS):
        ys = [row[metric] for row in rows]
        order = sorted(range(len(rows)), key=lambda i: xs[i])
        ax.plot([xs[i] for i in order], [ys[i] for i in order],
                "o" if len(varied) > 1 else "o-", color="#4c72b0", label="measured")
        if len(rows) <= 24:
            for x, y, row in zip(xs, ys, rows):
                ax.annotate(_point_label(row, shown), (x, y), fontsize="x-small",
                            xytext=(3, 3), textcoords="offset points")
        if by_pes:
            line = sorted(set(xs))
            ax.plot(line, [ideal(base, x / base["pes"]) for x in line], "k--",
                    label=ideal_label)
        if min(xs) > 0 and max(xs) >= 4 * min(xs):
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(ScalarFormatter())
        if min(ys) > 0 and max(ys) >= 4 * min(ys):
            ax.set_yscale("log")
        ax.set_xlabel("PEs (rows x cols)" if by_pes else key)
        ax.set_ylabel(label)
        ax.legend(fontsize="small")
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
