"""The weight-stationary loop's paired schedule alone in Amaranth's simulator
(models/paired_blocks.py): for each pair of reduction blocks, A's first `pair_alone` pixels
alone, then every other pixel's A word (held) and B word on consecutive cycles, then B's first
`pair_alone` pixels alone; an odd chunk's last block alone.  Vectors against the convolution's
windows computed from the layer's shape; the schedule's cycles against the model's."""

import pytest

from models import paired_blocks
from models.perf import _WeightStationary
from models.spec import ArchSpec
from pyhdl.array import SystolicArray
from pyhdl.ws_loop import WeightStationaryLoop

from test_inner_loops import (INPUT_ADDR_BITS, OUTPUT_ADDR_BITS, SHAPES, WEIGHT_ADDR_BITS,
                              one_chunk, reduction_blocks, simulate, window_vector)


def paired_order(blocks, pixels, alone):
    """(block index, pixel, first, hold) of every vector of a paired chunk, in order."""
    order = []
    for a in range(0, len(blocks), 2):
        first = int(a == 0)
        if a + 1 == len(blocks):
            order += [(a, p, first, 0) for p in range(pixels)]
            continue
        order += [(a, p, first, 0) for p in range(alone)]
        for p in range(alone, pixels):
            order += [(a, p, first, 1), (a + 1, p, first, 0)]
        order += [(a + 1, p, 0, 0) for p in range(alone)]
    return order


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("rows, cols", [(2, 3), (3, 2)])
def test_paired_loop_feeds_every_window_once(shape, rows, cols):
    spec = ArchSpec(rows=rows, cols=cols, rf_depth=2)
    mapping, x = one_chunk(spec, shape)
    assert paired_blocks.pairable(spec, mapping)
    mapping = paired_blocks.paired(spec, mapping)
    d = mapping.descriptor
    loop = WeightStationaryLoop(spec, SystolicArray(spec), INPUT_ADDR_BITS, WEIGHT_ADDR_BITS,
                                OUTPUT_ADDR_BITS)
    fed, commits, cycle = [], [], [0]
    starts = []

    def sample(ctx, loop):
        cycle[0] += 1
        if ctx.get(loop.x.valid):
            tag = ctx.get(loop.tag)
            fed.append(([ctx.get(loop.x.values[i]) for i in range(rows)],
                        tag["addr"], tag["first"], tag["hold"]))
        if ctx.get(loop.w_commit):
            commits.append(ctx.get(loop.w_slot))
            starts.append(cycle[0])
        if ctx.get(loop.chunk_done):
            starts.append(cycle[0])

    simulate(loop, mapping, x, list(range(1 << WEIGHT_ADDR_BITS)), sample, cycles=3)
    blocks = reduction_blocks(mapping.shape, d["c_blocks"])
    pixels = d["tile_pixels"]
    expected = [(window_vector(spec, mapping.shape, x, d["tile_p"], p, blocks[b]), p, first,
                 hold) for b, p, first, hold in paired_order(blocks, pixels, d["pair_alone"])]
    assert fed == expected
    assert commits == [b % 2 for b in range(len(blocks))]
    # From the first commit to chunk_done, as the model counts a chunk (it ends a cycle
    # after the last issue, the cycle chunk_done pulses).
    streamer = _WeightStationary(spec, mapping)
    model_first_commit = spec.cols + 1
    end, _, _ = paired_blocks.stream_chunk(streamer, 0, model_first_commit, pixels,
                                           len(blocks), None)
    assert starts[-1] - starts[0] == end - 1 - model_first_commit
