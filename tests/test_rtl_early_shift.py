"""Early weight shifts on the Verilator-simulated RTL: a chunk's first block's weights shift
into the array while the chunk before it streams its last block, when they are in the weight
buffer by then (prefetched into the other half, or resident), so one-block chunks stream back
to back (pyhdl/ws_loop.py, models/perf.py `early_shifts`).  A batch-1 fully connected layer of
several chunks a filter block (prefetched), 1x1 layers over several tiles (resident) of
one-block chunks and of paired blocks (an even and an odd chunk), with a bias and
requantization; bit for bit against the golden model, every counter and the cycles against
the analytical model, on a square and a non-square weight-stationary array."""

import numpy as np
import pytest

from models.perf import early_shifts
from testbench.jobs import Job
from testbench.layer_checks import assert_run_matches_the_models
from testbench.layer_values import conv_job, layer_run_fixture, random_tensors

pytestmark = pytest.mark.rtl

ARCHS = ("micro", "fold-8x4")


def make_jobs(spec, seed):
    """The layers of the module docstring, sized from the array and its weight buffer."""
    rng = np.random.default_rng(seed)
    r, c = spec.rows, spec.cols
    rand = random_tensors(rng, spec.operand_bits)
    chunked = r * (spec.weight_words // c + 3)       # channels of three weight chunks
    return [
        Job("fc_chunks", "fc", rand((1, chunked)), rand((3 * c + 1, chunked))),
        Job("fc_two_rows", "fc", rand((2, chunked // 2)), rand((2 * c, chunked // 2))),
        conv_job(rng, spec, "one_block_chunks", 1, r, 16, 16, 3 * c + 1, 1, 1, 0, post=True),
        conv_job(rng, spec, "paired_chunks", 1, 4 * r, 16, 16, 3 * c + 1, 1, 1, 0, post=True),
        conv_job(rng, spec, "paired_odd_chunks", 1, 3 * r, 16, 16, 3 * c + 1, 1, 1, 0,
                 post=True),
    ]


early_run = layer_run_fixture("early_run", ARCHS, make_jobs, seed=41)


def test_layers_take_early_shifts(early_run):
    """The fc layers shift prefetched chunks in early, the 1x1 layers resident ones (after a
    block alone, after a pair's B, after an odd chunk's last block alone), each over several
    chunks (so the checks below cover them all)."""
    spec, jobs, _ = early_run
    sources, paired = {}, {}
    for job in jobs:
        [part] = job.parts(spec)
        shifts = early_shifts(spec, part.mapping)
        assert sum(shifts.values()) > 1, job.name
        sources[job.name] = {source for source, count in shifts.items() if count}
        d = part.mapping.descriptor
        paired[job.name] = d["paired"] and d["chunk_red"]
    assert sources == {"fc_chunks": {"prefetched"}, "fc_two_rows": {"prefetched"},
                       "one_block_chunks": {"resident"}, "paired_chunks": {"resident"},
                       "paired_odd_chunks": {"resident"}}
    assert paired["paired_chunks"] == 4 and paired["paired_odd_chunks"] == 3


def test_outputs_counters_and_cycles_match_the_models(early_run):
    assert_run_matches_the_models(*early_run)
