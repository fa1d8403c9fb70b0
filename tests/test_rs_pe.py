# amaranth: UnusedElaboratable=no
"""RowStationaryPE in Amaranth's simulator: 1-D convolutions against NumPy, its event counts
against the model's per-PE counts (models.row_stationary.pe_conv1d), its cycles, its stalls."""

import random
import re
from collections import Counter

import numpy as np
import pytest

from amaranth.back import rtlil

from models.golden import operand_range, wrap
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


def run_pe(weights, rows, stride, psum_in, pause=None, depths=EYERISS_DEPTHS):
    """Run one job on a PE with register files of `depths`; `pause(stream)` says whether a
    driver holds back a word this cycle (None: never). Returns (psum_out p x F, events
    Counter, busy cycles)."""
    filters, channels, taps = weights.shape
    outputs = psum_in.shape[1]
    pe = RowStationaryPE(8, ACC_BITS, **depths)
    filter_words, input_words = bus_words(weights, rows, stride, outputs)
    queues = {"filter_in": filter_words, "input_in": input_words,
              "psum_in": psum_in.T.reshape(-1).tolist()}
    result = {"out": [], "events": Counter(), "busy": 0}

    async def bench(ctx):
        ctx.set(pe.job, {"filters": filters, "channels": channels, "taps": taps,
                         "step": min(stride, taps), "outputs": outputs})
        ctx.set(pe.start, 1)
        await ctx.tick()
        ctx.set(pe.start, 0)
        while ctx.get(pe.busy):
            result["busy"] += 1
            held = {}
            for name, words in queues.items():
                port = getattr(pe, name)
                offer = bool(words) and not (pause and pause(name))
                ctx.set(port.valid, offer)
                ctx.set(port.payload, words[0] if words else 0)
                held[name] = offer
            ready_out = not (pause and pause("psum_out"))
            ctx.set(pe.psum_out.ready, ready_out)
            moved = {name: held[name] and ctx.get(getattr(pe, name).ready) for name in queues}
            if ctx.get(pe.psum_out.valid) and ready_out:
                result["out"].append(ctx.get(pe.psum_out.payload))
            events = ctx.get(pe.events)
            result["events"].update({name: getattr(events, name) for name in RS_PE_EVENTS})
            await ctx.tick()
            for name, took in moved.items():
                if took:
                    queues[name].pop(0)
        assert not any(queues.values()), "the PE left bus words unread"

    simulate(pe, bench)
    psum_out = np.array(result["out"], dtype=np.int64).reshape(outputs, filters).T
    return psum_out, +result["events"], result["busy"]


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


def test_the_mac_is_the_only_multiplier():
    design = rtlil.convert(RowStationaryPE(16, ACC_BITS, **EYERISS_DEPTHS))
    assert len(re.findall(r"cell \$mul ", design)) == 1


def test_bad_depth_is_refused():
    with pytest.raises(ValueError, match="psum_depth must be a positive integer, not 0"):
        RowStationaryPE(8, 32, filter_depth=224, input_depth=12, psum_depth=0)
