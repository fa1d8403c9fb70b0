"""benchmarks/crosscheck.py: peforge's side of the table (AccelForge is an optional extra,
run by the benchmark itself) and its command line."""

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from models.mapper import map_conv
from models.spec import ArchSpec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from crosscheck import LAYERS, POST, accelforge_yaml, peforge_rows  # noqa: E402
from models.energy import table_for  # noqa: E402


def _rows(spec, name):
    mapping = map_conv(spec, LAYERS[name], POST)
    return mapping, {(r.level, r.tensor, r.action): r
                     for r in peforge_rows(spec, mapping, table_for(spec))}


def test_conv2_x_partial_sums_make_36_trips_through_the_output_buffer():
    """Issue 16's figure: weight-stationary, each output word is read and written once per
    tap and channel block (9 x 4), 451,584 accesses of 512-bit words each way; with the
    blocks paired (the mapper's choice, models/paired_blocks.py), per tile, filter block and
    pair of blocks the tile's pixels plus the 32 each block streams alone (2 chunks of 9
    pairs, 7 tiles of 504 pixels but the last of 112): 241,920."""
    spec = ArchSpec()
    mapping, rows = _rows(spec, "conv2_x")
    unpaired = replace(mapping, descriptor={**mapping.descriptor, "paired": 0})
    unpaired_rows = {(r.level, r.tensor, r.action): r
                     for r in peforge_rows(spec, unpaired, table_for(spec))}
    words = 56 * 56 * 64 // spec.cols
    paired = 4 * 2 * 9 * (6 * (504 + 32) + (112 + 32))
    assert mapping.descriptor["paired"] and mapping.descriptor["pair_alone"] == 32
    for action in ("read", "write"):
        assert unpaired_rows[("OutputBuffer", "O", action)].peforge_bits == 36 * words * 512
        assert rows[("OutputBuffer", "O", action)].peforge_bits == paired * 512
    # 7 tiles of output rows: three of the four filter blocks' weights resident (fetched
    # once), the last block's 9,216 bytes fetched again by each of the 6 later tiles.
    assert mapping.tiles == 7 and mapping.descriptor["w_stream_blocks"] == 1
    assert rows[("DRAM", "W", "read")].peforge_bits == 8 * (36_864 + 6 * 9_216)


def test_output_stationary_accumulates_in_the_pes():
    spec = ArchSpec(dataflow="os")
    _, rows = _rows(spec, "conv2_x")
    macs = LAYERS["conv2_x"].macs
    assert rows[("PE", "O", "write")].peforge_bits == macs * spec.acc_bits
    words = 56 * 56 * 64 // spec.cols
    assert rows[("OutputBuffer", "O", "write")].peforge_bits == words * 512


def test_the_accelforge_spec_holds_peforges_loop_nest():
    spec = ArchSpec()
    mapping = map_conv(spec, LAYERS["3x3/2"], POST)
    text = accelforge_yaml(spec, mapping, table_for(spec))
    assert "H: 2*p + r" in text
    nest = text[text.index("mapping:"):]
    assert f"tile_shape: {mapping.tile_p}" in nest
    assert nest.index("component: InputBuffer") < nest.index("component: OutputBuffer") \
        < nest.index("component: WeightBuffer") < nest.index("name: rows") \
        < nest.index("component: PE")


def test_both_models_price_a_mac_alike():
    """AccelForge's compute energy is peforge's price of one MAC: a multiply and an add at the
    PE adder's width (psum_bits in a weight-stationary PE, acc_bits in an output-stationary
    one), so the WS MAC is the cheaper by (acc_bits - psum_bits) add bits."""
    per_mac = {}
    for dataflow in ("ws", "os"):
        spec = ArchSpec(dataflow=dataflow)
        table = table_for(spec)
        pj = table.per_action(spec)
        mapping, rows = _rows(spec, "conv2_x")
        mac = rows[("MAC", "-", "compute")]
        assert mac.peforge_bits == LAYERS["conv2_x"].macs
        per_mac[dataflow] = mac.peforge_pj / mac.peforge_bits
        assert per_mac[dataflow] == pytest.approx(pj["multiply"] + spec.psum_bits * pj["add_bit"])
        text = accelforge_yaml(spec, mapping, table)
        compute = re.search(r"name: compute, energy: ([0-9.e+-]+),", text)
        assert float(compute.group(1)) == pytest.approx(per_mac[dataflow], rel=1e-12)
    spec = ArchSpec()
    assert per_mac["os"] - per_mac["ws"] == pytest.approx(
        (spec.acc_bits - spec.psum_bits) * table_for(spec).actions["add_bit"].pj)


def test_unknown_layer_is_refused_in_one_line():
    done = subprocess.run([sys.executable, "benchmarks/crosscheck.py", "--layer", "conv9"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == "crosscheck: unknown layer 'conv9' (known: conv2_x, 1x1, 3x3/2, fc)\n"
