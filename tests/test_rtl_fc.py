"""Fully-connected layers on the Verilator-simulated RTL, bit for bit against the golden model.

One simulation per architecture runs every job back to back; the tests then check each job's
output and the activity counters against what the layer implies.
"""

import numpy as np
import pytest

from models.golden import operand_range
from models.layout import row_beats
from models.mapper import PostProcess, map_fc, weight_beats
from models.perf import predict_cycles
from models.spec import DRAM_WORD_BITS
from testbench.jobs import Job
from testbench.layer_checks import assert_outputs_match_golden
from testbench.layer_values import layer_run_fixture, random_tensors
from testbench.tb import DramTiming

pytestmark = pytest.mark.rtl

ARCHS = ("micro", "tiny", "default", "wide", "micro-os", "odd-os")
STALLING = DramTiming(latency=45, gap=1, stall=96, seed=7)


def make_jobs(spec, seed):
    """Random layers whose sizes are not multiples of the array, plus the edge cases."""
    rng = np.random.default_rng(seed)
    low, high = operand_range(spec.operand_bits)
    r, c = spec.rows, spec.cols
    rand = random_tensors(rng, spec.operand_bits)

    m_many = 3 * spec.output_words // 2 + 1     # a tile never has more rows than that
    return [
        Job("odd_shapes", "fc", rand((2 * r + 1, 3 * r + 1)), rand((2 * c + 3, 3 * r + 1))),
        Job("one_by_one", "fc", rand((1, 1)), rand((1, 1))),
        Job("all_min", "fc", np.full((r + 2, 2 * r + 3), low), np.full((c + 1, 2 * r + 3), low)),
        Job("min_max", "fc", np.tile([low, high], (3, r + 1)), np.tile([high, low], (c + 2, r + 1))),
        Job("sparse", "fc", rand((r + 3, 2 * r + 5), zeros=0.5), rand((c + 5, 2 * r + 5), zeros=0.3)),
        Job("stalling_dram", "fc", rand((2 * r + 3, r + 7)), rand((c + 2, r + 7)), STALLING),
        Job("many_tiles", "fc", rand((m_many, 3 * r + 1)), rand((2 * c + 1, 3 * r + 1))),
        Job("weights_in_chunks", "fc", rand((5, r * (spec.weight_words // c + 3))),
            rand((c + 2, r * (spec.weight_words // c + 3)))),
        Job("bias_relu", "fc", rand((r + 1, 2 * r + 1)), rand((c + 3, 2 * r + 1)),
            bias=rng.integers(-2**31, 2**31, c + 3), relu=True),
    ]


fc_run = layer_run_fixture("fc_run", ARCHS, make_jobs, seed=0)


def test_outputs_match_golden_bit_for_bit(fc_run):
    _, jobs, results = fc_run
    assert_outputs_match_golden(jobs, results)


def test_many_tiles_job_really_tiles(fc_run):
    spec, jobs, _ = fc_run
    [job] = [j for j in jobs if j.name == "many_tiles"]
    assert map_fc(spec, job.inputs.shape[0], job.inputs.shape[1], job.weights.shape[0]).tiles > 1


@pytest.mark.parametrize("name", ARCHS)
def test_weight_chunks_are_balanced(arch, name):
    """The chunked job's weights load in the fewest chunks that fit half the weight buffer,
    and in the smallest beat-aligned chunks that keep them that few (no short last chunk)."""
    spec = arch(name)
    jobs = make_jobs(spec, seed=0)
    [job] = [j for j in jobs if j.name == "weights_in_chunks"]
    d = map_fc(spec, *job.inputs.shape, job.weights.shape[0]).descriptor
    lanes = spec.rows if spec.dataflow == "os" else spec.cols
    beat_blocks = next(b for b in range(1, 65)
                       if b * spec.rows * spec.operand_bits % (8 * spec.dram_bus_bytes) == 0)
    step = 1 if spec.dataflow == "os" else beat_blocks
    most = d["w_half_words"] // lanes // step * step
    assert d["w_half_words"] and d["c_chunks"] == -(-d["c_blocks"] // most) > 1
    smaller = d["c_chunk_blocks"] - step
    assert smaller < 1 or -(-d["c_blocks"] // smaller) > d["c_chunks"]
    assert d["c_chunk_blocks"] < most


def test_mac_counters_match_the_layer(fc_run):
    _, jobs, results = fc_run
    for job, result in zip(jobs, results):
        (m, c), k = job.inputs.shape, job.weights.shape[0]
        zero_pairs = (job.inputs[:, None, :] == 0) | (job.weights[None, :, :] == 0)
        assert result.counters["macs"] == m * c * k, job.name
        assert result.counters["macs_gated"] == int(zero_pairs.sum()), job.name
        assert result.counters["rf_reads"] == m * c * k, job.name


def test_dram_traffic_is_compulsory_plus_weight_refetch(fc_run):
    spec, jobs, results = fc_run
    bus = spec.dram_bus_bytes
    for job, result in zip(jobs, results):
        (m, c), k = job.inputs.shape, job.weights.shape[0]
        mapping = map_fc(spec, m, c, k)
        x_bytes = m * row_beats(c, spec.operand_bits, bus) * bus
        w_bytes = weight_beats(spec, mapping.shape) * bus
        y_bytes = m * row_beats(k, DRAM_WORD_BITS, bus) * bus
        b_bytes = row_beats(k, DRAM_WORD_BITS, bus) * bus if job.bias is not None else 0
        compulsory = (m + k) * c * spec.operand_bits // 8
        assert result.counters["dram_bytes_read"] >= compulsory, job.name
        # Each tile fetches the weights again unless they stay resident (fetched once).
        fetches = 1 if mapping.descriptor["w_resident"] else mapping.tiles
        assert result.counters["dram_bytes_read"] == \
            x_bytes + fetches * w_bytes + b_bytes, job.name
        assert result.counters["dram_bytes_written"] == y_bytes >= m * k * 4, job.name


def ws_output_writes(spec, job, d):
    """Output-buffer write-backs of a weight-stationary FC layer, counted from its shape: per
    tile of `tile_p` input rows, block of `cols` filters and chunk of `c_chunk_blocks` blocks
    of `rows` channels, one per row and block, except that paired blocks
    (models/paired_blocks.py) write a pair once per row plus the `pair_alone` rows each of
    the two streams alone."""
    (m, c), k = job.inputs.shape, job.weights.shape[0]
    blocks, step = -(-c // spec.rows), d["c_chunk_blocks"]
    chunks = [min(step, blocks - first) for first in range(0, blocks, step)]
    writes = 0
    for rows in (min(d["tile_p"], m - first) for first in range(0, m, d["tile_p"])):
        for n in chunks:
            writes += n // 2 * (rows + d["pair_alone"]) + n % 2 * rows if d["paired"] \
                else n * rows
    return -(-k // spec.cols) * writes


def test_compute_counters_follow_the_tiling(fc_run):
    spec, jobs, results = fc_run
    for job, result in zip(jobs, results):
        (m, c), k = job.inputs.shape, job.weights.shape[0]
        mapping = map_fc(spec, m, c, k)
        d = mapping.descriptor
        tiles = -(-m // d["tile_p"])
        counters = result.counters
        assert counters["glb_input_reads"] == m * d["k_blocks"] * d["c_blocks"], job.name
        assert counters["glb_input_writes"] == m * d["c_blocks"], job.name
        if spec.dataflow == "os":
            # Groups of `rows` input rows, each streaming every channel block over its rows;
            # a sum leaves the array once per weight chunk.
            groups = sum(-(-min(d["tile_p"], m - first) // spec.rows)
                         for first in range(0, m, d["tile_p"]))
            assert counters["busy_cycles"] == groups * d["k_blocks"] * d["c_blocks"] \
                * spec.rows, job.name
            assert counters["rf_writes"] == m * k * c, job.name
            assert counters["glb_output_writes"] == m * d["k_blocks"] * d["c_chunks"], job.name
        else:
            assert counters["busy_cycles"] == m * d["k_blocks"] * d["c_blocks"], job.name
            assert counters["rf_writes"] == tiles * d["k_blocks"] * d["c_blocks"] \
                * spec.rows * spec.cols, job.name
            assert counters["glb_output_writes"] == ws_output_writes(spec, job, d), job.name
        assert counters["busy_cycles"] < counters["cycles"], job.name


def test_the_output_write_count_meets_paired_layers(arch):
    """Some weight-stationary layers here pair their blocks: the count above covers pairs."""
    specs = [arch(name) for name in ARCHS]
    assert any(map_fc(spec, *job.inputs.shape, job.weights.shape[0]).descriptor["paired"]
               for spec in specs for job in make_jobs(spec, seed=sum(map(ord, spec.name))))


def test_cycles_match_the_analytical_model(fc_run):
    spec, jobs, results = fc_run
    for job, result in zip(jobs, results):
        if job.timing == DramTiming():
            (m, c), k = job.inputs.shape, job.weights.shape[0]
            post = PostProcess(job.bias is not None, job.requant, job.relu)
            predicted = predict_cycles(spec, map_fc(spec, m, c, k, post))
            assert result.counters["cycles"] == predicted, job.name


def test_stalling_dram_is_counted(fc_run):
    _, jobs, results = fc_run
    by_name = {result.name: result for result in results}
    assert by_name["stalling_dram"].counters["stall_cycles"] > 0
