# amaranth: UnusedElaboratable=no
"""The hardware inventory (models/inventory.py) held against the generated design: Yosys
(`proc; opt`, no flattening) on the exported Verilog, flip-flop bits, SRAM bits and multipliers
counted per block of modules."""

import dataclasses
import fnmatch
import inspect
import json
import subprocess

import pytest

from models.inventory import (BLOCK_MODULES, BOUND_BITS, COMPRESSOR_DECISIONS, FETCHER_PIXELS,
                              POS_BITS,
                              CONTROLLER_TOLERANCE, DMA_WRITE_READ_LATENCY, GLB_READ_LATENCY,
                              RS_MAX_STRIDE, RS_OUTPUT_BITS,
                              RS_PE_EVENT_COUNT,
                              block_totals,
                              geometry, inventory)
from models.rs_inventory import RS_TAPS_BITS, SEQUENCER_STEP_BITS
from models.spec import ArchSpec
from pyhdl import postprocess, sequencer, tap_fold_loop
from pyhdl.buffer import GlobalBuffer
from pyhdl.compress import CompressedRowFetcher, RowCompressor
from pyhdl.export import TOP_NAME, verilog_text
from pyhdl.postprocess import PostProcessor
from pyhdl.rs_array import RowStationaryPEArray
from pyhdl.rs_loop import input_walk_layout
from pyhdl.rs_pe import RS_PE_EVENTS, RowStationaryPE
from synthesis.yosys import yosys_command

FLIP_FLOPS = {"$dff", "$dffe", "$sdff", "$sdffe", "$sdffce", "$adff", "$adffe", "$aldff",
              "$aldffe", "$dffsr", "$dffsre"}
SCRIPT = f"read_verilog -sv design.v\nhierarchy -top {TOP_NAME}\nproc\nopt\nwrite_json design.json\n"


def _block_of(module):
    """The inventory block an exported module belongs to (its path below the top): the block
    of the longest pattern it matches."""
    path = "" if module == TOP_NAME else module.removeprefix(f"{TOP_NAME}.")
    matches = sorted((len(pattern), block) for block, patterns in BLOCK_MODULES.items()
                     for pattern in patterns if fnmatch.fnmatchcase(path, pattern))
    assert matches, f"module {module!r} is in no block"
    assert len(matches) == 1 or matches[-1][0] > matches[-2][0], \
        f"module {module!r} is in blocks {matches}"
    return matches[-1][1]


def _synthesized_totals(spec, tmp_path):
    """{block: {"flop_bits", "multipliers", "sram_bits"}} from Yosys on the exported design.
    Memories of blocks without SRAM (a FIFO) count as flip-flops, as the inventory has them."""
    (tmp_path / "design.v").write_text(verilog_text(spec))
    (tmp_path / "script.ys").write_text(SCRIPT)
    done = subprocess.run([*yosys_command(), "-q", "script.ys"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    modules = json.loads((tmp_path / "design.json").read_text())["modules"]
    totals = {block: {"flop_bits": 0, "multipliers": 0, "sram_bits": 0}
              for block in BLOCK_MODULES}
    sram_blocks = {item.block for item in inventory(spec) if item.kind == "sram"}
    for name, module in modules.items():
        block = _block_of(name)
        t = totals[block]
        for cell in module["cells"].values():
            if cell["type"] in FLIP_FLOPS:
                t["flop_bits"] += int(cell["parameters"]["WIDTH"], 2)
            elif cell["type"] == "$mul":
                t["multipliers"] += 1
        memory_bits = sum(int(m["width"]) * int(m["size"])
                          for m in module.get("memories", {}).values())
        if block == "controller":
            continue    # its case tables (proc_rom) are logic, not storage
        t["sram_bits" if block in sram_blocks else "flop_bits"] += memory_bits
    return totals


SPECS = {
    "default-ws": ArchSpec(),
    "os-16x16": ArchSpec(name="os", dataflow="os"),
    "ws-6x3-rf3": ArchSpec(name="ws-6x3", rows=6, cols=3, rf_depth=3, glb_banks=2,
                           glb_input_bytes=4096, glb_weight_bytes=2048, glb_output_bytes=4096,
                           dram_bus_bytes=8),
    "os-5x3": ArchSpec(name="os-5x3", rows=5, cols=3, dataflow="os", glb_banks=2,
                       glb_input_bytes=4096, glb_weight_bytes=1024, glb_output_bytes=2048,
                       dram_bus_bytes=8),
    "os-5x3-bitmask": ArchSpec(name="os-5x3-bitmask", rows=5, cols=3, dataflow="os",
                               glb_banks=2, glb_input_bytes=4096, glb_weight_bytes=1024,
                               glb_output_bytes=2048, dram_bus_bytes=8,
                               activation_compression="bitmask"),
    "ws-6x4-2to4": ArchSpec(name="ws-6x4-2to4", rows=6, cols=4, glb_banks=2,
                            glb_input_bytes=4096, glb_weight_bytes=2048, glb_output_bytes=4096,
                            dram_bus_bytes=8, weight_sparsity="2:4"),
    "os-4x3-2to4": ArchSpec(name="os-4x3-2to4", rows=4, cols=3, dataflow="os", glb_banks=2,
                            glb_input_bytes=4096, glb_weight_bytes=1024, glb_output_bytes=2048,
                            dram_bus_bytes=8, weight_sparsity="2:4"),
    "rs-3x5": ArchSpec(name="rs-3x5", rows=3, cols=5, dataflow="rs", rs_filter_depth=24,
                       rs_input_depth=6, rs_psum_depth=2, glb_banks=2, glb_input_bytes=2048,
                       glb_weight_bytes=2048, glb_output_bytes=8192, dram_bus_bytes=4),
    "rs-2x3-16bit": ArchSpec(name="rs-2x3-16", rows=2, cols=3, dataflow="rs", operand_bits=16,
                             rs_filter_depth=40, rs_input_depth=12, rs_psum_depth=5,
                             glb_banks=2, glb_input_bytes=4096, glb_weight_bytes=2048,
                             glb_output_bytes=4096, dram_bus_bytes=8),
}


@pytest.mark.parametrize("name", SPECS)
def test_inventory_matches_the_exported_design(name, tmp_path):
    """Every block's flip-flop bits, SRAM bits and multipliers, exactly, against Yosys; the
    weight- and output-stationary controller's flip-flops (a formula while it changes) within
    CONTROLLER_TOLERANCE."""
    spec = SPECS[name]
    expected = block_totals(spec)
    found = _synthesized_totals(spec, tmp_path)
    for block in BLOCK_MODULES:
        if block == "controller" and spec.dataflow != "rs":
            assert found[block]["flop_bits"] == pytest.approx(
                expected[block]["flop_bits"], rel=CONTROLLER_TOLERANCE), block
            assert found[block]["multipliers"] == expected[block]["multipliers"] == 0
            continue
        assert found[block] == expected[block], block


def test_geometry_is_the_spec_buffers():
    """The buffer words and widths of the inventory are the spec's, bank by bank."""
    spec = ArchSpec()
    g = geometry(spec)
    srams = {item.role: item for item in inventory(spec) if item.kind == "sram"}
    assert srams["input banks"].bits == g.input_word_bits == spec.input_word_bytes * 8
    assert srams["input banks"].count * srams["input banks"].depth == spec.input_words
    assert srams["weight banks"].bits == spec.weight_word_bytes * 8
    halves = [srams[f"output half {h} banks"] for h in range(2)]
    assert sum(h.count * h.depth for h in halves) == spec.output_words
    assert srams["bias bank"].depth == spec.bias_words


def test_dataflows_differ_where_the_hardware_does():
    """The output-stationary spec has a second weight reader and no register file; the
    weight-stationary one the reverse."""
    ws = ArchSpec()
    os_ = dataclasses.replace(ws, dataflow="os")
    roles = {spec.dataflow: {item.role for item in inventory(spec)} for spec in (ws, os_)}
    assert "weight reader state" in roles["os"] and "weight reader state" not in roles["ws"]
    assert "weight register file" in roles["ws"] and "weight register file" not in roles["os"]
    assert "accumulator" in roles["os"]


def test_the_facts_of_pyhdl_it_names_are_the_rtl_s():
    """models/ cannot import pyhdl/: the inventory's copies of its facts are held here."""
    assert GLB_READ_LATENCY == GlobalBuffer.READ_LATENCY
    assert COMPRESSOR_DECISIONS == RowCompressor.DECISIONS
    assert FETCHER_PIXELS == CompressedRowFetcher.PIXELS
    post = PostProcessor(ArchSpec())
    assert DMA_WRITE_READ_LATENCY == GlobalBuffer.READ_LATENCY + post.latency
    assert BOUND_BITS == postprocess.BOUND_BITS
    assert POS_BITS == tap_fold_loop.POS.width


def test_row_stationary_facts_of_pyhdl():
    """The RS inventory's copies of pyhdl's constants are the RTL's."""
    assert RS_PE_EVENT_COUNT == len(RS_PE_EVENTS)
    assert RS_OUTPUT_BITS == inspect.signature(RowStationaryPE).parameters["output_bits"].default
    array = inspect.signature(RowStationaryPEArray).parameters
    assert RS_MAX_STRIDE == array["max_stride"].default
    assert RS_TAPS_BITS == inspect.signature(input_walk_layout).parameters["taps_bits"].default
    assert SEQUENCER_STEP_BITS == sequencer.STEP.width
