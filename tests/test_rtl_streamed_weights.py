"""Weights partly resident on the Verilator-simulated RTL: when not every filter block's
weights fit the weight buffer, the first blocks stay resident across the layer's tiles (and
images) and the last ones load again every tile, chunk by chunk, into the region after them
(descriptor `w_stream_blocks`); bit for bit against the golden model, counters and cycles
against the analytical model, on a square and a non-square weight-stationary array."""

import numpy as np
import pytest

from testbench.layer_checks import assert_run_matches_the_models, band_rows_read
from testbench.layer_values import conv_job, layer_run_fixture

pytestmark = pytest.mark.rtl

ARCHS = ("micro", "fold-8x4")


def make_jobs(spec, seed):
    """Layers whose weights do not all fit, with a bias, requantization and output groups:
    one chunk a block, and three chunks a block over two images."""
    rng = np.random.default_rng(seed)
    r, c = spec.rows, spec.cols
    return [
        conv_job(rng, spec, "streamed_one_chunk", 1, 2 * r, 12, 12, 8 * c, 3, 1, 1, post=True),
        conv_job(rng, spec, "streamed_chunks", 2, 6 * r, 10, 10, 3 * c, 3, 1, 1, post=True),
    ]


streamed_run = layer_run_fixture("streamed_run", ARCHS, make_jobs, seed=29)


def test_layers_take_the_streamed_schedule(streamed_run):
    """Each layer keeps some blocks resident and streams others over several tiles, with one
    chunk a block and with several, so the checks below cover both."""
    spec, jobs, _ = streamed_run
    chunks = []
    for job in jobs:
        [part] = job.parts(spec)
        d = part.mapping.descriptor
        assert d["w_resident"] and 0 < d["w_stream_blocks"] < d["k_blocks"], job.name
        assert part.mapping.tiles > 1, job.name
        chunks.append(d["c_chunks"])
    assert chunks[0] == 1 and chunks[1] > 1


def test_outputs_counters_and_cycles_match_the_models(streamed_run):
    assert_run_matches_the_models(*streamed_run)


def test_resident_blocks_cross_dram_once(streamed_run):
    """DRAM reads from the layout alone: the input bands, the bias, every filter's weights
    once and the streamed blocks' filters' again in every tile after the first."""
    spec, jobs, results = streamed_run
    bus = spec.dram_bus_bytes
    for job, result in zip(jobs, results):
        [part] = job.parts(spec)
        mapping, shape = part.mapping, job.shape
        d = mapping.descriptor
        streamed_filters = shape.k - (d["k_blocks"] - d["w_stream_blocks"]) * spec.cols
        filter_loads = shape.k + (mapping.tiles - 1) * streamed_filters
        weights = filter_loads * shape.r * shape.s * mapping.w_row_beats * bus
        bias = d["b_row_beats"] * bus
        inputs = band_rows_read(shape, mapping) * shape.w * mapping.x_row_beats * bus
        assert result.counters["dram_bytes_read"] == inputs + weights + bias, job.name
