"""models/os_groups.py: output-stationary tile heights with whole pixel groups."""

from dataclasses import replace
from pathlib import Path

import pytest

from models.mapper import ConvShape, PostProcess, _mapping, map_conv
from models.os_groups import even_group_tile_rows, pixel_groups
from models.perf import predict_counters, predict_cycles, tiles
from models.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OS = replace(load_spec(ROOT / "configs" / "default.yaml"), dataflow="os")


def walked_groups(p, q, tile_p, rows):
    """Groups counted tile by tile, as the loop runs them."""
    return sum(-(-min(tile_p, p - p0) * q // rows) for p0 in range(0, p, tile_p))


@pytest.mark.parametrize("rows", [2, 3, 5, 16])
def test_pixel_groups_count_each_tiles_groups(rows):
    for p in range(1, 30):
        for q in (1, 3, 7, 56):
            for tile_p in range(1, p + 1):
                assert pixel_groups(p, q, tile_p, rows) == walked_groups(p, q, tile_p, rows)


@pytest.mark.parametrize("rows", [2, 3, 5, 16])
def test_even_tile_rows_are_the_tallest_with_fewest_groups_and_as_many_tiles(rows):
    for p in range(1, 40):
        for q in (1, 3, 7, 28, 56):
            for tile_p in range(1, p + 1):
                tiles_of = -(-p // tile_p)
                same = [t for t in range(1, tile_p + 1) if -(-p // t) == tiles_of]
                fewest = min(walked_groups(p, q, t, rows) for t in same)
                even = even_group_tile_rows(p, q, tile_p, rows)
                if walked_groups(p, q, tile_p, rows) == fewest:
                    assert even is None
                else:
                    assert even in same and walked_groups(p, q, even, rows) == fewest
                    assert all(walked_groups(p, q, t, rows) > fewest for t in same if t > even)


def test_resnet18_56x56_layers_run_whole_groups_on_the_os_16x16():
    """ResNet-18's layer1 convolutions: 7 tiles of 8 rows (448 pixels, 28 groups each), not
    9 rows (504 pixels, 31.5 groups), at the same DRAM traffic."""
    shape = ConvShape(1, 64, 56, 56, 64, 3, 3, 1, 1)
    post = PostProcess(True, (1 << 14, 20, 0), True)
    mapping = map_conv(DEFAULT_OS, shape, post)
    assert mapping.tiles == 7 and mapping.tile_p == 8
    assert sum(-(-t.rows * shape.q // 16) for t in tiles(mapping)) == 56 * 56 // 16
    d = mapping.descriptor
    tallest = _mapping(DEFAULT_OS, shape, post, None, 9, d["c_blocks"], d["k_blocks"],
                       d["k_group_blocks"], d["c_chunk_blocks"], d["w_half_words"],
                       d["w_block_words"], d["y_half_words"])
    # Six tiles of 504 pixels (32 groups each) and one of 2 rows (112 pixels, 7 groups).
    assert sum(-(-t.rows * shape.q // 16) for t in tiles(tallest)) == 6 * 32 + 7
    even, tall = (predict_counters(DEFAULT_OS, m) for m in (mapping, tallest))
    assert even["dram_bytes_read"] + even["dram_bytes_written"] \
        == tall["dram_bytes_read"] + tall["dram_bytes_written"]
    assert predict_cycles(DEFAULT_OS, mapping) < predict_cycles(DEFAULT_OS, tallest)
