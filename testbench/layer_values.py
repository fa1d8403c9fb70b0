"""What the RTL layer tests share: random operand tensors and layers, and one simulation of a
list of jobs per architecture."""

import numpy as np

from models.golden import conv2d, conv_output_size, operand_range

from .jobs import Job
from .runner import SimulationModel
from .tb import DramTiming

DEPTHWISE_KERNELS = (2, 3, 5)
"""Square kernels of the random depthwise layers."""
DEPTHWISE_STRIDES = (1, 2)
"""Strides of the random depthwise layers."""


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


def depthwise_job(spec, rng, name, kernel=None, stride=None, large=False):
    """A random depthwise layer that fits `spec`'s buffers: kernel 2, 3 or 5, stride 1 or 2,
    padding and a pad value, channels not a multiple of the columns, batch 1 or 2, with bias,
    requantization and ReLU or int32 outputs; `large`: images of 10 to 26 rows and columns
    (tiles of several output rows: the line buffer's priming and delays)."""
    low, high = operand_range(spec.operand_bits)
    while True:
        r = kernel or int(rng.choice([k for k in DEPTHWISE_KERNELS if k <= spec.rows]))
        stride = stride or int(rng.choice(DEPTHWISE_STRIDES))
        pad = int(rng.integers(0, r))
        c = int(rng.integers(2, 3 * spec.cols + 2))
        sizes = (r + 8, r + 22) if large else (max(r - 2 * pad, 1), r + 7)
        h, w = int(rng.integers(*sizes)), int(rng.integers(*sizes))
        n = int(rng.integers(1, 3))
        if conv_output_size(h, r, stride, pad) >= 1 and conv_output_size(w, r, stride, pad) >= 1:
            break
    zeros = rng.random()
    x = np.where(rng.random((n, c, h, w)) < zeros / 2, 0, rng.integers(low, high + 1, (n, c, h, w)))
    weights = np.where(rng.random((c, 1, r, r)) < zeros / 4, 0,
                       rng.integers(low, high + 1, (c, 1, r, r)))
    job = Job(f"{name}_c{c}_{r}x{r}_s{stride}_p{pad}_n{n}", "conv", x, weights, stride=stride,
              pad=pad, groups=c,
              pad_value=int(rng.integers(low, high + 1)) if rng.random() < 0.4 else 0)
    if rng.random() < 0.5:
        scale = high * high * r * r
        job.bias = rng.integers(-scale // 8, scale // 8, c)
        job.requant = (int(rng.integers(2**14, 2**15)), 14 + scale.bit_length() - 7, 0)
        job.relu = bool(rng.integers(2))
    return job


def relu_layer(rng, spec, name, zeros, n, c, h, w, k, r=1, stride=1, pad=0, timing=DramTiming(),
               x=None):
    """A requantized ReLU convolution whose outputs are zero with about probability `zeros`:
    a per-channel bias puts that quantile of the accumulators at or below zero.  `zeros` 0:
    zero point 1, so ReLU leaves no zero; 1: every output zero.  `x`: its inputs (N x C x H x
    W), else random."""
    low, high = operand_range(spec.operand_bits)
    if x is None:
        x = rng.integers(low, high + 1, (n, c, h, w))
    weights = rng.integers(low, high + 1, (k, c, r, r))
    acc = conv2d(x, weights, stride, pad, acc_bits=spec.acc_bits).astype(np.int64)
    per_channel = acc.transpose(1, 0, 2, 3).reshape(k, -1)
    spread = int(np.abs(acc).max()) + 1
    shift = 14 + spread.bit_length() - 6
    if zeros >= 1:
        bias, zero_point = np.full(k, -4 * spread), 0
    elif zeros <= 0:
        bias, zero_point = np.zeros(k, dtype=np.int64), 1
    else:
        bias, zero_point = -np.quantile(per_channel, zeros, axis=1).astype(np.int64), 0
    return Job(name, "conv", x, weights, timing, stride, pad, bias=bias,
               requant=(int(rng.integers(2**14, 2**15)), shift, zero_point), relu=True)


def run_jobs(spec, jobs, run_dir):
    """Run `jobs` back to back on `spec`'s Verilated RTL in `run_dir`; the results, in the
    jobs' order (checked by name)."""
    results = SimulationModel(spec).run(jobs, run_dir)
    assert [r.name for r in results] == [j.name for j in jobs]
    return results


def layer_run_fixture(name, archs, make_jobs, seed):
    """A module-scoped pytest fixture `name` over the architectures `archs` (shipped ones by
    name, others as ArchSpecs; each in its own xdist group: one Verilator build a worker):
    (spec, jobs, results) of `make_jobs(spec, seed + the sum of spec.name's character codes)`
    run on `spec`'s RTL."""
    import pytest   # the test extra: only the tests build fixtures

    @pytest.fixture(scope="module", name=name, params=[
        pytest.param(spec, id=arch_name(spec), marks=pytest.mark.xdist_group(arch_name(spec)))
        for spec in archs])
    def run(request, arch, tmp_path_factory):
        """(spec, jobs, results) of one architecture's jobs, run back to back on its RTL."""
        spec = arch(request.param) if isinstance(request.param, str) else request.param
        jobs = make_jobs(spec, seed + sum(map(ord, spec.name)))
        return spec, jobs, run_jobs(spec, jobs, tmp_path_factory.mktemp(f"{name}-{spec.name}"))

    return run


def arch_name(spec):
    """The name of an architecture given by name or as an ArchSpec."""
    return spec if isinstance(spec, str) else spec.name
