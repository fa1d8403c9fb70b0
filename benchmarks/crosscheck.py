"""peforge's counts and energies held against AccelForge on the same loop nest.

For a few layers (ResNet-18 conv2_x, a 1x1, a strided 3x3, an fc) and each dataflow, the
tiling peforge's mapper chooses (models/mapper.py) is written as an AccelForge architecture
(DRAM, the input, output and weight buffers, the PE array, the PE's stationary register and
the MAC) and a fixed mapping with the same loops, priced with peforge's own per-action table
(models/energy.py table_for: hwcomponents and CACTI), and evaluated by AccelForge.  Printed per
level and tensor: the bits moved by each action by peforge's analytical model (models/perf.py
predict_counters, which the RTL tests hold equal to the hardware's counters) and by AccelForge,
their difference, the energies, and why they differ.

AccelForge is an optional extra: `pip install -e '.[crosscheck]'`.  Without it the peforge
side of the table is printed alone.

Usage: .venv/bin/python benchmarks/crosscheck.py [--layer NAME]... [--dataflow ws|os]...
                                                 [--markdown]
"""

import argparse
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.energy import table_for  # noqa: E402
from models.inventory import geometry  # noqa: E402
from models.mapper import ConvShape, PostProcess, fc_shape, map_conv  # noqa: E402
from models.perf import (fetched_weight_rows, predict_counters, tiles,  # noqa: E402
                         weight_dram_rows)
from models.spec import DATAFLOWS, ArchSpec  # noqa: E402

LAYERS = {
    "conv2_x": ConvShape(n=1, c=64, h=56, w=56, k=64, r=3, s=3, stride=1, pad=1),
    "1x1": ConvShape(n=1, c=128, h=28, w=28, k=128),
    "3x3/2": ConvShape(n=1, c=64, h=56, w=56, k=128, r=3, s=3, stride=2, pad=1),
    "fc": fc_shape(1, 512, 1000),
}
"""ResNet-18's conv2_x, a 1x1 of conv3_x's width, conv3_x's strided first 3x3, its fc."""

POST = PostProcess(requant=(1 << 20, 24, 0), relu=True)
"""int8 outputs: requantized and clamped on the way out, as between network layers."""

CAUSES = {
    "padding": "padding: AccelForge has none (its input is (P-1)*stride+R rows); peforge "
               "neither stores nor reads it",
    "partial tile": "peforge fetches per tile, the partial last one whole ({tiles} tiles); "
                    "AccelForge prorates it ({exact:.2f})",
    "padded block": "k = {k} is not a multiple of cols: peforge's last block of filters and "
                    "outputs is padded to cols",
    "uneven groups": "output-channel groups of {group} blocks split {blocks} blocks unevenly: "
                     "AccelForge counts every group as a full one",
    "streamed blocks": "peforge keeps the first {resident} filter blocks resident across tiles "
                       "and loads only the last {streamed} again every tile; AccelForge (as "
                       "written here) loads every block every tile",
    "int8 out": "peforge writes int8 (requantized on the way out); AccelForge keeps the "
                "output's 32-bit psum width up to DRAM",
    "pixel groups": "output-stationary: peforge groups rows pixels across output rows, "
                    "AccelForge (as written here) within one",
    "paired blocks": "peforge adds two reduction blocks in the accumulator before a "
                     "write-back ({written} of {vectors} vectors written); AccelForge (as "
                     "written here) writes every block",
}
"""What can make peforge's count differ from AccelForge's for the same loop nest."""

CAUSES_OF = {
    ("DRAM", "I"): ("padding", "partial tile"),
    ("DRAM", "W"): ("partial tile", "padded block", "streamed blocks"),
    ("DRAM", "O"): ("int8 out",),
    ("InputBuffer", "I"): ("padding", "partial tile", "uneven groups"),
    ("WeightBuffer", "W"): ("partial tile", "padded block", "pixel groups", "streamed blocks"),
    ("OutputBuffer", "O"): ("padded block", "paired blocks"),
    ("PE", "W"): ("partial tile", "padded block", "streamed blocks"),
}
"""The causes that can apply to each level and tensor."""


def why(row, spec, mapping):
    """The causes of a difference that apply to this row's layer and architecture."""
    shape, d = mapping.shape, mapping.descriptor
    applies = {
        "padding": shape.pad > 0,
        "partial tile": shape.p % mapping.tile_p != 0,
        "padded block": shape.k % spec.cols != 0,
        "uneven groups": d["k_blocks"] % d["k_group_blocks"] != 0,
        "int8 out": True,
        "pixel groups": spec.dataflow == "os",
        "streamed blocks": d["w_stream_blocks"] != 0,
        "paired blocks": d["paired"] != 0,
    }
    counted = predict_counters(spec, mapping)
    values = {"tiles": mapping.tiles, "exact": shape.n * shape.p / mapping.tile_p,
              "k": shape.k, "group": d["k_group_blocks"], "blocks": d["k_blocks"],
              "resident": d["k_blocks"] - d["w_stream_blocks"], "streamed": d["w_stream_blocks"],
              "written": f"{counted['glb_output_writes']:,}",
              "vectors": f"{counted['busy_cycles']:,}"}
    return "; ".join(CAUSES[cause].format(**values)
                     for cause in CAUSES_OF.get((row.level, row.tensor), ())
                     if applies[cause]) or "not explained"


@dataclass(frozen=True)
class Row:
    """One level, tensor and action: bits moved and pJ, by each model."""

    level: str
    tensor: str
    action: str
    peforge_bits: float
    peforge_pj: float
    accelforge_bits: float | None = None
    accelforge_pj: float | None = None


def mac_pj(spec, pj):
    """One MAC as peforge prices it (models/energy.py): its multiply and its add at the PE
    adder's width, spec.psum_bits."""
    return pj["multiply"] + spec.psum_bits * pj["add_bit"]


# --- peforge's side ---------------------------------------------------------------------------

def peforge_rows(spec, mapping, table):
    """Bits and pJ per level, tensor and action from peforge's analytical counters."""
    c = predict_counters(spec, mapping)
    pj = table.per_action(spec)
    g = geometry(spec)
    bus = spec.dram_bus_bytes
    shape = mapping.shape
    walk = list(tiles(mapping))
    x_bytes = sum(t.band_rows * shape.w for t in walk) * mapping.x_row_beats * bus
    w_bytes = fetched_weight_rows(spec, mapping, weight_dram_rows(spec, shape)) \
        * mapping.w_row_beats * bus
    assert x_bytes + w_bytes == c["dram_bytes_read"], "DRAM split does not add up"
    rows = [
        Row("DRAM", "I", "read", 8 * x_bytes, x_bytes * pj["dram_read_byte"]),
        Row("DRAM", "W", "read", 8 * w_bytes, w_bytes * pj["dram_read_byte"]),
        Row("DRAM", "O", "write", 8 * c["dram_bytes_written"],
            c["dram_bytes_written"] * pj["dram_write_byte"]),
    ]
    for level, tensor, part, width in (("InputBuffer", "I", "input", g.input_word_bits),
                                       ("WeightBuffer", "W", "weight", g.weight_word_bits),
                                       ("OutputBuffer", "O", "output", g.output_word_bits)):
        for verb in ("read", "write"):
            count = c[f"glb_{part}_{verb}s"]
            rows.append(Row(level, tensor, verb, count * width,
                            count * pj[f"glb_{part}_{verb}"]))
    if spec.dataflow == "os":
        bits = c["rf_writes"] * spec.acc_bits
        rows.append(Row("PE", "O", "write", bits, bits * pj["register_bit_write"]))
    else:
        bits = c["rf_writes"] * spec.operand_bits
        rows.append(Row("PE", "W", "write", bits, bits * pj["register_bit_write"]))
    rows.append(Row("MAC", "-", "compute", c["macs"], c["macs"] * mac_pj(spec, pj)))
    return rows


# --- AccelForge's side ------------------------------------------------------------------------

def _memory(name, tensors, read_pj, write_pj, bits):
    return (f"  - !Memory\n    name: {name}\n    size: inf\n    leak_power: 0\n    area: 0\n"
            f"    tensors: {{keep: {tensors}}}\n    actions:\n"
            f"    - {{name: read, energy: {read_pj!r}, bits_per_action: {bits}, "
            f"throughput: inf}}\n"
            f"    - {{name: write, energy: {write_pj!r}, bits_per_action: {bits}, "
            f"throughput: inf}}\n")


def accelforge_yaml(spec, mapping, table):
    """The architecture, workload and fixed mapping of `mapping` in AccelForge's YAML."""
    pj = table.per_action(spec)
    g = geometry(spec)
    shape, d = mapping.shape, mapping.descriptor
    rbw = pj["register_bit_write"]
    output_stationary = spec.dataflow == "os"
    pe_tensor, pe_bits = ("O", spec.acc_bits) if output_stationary else ("W", spec.operand_bits)
    arch = ("arch:\n  nodes:\n"
            + _memory("MainMemory", "All", pj["dram_read_byte"], pj["dram_write_byte"], 8)
            + _memory("InputBuffer", "I", pj["glb_input_read"], pj["glb_input_write"],
                      g.input_word_bits)
            + _memory("OutputBuffer", "O", pj["glb_output_read"], pj["glb_output_write"],
                      g.output_word_bits)
            + _memory("WeightBuffer", "W", pj["glb_weight_read"], pj["glb_weight_write"],
                      g.weight_word_bits)
            + f"  - !Container\n    name: PEArray\n    spatial:\n"
              f"    - {{name: rows, fanout: {spec.rows}}}\n"
              f"    - {{name: cols, fanout: {spec.cols}}}\n"
            # A flip-flop read is not charged (models/energy.py's rule), a load is.
            + _memory("PE", pe_tensor, 0.0, pe_bits * rbw, pe_bits)
            + f"  - !Compute\n    name: MAC\n    leak_power: 0\n    area: 0\n    actions:\n"
              f"    - {{name: compute, energy: {mac_pj(spec, pj)!r}, throughput: 1}}\n")
    st = shape.stride
    workload = (
        "workload:\n  iteration_space_shape:\n"
        + "".join(f"    {rank}: 0 <= {rank} < {size}\n" for rank, size in
                  (("n", shape.n), ("k", shape.k), ("c", shape.c), ("p", shape.p),
                   ("q", shape.q), ("r", shape.r), ("s", shape.s)))
        + f"  bits_per_value: {{I: {spec.operand_bits}, W: {spec.operand_bits}, "
          f"O: {spec.acc_bits}}}\n"
        "  einsums:\n  - name: Conv\n    tensor_accesses:\n"
        f"    - name: I\n      projection: {{N: n, C: c, H: {st}*p + r, W: {st}*q + s}}\n"
        "    - {name: W, projection: [k, c, r, s]}\n"
        "    - {name: O, projection: [n, k, p, q], output: True}\n"
        "    renames: {weight: W, input: I, output: O}\n")

    def temporal(rank, tile):
        return f"  - !Temporal\n    rank_variable: {rank}\n    tile_shape: {tile}\n"

    def storage(tensors, component):
        return f"  - !Storage\n    tensors: [{tensors}]\n    component: {component}\n"

    def spatial(rank, name):
        return (f"  - !Spatial\n    rank_variable: {rank}\n    tile_shape: 1\n"
                f"    name: {name}\n    component: PEArray\n")

    # peforge's loop nest (pyhdl/controller.py, models/perf.py), outermost first.
    nest = (storage("I, W, O", "MainMemory") + temporal("n", 1)
            + temporal("p", mapping.tile_p) + storage("I", "InputBuffer")
            + temporal("k", spec.cols * d["k_group_blocks"]) + storage("O", "OutputBuffer")
            + temporal("k", spec.cols)
            + temporal("c", spec.rows * d["c_chunk_blocks"]) + storage("W", "WeightBuffer"))
    if output_stationary:
        # Groups of `rows` output pixels (here within one output row), each reducing the
        # chunk's taps and channels one channel a cycle in the PEs' accumulators.
        nest += (temporal("p", 1) + temporal("q", spec.rows)
                 + spatial("q", "rows") + spatial("k", "cols") + storage("O", "PE")
                 + temporal("r", 1) + temporal("s", 1) + temporal("c", 1))
    else:
        # Each reduction block (tap, block of `rows` channels) is committed to the PEs'
        # register files, then every pixel of the tile streams through.
        nest += (temporal("r", 1) + temporal("s", 1) + temporal("c", spec.rows)
                 + spatial("c", "rows") + spatial("k", "cols") + storage("W", "PE")
                 + temporal("p", 1) + temporal("q", 1))
    nest += "  - !Compute\n    einsum: Conv\n    component: MAC\n"
    return arch + workload + "mapping:\n  nodes:\n" + nest


@contextlib.contextmanager
def _separate_model_lists():
    """hwcomponents 1.0.114 caches its list of installed models on first use, as wrappers
    when peforge's queries come first (get_action_cost), and hands the cached wrappers to
    AccelForge's get_models, which wants the classes ("'ComponentModelWrapper' object has no
    attribute '__name__'").  Give AccelForge its own list, then restore peforge's."""
    from hwcomponents import find_models

    saved = find_models._ALL_ESTIMATORS
    find_models._ALL_ESTIMATORS = None
    try:
        yield
    finally:
        find_models._ALL_ESTIMATORS = saved


def accelforge_counts(spec, mapping, table):
    """{(level, tensor, action): (bits, pJ)} from AccelForge's evaluation of the mapping."""
    import accelforge as af

    bits_per_action = {"MainMemory": 8, "InputBuffer": geometry(spec).input_word_bits,
                       "OutputBuffer": geometry(spec).output_word_bits,
                       "WeightBuffer": geometry(spec).weight_word_bits,
                       "PE": spec.acc_bits if spec.dataflow == "os" else spec.operand_bits,
                       "MAC": 1}
    with tempfile.TemporaryDirectory(prefix="peforge-crosscheck-") as scratch, \
            _separate_model_lists():
        path = Path(scratch) / "spec.yaml"
        path.write_text(accelforge_yaml(spec, mapping, table))
        result = af.Spec.from_yaml(str(path)).evaluate_mapping()
    actions = result.actions(per_component=True, per_tensor=True)
    energy = result.energy(per_component=True, per_tensor=True, per_action=True)
    found = {}
    for (component, tensor, action), count in actions.items():
        level = "DRAM" if component == "MainMemory" else component
        tensor = "-" if tensor in ("None", None) else tensor
        pj = energy.get((component, tensor if tensor != "-" else "None", action), 0.0)
        found[(level, tensor, action)] = (float(count) * bits_per_action[component],
                                          float(pj))
    return found


# --- the table --------------------------------------------------------------------------------

def crosscheck(spec, shape, with_accelforge=True):
    """Rows for one layer on one architecture (AccelForge's columns None without it)."""
    mapping = map_conv(spec, shape, POST)
    table = table_for(spec)
    rows = peforge_rows(spec, mapping, table)
    if not with_accelforge:
        return mapping, rows
    found = accelforge_counts(spec, mapping, table)
    return mapping, [replace(row, accelforge_bits=found.get(key, (0.0, 0.0))[0],
                             accelforge_pj=found.get(key, (0.0, 0.0))[1])
                     for row in rows
                     for key in [(row.level, row.tensor, row.action)]]


def _difference(row):
    if row.accelforge_bits is None:
        return ""
    if row.peforge_bits == row.accelforge_bits:
        return "0"
    if not row.accelforge_bits:
        return "n/a"
    return f"{100 * (row.peforge_bits / row.accelforge_bits - 1):+.1f} %"


def format_table(name, spec, mapping, rows, markdown):
    """The rows as aligned text or a Markdown table, pJ per MAC of the layer."""
    shape = mapping.shape
    head = (f"{name} ({shape.c}->{shape.k}, {shape.h}x{shape.w}, {shape.r}x{shape.s}/"
            f"{shape.stride}) on {spec.rows}x{spec.cols} {spec.dataflow.upper()}, "
            f"tile_p={mapping.tile_p}, {mapping.tiles} tiles")
    columns = ("level", "tensor", "action", "peforge bits", "AccelForge bits", "difference",
               "peforge pJ/MAC", "AccelForge pJ/MAC", "why they differ")
    lines = []
    macs = shape.macs
    for row in rows:
        af_bits = "-" if row.accelforge_bits is None else f"{row.accelforge_bits:,.0f}"
        af_pj = "-" if row.accelforge_pj is None else f"{row.accelforge_pj / macs:.4f}"
        same = row.accelforge_bits is not None and row.peforge_bits == row.accelforge_bits
        because = "" if same or row.accelforge_bits is None else why(row, spec, mapping)
        lines.append((row.level, row.tensor, row.action, f"{row.peforge_bits:,.0f}", af_bits,
                      _difference(row), f"{row.peforge_pj / macs:.4f}", af_pj, because))
    if markdown:
        out = [f"**{head}**", "", "| " + " | ".join(columns) + " |",
               "|" + "---|" * len(columns)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out) + "\n"
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in
              enumerate(columns[:-1])]
    out = [head, "  ".join(c.ljust(w) for c, w in zip(columns, widths)) + "  " + columns[-1]]
    out += ["  ".join(v.ljust(w) for v, w in zip(line, widths)) + "  " + line[-1]
            for line in lines]
    return "\n".join(out) + "\n"


def _accelforge_available():
    try:
        import accelforge  # noqa: F401
    except ImportError as error:
        return str(error)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", action="append", metavar="NAME",
                        help=f"a layer ({', '.join(LAYERS)}); default all")
    parser.add_argument("--dataflow", action="append", metavar="DF",
                        help="ws or os; default both")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args(argv)
    for name in args.layer or ():
        if name not in LAYERS:
            print(f"crosscheck: unknown layer {name!r} (known: {', '.join(LAYERS)})",
                  file=sys.stderr)
            return 2
    for dataflow in args.dataflow or ():
        if dataflow not in DATAFLOWS:
            print(f"crosscheck: unknown dataflow {dataflow!r} (known: "
                  f"{', '.join(DATAFLOWS)})", file=sys.stderr)
            return 2
    missing = _accelforge_available()
    if missing:
        print(f"crosscheck: AccelForge is not installed ({missing}); printing peforge's side "
              f"only (pip install -e '.[crosscheck]')", file=sys.stderr)
    for dataflow in args.dataflow or DATAFLOWS:
        spec = ArchSpec(name=f"default-{dataflow}", dataflow=dataflow)
        for name in args.layer or LAYERS:
            started = time.monotonic()
            print(f"crosscheck: {name} {dataflow} ...", file=sys.stderr, flush=True)
            mapping, rows = crosscheck(spec, LAYERS[name], with_accelforge=not missing)
            print(format_table(name, spec, mapping, rows, args.markdown))
            print(f"crosscheck: {name} {dataflow} in {time.monotonic() - started:.1f} s",
                  file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
