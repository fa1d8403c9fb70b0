"""RowGearbox in Amaranth's simulator: row repacking under random input gaps and backpressure."""

import random

import pytest

from pyhdl.gearbox import RowGearbox
from testbench.amaranth_sim import simulate


def pack(elems, elem_bits):
    word = 0
    for i, e in enumerate(elems):
        word |= e << (i * elem_bits)
    return word


def expected_chunks(rows, elem_bits, out_elems):
    """Each row packed into out_elems-wide words, zero padded, each row starting a fresh word."""
    chunks = []
    for row in rows:
        for k in range(0, len(row), out_elems):
            chunks.append(pack(row[k:k + out_elems], elem_bits))
    return chunks


def input_chunks(rng, rows, elem_bits, in_elems, partial=False):
    """Split rows into input chunks; elements past `count` are random garbage.

    With `partial`, chunks in the middle of a row may also carry fewer than in_elems elements
    (even none).
    """
    chunks = []
    for row in rows:
        pos = 0
        while True:
            take = rng.randint(0, in_elems) if partial else in_elems
            piece = row[pos:pos + take]
            pos += len(piece)
            garbage = [rng.getrandbits(elem_bits) | 1 for _ in range(in_elems - len(piece))]
            chunks.append({"data": pack(piece + garbage, elem_bits), "count": len(piece),
                           "last": int(pos >= len(row))})
            if pos >= len(row):
                break
    return chunks


def random_rows(rng, elem_bits, count, max_len, min_len=1):
    return [[rng.getrandbits(elem_bits) for _ in range(rng.randint(min_len, max_len))]
            for _ in range(count)]


async def run_streams(ctx, gb, chunks, n_expected, rng, p_valid, p_ready, trace=None,
                      max_cycles=5000):
    """Drive `chunks` into `gb.i` (holding each until accepted, with random idle gaps) and
    collect `n_expected` output words under random `gb.o.ready`.  Returns the outputs.

    `trace`, if a list, gets (o.valid, o.ready, o.payload, i.valid, i.ready) per cycle.
    """
    outputs = []
    index = 0
    presenting = False
    for _ in range(max_cycles):
        if index < len(chunks) and not presenting and rng.random() < p_valid:
            presenting = True
        if presenting:
            ctx.set(gb.i.payload, chunks[index])
        else:
            # Garbage payload with valid low must be ignored.
            ctx.set(gb.i.payload, {"data": rng.getrandbits(len(gb.i.payload.data)),
                                   "count": rng.randint(0, gb.in_elems), "last": rng.randrange(2)})
        ctx.set(gb.i.valid, presenting)
        ready = rng.random() < p_ready
        ctx.set(gb.o.ready, ready)
        o_valid, payload = ctx.get(gb.o.valid), ctx.get(gb.o.payload)
        i_ready = ctx.get(gb.i.ready)
        if trace is not None:
            trace.append((o_valid, ready, payload, presenting, i_ready))
        if o_valid and ready:
            outputs.append(payload)
        if presenting and i_ready:
            index += 1
            presenting = False
        await ctx.tick()
        if index == len(chunks) and len(outputs) >= n_expected:
            break
    else:
        raise AssertionError(f"timed out: {index}/{len(chunks)} chunks in, "
                             f"{len(outputs)}/{n_expected} words out")
    ctx.set(gb.i.valid, 0)
    return outputs


CONFIGS = [
    pytest.param(8, 16, 4, id="8b-16to4"),
    pytest.param(8, 4, 16, id="8b-4to16"),
    pytest.param(8, 3, 5, id="8b-3to5"),
    pytest.param(8, 5, 3, id="8b-5to3"),
    pytest.param(8, 4, 4, id="8b-4to4"),
    pytest.param(8, 1, 3, id="8b-1to3"),
    pytest.param(32, 4, 1, id="32b-4to1"),
    pytest.param(32, 2, 3, id="32b-2to3"),
]


def make_case(seed, elem_bits, in_elems, out_elems, rows=12, partial=False):
    rng = random.Random(seed)
    rows = random_rows(rng, elem_bits, rows, 3 * max(in_elems, out_elems) + 1)
    # Include rows exactly one input chunk, exactly one output chunk, and a single element.
    rows[0] = rows[0][:1]
    rows[1] = [rng.getrandbits(elem_bits) for _ in range(out_elems)]
    rows[2] = [rng.getrandbits(elem_bits) for _ in range(in_elems)]
    return rng, rows, input_chunks(rng, rows, elem_bits, in_elems, partial)


@pytest.mark.parametrize("elem_bits,in_elems,out_elems", CONFIGS)
def test_repacks_rows_with_gaps_and_backpressure(elem_bits, in_elems, out_elems):
    gb = RowGearbox(elem_bits, in_elems, out_elems)
    rng, rows, chunks = make_case(elem_bits * 1000 + in_elems * 10 + out_elems,
                                  elem_bits, in_elems, out_elems)
    want = expected_chunks(rows, elem_bits, out_elems)

    async def bench(ctx):
        got = await run_streams(ctx, gb, chunks, len(want), rng, p_valid=0.6, p_ready=0.5)
        assert [hex(v) for v in got] == [hex(v) for v in want]

    simulate(gb, bench)


@pytest.mark.parametrize("elem_bits,in_elems,out_elems", CONFIGS)
def test_repacks_rows_at_full_rate(elem_bits, in_elems, out_elems):
    gb = RowGearbox(elem_bits, in_elems, out_elems)
    rng, rows, chunks = make_case(elem_bits * 1000 + in_elems * 10 + out_elems + 1,
                                  elem_bits, in_elems, out_elems)
    want = expected_chunks(rows, elem_bits, out_elems)

    async def bench(ctx):
        got = await run_streams(ctx, gb, chunks, len(want), rng, p_valid=1.0, p_ready=1.0)
        assert [hex(v) for v in got] == [hex(v) for v in want]

    simulate(gb, bench)


@pytest.mark.parametrize("elem_bits,in_elems,out_elems", CONFIGS)
def test_partial_chunks_mid_row_are_masked(elem_bits, in_elems, out_elems):
    """Input chunks with count < in_elems (even 0) anywhere in a row: only `count` are taken."""
    gb = RowGearbox(elem_bits, in_elems, out_elems)
    rng, rows, chunks = make_case(elem_bits * 1000 + in_elems * 10 + out_elems + 2,
                                  elem_bits, in_elems, out_elems, partial=True)
    want = expected_chunks(rows, elem_bits, out_elems)

    async def bench(ctx):
        got = await run_streams(ctx, gb, chunks, len(want), rng, p_valid=0.7, p_ready=0.6)
        assert [hex(v) for v in got] == [hex(v) for v in want]

    simulate(gb, bench)


@pytest.mark.parametrize("elem_bits,in_elems,out_elems", [(8, 4, 4), (8, 3, 5), (8, 16, 4)])
def test_garbage_beyond_count_is_masked(elem_bits, in_elems, out_elems):
    """A short last chunk full of all-ones garbage must leave zero padding in the output."""
    gb = RowGearbox(elem_bits, in_elems, out_elems)
    ones = (1 << elem_bits) - 1
    # One element in the final chunk of each row, garbage in every other lane.
    rows = [[0x11], [0x22] * (in_elems + 1), [0x33] * (2 * in_elems + 1)]
    chunks = []
    for row in rows:
        for k in range(0, len(row), in_elems):
            piece = row[k:k + in_elems]
            chunks.append({"data": pack(piece + [ones] * (in_elems - len(piece)), elem_bits),
                           "count": len(piece), "last": int(k + in_elems >= len(row))})
    want = expected_chunks(rows, elem_bits, out_elems)

    async def bench(ctx):
        got = await run_streams(ctx, gb, chunks, len(want), random.Random(3), 1.0, 0.7)
        assert [hex(v) for v in got] == [hex(v) for v in want]

    simulate(gb, bench)


@pytest.mark.parametrize("elem_bits,in_elems,out_elems", [(8, 4, 4), (8, 3, 5), (8, 16, 4)])
def test_empty_row_emits_nothing(elem_bits, in_elems, out_elems):
    """A row of zero elements (one chunk, count 0, last) leaves as ceil(0/out) = 0 chunks."""
    gb = RowGearbox(elem_bits, in_elems, out_elems)
    rng = random.Random(5)
    rows = [[1, 2], [], [3, 4, 5, 6, 7, 8], [], [], [9]]
    chunks = input_chunks(rng, rows, elem_bits, in_elems)
    for chunk in chunks:
        if chunk["count"] == 0:
            assert chunk["last"] == 1
    want = expected_chunks(rows, elem_bits, out_elems)

    async def bench(ctx):
        got = await run_streams(ctx, gb, chunks, len(want), rng, 0.8, 0.8)
        # Drain a few more cycles: no extra words may appear.
        ctx.set(gb.o.ready, 1)
        for _ in range(2 * (in_elems + out_elems)):
            assert not ctx.get(gb.o.valid)
            await ctx.tick()
        assert [hex(v) for v in got] == [hex(v) for v in want]

    simulate(gb, bench)


@pytest.mark.parametrize("elem_bits,in_elems,out_elems", CONFIGS)
def test_output_held_stable_until_accepted(elem_bits, in_elems, out_elems):
    """Stream rule: once o.valid is high, it and o.payload hold until o.ready takes the word."""
    gb = RowGearbox(elem_bits, in_elems, out_elems)
    rng, rows, chunks = make_case(elem_bits * 1000 + in_elems * 10 + out_elems + 3,
                                  elem_bits, in_elems, out_elems)
    want = expected_chunks(rows, elem_bits, out_elems)

    async def bench(ctx):
        trace = []
        await run_streams(ctx, gb, chunks, len(want), rng, 0.7, 0.3, trace=trace)
        for t in range(1, len(trace)):
            valid, ready, payload = trace[t - 1][:3]
            if valid and not ready:
                assert trace[t][0], f"o.valid dropped at cycle {t} without a transfer"
                assert trace[t][2] == payload, f"o.payload changed at cycle {t}"

    simulate(gb, bench)


@pytest.mark.parametrize("elem_bits,in_elems,out_elems", CONFIGS)
def test_idle_after_drain(elem_bits, in_elems, out_elems):
    gb = RowGearbox(elem_bits, in_elems, out_elems)
    rng, rows, chunks = make_case(elem_bits * 1000 + in_elems * 10 + out_elems + 4,
                                  elem_bits, in_elems, out_elems, rows=4)
    want = expected_chunks(rows, elem_bits, out_elems)

    async def bench(ctx):
        assert ctx.get(gb.idle)
        # Accept the first chunk with the output stalled: now something is buffered.
        ctx.set(gb.i.payload, chunks[0])
        ctx.set(gb.i.valid, 1)
        ctx.set(gb.o.ready, 0)
        assert ctx.get(gb.i.ready)
        await ctx.tick()
        assert not ctx.get(gb.idle)
        # Push the rest, then once the last word has left the gearbox must be empty.
        got = await run_streams(ctx, gb, chunks[1:], len(want), rng, 0.8, 0.8)
        assert got == want
        ctx.set(gb.o.ready, 0)
        await ctx.tick()
        assert ctx.get(gb.idle)
        assert not ctx.get(gb.o.valid)

    simulate(gb, bench)


def _cycles_for_one_row(elem_bits, in_elems, out_elems, length):
    """Cycles from the first input chunk until the last output word of one full-rate row."""
    gb = RowGearbox(elem_bits, in_elems, out_elems)
    rng = random.Random(9)
    rows = [[rng.getrandbits(elem_bits) for _ in range(length)]]
    chunks = input_chunks(rng, rows, elem_bits, in_elems)
    want = expected_chunks(rows, elem_bits, out_elems)
    result = {}

    async def bench(ctx):
        trace = []
        got = await run_streams(ctx, gb, chunks, len(want), rng, 1.0, 1.0, trace=trace)
        assert got == want
        result["cycles"] = len(trace)

    simulate(gb, bench)
    return result["cycles"]


@pytest.mark.parametrize("elem_bits,in_elems,out_elems", [
    pytest.param(8, 16, 4, id="8b-16to4"),
    pytest.param(8, 4, 16, id="8b-4to16"),
    pytest.param(8, 4, 4, id="8b-4to4"),
    pytest.param(32, 4, 1, id="32b-4to1"),
    pytest.param(8, 3, 5, id="8b-3to5"),
    pytest.param(8, 5, 3, id="8b-5to3"),
    pytest.param(32, 2, 3, id="32b-2to3"),
])
def test_throughput_is_min_of_widths(elem_bits, in_elems, out_elems):
    """Documented: min(in_elems, out_elems) elements per cycle, less one cycle per row end."""
    length = 60 * in_elems * out_elems
    cycles = _cycles_for_one_row(elem_bits, in_elems, out_elems, length)
    ideal = -(-length // min(in_elems, out_elems))
    # One cycle of latency, one per row end, and a little slack for filling the pipe.
    assert cycles <= ideal + 4, f"{cycles} cycles for {length} elements (ideal {ideal})"
