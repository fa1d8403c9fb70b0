"""Input bands loaded while the previous tile streams (models/band_prefetch.py, the sequencer's
`x_half_words`) on the Verilator-simulated RTL, on a square and a non-square weight-stationary
array: layers of several tiles (3x3, 1x1, depthwise, batch 2, weights resident or fetched in
chunks per tile, a slow and a stalling DRAM) bit for bit against the golden model, every
counter and the cycles equal to the analytical model."""

from dataclasses import replace

import numpy as np
import pytest

from models.golden import operand_range
from models.perf import predict_cycles
from testbench.layer_checks import assert_counters_match_the_model, assert_outputs_match_golden
from testbench.layer_values import conv_job, depthwise_job, layer_run_fixture
from testbench.tb import DramTiming

pytestmark = pytest.mark.rtl

ARCHS = ("tiny", "fold-8x4")
SLOW = DramTiming(latency=30)
STALLING = DramTiming(latency=30, gap=1, stall=96, seed=5)


def make_jobs(spec, seed):
    """Layers of several tiles that the mapper runs with their bands loaded ahead."""
    rng = np.random.default_rng(seed)
    r, c = spec.rows, spec.cols
    tall = spec.input_words // 16 + 6
    jobs = [
        conv_job(rng, spec, "3x3_pad1", 1, r + 1, tall, 8, c + 1, 3, 1, 1, post=True),
        conv_job(rng, spec, "1x1", 1, 2 * r + 1, tall, 6, 2 * c - 1, 1, 1, 0),
        conv_job(rng, spec, "3x3_batch2", 2, r + 2, tall // 2 + 4, 8, c, 3, 1, 1),
        conv_job(rng, spec, "3x3_stride2_slow_dram", 1, r, tall, 8, c + 2, 3, 2, 1,
                 timing=SLOW),
        # Weights too large to stay resident: chunks per tile, the band after the last one.
        conv_job(rng, spec, "3x3_weight_chunks", 1, 16, 40, 4, 3 * c, 3, 1, 1),
        conv_job(rng, spec, "3x3_stalling_dram", 1, r + 1, tall, 8, c + 1, 3, 1, 1,
                 timing=STALLING, zeros=0.3),
    ]
    while True:
        job = depthwise_job(spec, rng, "depthwise")
        low, high = operand_range(spec.operand_bits)
        job.inputs = rng.integers(low, high + 1, (1, job.inputs.shape[1], tall, 9))
        if all(part.mapping.descriptor["depthwise"] for part in job.parts(spec)):
            break
    return jobs + [job]


prefetch_run = layer_run_fixture("prefetch_run", ARCHS, make_jobs, seed=5)


def test_layers_load_their_bands_ahead(prefetch_run):
    """Every layer drawn runs in the mode, over several tiles, so the checks below cover it;
    between them: weights resident and in chunks, depthwise, a batch."""
    spec, jobs, _ = prefetch_run
    mappings = [part.mapping for job in jobs for part in job.parts(spec)]
    for job in jobs:
        for part in job.parts(spec):
            assert part.mapping.descriptor["x_half_words"] == spec.input_words // 2, job.name
            assert part.mapping.tiles > 1, job.name
    assert {m.descriptor["w_resident"] for m in mappings} == {0, 1}
    assert any(m.descriptor["depthwise"] for m in mappings)
    assert any(m.shape.n == 2 for m in mappings)


def test_outputs_match_golden_bit_for_bit(prefetch_run):
    _, jobs, results = prefetch_run
    assert_outputs_match_golden(jobs, results)


def test_counters_match_the_analytical_model(prefetch_run):
    spec, jobs, results = prefetch_run
    assert_counters_match_the_model(spec, jobs, results)


def test_cycles_match_the_analytical_model(prefetch_run):
    """Exact for a DRAM without random stalls (its latency given to the model); a stalling
    DRAM's layer takes at least the model's cycles plus the stalls it counted."""
    spec, jobs, results = prefetch_run
    wrong = []
    for job, result in zip(jobs, results):
        cycles = sum(predict_cycles(spec, part.mapping, dram_latency=job.timing.latency)
                     for part in job.parts(spec))
        if job.timing.stall:
            assert result.counters["cycles"] > cycles, job.name
        elif result.counters["cycles"] != cycles:
            wrong.append((job.name, result.counters["cycles"], cycles))
    assert wrong == []


def test_loading_ahead_saves_cycles(prefetch_run):
    """The model's cycles with the bands loaded ahead are fewer than the same tiling's with
    each band loaded before its tile streams (x_half_words 0: the sequencer then waits)."""
    spec, jobs, _ = prefetch_run
    for job in jobs:
        for part in job.parts(spec):
            m = part.mapping
            waiting = replace(m, descriptor={**m.descriptor, "x_half_words": 0})
            assert predict_cycles(spec, m) < predict_cycles(spec, waiting), job.name
