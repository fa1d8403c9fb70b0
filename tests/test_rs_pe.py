# amaranth: UnusedElaboratable=no
"""RowStationaryPE in Amaranth's simulator: 1-D convolutions against NumPy, its event counts
against the model's per-PE counts (models.row_stationary.pe_conv1d), its cycles, its stalls."""

import random
import re
from collections import Counter

import numpy as np
import pytest

from amaranth import Module
from amaranth.back import rtlil
from amaranth.lib import wiring

from models.golden import conv2d, operand_range, wrap
from models.row_stationary import EYERISS_DEPTHS, PE_EVENTS, pe_conv1d
from pyhdl.rs_pe import RS_PE_EVENTS, RowStationaryPE
from testbench.amaranth_sim import simulate

ACC_BITS = 32


def random_job(rng, taps, stride, filters, channels, outputs):
    """Weights p x q x S, input rows q x width (a fifth zeros) and psums from below p x F."""
    lo, hi = operand_range(8)
    width = taps + (outputs - 1) * stride
    rows = rng.integers(lo, hi + 1, size=(channels, width))
    rows[rng.random(rows.shape) < 0.2] = 0
    weights = rng.integers(lo, hi + 1, size=(filters, channels, taps))
    psum_in = rng.integers(-2 ** 20, 2 ** 20, size=(filters, outputs))
    return weights, rows, psum_in


def bus_words(weights, rows, stride, outputs):
    """What the two buses deliver: the weights in (channel, tap, filter) order, and per output,
    per channel, the window's new words (all S for the first output, then min(stride, S))."""
    filters, channels, taps = weights.shape
    step = min(stride, taps)
    inputs = []
    for f in range(outputs):
        new = taps if f == 0 else step
        for c in range(channels):
            inputs += rows[c, f * stride + taps - new:f * stride + taps].tolist()
    return weights.transpose(1, 2, 0).reshape(-1).tolist(), inputs


def run_column(jobs, stride, psum_in, pause=None, depths=EYERISS_DEPTHS):
    """Run a column of PEs, one per (weights, rows) job in `jobs` (bottom first), each PE's
    psum_out feeding the psum_in of the PE above; `psum_in` enters the bottom PE. `pause(port)`
    says whether a driver holds back a word this cycle (None: never). Returns (the top PE's
    psum_out p x F, events summed over the PEs, cycles while any PE is busy)."""
    filters, channels, taps = jobs[0][0].shape
    outputs = psum_in.shape[1]
    column = Module()
    pes = [RowStationaryPE(8, ACC_BITS, **depths) for _ in jobs]
    for i, pe in enumerate(pes):
        column.submodules[f"pe{i}"] = pe
    for below, above in zip(pes, pes[1:]):
        wiring.connect(column, below.psum_out, above.psum_in)
    queues = []
    for pe, (weights, rows) in zip(pes, jobs):
        filter_words, input_words = bus_words(weights, rows, stride, outputs)
        queues.append({pe.filter_in: filter_words, pe.input_in: input_words})
    queues[0][pes[0].psum_in] = psum_in.T.reshape(-1).tolist()
    top = pes[-1].psum_out
    result = {"out": [], "events": Counter(), "busy": 0}

    async def bench(ctx):
        for pe in pes:
            ctx.set(pe.job, {"filters": filters, "channels": channels, "taps": taps,
                             "step": min(stride, taps), "outputs": outputs})
            ctx.set(pe.start, 1)
        await ctx.tick()
        for pe in pes:
            ctx.set(pe.start, 0)
        while any(ctx.get(pe.busy) for pe in pes):
            result["busy"] += 1
            offered = {}
            for port, words in (item for q in queues for item in q.items()):
                offered[port] = bool(words) and not (pause and pause(port))
                ctx.set(port.valid, offered[port])
                ctx.set(port.payload, words[0] if words else 0)
            ready_out = not (pause and pause(top))
            ctx.set(top.ready, ready_out)
            moved = [port for port, offer in offered.items() if offer and ctx.get(port.ready)]
            if ctx.get(top.valid) and ready_out:
                result["out"].append(ctx.get(top.payload))
            for pe in pes:
                events = ctx.get(pe.events)
                result["events"].update({name: getattr(events, name) for name in RS_PE_EVENTS})
            await ctx.tick()
            for q in queues:
                for port in moved:
                    if port in q:
                        q[port].pop(0)
        assert not any(words for q in queues for words in q.values()), "bus words left unread"

    simulate(column, bench)
    psum_out = np.array(result["out"], dtype=np.int64).reshape(outputs, filters).T
    return psum_out, +result["events"], result["busy"]


def run_pe(weights, rows, stride, psum_in, pause=None, depths=EYERISS_DEPTHS):
    """One PE alone: `run_column` of one job."""
    return run_column([(weights, rows)], stride, psum_in, pause, depths)


def test_events_are_the_models_per_pe_counts():
    assert RS_PE_EVENTS == PE_EVENTS


JOBS = [(taps, stride) for taps in (1, 3, 5) for stride in (1, 2)]


@pytest.mark.parametrize("taps,stride", JOBS)
def test_conv1d_equals_numpy_and_counts_equal_model(taps, stride):
    rng = np.random.default_rng([taps, stride])
    channels = int(rng.integers(1, EYERISS_DEPTHS["input_depth"] // taps + 1))
    weights, rows, psum_in = random_job(rng, taps, stride, filters=int(rng.integers(1, 4)),
                                        channels=channels, outputs=int(rng.integers(2, 6)))
    psum_out, events, busy = run_pe(weights, rows, stride, psum_in)
    expected, counts = pe_conv1d(weights, rows, stride, psum_in.shape[1], psum_in)
    np.testing.assert_array_equal(psum_out, wrap(expected, ACC_BITS))
    assert events == +counts
    assert busy == RowStationaryPE.job_cycles(*weights.shape[:2], taps, min(stride, taps),
                                              psum_in.shape[1])


@pytest.mark.parametrize("taps,stride", [(1, 2), (3, 1), (5, 2)])
def test_full_register_files(taps, stride):
    """Every register file filled to the brim: q*S = input depth, p = psum depth, p*q*S =
    filter depth (odd depths where the taps allow)."""
    channels, filters = {1: 5, 3: 2, 5: 1}[taps], 3
    depths = {"filter_depth": filters * channels * taps, "input_depth": channels * taps,
              "psum_depth": filters}
    rng = np.random.default_rng([taps, stride, 7])
    weights, rows, psum_in = random_job(rng, taps, stride, filters, channels, outputs=3)
    psum_out, events, _ = run_pe(weights, rows, stride, psum_in, depths=depths)
    expected, counts = pe_conv1d(weights, rows, stride, 3, psum_in)
    np.testing.assert_array_equal(psum_out, wrap(expected, ACC_BITS))
    assert events == +counts


def test_stalled_buses_and_psum_streams_change_nothing_but_time():
    rng = np.random.default_rng(11)
    weights, rows, psum_in = random_job(rng, taps=3, stride=2, filters=2, channels=3, outputs=4)
    stalls = random.Random(5)
    psum_out, events, busy = run_pe(weights, rows, 2, psum_in,
                                    pause=lambda name: stalls.random() < 0.3)
    expected, counts = pe_conv1d(weights, rows, 2, 4, psum_in)
    np.testing.assert_array_equal(psum_out, wrap(expected, ACC_BITS))
    assert events == +counts
    assert busy > RowStationaryPE.job_cycles(2, 3, 3, 2, 4)


@pytest.mark.parametrize("kernel,stride", [(3, 1), (5, 2)])
def test_column_computes_an_output_row_of_a_2d_conv(kernel, stride):
    """R PEs stacked (an RS column): PE i convolves filter row i with input row e*U + i, the
    sums climb the column through the psum streams; the top equals golden's output row e,
    with random stalls on every bus and at the top."""
    rng = np.random.default_rng([kernel, stride, 9])
    lo, hi = operand_range(8)
    x = rng.integers(lo, hi + 1, size=(1, 2, kernel + 2 * stride + 1, 9))
    w = rng.integers(lo, hi + 1, size=(3, 2, kernel, kernel))
    e = 2
    jobs = [(w[:, :, i], x[0, :, e * stride + i]) for i in range(kernel)]
    golden_row = conv2d(x, w, stride)[0, :, e]
    zeros = np.zeros_like(golden_row, dtype=np.int64)
    stalls = random.Random(kernel)
    psum_out, events, _ = run_column(jobs, stride, zeros,
                                     pause=lambda port: stalls.random() < 0.25)
    np.testing.assert_array_equal(psum_out, golden_row)
    expected = sum((pe_conv1d(*job, stride, zeros.shape[1], zeros)[1] for job in jobs),
                   Counter())
    assert events == +expected


def test_the_mac_is_the_only_multiplier():
    design = rtlil.convert(RowStationaryPE(16, ACC_BITS, **EYERISS_DEPTHS))
    assert len(re.findall(r"cell \$mul ", design)) == 1


def test_bad_depth_is_refused():
    with pytest.raises(ValueError, match="psum_depth must be a positive integer, not 0"):
        RowStationaryPE(8, 32, filter_depth=224, input_depth=12, psum_depth=0)
