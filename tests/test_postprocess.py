# amaranth: UnusedElaboratable=no
"""PostProcessor in Amaranth's simulator: bias, requantization and ReLU against
models.golden.postprocess bit for bit, through the pipeline at its stated latency."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from models import golden
from models.golden import operand_range
from models.hardware import POSTPROCESS_LATENCY
from models.spec import DRAM_WORD_BITS, ArchSpec
from pyhdl.postprocess import PostProcessor

SPECS = [ArchSpec(name="pp8", rows=2, cols=3, operand_bits=8),
         ArchSpec(name="pp16", rows=2, cols=4, operand_bits=16)]
CONFIGS = [  # (bias, requant, relu)
    (False, False, False), (True, False, True), (True, True, False), (False, True, True),
    (True, True, True)]


def random_config(rng, bits, bias, requant, relu):
    low, high = operand_range(bits)
    return {"bias": bias, "requant": requant, "relu": relu,
            "mult": int(rng.integers(-2**31, 2**31)), "shift": int(rng.integers(0, 64)),
            "zero_point": int(rng.integers(low, high + 1))}


def random_words(rng, n, cols):
    """Words of int32 values, a third of them at the extremes (to reach saturation)."""
    values = rng.integers(-2**31, 2**31, (n, cols))
    extremes = rng.choice([-2**31, 2**31 - 1, 0, -1, 1], (n, cols))
    return np.where(rng.random((n, cols)) < 1 / 3, extremes, values)


def expected(spec, acc, bias, config):
    requant = (config["mult"], config["shift"], config["zero_point"]) \
        if config["requant"] else None
    return golden.postprocess(acc[None], bias if config["bias"] else None, requant,
                              config["relu"], spec.operand_bits)[0]


def unpack(spec, word, requant):
    bits = spec.operand_bits if requant else DRAM_WORD_BITS
    values = [(word >> (i * bits)) & ((1 << bits) - 1) for i in range(spec.cols)]
    return [v - (1 << bits) if v >> (bits - 1) else v for v in values]


def run(spec, config, words, biases, offered):
    """Offer word i in the cycles where `offered` is true (garbage elsewhere) and return, per
    offered word, `out` exactly `latency` cycles later."""
    dut = PostProcessor(spec)
    rng = np.random.default_rng(0)
    results = []

    async def bench(ctx):
        ctx.set(dut.config, config)
        await ctx.tick()  # the configuration is registered before the first word
        sent = []           # per cycle: the index of the word offered, or None
        index = 0
        for cycle in range(len(offered) + dut.latency):
            if cycle < len(offered) and offered[cycle]:
                acc, bias, sent_index = words[index], biases[index], index
                index += 1
            else:
                acc, bias = random_words(rng, 2, spec.cols)
                sent_index = None
            for c in range(spec.cols):
                ctx.set(dut.acc[c], int(acc[c]))
                ctx.set(dut.bias[c], int(bias[c]))
            sent.append(sent_index)
            await ctx.tick()
            source = cycle - dut.latency + 1
            if source >= 0 and sent[source] is not None:
                results.append(unpack(spec, ctx.get(dut.out), config["requant"]))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("flags", CONFIGS,
                         ids=lambda f: "b{}r{}q{}".format(*map(int, f)))
def test_back_to_back_words_match_golden(spec, flags):
    rng = np.random.default_rng([spec.operand_bits, *map(int, flags)])
    for _ in range(3):
        config = random_config(rng, spec.operand_bits, *flags)
        words, biases = random_words(rng, 24, spec.cols), random_words(rng, 24, spec.cols)
        results = run(spec, config, words, biases, [True] * len(words))
        assert results == [list(expected(spec, a, b, config)) for a, b in zip(words, biases)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_gapped_words_leave_at_the_latency(spec):
    rng = np.random.default_rng(7)
    config = random_config(rng, spec.operand_bits, True, True, True)
    offered = list(rng.random(60) < 0.4)
    n = sum(offered)
    words, biases = random_words(rng, n, spec.cols), random_words(rng, n, spec.cols)
    results = run(spec, config, words, biases, offered)
    assert results == [list(expected(spec, a, b, config)) for a, b in zip(words, biases)]


def test_latency_is_one_register_per_stage_and_the_models():
    dut = PostProcessor(SPECS[0])
    assert dut.latency == len(PostProcessor.STAGES) >= 3
    # The fact the analytical model's write-back timing and the inventory read.
    assert POSTPROCESS_LATENCY == dut.latency
