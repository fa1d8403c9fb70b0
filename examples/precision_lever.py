"""The precision lever: the Fashion-MNIST CNN at 4-, 8- and 16-bit operands, side by side.

    python examples/precision_lever.py [--images N] [OUT_DIR]

For each operand width the default architecture (configs/default.yaml) is rebuilt with that
`operand_bits`, the float graph (models/fashion_mnist.onnx) is quantized post-training
(per-channel symmetric weights, asymmetric activations calibrated on the first 1,000
training images), and its top-1 accuracy on the test images is measured on the golden model
(bit-exact to the RTL); energy per inference comes from the analytical model's counters and
the energy table of that architecture, area from the component models.  Writes
OUT_DIR/precision.md (the README's table) and OUT_DIR/precision.png (default results/).
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from models import fashion_mnist  # noqa: E402
from models.area import component_area  # noqa: E402
from models.energy import table_for  # noqa: E402
from models.onnx_graph import load_graph  # noqa: E402
from models.spec import load_spec  # noqa: E402
from peforge.accuracy import run_graph  # noqa: E402
from peforge.report import totals  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (4, 8, 16)
CALIBRATION = 1000


def measure(bits, graph, inputs, labels, calibration):
    spec = replace(load_spec(ROOT / "configs" / "default.yaml"), name=f"default-int{bits}",
                   operand_bits=bits)
    table = table_for(spec)
    entries, _, accuracy, _, _ = run_graph(spec, graph, inputs, "model", table, labels,
                                           calibration, log=lambda message: None)
    total = totals(spec, entries, len(inputs))
    return {"bits": bits, "float": accuracy["float"], "quantized": accuracy[f"int{bits}_golden"],
            "energy_nj": total["energy_pj"]["total"] / len(inputs) / 1e3,
            "dram_share": total["energy_pj"]["dram"] / total["energy_pj"]["total"],
            "area_mm2": component_area(spec).total / 1e6, "cycles": total["cycles"]}


def write(rows, count, out):
    lines = [f"| operands | accuracy ({count} test images) | against float | energy per "
             f"inference | DRAM share | area (components) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| int{row['bits']} | {100 * row['quantized']:.2f} % | "
                     f"{100 * (row['quantized'] - row['float']):+.2f} points | "
                     f"{row['energy_nj'] / 1e3:.1f} µJ | {100 * row['dram_share']:.1f} % | "
                     f"{row['area_mm2']:.3f} mm² |")
    lines.append(f"\nFloat: {100 * rows[0]['float']:.2f} %.")
    (out / "precision.md").write_text("\n".join(lines) + "\n")
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    labels = [f"int{row['bits']}" for row in rows]
    for axis, key, title, scale in ((axes[0], "quantized", "top-1 accuracy (%)", 100),
                                    (axes[1], "energy_nj", "energy per inference (nJ)", 1),
                                    (axes[2], "area_mm2", "area (mm²)", 1)):
        axis.bar(labels, [row[key] * scale for row in rows], color="tab:blue")
        axis.set_title(title)
    axes[0].axhline(100 * rows[0]["float"], color="gray", linestyle="--", label="float")
    axes[0].set_ylim(0, 100)
    axes[0].legend(loc="lower right")
    figure.suptitle(f"Fashion-MNIST CNN on the 16x16 array, {count} test images")
    figure.tight_layout()
    figure.savefig(out / "precision.png", dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    graph = load_graph(fashion_mnist.MODEL_PATH)
    inputs = fashion_mnist.images("test")[:args.images]
    labels = fashion_mnist.labels("test")[:args.images]
    calibration = fashion_mnist.images("train")[:CALIBRATION]
    rows = []
    for bits in WIDTHS:
        rows.append(measure(bits, graph, inputs, labels, calibration))
        print(f"int{bits}: {rows[-1]}", file=sys.stderr, flush=True)
    write(rows, len(inputs), args.out)
    print((args.out / "precision.md").read_text())


if __name__ == "__main__":
    main()
