"""What the RTL layer tests share: random operand tensors, and one simulation of a list of
jobs per architecture."""

import numpy as np

from models.golden import operand_range

from .runner import SimulationModel


def random_tensors(rng, operand_bits):
    """`rand(shape, zeros=0.0)`: integers over the whole signed range of `operand_bits`
    (extremes included), a `zeros` fraction of them replaced by zero, from `rng`."""
    low, high = operand_range(operand_bits)

    def rand(shape, zeros=0.0):
        values = rng.integers(low, high + 1, shape)
        return np.where(rng.random(shape) < zeros, 0, values)

    return rand


def run_jobs(spec, jobs, run_dir):
    """Run `jobs` back to back on `spec`'s Verilated RTL in `run_dir`; the results, in the
    jobs' order (checked by name)."""
    results = SimulationModel(spec).run(jobs, run_dir)
    assert [r.name for r in results] == [j.name for j in jobs]
    return results
