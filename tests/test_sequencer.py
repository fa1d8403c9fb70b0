"""The layer sequencer alone in Amaranth's simulator, with stand-in DMA engines and inner
loop: the DMA jobs and chunk runs it issues, against the layer's loop nest written out here
from the shape and the DRAM layout (not from the descriptor's precomputed products)."""

import pytest
from amaranth import Value
from amaranth.sim import Simulator

from models.mapper import ConvShape, PostProcess, map_conv
from models.registers import DESCRIPTOR
from models.spec import DRAM_WORD_BITS, ArchSpec
from pyhdl.sequencer import LayerSequencer

OUTPUT_ADDR_BITS = 12
BUSY_CYCLES = 3
"""How long a stand-in DMA engine stays busy after taking a job."""
CHUNK_CYCLES = 5
"""How long the stand-in inner loop takes for a chunk."""


def field_value(name, word):
    field = DESCRIPTOR[name]
    return word - (1 << 32) if field.signed and word >= 1 << 31 else word


def resident_region_words(spec, shape):
    """Weight-buffer words of one filter block's weights as its load writes them: a word per
    channel block of each (k, r, s) row (weight-stationary), a word per (r, s, c) row of
    `cols` filters (output-stationary)."""
    taps = shape.r * shape.s
    if spec.dataflow == "os":
        return taps * shape.c
    return spec.cols * taps * -(-shape.c // spec.rows)


def expected_nest(spec, mapping):
    """(input jobs, weight jobs, runs, write jobs) of the layer, in order; a weight job is
    (addr, rows, row_beats, row_elems, base).  Resident weights: only the first tile loads
    them, each filter block to its own region.  A tile of whole images: `images` of them,
    whose input rows follow one another in the band and whose output pixels do in Y."""
    shape, d = mapping.shape, mapping.descriptor
    rows, cols, bus = spec.rows, spec.cols, spec.dram_bus_bytes
    c_blocks, k_blocks = -(-shape.c // rows), -(-shape.k // cols)
    chunk_blocks, group = d["c_chunk_blocks"], d["k_group_blocks"]
    chunks = -(-c_blocks // chunk_blocks)
    taps = shape.r * shape.s
    out_bits = spec.operand_bits if mapping.post.requant is not None else DRAM_WORD_BITS
    resident = d["w_resident"]
    region = resident_region_words(spec, shape) if resident else 0
    images = mapping.tile_images
    inputs, weights, runs, writes = [], [], [], []
    for n in range(0, shape.n, images):
        for p0 in range(0, shape.p, mapping.tile_p):
            tile_rows = min(mapping.tile_p, shape.p - p0)
            h0 = p0 * shape.stride - shape.pad
            first, last = max(h0, 0), min(h0 + (tile_rows - 1) * shape.stride + shape.r, shape.h)
            if images > 1:
                tile_rows, last = images * shape.p, images * shape.h
            inputs.append((mapping.x_addr + (n * shape.h + first) * shape.w * mapping.x_pitch,
                           (last - first) * shape.w, mapping.x_row_beats, mapping.x_pitch,
                           shape.c))
            window = (h0 - first) * shape.w * c_blocks - shape.pad * c_blocks
            # Bands loaded ahead alternate between the input buffer's halves.
            window += d["x_half_words"] * ((len(inputs) - 1) % 2)
            for g0 in range(0, k_blocks, group):
                blocks = min(group, k_blocks - g0)
                for kb in range(g0, g0 + blocks):
                    filters = min(cols, shape.k - kb * cols)
                    for ch in range(chunks):
                        c0 = ch * chunk_blocks * rows
                        channels = min(chunk_blocks * rows, shape.c - c0)
                        if not (resident and inputs[1:]):
                            weights.append((*_weight_job(spec, mapping, kb, c0, channels,
                                                         filters, ch == chunks - 1),
                                            kb * region))
                        runs.append({
                            "first": int(ch == 0), "first_cb": ch * chunk_blocks,
                            "last_cb": min(c_blocks, (ch + 1) * chunk_blocks) - 1,
                            "red": taps * (min(c_blocks, (ch + 1) * chunk_blocks)
                                           - ch * chunk_blocks),
                            "last_k": int(kb == k_blocks - 1), "out_step": blocks,
                            "tile_rows": tile_rows, "tile_pixels": tile_rows * shape.q,
                            "h_start": h0, "window_base": window})
                offset = g0 * cols * out_bits // (8 * bus)
                writes.append((mapping.y_addr + (n * shape.p + p0) * shape.q * mapping.y_pitch
                               + offset, tile_rows * shape.q, blocks,
                               mapping.y_row_beats - offset if g0 + blocks == k_blocks
                               else blocks * cols * out_bits // (8 * bus)))
    return inputs, weights, runs, writes


def _weight_job(spec, mapping, kb, c0, channels, filters, last_chunk):
    """(addr, rows, row_beats, row_elems) of the load of filters kb*cols.. and channels
    c0..c0+channels, in the dataflow's DRAM layout (models.mapper.weight_rows)."""
    shape = mapping.shape
    taps, w_row = shape.r * shape.s, mapping.w_row_beats
    if spec.dataflow == "os":
        rows_before = kb * taps * shape.c + taps * c0
        return mapping.w_addr + rows_before * w_row, taps * channels, w_row, spec.cols
    beats = c0 * spec.operand_bits // (8 * spec.dram_bus_bytes)
    return (mapping.w_addr + kb * spec.cols * taps * w_row + beats, filters * taps,
            w_row - beats if last_chunk else channels * spec.operand_bits
            // (8 * spec.dram_bus_bytes), channels)


def run_sequencer(spec, mapping):
    dut = LayerSequencer(OUTPUT_ADDR_BITS)
    seen = {"input": [], "weight": [], "run": [], "write": [], "bias": []}
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        for name, word in mapping.descriptor.items():
            ctx.set(Value.cast(getattr(dut.descriptor, name)), field_value(name, word))
        busy = {"read": 0, "write": 0, "bias": 0}
        loop_left = 0
        ctx.set(dut.drained, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(100_000):
            ctx.set(dut.weight_busy, busy["read"] != 0)
            ctx.set(dut.writer_busy, busy["write"] != 0)
            ctx.set(dut.bias_busy, busy["bias"] != 0)
            ctx.set(dut.chunk_done, loop_left == 1)
            ctx.set(dut.prefetch, loop_left == CHUNK_CYCLES)
            for kind, job, engine in (("input", dut.input_job, "read"),
                                      ("weight", dut.weight_job, "read"),
                                      ("write", dut.write_job, "write"),
                                      ("bias", dut.bias_job, "bias")):
                ready = busy[engine] == 0
                ctx.set(job.ready, ready)
                if ready and ctx.get(job.valid):
                    seen[kind].append(ctx.get(job.payload))
                    busy[engine] = BUSY_CYCLES
            if ctx.get(dut.run):
                seen["run"].append(ctx.get(dut.chunk))
                loop_left = CHUNK_CYCLES + 1
            done = ctx.get(dut.done)
            await ctx.tick()
            if done:
                return seen
            busy = {engine: max(left - 1, 0) for engine, left in busy.items()}
            loop_left = max(loop_left - 1, 0)
        raise AssertionError("the layer never finished")

    sim.add_testbench(bench)
    sim.run()
    return seen


LAYERS = (
    ("3x3 pad, several tiles", ConvShape(2, 5, 60, 6, 7, 3, 3, 1, 1), PostProcess()),
    ("5x5 stride 2, bias", ConvShape(1, 2, 11, 7, 5, 5, 5, 2, 2),
     PostProcess(bias=True, requant=(3, 4, 0))),
    ("1x1, chunks and groups", ConvShape(1, 200, 6, 3, 13), PostProcess(requant=(3, 4, 0))),
    ("3x3, tiles of 3 whole images, weights resident", ConvShape(9, 3, 5, 4, 5, 3, 3, 1, 1),
     PostProcess(bias=True)),
)


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("name, shape, post", LAYERS, ids=[layer[0] for layer in LAYERS])
def test_sequencer_walks_the_loop_nest(dataflow, name, shape, post):
    spec = ArchSpec(rows=2, cols=3, dataflow=dataflow, glb_input_bytes=2048,
                    glb_weight_bytes=256, glb_output_bytes=2048, dram_bus_bytes=4)
    mapping = map_conv(spec, shape, post)
    spans = name == LAYERS[-1][0]
    assert (mapping.descriptor["w_resident"], mapping.tile_images > 1) == (spans, spans)
    seen = run_sequencer(spec, mapping)
    inputs, weights, runs, writes = expected_nest(spec, mapping)
    assert [(j["addr"], j["rows"], j["row_beats"], j["pitch"], j["row_elems"])
            for j in seen["input"]] == inputs
    if mapping.descriptor["w_resident"]:
        assert [(j["addr"], j["rows"], j["row_beats"], j["row_elems"], j["base"])
                for j in seen["weight"]] == weights
        assert [run["w_base"] for run in seen["run"]] == [w[4] for w in weights] * len(inputs)
    else:
        assert [(j["addr"], j["rows"], j["row_beats"], j["row_elems"])
                for j in seen["weight"]] == [w[:4] for w in weights]
        halves = {0, mapping.descriptor["w_half_words"]}
        assert {j["base"] for j in seen["weight"]} <= halves
    assert [{key: run[key] for key in expected} for run, expected in zip(seen["run"], runs)] \
        == runs and len(seen["run"]) == len(runs)
    assert [(j["addr"], j["rows"], j["row_words"], j["row_beats"])
            for j in seen["write"]] == writes
    assert len(seen["bias"]) == int(post.bias)
