"""The mapper's batch modes in the analytical model (held equal to the RTL by
tests/test_rtl_batch.py): the digits run fetches each weight once per layer, in tiles of
whole images; a layer whose weights do not fit fetches them once per tile."""

from dataclasses import replace
from pathlib import Path

import pytest

from models.digits import CONV1, CONV2
from models.mapper import ConvShape, PostProcess, map_conv
from models.perf import predict_counters, weight_dram_rows
from models.spec import ArchSpec, load_spec

DEFAULT = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"

IMAGES = 360
POST = PostProcess(bias=True, requant=(1 << 14, 20, 0), relu=True)


def input_and_bias_bytes(spec, mapping):
    """X (a DRAM row per pixel, or per image row when packed for a folded layer) and the
    bias."""
    shape, bus = mapping.shape, spec.dram_bus_bytes
    rows = shape.n * shape.h * (1 if mapping.descriptor["fold"] else shape.w)
    return (rows * mapping.x_row_beats + mapping.descriptor["b_row_beats"]) * bus


def weight_bytes(spec, mapping):
    """W once: a DRAM row per (k, block of kernel rows) when folded (models/tap_fold.py), else
    the dataflow's."""
    shape, d = mapping.shape, mapping.descriptor
    rows = shape.k * d["taps"] if d["fold"] else weight_dram_rows(spec, shape)
    return rows * mapping.w_row_beats * spec.dram_bus_bytes


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("layer", [CONV1, CONV2], ids=lambda layer: layer.name)
def test_digits_layers_fetch_each_weight_once(dataflow, layer):
    spec = replace(load_spec(DEFAULT), dataflow=dataflow)
    shape = replace(layer.shape, n=IMAGES)
    mapping = map_conv(spec, shape, POST)
    assert mapping.tile_images > 1 and mapping.tiles > 1
    assert mapping.descriptor["w_resident"] == 1
    read = predict_counters(spec, mapping)["dram_bytes_read"]
    assert read == input_and_bias_bytes(spec, mapping) + weight_bytes(spec, mapping)


def test_weights_too_large_for_the_buffer_are_fetched_per_tile():
    """Two filter blocks of 3x3 x 40 channels need 2 x 2 x 9 x 20 = 720 words of a 128-word
    weight buffer: each tile of images fetches them again."""
    spec = ArchSpec(rows=2, cols=2, glb_input_bytes=2048, glb_weight_bytes=256,
                    glb_output_bytes=2048, dram_bus_bytes=4)
    shape = ConvShape(8, 40, 3, 3, 4, 3, 3, 1, 1)
    mapping = map_conv(spec, shape, POST)
    assert mapping.descriptor["w_resident"] == 0 and mapping.tiles > 1
    read = predict_counters(spec, mapping)["dram_bytes_read"]
    assert read == input_and_bias_bytes(spec, mapping) + mapping.tiles * weight_bytes(spec, mapping)
