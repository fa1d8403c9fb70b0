"""Post-processing on the way out: bias, requantization and ReLU, one output word a cycle,
pipelined."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import (POSTPROCESS_MULT_BITS, POSTPROCESS_MULT_SPLIT, POSTPROCESS_STAGES,
                             POSTPROCESS_WIDE_BITS, SHIFT_BITS)
from models.spec import DRAM_WORD_BITS


class PostConfig(data.Struct):
    """Per-layer post-processing: flags, requantization multiplier, shift and zero point."""

    bias: 1
    requant: 1
    relu: 1
    mult: signed(POSTPROCESS_MULT_BITS)
    shift: unsigned(SHIFT_BITS)
    zero_point: signed(16)


class PostProcessor(wiring.Component):
    """Turns one output-buffer word (`cols` int32 accumulators) into what goes to DRAM.

    Per value v (int32): v += bias (wrapping at 32 bits) if `bias`; then, if `requant`,
    t = round_half_up(v * mult / 2**shift) + zero_point, with ReLU clamping t below at
    zero_point, saturated to a signed operand_bits value; without `requant`, ReLU clamps v
    below at 0.

    Ports:
        acc: In, `cols` int32 accumulators.  bias: In, their `cols` int32 biases.
        config: In(PostConfig), held while words are in the pipeline.
        out: Out(cols * 32 bits): int32 values, or with `requant` `cols` operand_bits values
            packed from bit 0 (the rest zero).
    Latency: `latency` cycles from `acc`/`bias` to `out`, one word accepted every cycle; there
    is no valid bit (the DMA writer tracks the words in flight) and no backpressure.
    The pipeline registers have no reset.  Counts nothing.
    """

    STAGES = POSTPROCESS_STAGES

    def __init__(self, spec):
        self.cols = spec.cols
        self.operand_bits = spec.operand_bits
        word = data.ArrayLayout(signed(DRAM_WORD_BITS), spec.cols)
        super().__init__({
            "acc": In(word),
            "bias": In(word),
            "config": In(PostConfig),
            "out": Out(DRAM_WORD_BITS * spec.cols),
        })

    @property
    def latency(self):
        """Cycles from `acc` to `out`: len(STAGES), one register after each of bias add, the
        two 32x16 partial products, their sum plus the rounding half, the variable shift, and
        the zero point with the clamp (models.hardware.POSTPROCESS_LATENCY)."""
        return len(self.STAGES)

    def elaborate(self, platform):
        m = Module()
        cfg, bits, split = self.config, self.operand_bits, POSTPROCESS_MULT_SPLIT
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

        def register(name, shape, value):
            reg = Signal(shape, name=name, reset_less=True)
            m.d.sync += reg.eq(value)
            return reg

        half = Signal(POSTPROCESS_WIDE_BITS)
        m.d.comb += half.eq((1 << cfg.shift) >> 1)
        floor = Mux(cfg.relu, Mux(cfg.zero_point > low, cfg.zero_point, low), low)
        mult_low = cfg.mult[:split]
        mult_high = cfg.mult[split:].as_signed()
        as_int32 = Signal(data.ArrayLayout(signed(DRAM_WORD_BITS), self.cols))
        as_operand = Signal(data.ArrayLayout(signed(bits), self.cols))
        for c in range(self.cols):
            value = register(f"value_{c}", signed(DRAM_WORD_BITS),
                             self.acc[c] + Mux(cfg.bias, self.bias[c], 0))
            partial_low = register(f"partial_low_{c}", signed(DRAM_WORD_BITS + split + 1),
                                   value * mult_low)
            partial_high = register(f"partial_high_{c}", signed(DRAM_WORD_BITS + split),
                                    value * mult_high)
            # Wrapping at 64 bits, as the golden model's int64 arithmetic does.
            rounded = register(f"rounded_{c}", signed(POSTPROCESS_WIDE_BITS),
                               (partial_high << split) + partial_low + half.as_signed())
            shifted = register(f"shifted_{c}", signed(POSTPROCESS_WIDE_BITS),
                               rounded >> cfg.shift)
            scaled = shifted + cfg.zero_point
            m.d.comb += as_operand[c].eq(Mux(scaled < floor, floor,
                                             Mux(scaled > high, high, scaled)))
            # The int32 result waits beside the requantization stages.
            delayed = value
            for stage in range(1, len(self.STAGES) - 1):
                delayed = register(f"value_{c}_{stage}", signed(DRAM_WORD_BITS), delayed)
            m.d.comb += as_int32[c].eq(Mux(cfg.relu & (delayed < 0), 0, delayed))
        out = register("out", len(self.out),
                       Mux(cfg.requant, as_operand.as_value(), as_int32.as_value()))
        m.d.comb += self.out.eq(out)
        return m
