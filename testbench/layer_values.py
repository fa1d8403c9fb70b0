"""What the RTL layer tests share: random operand tensors and layers, and one simulation of a
list of jobs per architecture."""

import numpy as np

from models.golden import operand_range

from .jobs import Job
from .runner import SimulationModel
from .tb import DramTiming


def random_tensors(rng, operand_bits):
    """`rand(shape, zeros=0.0)`: integers over the whole signed range of `operand_bits`
    (extremes included), a `zeros` fraction of them replaced by zero, from `rng`."""
    low, high = operand_range(operand_bits)

    def rand(shape, zeros=0.0):
        values = rng.integers(low, high + 1, shape)
        return np.where(rng.random(shape) < zeros, 0, values)

    return rand


def conv_job(rng, spec, name, n, c, h, w, k, r, stride, pad, zeros=0.0, timing=DramTiming(),
             post=False, groups=1, pad_value=0):
    """A random conv layer (X n x c x h x w, W k x c/groups x r x r, a `zeros` fraction of
    both zero); with `post`, a random bias, requantization and ReLU as well."""
    low, high = operand_range(spec.operand_bits)
    rand = random_tensors(rng, spec.operand_bits)
    job = Job(name, "conv", rand((n, c, h, w), zeros), rand((k, c // groups, r, r), zeros),
              timing, stride, pad, groups, pad_value=pad_value)
    if post:
        scale = high * high * (c // groups) * r * r
        job.bias = rng.integers(-scale // 8, scale // 8, k)
        job.requant = (int(rng.integers(2**14, 2**15)), 14 + scale.bit_length() - 7,
                       int(rng.integers(low // 2, high // 2)))
        job.relu = bool(rng.integers(2))
    return job


def run_jobs(spec, jobs, run_dir):
    """Run `jobs` back to back on `spec`'s Verilated RTL in `run_dir`; the results, in the
    jobs' order (checked by name)."""
    results = SimulationModel(spec).run(jobs, run_dir)
    assert [r.name for r in results] == [j.name for j in jobs]
    return results


def layer_run_fixture(name, archs, make_jobs, seed):
    """A module-scoped pytest fixture `name` over the shipped architectures `archs` (each in
    its own xdist group: one Verilator build a worker): (spec, jobs, results) of
    `make_jobs(spec, seed + the sum of spec.name's character codes)` run on `spec`'s RTL."""
    import pytest   # the test extra: only the tests build fixtures

    @pytest.fixture(scope="module", name=name, params=[
        pytest.param(arch_name, marks=pytest.mark.xdist_group(arch_name))
        for arch_name in archs])
    def run(request, arch, tmp_path_factory):
        """(spec, jobs, results) of one architecture's jobs, run back to back on its RTL."""
        spec = arch(request.param)
        jobs = make_jobs(spec, seed + sum(map(ord, spec.name)))
        return spec, jobs, run_jobs(spec, jobs, tmp_path_factory.mktemp(f"{name}-{spec.name}"))

    return run
