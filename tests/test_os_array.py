"""OutputStationaryArray in Amaranth's simulator: back-to-back reductions against X @ W."""

import random

import numpy as np
import pytest

from models.golden import operand_range, wrap
from models.spec import ArchSpec, os_drain_spacing_ok
from pyhdl.os_array import OutputStationaryArray
from testbench.amaranth_sim import stream_os_array

ADDR_BITS = 10


def reductions(rng, spec, count, steps_choices):
    """`count` random reductions: (X rows x steps*rows, W steps*rows x cols, valid pixels,
    active channels of the last step, active columns)."""
    low, high = operand_range(spec.operand_bits)
    out = []
    for _ in range(count):
        steps = rng.choice(steps_choices)
        length = steps * spec.rows
        x = np.array([[rng.choice([0, low, high, rng.randint(low, high)]) for _ in range(length)]
                      for _ in range(spec.rows)])
        w = np.array([[rng.choice([0, low, high, rng.randint(low, high)])
                       for _ in range(spec.cols)] for _ in range(length)])
        out.append((x, w, rng.randint(1, spec.rows), rng.randint(1, spec.rows),
                    rng.randint(1, spec.cols)))
    return out


def schedule(spec, jobs, rng):
    """Cycle-by-cycle (x, w) inputs: each reduction streams its steps back to back, starting
    after a random gap that keeps the drain spacing rule."""
    rows = spec.rows
    cycles = []
    last_step_start = None
    for index, (x, w, pixels, channels, cols) in enumerate(jobs):
        steps = x.shape[1] // rows
        gap = rng.choice([0, 0, 1, 2, 3, 2 * rows])
        while True:
            start = len(cycles) + gap
            if last_step_start is None or os_drain_spacing_ok(
                    start + (steps - 1) * rows - last_step_start, rows):
                break
            gap += 1
        cycles += [None] * gap
        for m in range(steps):
            last = m == steps - 1
            active = channels if last else rows
            for i in range(rows):
                valid_pixel = i < pixels
                cycles.append(({
                    "valid": 1, "row": i, "zero": int(not valid_pixel),
                    "active": active if valid_pixel else 0, "last": int(last),
                    "tag": {"valid": int(valid_pixel and last), "addr": index * rows + i,
                            "first": 0},
                    "values": [int(v) for v in x[i, m * rows:(m + 1) * rows]],
                }, {
                    "cols": cols if i < active else 0,
                    "values": [int(v) for v in w[m * rows + i]],
                }))
        last_step_start = len(cycles) - rows
    return cycles


def expected(spec, jobs):
    """Per output address: the pixel's sums over its active channels, active columns."""
    rows = spec.rows
    result, gated = {}, 0
    for index, (x, w, pixels, channels, cols) in enumerate(jobs):
        keep = np.ones(x.shape[1], dtype=bool)
        keep[x.shape[1] - rows + channels:] = False
        xs, ws = x[:pixels, keep], w[keep, :cols]
        y = wrap(xs @ ws, spec.acc_bits)
        for i in range(pixels):
            result[index * rows + i] = list(y[i])
        gated += int(np.sum((xs[:, :, None] == 0) | (ws[None, :, :] == 0)))
    return result, gated


@pytest.mark.parametrize("rows, cols", [(2, 2), (4, 3), (3, 5), (5, 4)])
def test_back_to_back_reductions_match_x_times_w(rows, cols):
    spec = ArchSpec(rows=rows, cols=cols, dataflow="os", acc_bits=20)
    rng = random.Random(rows * 100 + cols)
    dut = OutputStationaryArray(spec, ADDR_BITS)
    jobs = reductions(rng, spec, 12, [1, 1, 2, 3])
    inputs = schedule(spec, jobs, rng)
    want, want_gated = expected(spec, jobs)
    idle_x = {"valid": 0, "row": 0, "zero": 0, "active": 0, "last": 0,
              "tag": {"valid": 0, "addr": 0, "first": 0}, "values": [0] * rows}
    idle_w = {"cols": 0, "values": [0] * cols}
    got, gated = stream_os_array(dut, inputs, (idle_x, idle_w),
                                 lambda addr: jobs[addr // rows][4])
    assert got == want
    assert gated == want_gated


def test_drain_spacing_rule():
    ok = os_drain_spacing_ok
    assert [d for d in range(1, 12) if not ok(d, 4)] == [2, 4, 6]
