"""Post-processing on the way out: bias, requantization and ReLU, one output word a cycle,
pipelined."""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import (POSTPROCESS_MULT_BITS,
                             POSTPROCESS_STAGES, POSTPROCESS_WIDE_BITS, SHIFT_BITS)
from models.spec import DRAM_WORD_BITS


DIGITS = POSTPROCESS_MULT_BITS // 2
"""Radix-4 Booth digits of the requantization multiplier."""
ROW_BITS = DRAM_WORD_BITS + 2
"""A partial product: minus twice the value at most (2**32 for -2 * -2**31)."""
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


def booth_layout():
    """One radix-4 Booth digit of `mult`, in {-2, -1, 0, 1, 2}: its magnitude (`one`, `two`)
    and sign (`neg`)."""
    return data.StructLayout({"one": 1, "two": 1, "neg": 1})


class PostProcessor(wiring.Component):
    """Turns one output-buffer word (`cols` int32 accumulators) into what goes to DRAM.

    Per value v (int32): v += bias (wrapping at 32 bits) if `bias`; then, if `requant`,
    t = round_half_up(v * mult / 2**shift) + zero_point, with ReLU clamping t below at
    zero_point, saturated to a signed operand_bits value; without `requant`, ReLU clamps v
    below at 0.

    The multiply is radix-4 Booth: `mult`'s 16 digits select 0, v or 2v, inverted for a
    negative digit, as 16 partial products, reduced with the rounding half to a sum and a
    carry row by full adders; the carry-propagate add follows in 32-bit halves (the upper
    one with and without the lower one's carry).  The configuration is a layer's constant,
    so what derives from it alone is computed once into registers (it is written before the
    layer starts, and the first word comes long after): the digits, one constant row for
    every negation's + 1 and the partial products' sign extensions, the rounding half, and
    the clamp's bounds moved to before the zero point is added (t < floor exactly when
    t - zero_point < floor - zero_point), so the last stage compares and adds in parallel.
    No carry chain is longer than 33 bits.

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
        add, the partial products reduced to a sum and a carry row, their carry-propagate
        add in two halves, the variable shift, and the zero point with the clamp
        (models.hardware.POSTPROCESS_LATENCY)."""
        return len(self.STAGES)

    def elaborate(self, platform):
        m = Module()
        bits, wide, half_bits = self.operand_bits, POSTPROCESS_WIDE_BITS, POSTPROCESS_WIDE_BITS // 2
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

        def register(name, shape, value):
            reg = Signal(shape, name=name, reset_less=True)
            m.d.sync += reg.eq(value)
            return reg

        cfg = self._layer_constants(m, register, low, high)
        as_int32 = Signal(data.ArrayLayout(signed(DRAM_WORD_BITS), self.cols))
        as_operand = Signal(data.ArrayLayout(signed(bits), self.cols))
        for c in range(self.cols):
            # The bias add as a carry-select adder whose last multiplexer (the upper half
            # with or without the lower half's carry) is in the next stage.
            acc, bias = self.acc[c].as_unsigned(), Mux(cfg["bias"], self.bias[c], 0).as_unsigned()
            half_word = DRAM_WORD_BITS // 2
            lower_sum = register(f"value_lower_{c}", half_word + 1,
                                 acc[:half_word] + bias[:half_word])
            upper_sum = register(f"value_upper_{c}", half_word,
                                 acc[half_word:] + bias[half_word:])
            upper_carry = register(f"value_upper_carry_{c}", half_word,
                                   acc[half_word:] + bias[half_word:] + 1)
            value = Cat(lower_sum[:half_word],
                        Mux(lower_sum[half_word], upper_carry, upper_sum)).as_signed()
            # The product plus the rounding half, wrapping at 64 bits as the golden model's
            # int64 arithmetic does, in carry-save form.
            rows = [self._partial_product(value, digit) << 2 * i
                    for i, digit in enumerate(cfg["digits"])]
            total, carries = carry_save(m, rows + [cfg["constant"], cfg["half"]], wide,
                                        f"product_{c}")
            total = register(f"sum_{c}", wide, total)
            carries = register(f"carries_{c}", wide, carries)
            # The carry-propagate add in halves: the upper half both with and without the
            # lower half's carry, chosen in the next stage.
            lower = register(f"lower_{c}", half_bits + 1, total[:half_bits] + carries[:half_bits])
            upper = register(f"upper_{c}", half_bits, total[half_bits:] + carries[half_bits:])
            upper_1 = register(f"upper_carry_{c}", half_bits,
                               total[half_bits:] + carries[half_bits:] + 1)
            rounded = Cat(lower[:half_bits], Mux(lower[half_bits], upper_1, upper)).as_signed()
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

    @staticmethod
    def _partial_product(value, digit):
        """value * digit as ROW_BITS unsigned bits: 0, value or 2 * value, inverted if the
        digit is negative (its + 1 is in the layer constant), the sign bit flipped (a signed
        row r equals its bits with the sign flipped, read unsigned, less 2**(ROW_BITS-1):
        that less is in the layer constant too)."""
        magnitude = Mux(digit.two, value << 1, Mux(digit.one, value, 0))
        row = Cat(magnitude, magnitude[-1]) ^ Mux(digit.neg, (1 << ROW_BITS) - 1, 0)
        return row ^ (1 << (ROW_BITS - 1))

    def _layer_constants(self, m, register, low, high):
        """What the post-processing of a layer derives from its configuration alone, in
        registers: flags, shift, Booth digits, the product's constant row, the rounding half,
        the clamp's bounds."""
        cfg, wide = self.config, POSTPROCESS_WIDE_BITS
        mult = Cat(0, cfg.mult)      # bit -1 of the multiplier is 0
        digits = []
        for i in range(DIGITS):
            below, bit, above = mult[2 * i], mult[2 * i + 1], mult[2 * i + 2]
            digits.append(register(f"digit_{i}", booth_layout(), Cat(
                bit ^ below, (above & ~bit & ~below) | (~above & bit & below), above)))
        # Per digit i, at weight 4**i: the + 1 of a negative digit's inversion (bits 0 to
        # 30), and - 2**(ROW_BITS-1) for its flipped sign bit (a constant of bits 33 and up).
        negations = Cat(*(Cat(mult[2 * i + 2], 0) for i in range(DIGITS)))
        flips = (-sum(1 << (ROW_BITS - 1 + 2 * i) for i in range(DIGITS))) % (1 << wide)
        assert flips % (1 << len(negations)) == 0
        floor = Mux(cfg.relu, Mux(cfg.zero_point > low, cfg.zero_point, low), low)
        bound = signed(BOUND_BITS)
        return {
            "bias": register("bias_on", 1, cfg.bias),
            "requant": register("requant_on", 1, cfg.requant),
            "relu": register("relu_on", 1, cfg.relu),
            "shift": register("shift", unsigned(SHIFT_BITS), cfg.shift),
            "digits": digits,
            "constant": register("constant", unsigned(wide), negations | flips),
            "half": register("half", unsigned(wide), ((1 << cfg.shift) >> 1)[:wide]),
            "zero_point": register("zero_point_low", self.operand_bits,
                                   cfg.zero_point[:self.operand_bits]),
            "floor": register("floor", signed(self.operand_bits), floor),
            "below": register("below", bound, floor - cfg.zero_point),
            "above": register("above", bound, high - cfg.zero_point),
        }


def carry_save(m, rows, width, name):
    """Reduce `rows` (unsigned values) to two whose sum is theirs modulo 2**width, by rows
    of full adders (three rows in, a sum row and a carry row out), no carry propagating.
    Each level's rows are signals of module `m` named after `name`."""
    rows = [row[:width] if len(row) > width else row for row in rows]
    level = 0
    while len(rows) > 2:
        reduced = []
        for i in range(0, len(rows) - 2, 3):
            a, b, c = rows[i:i + 3]
            total = Signal(width, name=f"{name}_l{level}_s{i // 3}")
            carry = Signal(width, name=f"{name}_l{level}_c{i // 3}")
            m.d.comb += [total.eq(a ^ b ^ c), carry.eq(((a & b) | (a & c) | (b & c)) << 1)]
            reduced += [total, carry]
        rows = reduced + rows[len(rows) - len(rows) % 3:]
        level += 1
    return rows


def _less(a, b):
    """a < b for signed a and b, one of them at most BOUND_BITS wide: the wider one's bits
    above BOUND_BITS only say whether it lies beyond the other's range (and on which side),
    so the carry chain is BOUND_BITS long, not the wider one's width."""
    narrow = BOUND_BITS
    wide, a_wide = (a, True) if len(a) > len(b) else (b, False)
    fits = (wide[narrow - 1:] == 0) | (wide[narrow - 1:] == (1 << (len(wide) - narrow + 1)) - 1)
    close = a[:narrow].as_signed() < b[:narrow].as_signed()
    return Mux(fits, close, wide[-1] if a_wide else ~wide[-1])
