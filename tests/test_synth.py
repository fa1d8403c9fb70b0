"""The synthesized-area estimate: Yosys on the PE array (synthesis/array_area.py,
models/cell_area.py)."""

import time

import pytest

from models.cache import CACHE_ENV

from models import cell_area
from models.spec import ArchSpec
from synthesis import array_area as synth
from synthesis import yosys


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A fresh cache for this module: the first synthesis of each configuration is cold."""
    path = tmp_path_factory.mktemp("synth-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(path))
        yield path


@pytest.fixture(scope="module")
def small(cache_dir):
    """2x2 int8, every part, cold; with the wall time of the call."""
    spec = ArchSpec(name="synth2x2", rows=2, cols=2)
    start = time.perf_counter()
    result = synth.synthesize_area(spec, parts=("pe", "array", "array_flat"))
    return spec, result, time.perf_counter() - start


def pe_result(**fields):
    return synth.synthesize_area(ArchSpec(**fields), parts=("pe",))["pe"]


# --- the cell-area table -----------------------------------------------------------------

def test_every_mapped_cell_has_a_cited_area():
    gates = {f"$_{gate}_" for gate in cell_area.ABC_GATES} | {"$_NOT_", "$_BUF_", "$_DFF_P_"}
    assert gates == set(cell_area.CELLS)
    for cell, (library_cell, area, source) in cell_area.CELLS.items():
        assert library_cell in source and "SIZE" in source, cell
        width = float(source.split("SIZE ")[1].split(" BY")[0])
        assert area == pytest.approx(width * 1.4), cell  # the LEF footprint, um^2


def test_cell_areas_and_node_scaling():
    assert cell_area.cell_area_um2("$_NAND_", 45) == pytest.approx(0.798)
    assert cell_area.cell_area_um2("$_DFF_P_") == pytest.approx(4.522)
    assert cell_area.cell_area_um2("$_XOR_", 90) == pytest.approx(4 * 1.596)
    assert cell_area.cell_area_um2("$_MUX_", 22.5) == pytest.approx(1.862 / 4)
    assert cell_area.library_cell("$_AOI3_") == "AOI21_X1"
    with pytest.raises(cell_area.UnknownCellError, match=r"\$_DLATCH_P_"):
        cell_area.cell_area_um2("$_DLATCH_P_", 45)
    with pytest.raises(ValueError, match="tech_nm"):
        cell_area.cell_area_um2("$_NOT_", 0)
    assert cell_area.is_flip_flop("$_DFF_P_") and cell_area.is_flip_flop("$_SDFFE_PP0P_")
    assert cell_area.is_latch("$_DLATCH_N_") and not cell_area.is_latch("$_DFF_P_")


# --- synthesis ---------------------------------------------------------------------------

def test_pe_area_is_an_8x8_mac_with_its_registers(small):
    spec, result, _ = small
    pe = result["pe"]
    # 8-bit weight chain, 2 x 8-bit register file, 10-bit x relay (valid, slot, value) and
    # the partial sum at psum_bits: 17 bits, two rows of int8 products.
    assert spec.psum_bits == 17
    assert pe["flip_flops"] == 8 + 2 * 8 + 10 + 17
    assert pe["latches"] == 0
    assert set(pe["cells"]) <= set(cell_area.CELLS)
    assert pe["area_um2"] == pytest.approx(cell_area.design_area_um2(pe["cells"], 45))
    # A synthesized 8x8 multiply with a 24-bit accumulate is about 650-920 um^2 in
    # NanGate45-class cells; ours accumulates 7 bits fewer (about 7 full adders and 7
    # flip-flops less, ~60 um^2) and adds the register file, the weight chain and the x relay
    # (34 more flip-flops, ~190 um^2 with their reset gates).
    assert 650 < pe["area_um2"] < 1200, pe["area_um2"]
    assert result["yosys_version"].startswith("Yosys ")


def test_small_array_adds_up(small):
    spec, result, _ = small
    array, pe = result["array"], result["pe"]
    assert array["latches"] == 0 and array["area_um2"] > 0
    assert array["pe_count"] == 4
    assert array["pe_area_x_count_um2"] == pytest.approx(4 * pe["area_um2"])
    assert array["area_um2"] == pytest.approx(array["pe_area_x_count_um2"]
                                              + array["overhead_um2"])
    assert array["overhead_um2"] == pytest.approx(array["non_pe"]["area_um2"]
                                                  + array["boundary_um2"])
    assert array["area_um2"] == pytest.approx(cell_area.design_area_um2(array["cells"], 45))
    assert {name: v["count"] for name, v in array["pe_variants"].items()} == {
        "pe": 1, "pe_top": 1, "pe_right": 1, "pe_top_right": 1}
    # The skew and deskew registers cost area; the boundary PEs save some (row 0 adds no
    # partial sum, the right column relays no x).
    assert array["non_pe"]["area_um2"] > 0 and array["non_pe"]["flip_flops"] > 0
    assert array["boundary_um2"] < 0
    variants = array["pe_variants"]
    assert variants["pe_top_right"]["area_um2"] < variants["pe_top"]["area_um2"] \
        < variants["pe"]["area_um2"]
    assert variants["pe_right"]["area_um2"] < variants["pe"]["area_um2"]


def test_pieces_bound_the_flat_synthesis(small):
    _, result, _ = small
    flat, pieces = result["array_flat"], result["array"]
    assert flat["latches"] == 0
    # Flattening also shares across PEs (sign-extension bits of the partial sums, equal
    # relay registers), so the pieces are an upper estimate; on 2x2 17% above, on 16x16 3.5%.
    assert flat["area_um2"] <= pieces["area_um2"] <= 1.25 * flat["area_um2"]


def test_wider_operands_give_a_larger_pe(cache_dir, small):
    areas = {bits: pe_result(operand_bits=bits) for bits in (4, 16)}
    areas[8] = small[1]["pe"]
    assert areas[4]["area_um2"] < areas[8]["area_um2"] < areas[16]["area_um2"]
    # Partial sums of 12 bits (16 rows of int4), 17 (2 rows of int8: `small`), 32 (int16).
    assert [areas[b]["flip_flops"] for b in (4, 8, 16)] == [30, 51, 98]


def no_yosys(monkeypatch):
    """Make any Yosys run fail the test: a warm or rescaled call must not synthesize."""
    def refuse(*args, **kwargs):
        raise AssertionError("Yosys ran on a call the cache should answer")
    monkeypatch.setattr(synth, "run_yosys", refuse)


def test_a_warm_call_reads_the_cache(cache_dir, small, monkeypatch):
    spec, cold, _ = small
    assert not cold["pe"]["cached"] and not cold["array"]["cached"]
    no_yosys(monkeypatch)
    warm = synth.synthesize_area(spec, parts=("pe", "array", "array_flat"))
    assert warm["pe"]["cached"] and warm["array"]["cached"] and warm["array_flat"]["cached"]

    def without_cached(entry):
        if isinstance(entry, dict):
            return {k: without_cached(v) for k, v in entry.items() if k != "cached"}
        return entry

    assert without_cached(warm) == without_cached(cold)
    assert list((cache_dir / "synth").glob("pe-*.json"))
    assert list((cache_dir / "synth").glob("array-*.json"))


def test_another_node_rescales_without_synthesis(small, monkeypatch):
    spec, cold, _ = small
    no_yosys(monkeypatch)
    at_90 = synth.synthesize_area(ArchSpec(**{**spec.to_dict(), "tech_nm": 90}))
    assert at_90["pe"]["cached"]
    assert at_90["pe"]["cells"] == cold["pe"]["cells"]
    assert at_90["pe"]["area_um2"] == pytest.approx(4 * cold["pe"]["area_um2"])
    assert at_90["array"]["area_um2"] == pytest.approx(4 * cold["array"]["area_um2"])


def test_a_latch_is_refused():
    latch = """
module latchy(input en, input d, output reg q);
  always @* if (en) q = d;
endmodule
"""
    script = synth.SCRIPT.format(top="latchy", blackbox="")
    with pytest.raises(yosys.LatchError, match=r"latchy.*\$_DLATCH_P_"):
        yosys.run_yosys(latch, "latchy", script)


def test_unknown_parts_are_refused():
    with pytest.raises(ValueError, match="parts"):
        synth.synthesize_area(ArchSpec(), parts=("pe", "top"))


def test_an_output_stationary_spec_synthesizes_its_own_array(cache_dir, small):
    ws_spec, ws, _ = small
    os_spec = ArchSpec(**{**ws_spec.to_dict(), "dataflow": "os", "name": "synth2x2os"})
    assert "chain_out" in synth.unit_verilog("pe", os_spec)
    assert "chain_out" not in synth.unit_verilog("pe", ws_spec)
    assert "chain_in" in synth.unit_verilog("array", os_spec)
    result = synth.synthesize_area(os_spec, parts=("pe", "array"))
    pe, array = result["pe"], result["array"]
    assert result["config"]["dataflow"] == "os"
    # x relay (valid, last, 8-bit value), weight relay (active, value), the drain chain
    # and the accumulator: no register file, unlike the weight-stationary PE.
    assert pe["flip_flops"] == 10 + 9 + 32 + 32
    assert pe["area_um2"] != pytest.approx(ws["pe"]["area_um2"], rel=0.02)
    assert array["area_um2"] != pytest.approx(ws["array"]["area_um2"], rel=0.02)
    assert {name: v["count"] for name, v in array["pe_variants"].items()} == {"pe": 4}
    assert array["area_um2"] == pytest.approx(4 * pe["area_um2"]
                                              + array["non_pe"]["area_um2"])
