"""One processing element of the weight-stationary array."""

from amaranth import Array, Module, Shape, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


def multiply_accumulate(addend, x, w):
    """`addend + x * w` modulo 2**len(addend) (x and w signed), written as the datapath it
    is: synthesis (synthesis/timing.py) merges the product and the sum into one
    multiply-accumulate and reduces its partial products and the addend in one carry-save
    tree ending in one fast carry-propagate adder, and a simulator evaluates it as one
    multiply and one add."""
    return (addend + x * w)[:len(addend)]


def token_layout(operand_bits, slot_bits):
    """An operand travelling through the array, with its valid bit and register-file slot."""
    return data.StructLayout({
        "valid": 1,
        "slot": max(slot_bits, 1),
        "value": signed(operand_bits),
    })


class ProcessingElement(wiring.Component):
    """A MAC with a weight register file; an input operand or weight of zero gates the multiply.

    Ports:
        x_in/x_out: the input token from the left neighbour, registered on to the right.
        psum_in/psum_out: partial sum from above, registered (plus this PE's product) below.
        w_in/w_out: the weight shift chain (`w_shift` moves it one PE to the right).
        w_commit/w_slot: copy the chain register into register-file entry `w_slot`.
        skip: Out(1), this cycle's token is valid and its product gated (for arrays that
            count gated products per PE, pyhdl/depthwise_array.py).

    The partial sum is `psum_bits` wide and wraps there: the array sizes it so that a
    column's sum cannot overflow (models/hardware.py column_sum_bits; ArchSpec.psum_bits).

    Latency: one cycle from `x_in`/`psum_in` to `x_out`/`psum_out`.
    Only `x_out.valid` is reset; the weight registers, the token's slot and value and the
    partial sum are reset-less (a register-file entry is always committed before it is read).
    Each valid token reads register-file entry `token.slot` and adds `value * weight` to the
    partial sum unless either is zero (then the multiplier is not used and the sum passes).
    Activity is counted at the array's edge (see `SystolicArray`), not per PE.
    """

    def __init__(self, operand_bits, psum_bits, rf_depth):
        self.operand_bits = operand_bits
        self.psum_bits = psum_bits
        self.rf_depth = rf_depth
        slot_bits = max((rf_depth - 1).bit_length(), 1)
        token, weight = self.layouts(operand_bits, slot_bits)
        super().__init__({
            "x_in": In(token),
            "x_out": Out(token),
            "psum_in": In(signed(psum_bits)),
            "psum_out": Out(signed(psum_bits)),
            "w_in": In(weight),
            "w_out": Out(weight),
            "w_shift": In(1),
            "w_commit": In(1),
            "w_slot": In(slot_bits),
            "skip": Out(1),
        })

    @staticmethod
    def layouts(operand_bits, slot_bits):
        """(token, weight): what moves right along a row, and what a register-file entry holds."""
        return token_layout(operand_bits, slot_bits), signed(operand_bits)

    def operands(self, m, entry):
        """(input, weight value) this PE multiplies, given the bits of its register file's
        `entry` for the token's slot."""
        return self.x_in.value, entry

    def elaborate(self, platform):
        m = Module()
        shape = self.w_in.shape()
        chain = Signal(shape, reset_less=True)
        # Register-file entries as plain bit vectors (a struct entry is read whole, then
        # viewed by `operands`).
        rf = Array(Signal(Shape.cast(shape), name=f"rf{i}", reset_less=True)
                   for i in range(self.rf_depth))

        m.d.comb += self.w_out.eq(chain)
        with m.If(self.w_shift):
            m.d.sync += chain.eq(self.w_in)
        with m.If(self.w_commit):
            m.d.sync += rf[self.w_slot].eq(chain)

        x, weight = self.operands(m, rf[self.x_in.slot] if self.rf_depth > 1 else rf[0])
        gated = (x == 0) | (weight == 0)
        m.d.comb += self.skip.eq(self.x_in.valid & gated)
        # Only the token's valid bit is reset; its other fields (slot, operands) and the
        # partial sum are data that a valid bit qualifies.
        x_valid = Signal()
        psum = Signal(signed(self.psum_bits), reset_less=True)
        m.d.sync += x_valid.eq(self.x_in.valid)
        m.d.comb += [self.x_out.valid.eq(x_valid), self.psum_out.eq(psum)]
        for name, _ in self.x_in.shape():
            if name != "valid":
                held = Signal.like(self.x_in[name], name=f"x_{name}", reset_less=True)
                m.d.sync += held.eq(self.x_in[name])
                m.d.comb += self.x_out[name].eq(held)
        with m.If(self.x_in.valid & ~gated):
            m.d.sync += psum.eq(multiply_accumulate(self.psum_in, x, weight))
        with m.Else():
            m.d.sync += psum.eq(self.psum_in)
        return m
