"""The area estimate from hwcomponents: arithmetic, scaling, DESIGN's reference numbers, cache."""

import dataclasses
import json

import pytest

from models import area, hwlib
from models.area import COMPONENTS, AreaEstimate, component_area
from models.spec import ArchSpec


@pytest.fixture(scope="module")
def default(arch):
    return component_area(arch("default"))


def test_components_add_up_to_the_total(default):
    assert tuple(default.components) == COMPONENTS + ("total",)
    total = 0.0
    for component in COMPONENTS:
        assert default.components[component] > 0, component
        total += default.components[component]
    assert default.components["total"] == total
    assert default.total == total


def test_every_component_is_its_items_and_has_a_source(default):
    assert set(default.sources) == set(default.components)
    for component in COMPONENTS:
        assert default.details[component], component
        assert sum(default.details[component].values()) == pytest.approx(
            default.components[component], rel=1e-12)
        assert default.sources[component].strip(), component
    assert "intmac(" in default.sources["mac"]
    assert "CACTI" in default.sources["glb_input"] and "sram(" in default.sources["glb_input"]
    assert "left out" in default.sources["control"]
    assert "multiplier(" in default.sources["postprocess"]


def test_components_go_into_report_json_as_they_are(default):
    assert json.loads(json.dumps(default.components)) == default.components


def test_doubling_a_buffer_roughly_doubles_its_area(arch):
    spec = arch("default")
    bigger = component_area(dataclasses.replace(spec, glb_input_bytes=2 * spec.glb_input_bytes))
    base = component_area(spec)
    assert bigger.components["glb_input"] / base.components["glb_input"] == pytest.approx(
        2.0, rel=0.15)
    for part in ("mac", "rf", "array", "glb_weight", "glb_output"):
        assert bigger.components[part] == base.components[part], part


def test_pe_area_is_proportional_to_the_pe_count(arch):
    spec = arch("default")
    small_spec = dataclasses.replace(spec, rows=8, cols=8)
    small = component_area(small_spec)
    large = component_area(spec)  # 16 x 16: four times the PEs
    for part in ("mac", "rf"):
        assert large.components[part] / small.components[part] == pytest.approx(4, rel=1e-12)
    # Four times the partial-sum registers, each one bit wider (a column of 16 rows, not 8).
    psum = "pe_array: partial sum"
    assert (spec.psum_bits, small_spec.psum_bits) == (20, 19)
    assert large.details["array"][psum] / small.details["array"][psum] == pytest.approx(
        4 * 20 / 19, rel=1e-12)


def test_output_stationary_array_is_priced_from_its_own_registers(arch):
    ws = arch("default")
    ws_details = component_area(ws).details
    os_details = component_area(dataclasses.replace(ws, dataflow="os")).details
    assert set(os_details["rf"]) == {"pe_array: accumulator"}
    assert {"array_edges: row serializer", "array_edges: weight skew",
            "pe_array: drain chain", "array_edges: tag chain"} <= set(os_details["array"])
    assert "array_edges: input skew" not in os_details["array"]
    # One acc_bits accumulator per PE against rf_depth operands and a chain register.
    assert os_details["rf"]["pe_array: accumulator"] > ws_details["rf"]["pe_array: weight chain"]
    # Its own second DMA reader, for the weights.
    assert "dma: weight reader state" in os_details["dma"]
    assert "dma: weight reader state" not in ws_details["dma"]
    assert os_details["mac"] == ws_details["mac"]


def test_a_smaller_node_is_smaller(arch):
    spec = arch("default")
    estimates = [component_area(dataclasses.replace(spec, tech_nm=nm))
                 for nm in (65, 45, 32, 22)]
    for larger, smaller in zip(estimates, estimates[1:]):
        for component in COMPONENTS + ("total",):
            assert smaller.components[component] < larger.components[component], component


def test_post_processor_is_cols_32_bit_multipliers_and_its_adders(arch):
    """Issue 10: the post-processor's `cols` 32x32 multipliers are priced, in both
    dataflows, and so are the bias buffer and the controller."""
    for spec in (arch("default"), dataclasses.replace(arch("default"), dataflow="os")):
        details = component_area(spec).details
        multiplier = hwlib.area_um2("multiplier", {"tech_node": 45e-9, "width": 32})
        assert details["postprocess"]["postprocess: requantize"] == pytest.approx(
            spec.cols * multiplier, rel=1e-12)
        assert details["glb_bias"]["bias_buffer: bias bank"] > 0
        assert details["control"]["controller: loop counters"] > 0


def test_design_reference_numbers():
    """DESIGN's sanity numbers at 45 nm: int8 MAC with a 24-bit add, a 128 KB x 64-bit SRAM."""
    mac = hwlib.area_um2("intmac", {"tech_node": 45e-9, "multiplier_width": 8,
                                    "adder_width": 24})
    assert mac == pytest.approx(885, rel=0.02)
    sram = hwlib.area_um2("sram", {"tech_node": 45e-9, "width": 64, "depth": 16384,
                                   "size": 64 * 16384})
    assert sram == pytest.approx(0.43e6, rel=0.03)


def test_the_estimate_reproduces_the_reference_numbers():
    """An 8 x 1 int8 array with 24-bit sums and one 128 KB input bank of 64-bit words."""
    spec = ArchSpec(rows=8, cols=1, acc_bits=24, glb_banks=1, glb_input_bytes=128 * 1024)
    assert spec.input_words == 16384 and spec.rows * spec.operand_bits == 64
    estimate = component_area(spec)
    assert estimate.details["mac"]["pe_array: multiply-accumulate"] / 8 == pytest.approx(
        885, rel=0.02)
    assert estimate.components["glb_input"] == pytest.approx(0.43e6, rel=0.03)


def test_banks_are_priced_one_bank_at_a_time(arch):
    """Four CACTI banks and the one-hot register (a flip-flop per bank) that remembers which
    one a read came from."""
    spec = arch("default")
    bank = {"tech_node": 45e-9, "width": 128, "depth": spec.input_words // 4,
            "size": 128 * spec.input_words // 4}
    select = hwlib.area_um2("register", {"tech_node": 45e-9, "width": 4})
    assert component_area(spec).components["glb_input"] == pytest.approx(
        4 * hwlib.area_um2("sram", bank) + select, rel=1e-12)


def test_one_pe_array_has_no_skew():
    spec = ArchSpec(rows=1, cols=1, glb_input_bytes=64, glb_weight_bytes=64,
                    glb_output_bytes=64, glb_banks=1)
    details = component_area(spec).details["array"]
    assert "array_edges: input skew" not in details
    assert "array_edges: output deskew" not in details
    assert details["pe_array: partial sum"] > 0


def test_estimate_is_cached_as_json(tmp_path, monkeypatch):
    monkeypatch.setenv("PEFORGE_CACHE_DIR", str(tmp_path))
    spec = ArchSpec(name="cached one", rows=4, cols=4, glb_input_bytes=2048,
                    glb_weight_bytes=1024, glb_output_bytes=2048)
    first = component_area(spec)
    files = list((tmp_path / "area").glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith("cached_one-")
    assert component_area(spec) == first
    assert component_area(spec, use_cache=False) == first
    # A cache entry is read back as it is: change it and the estimate follows.
    data = json.loads(files[0].read_text())
    data["components"]["mac"] = 1.0
    files[0].write_text(json.dumps(data))
    assert component_area(spec).components["mac"] == 1.0
    # A damaged entry is rebuilt.
    files[0].write_text("{not json")
    assert component_area(spec) == first
    # Another configuration has its own entry.
    component_area(dataclasses.replace(spec, tech_nm=32))
    assert len(list((tmp_path / "area").glob("*.json"))) == 2


def test_round_trip_through_the_dict_form(default):
    assert AreaEstimate.from_dict(default.to_dict()) == default
    with pytest.raises(area.AreaError):
        AreaEstimate.from_dict({"components": {}})
