"""The pad value: padded window positions hold the input's zero point, not 0, in the golden
model and on the RTL of both dataflows (bit for bit)."""

import numpy as np
import pytest

from models import golden
from models.golden import operand_range
from models.mapper import ConvShape, MappingError, map_conv
from testbench.jobs import Job
from testbench.runner import SimulationModel


def test_golden_pads_with_the_pad_value():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (2, 3, 5, 6))
    w = rng.integers(-128, 128, (4, 3, 3, 3))
    explicit = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-77)
    np.testing.assert_array_equal(golden.conv2d(x, w, pad=1, pad_value=-77),
                                  golden.conv2d(explicit, w, pad=0))
    assert not np.array_equal(golden.conv2d(x, w, pad=1, pad_value=-77),
                              golden.conv2d(x, w, pad=1))


def test_mapper_writes_the_pad_value_and_refuses_one_out_of_range(arch):
    spec = arch("micro")
    shape = ConvShape(1, 3, 5, 5, 4, 3, 3, 1, 1, pad_value=-5)
    assert map_conv(spec, shape).descriptor["pad_value"] == (-5) & 0xFFFFFFFF
    with pytest.raises(MappingError, match="pad value must be from -128 to 127, not 200"):
        map_conv(spec, ConvShape(1, 3, 5, 5, 4, 3, 3, 1, 1, pad_value=200))


@pytest.mark.rtl
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(n))
                                  for n in ("micro", "micro-os")])
def test_rtl_pads_with_the_pad_value(arch, name, tmp_path):
    spec = arch(name)
    low, high = operand_range(spec.operand_bits)
    rng = np.random.default_rng(5)
    rows, cols = spec.rows, spec.cols

    def rand(*shape):
        return rng.integers(low, high + 1, shape)

    jobs = [Job("3x3_pad1", "conv", rand(1, rows + 1, 5, 4), rand(cols + 1, rows + 1, 3, 3),
                pad=1, pad_value=low),
            Job("5x5_stride2_requant", "conv", rand(2, 3, 7, 6), rand(cols, 3, 5, 5), stride=2,
                pad=2, pad_value=37, bias=rng.integers(-4000, 4000, cols),
                requant=(1 << 14, 20, -3), relu=True),
            Job("depthwise", "conv", rand(1, cols + 1, 4, 5), rand(cols + 1, 1, 3, 3), pad=1,
                groups=cols + 1, pad_value=high)]
    results = SimulationModel(spec).run(jobs, tmp_path)
    for job, result in zip(jobs, results):
        zero_padded = golden.conv2d(job.inputs, job.weights, job.stride, job.pad, job.groups)
        assert not np.array_equal(golden.conv2d(job.inputs, job.weights, job.stride, job.pad,
                                                job.groups, pad_value=job.pad_value),
                                  zero_padded), job.name
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)
