"""The architecture's area, two independent ways, side by side.

(a) component level: hwcomponents models of every MAC, register, pipeline register and SRAM
    bank (models/area.py);
(b) synthesis: Yosys on the exported PE-array Verilog, cells priced by a cited library
    (synthesis/array_area.py), plus the SRAM banks of (a), which synthesis does not build.
"""

from models.area import component_area

from synthesis.array_area import synthesize_area

ARRAY_COMPONENTS = ("mac", "rf", "array")
SRAM_COMPONENTS = ("glb_input", "glb_weight", "glb_output", "glb_bias")


def architecture_area(spec, synthesize=True):
    """{component: um^2, ..., "total": um^2} from (a), and under "synthesized" estimate (b)
    of the PE array with how far it is from (a)'s figure for the same logic."""
    area = dict(component_area(spec).components)
    if synthesize:
        synthesized = synthesize_area(spec, parts=("array",))["array"]["area_um2"]
        modelled = sum(area[key] for key in ARRAY_COMPONENTS)
        sram = sum(area[key] for key in SRAM_COMPONENTS)
        area["synthesized"] = {
            "pe_array_logic": synthesized,
            "sram": sram,
            "pe_array_and_sram": synthesized + sram,
            "pe_array_logic_components": modelled,
            "pe_array_difference": (synthesized - modelled) / modelled,
        }
    return area
