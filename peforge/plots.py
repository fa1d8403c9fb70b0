"""The report's plots (PNG, matplotlib): energy per layer, utilization against the roofline,
and the area breakdown."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

COMPONENT_COLOURS = {
    "mac": "#4c72b0", "rf": "#55a868", "array": "#8172b2", "glb": "#ccb974",
    "dram": "#c44e52", "leakage": "#999999", "control": "#64b5cd",
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
