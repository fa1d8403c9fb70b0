"""Layers back to back, as in a network: each layer reads the previous one's output where it
left it in DRAM, and starts as soon as the previous one is done.

The run directory's jobs form a chain of dense convolutions (fc as 1x1, groups 1) in which
layer i + 1 has layer i's output as its input: X of layer i + 1 is Y of layer i (NPQK is
NHWC), so every layer but the last requantizes to operand width.  The host loads DRAM once
(X of the first layer, every layer's weights and biases, poison over every output), then for
each layer writes its descriptor and starts it the cycle after the previous layer's `done`,
with no reset, no DRAM access and no counter read in between: the only cycles between two
layers are the descriptor's register writes.  At the end it reads the last layer's counters
and every layer's output.  The jobs' `inputs` beyond the first are the golden model's chain,
so each layer's result is compared with what the golden model makes of the golden input.
"""

import os

import cocotb
from cocotb.triggers import RisingEdge, with_timeout

from models.compression import dense_image, reads_compressed, table_beats
from models.layout import pack_rows, row_beats, unpack_rows
from models.mapper import Placement, map_conv, weight_beats, weight_rows
from models.registers import CONTROL, descriptor_address
from models.spec import DRAM_WORD_BITS

from .jobs import JobResult, expected_output, read_jobs, write_results
from .tb import (CLOCK_NS, AcceleratorTB, bias_region, input_regions, poison_region,
                 timeout_cycles)


def chain_mappings(spec, jobs):
    """Each layer's mapping, placed so that layer i + 1 reads X where layer i writes Y:
    X of layer 0, then each layer's weights, bias and output, one after another."""
    bus = spec.dram_bus_bytes
    first = jobs[0].shape
    x_addr = 0
    x_pitch = row_beats(first.c, spec.operand_bits, bus)
    pixels = first.n * first.h * first.w
    addr = pixels * x_pitch
    x_table = None
    if reads_compressed(spec, x_pitch, pixels):
        x_table, addr = addr, addr + table_beats(pixels, bus)
    mappings = []
    for job in jobs:
        shape, post = job.shape, job.post_process
        w_addr = addr
        b_addr = w_addr + weight_beats(spec, shape)
        y_addr = b_addr + (row_beats(shape.k, DRAM_WORD_BITS, bus) if post.bias else 0)
        mapping = map_conv(spec, shape, post, Placement(x_addr, w_addr, b_addr, y_addr,
                                                        x_pitch, x_table_addr=x_table))
        mappings.append(mapping)
        x_addr, x_pitch, addr = y_addr, mapping.y_pitch, mapping.dram_beats
        d = mapping.descriptor
        x_table = d["y_table_addr"] if d["y_compressed"] else None
    return mappings


def dram_image(spec, jobs, mappings):
    """The one DRAM load of a chain: X of the first layer, weights, biases, poisoned outputs."""
    first = jobs[0].shape
    x = jobs[0].inputs if jobs[0].op != "fc" else jobs[0].inputs.T.reshape(first.c, -1, 1)[None]
    regions = input_regions(spec, x, mappings[0])
    for job, mapping in zip(jobs, mappings):
        shape = mapping.shape
        w = job.weights.reshape(shape.k, shape.c, shape.r, shape.s)
        regions.append((mapping.w_addr, pack_rows(weight_rows(spec, mapping, w),
                                                  spec.operand_bits, spec.dram_bus_bytes)))
        if job.bias is not None:
            regions.append(bias_region(spec, mapping.b_addr, job.bias))
        regions.append(poison_region(spec, mapping.y_addr, mapping.y_beats
                                     + mapping.y_table_beats))
    return regions


def output_of(spec, job, mapping, image):
    """A layer's output in the job's own layout (NKPQ, or M x K for fc) from its DRAM rows
    (the job's shape, not the mapping's: row-stationary runs one pixel wide images as one row
    of the same pixels, models.row_stationary.fc_row)."""
    shape = job.shape
    bits = spec.operand_bits if job.requant is not None else DRAM_WORD_BITS
    pixels = shape.n * shape.p * shape.q
    y = unpack_rows(dense_image(image, mapping, spec), pixels, shape.k, bits,
                    spec.dram_bus_bytes)
    if job.op == "fc":
        return y
    return y.reshape(shape.n, shape.p, shape.q, shape.k).transpose(0, 3, 1, 2)


@cocotb.test()
async def run_chain(dut):
    run_dir = os.environ["PEFORGE_RUN_DIR"]
    spec, jobs = read_jobs(run_dir)
    tb = AcceleratorTB(dut, spec, run_dir)
    mappings = chain_mappings(spec, jobs)
    await tb.start(jobs[0].timing)
    await tb.load_dram(dram_image(spec, jobs, mappings))
    for mapping in mappings:
        for name, value in mapping.descriptor.items():
            await tb.write_register(descriptor_address(name), value)
        await tb.write_register(CONTROL, 1)
        await with_timeout(RisingEdge(dut.done), timeout_cycles(spec, mapping) * CLOCK_NS, "ns")
    counters = await tb.read_counters()
    results = []
    for index, (job, mapping) in enumerate(zip(jobs, mappings)):
        image = await tb.dump_dram(mapping.y_addr, mapping.y_beats + mapping.y_table_beats)
        last = index == len(jobs) - 1
        results.append(JobResult(job.name, output_of(spec, job, mapping, image),
                                 expected_output(spec, job), counters if last else {}))
    write_results(run_dir, results)
    bad = [result.name for result in results if not result.matches]
    assert not bad, f"RTL differs from the golden model on {', '.join(bad)}"
