"""SparseOutputStationaryArray in Amaranth's simulator: back-to-back 2:4 reductions (kept
weights and indices streamed down the columns, groups of four inputs along the rows) against
X @ W, and the gated count against the performed products' zero operands."""

import numpy as np
import pytest

from models.golden import wrap
from models.sparsity import GROUP, KEPT, kept_weights, magnitude_mask
from models.spec import ArchSpec, os_drain_spacing_ok
from pyhdl.sparse_os_array import SparseOutputStationaryArray
from testbench.amaranth_sim import stream_os_array

ADDR_BITS = 10


def random_operands(rng, shape):
    """int8 values, about a third of them zero, with the extremes."""
    values = rng.choice([-128, 127, 0, 1], size=shape)
    return np.where(rng.random(shape) < 0.5, rng.integers(-128, 128, shape), values)


def reductions(rng, spec, count):
    """`count` random reductions: X (rows x channels), W (channels x cols) 2:4 along the
    channels, valid pixels, kept-weight steps of the last word (two per group), active columns."""
    jobs = []
    for _ in range(count):
        words = int(rng.choice([1, 1, 2, 3]))
        channels = words * spec.input_lanes
        x = random_operands(rng, (spec.rows, channels))
        w = random_operands(rng, (spec.cols, channels))
        w = (w * magnitude_mask(w)).T
        jobs.append((x, w, int(rng.integers(1, spec.rows + 1)),
                     KEPT * int(rng.integers(1, spec.rows // KEPT + 1)),
                     int(rng.integers(1, spec.cols + 1))))
    return jobs


def used_channels(spec, w, steps_last):
    """Channel mask of a reduction: all words but the last whole, the last's first groups."""
    keep = np.ones(w.shape[0], dtype=bool)
    keep[w.shape[0] - spec.input_lanes + GROUP * steps_last // KEPT:] = False
    return keep


def weight_step(spec, w, word, step):
    """The columns' kept weights and indices at `step` of input word `word`."""
    first = word * spec.input_lanes + GROUP * (step // KEPT)
    kept = [kept_weights(w[first:first + GROUP, c]) for c in range(spec.cols)]
    return ([int(values[step % KEPT]) for _, values in kept],
            [int(positions[step % KEPT]) for positions, _ in kept])


def schedule(spec, jobs, rng):
    """Cycle-by-cycle (x, w) inputs: each reduction streams its words back to back, after a
    random gap that keeps the drain spacing rule."""
    rows, cycles, last_word_start = spec.rows, [], None
    for index, (x, w, pixels, steps_last, cols) in enumerate(jobs):
        words = x.shape[1] // spec.input_lanes
        gap = int(rng.choice([0, 0, 1, 2, 3, 2 * rows]))
        while last_word_start is not None and not os_drain_spacing_ok(
                len(cycles) + gap + (words - 1) * rows - last_word_start, rows):
            gap += 1
        cycles += [None] * gap
        for word in range(words):
            last = word == words - 1
            active = steps_last if last else rows
            lanes = slice(word * spec.input_lanes, (word + 1) * spec.input_lanes)
            for i in range(rows):
                values, indices = weight_step(spec, w, word, i)
                cycles.append(({
                    "valid": 1, "row": i, "zero": int(i >= pixels),
                    "active": active if i < pixels else 0, "last": int(last),
                    "tag": {"valid": int(i < pixels and last), "addr": index * rows + i,
                            "first": 0},
                    "values": [int(v) for v in x[i, lanes]],
                }, {"cols": cols if i < active else 0,
                    "values": {"values": values, "indices": indices}}))
        last_word_start = len(cycles) - rows
    return cycles


def expected(spec, jobs):
    """Per output address the pixel's sums; and the performed products with a zero operand
    (the selected input or the kept weight)."""
    result, gated = {}, 0
    for index, (x, w, pixels, steps_last, cols) in enumerate(jobs):
        keep = used_channels(spec, w, steps_last)
        y = wrap(x[:pixels, keep] @ w[keep, :cols], spec.acc_bits)
        result.update({index * spec.rows + i: list(y[i]) for i in range(pixels)})
        words = x.shape[1] // spec.input_lanes
        for word in range(words):
            for step in range(steps_last if word == words - 1 else spec.rows):
                values, indices = weight_step(spec, w, word, step)
                first = word * spec.input_lanes + GROUP * (step // KEPT)
                for c in range(cols):
                    selected = x[:pixels, first + indices[c]]
                    gated += int(np.sum((selected == 0) | (values[c] == 0)))
    return result, gated


# The array reads the spec's shape only (rows, cols, operand and accumulator bits, lanes).
SPECS = [ArchSpec(rows=2, cols=3, weight_sparsity="2:4", acc_bits=24),
         ArchSpec(rows=4, cols=3, weight_sparsity="2:4", acc_bits=24),
         ArchSpec(rows=6, cols=2, weight_sparsity="2:4", acc_bits=24)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.rows}x{s.cols}")
def test_back_to_back_2to4_reductions_match_x_times_w(spec):
    rng = np.random.default_rng(spec.rows * 100 + spec.cols)
    dut = SparseOutputStationaryArray(spec, ADDR_BITS)
    jobs = reductions(rng, spec, 10)
    inputs = schedule(spec, jobs, rng)
    want, want_gated = expected(spec, jobs)
    idle_x = {"valid": 0, "row": 0, "zero": 0, "active": 0, "last": 0,
              "tag": {"valid": 0, "addr": 0, "first": 0}, "values": [0] * spec.input_lanes}
    idle_w = {"cols": 0, "values": {"values": [0] * spec.cols, "indices": [0] * spec.cols}}
    got, gated = stream_os_array(dut, inputs, (idle_x, idle_w),
                                 lambda addr: jobs[addr // spec.rows][4])
    assert got == want
    assert gated == want_gated
