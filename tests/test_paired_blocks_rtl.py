"""Paired reduction blocks on the Verilator-simulated RTL (models/paired_blocks.py): each
pair's first pixels streamed by each block alone, the rest on consecutive cycles and added in
the accumulator's pair register before one write-back; bit for bit against the golden model,
every counter and the cycles against the analytical model, on a square and a non-square
weight-stationary array."""

import numpy as np
import pytest

from models.golden import operand_range
from models.paired_blocks import chunk_blocks
from models.perf import tiles
from testbench.jobs import Job
from testbench.layer_checks import assert_run_matches_the_models
from testbench.layer_values import conv_job, layer_run_fixture

pytestmark = pytest.mark.rtl

ARCHS = ("micro", "fold-8x4")


def make_jobs(spec, seed):
    """An even number of reduction blocks (3x3, two channel blocks, batch 2), an odd one
    (1x1, three channel blocks: the last streams alone), a strided 3x3 with a partial
    channel and filter block, and weights in several chunks whose last has an odd number of
    blocks, all with bias, requantization and several tiles; and a pair of 1x1 blocks of
    the most negative operands, int32 outputs (the pair's sum needs a bit more than a
    column's)."""
    rng = np.random.default_rng(seed)
    r, c = spec.rows, spec.cols
    low, _ = operand_range(spec.operand_bits)
    return [
        conv_job(rng, spec, "even_3x3_batch2", 2, 2 * r, 10, 10, 2 * c, 3, 1, 1, post=True),
        conv_job(rng, spec, "odd_1x1", 1, 3 * r, 12, 12, 3 * c, 1, 1, 0, post=True),
        conv_job(rng, spec, "strided_3x3", 1, r + 1, 13, 11, c + 1, 3, 2, 1, post=True),
        conv_job(rng, spec, "chunks_odd_last", 1, 11 * r, 9, 9, 2 * c, 3, 1, 1, post=True),
        # Every product lo * lo: a pair's two column sums add up beyond psum_bits.
        Job("extreme_pair_sums", "conv", np.full((1, 2 * r, 8, 8), low),
            np.full((c, 2 * r, 1, 1), low)),
    ]


paired_run = layer_run_fixture("paired_run", ARCHS, make_jobs, seed=41)


def test_layers_take_the_paired_schedule(paired_run):
    """All but the strided layer pair their blocks (over several tiles: an even and an odd
    number of blocks a chunk, and several chunks, the last odd); the mapper pairs a layer
    only where every tile has more pixels than its blocks stream alone."""
    spec, jobs, _ = paired_run
    odd = []
    for job in jobs:
        [part] = job.parts(spec)
        m, d = part.mapping, part.mapping.descriptor
        least = min(t.rows for t in tiles(m)) * m.shape.q
        assert d["paired"] == (least > spec.rows + spec.cols), job.name
        if job.name != "strided_3x3":
            assert d["paired"] and (m.tiles > 1 or job.name == "extreme_pair_sums"), job.name
            odd.append([chunk_blocks(m, chunk) % 2 for chunk in range(d["c_chunks"])])
    assert odd[:2] == [[0], [1]]
    assert len(odd[2]) > 1 and odd[2][-1] == 1
    assert odd[3] == [0]


def test_pair_sums_need_a_bit_more_than_column_sums(paired_run):
    """The extreme layer's pair sums (2 rows products of lo * lo) exceed what psum_bits
    holds and fit pair_sum_bits: the stage's extra bit is exercised."""
    spec, _, _ = paired_run
    low, _ = operand_range(spec.operand_bits)
    assert operand_range(spec.psum_bits)[1] < 2 * spec.rows * low * low \
        <= operand_range(spec.pair_sum_bits)[1]


def test_outputs_counters_and_cycles_match_the_models(paired_run):
    assert_run_matches_the_models(*paired_run)


def test_pairs_halve_the_output_buffer_trips(paired_run):
    """A paired layer's output-buffer writes: per tile, filter block and pair of blocks,
    the tile's pixels plus the pixels each block streams alone; per lone block, the pixels;
    fewer than its vectors (one write each unpaired)."""
    spec, jobs, results = paired_run
    for job, result in zip(jobs, results):
        [part] = job.parts(spec)
        m, d = part.mapping, part.mapping.descriptor
        if not d["paired"]:
            continue
        writes = 0
        for tile in tiles(m):
            pixels = tile.rows * m.shape.q
            for chunk in range(d["c_chunks"]):
                blocks = chunk_blocks(m, chunk)
                writes += d["k_blocks"] * (blocks // 2 * (pixels + d["pair_alone"])
                                           + blocks % 2 * pixels)
        assert result.counters["glb_output_writes"] == writes, job.name
        assert writes < result.counters["busy_cycles"], job.name     # unpaired: equal
