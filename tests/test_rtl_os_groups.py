"""Output-stationary layers of several tiles whose tile height the mapper chose for whole pixel
groups (models/os_groups.py), on the Verilator-simulated RTL: outputs bit for bit against the
golden model, counters and cycles equal to the analytical model's."""

import numpy as np
import pytest

from models.mapper import MappingError
from models.os_groups import evenly_grouped
from models.perf import predict_counters, predict_cycles
from testbench.layer_values import conv_job
from testbench.runner import SimulationModel

pytestmark = pytest.mark.rtl

ARCHS = ("micro-os", "odd-os")

LAYERS = {
    # name: (c, w, k, kernel, stride, pad, groups, post), c and k in array rows and columns
    "3x3": (lambda r, c: (r + 1, 7, c + 1, 3, 1, 1, 1, False)),
    "3x3_requant": (lambda r, c: (2 * r + 1, 7, c, 3, 1, 1, 1, True)),
    "5x5_pad2": (lambda r, c: (r, 9, c + 1, 5, 1, 2, 1, False)),
    "depthwise_3x3": (lambda r, c: (c + 1, 7, c + 1, 3, 1, 1, c + 1, True)),
}


def evenly_grouped_runs(spec, job):
    """Every run of `job` has evenly grouped tiles (models.os_groups.evenly_grouped)."""
    return all(evenly_grouped(part.mapping, spec.rows) for part in job.parts(spec))


def os_group_jobs(spec, rng):
    """For each of LAYERS, the first input height (up to 40) whose mapping picks evenly
    grouped tiles."""
    jobs = []
    for name, dims in LAYERS.items():
        c, w, k, kernel, stride, pad, groups, post = dims(spec.rows, spec.cols)
        for h in range(4, 41):
            job = conv_job(rng, spec, name, 1, c, h, w, k, kernel, stride, pad, post=post,
                           groups=groups)
            try:
                if evenly_grouped_runs(spec, job):
                    jobs.append(job)
                    break
            except MappingError:
                continue
    return jobs


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in ARCHS])
def os_group_run(request, arch, tmp_path_factory):
    spec = arch(request.param)
    jobs = os_group_jobs(spec, np.random.default_rng(13 + len(spec.name)))
    assert [job.name for job in jobs] == list(LAYERS), "a layer found no evenly grouped height"
    results = SimulationModel(spec).run(jobs, tmp_path_factory.mktemp(f"osg-{spec.name}"))
    return spec, jobs, results


def test_outputs_match_golden_bit_for_bit(os_group_run):
    _, jobs, results = os_group_run
    for job, result in zip(jobs, results):
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)


def test_counters_and_cycles_match_the_analytical_model(os_group_run):
    spec, jobs, results = os_group_run
    for job, result in zip(jobs, results):
        runs = [predict_counters(spec, part.mapping) for part in job.parts(spec)]
        predicted = {name: sum(run[name] for run in runs) for name in runs[0]}
        assert {name: result.counters[name] for name in predicted} == predicted, job.name
        cycles = sum(predict_cycles(spec, part.mapping) for part in job.parts(spec))
        assert result.counters["cycles"] == cycles, job.name


def test_the_layers_really_span_several_tiles(os_group_run):
    spec, jobs, _ = os_group_run
    for job in jobs:
        assert all(part.mapping.tiles > 1 for part in job.parts(spec)), job.name
        assert job.shape.n == 1
