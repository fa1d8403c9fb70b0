"""Post-processing on the way out: bias, requantization and ReLU, one output word at a time."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from models.spec import DRAM_WORD_BITS

SHIFT_BITS = 6


class PostConfig(data.Struct):
    """Per-layer post-processing: flags, requantization multiplier, shift and zero point."""

    bias: 1
    requant: 1
    relu: 1
    mult: signed(32)
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
        config: In(PostConfig).
        out: Out(cols * 32 bits): int32 values, or with `requant` `cols` operand_bits values
            packed from bit 0 (the rest zero).
    Latency: none (combinational).  Counts nothing.
    """

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

    def elaborate(self, platform):
        m = Module()
        cfg, bits = self.config, self.operand_bits
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        wide = data.ArrayLayout(signed(DRAM_WORD_BITS), self.cols)
        narrow = data.ArrayLayout(signed(bits), self.cols)
        as_int32 = Signal(wide)
        as_operand = Signal(narrow)
        half = Signal(64)
        m.d.comb += half.eq((1 << cfg.shift) >> 1)
        for c in range(self.cols):
            value = Signal(signed(DRAM_WORD_BITS), name=f"value_{c}")
            m.d.comb += value.eq(self.acc[c] + Mux(cfg.bias, self.bias[c], 0))
            m.d.comb += as_int32[c].eq(Mux(cfg.relu & (value < 0), 0, value))

            scaled = Signal(signed(64), name=f"scaled_{c}")
            m.d.comb += scaled.eq(((value * cfg.mult + half.as_signed()) >> cfg.shift)
                                  + cfg.zero_point)
            floor = Mux(cfg.relu, Mux(cfg.zero_point > low, cfg.zero_point, low), low)
            m.d.comb += as_operand[c].eq(Mux(scaled < floor, floor,
                                             Mux(scaled > high, high, scaled)))
        m.d.comb += self.out.eq(Mux(cfg.requant, as_operand.as_value(), as_int32.as_value()))
        return m
