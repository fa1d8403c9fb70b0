"""Post-processing on the way out: bias, requantization and ReLU, one output word a cycle,
pipelined."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import (POSTPROCESS_MULT_BITS,
                             POSTPROCESS_STAGES, POSTPROCESS_WIDE_BITS, SHIFT_BITS)
from models.spec import DRAM_WORD_BITS


HALF_BITS = POSTPROCESS_MULT_BITS // 2
"""The requantization multiplier is split in halves: two partial products, one each."""
BOUND_BITS = 18
"""The clamp's bounds less the zero point (within +-2**17 for operands up to 16 bits)."""


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

    The multiply is written as two partial products, `v` times `mult`'s unsigned lower half
    and `v` times its signed upper half, each registered, then their sum with the rounding
    half, registered: synthesis (synthesis/timing.py) reduces each product's partial
    products carry-save and the three-operand sum in one carry-save row, each with one fast
    carry-propagate adder, and a simulator evaluates two multiplies and two adds.  The
    configuration is a layer's constant, so what derives from it alone is computed once
    into registers (it is written before the layer starts, and the first word comes long
    after): the rounding half, and the clamp's bounds moved to before the zero point is
    added (t < floor exactly when t - zero_point < floor - zero_point), so the last stage
    compares and adds in parallel.

    Ports:
        acc: In, `cols` int32 accumulators.  bias: In, their `cols` int32 biases.
        config: In(PostConfig), held from one cycle before a word enters until it leaves.
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
        """Cycles from `acc` to `out`: len(STAGES), one register after each of the bias
        add, the two partial products, their sum with the rounding half, the variable
        shift, and the zero point with the clamp (models.hardware.POSTPROCESS_LATENCY)."""
        return len(self.STAGES)

    def elaborate(self, platform):
        m = Module()
        bits, wide = self.operand_bits, POSTPROCESS_WIDE_BITS
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

        def register(name, shape, value):
            reg = Signal(shape, name=name, reset_less=True)
            m.d.sync += reg.eq(value)
            return reg

        cfg = self._layer_constants(m, register, low, high)
        as_int32 = Signal(data.ArrayLayout(signed(DRAM_WORD_BITS), self.cols))
        as_operand = Signal(data.ArrayLayout(signed(bits), self.cols))
        for c in range(self.cols):
            acc, bias = self.acc[c], Mux(cfg["bias"], self.bias[c], 0)
            value = register(f"value_{c}", signed(DRAM_WORD_BITS), acc + bias)
            # The product as two partial products, one per half of `mult`, then their sum
            # with the rounding half, wrapping at 64 bits as the golden model's int64
            # arithmetic does.
            product_low = register(f"product_low_{c}", signed(DRAM_WORD_BITS + HALF_BITS + 1),
                                   value * cfg["mult"][:HALF_BITS])
            product_high = register(f"product_high_{c}", signed(DRAM_WORD_BITS + HALF_BITS),
                                    value * cfg["mult"][HALF_BITS:].as_signed())
            rounded = register(f"rounded_{c}", signed(wide),
                               product_low + (product_high << HALF_BITS) + cfg["half"])
            shifted = register(f"shifted_{c}", signed(wide), rounded >> cfg["shift"])
            scaled = (shifted[:bits] + cfg["zero_point"])[:bits].as_signed()
            m.d.comb += as_operand[c].eq(
                Mux(_less(shifted, cfg["below"]), cfg["floor"],
                    Mux(_less(cfg["above"], shifted), high, scaled)))
            # The int32 result waits beside the requantization stages.
            delayed = value
            for stage in range(1, len(self.STAGES) - 1):
                delayed = register(f"value_{c}_{stage}", signed(DRAM_WORD_BITS), delayed)
            m.d.comb += as_int32[c].eq(Mux(cfg["relu"] & (delayed < 0), 0, delayed))
        out = register("out", len(self.out),
                       Mux(cfg["requant"], as_operand.as_value(), as_int32.as_value()))
        m.d.comb += self.out.eq(out)
        return m

    def _layer_constants(self, m, register, low, high):
        """What the post-processing of a layer derives from its configuration alone, in
        registers: flags, shift, multiplier, the rounding half, the clamp's bounds."""
        cfg, wide = self.config, POSTPROCESS_WIDE_BITS
        floor = Mux(cfg.relu, Mux(cfg.zero_point > low, cfg.zero_point, low), low)
        bound = signed(BOUND_BITS)
        return {
            "bias": register("bias_on", 1, cfg.bias),
            "requant": register("requant_on", 1, cfg.requant),
            "relu": register("relu_on", 1, cfg.relu),
            "shift": register("shift", unsigned(SHIFT_BITS), cfg.shift),
            "mult": register("mult", signed(POSTPROCESS_MULT_BITS), cfg.mult),
            "half": register("half", unsigned(wide), ((1 << cfg.shift) >> 1)[:wide]),
            "zero_point": register("zero_point_low", self.operand_bits,
                                   cfg.zero_point[:self.operand_bits]),
            "floor": register("floor", signed(self.operand_bits), floor),
            "below": register("below", bound, floor - cfg.zero_point),
            "above": register("above", bound, high - cfg.zero_point),
        }


def _less(a, b):
    """a < b for signed a and b, one of them at most BOUND_BITS wide: the wider one's bits
    above BOUND_BITS only say whether it lies beyond the other's range (and on which side),
    so the carry chain is BOUND_BITS long, not the wider one's width."""
    narrow = BOUND_BITS
    wide, a_wide = (a, True) if len(a) > len(b) else (b, False)
    fits = (wide[narrow - 1:] == 0) | (wide[narrow - 1:] == (1 << (len(wide) - narrow + 1)) - 1)
    close = a[:narrow].as_signed() < b[:narrow].as_signed()
    return Mux(fits, close, wide[-1] if a_wide else ~wide[-1])
