"""One processing element of the weight-stationary array."""

from amaranth import Array, Module, Mux, Signal, signed
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

    Latency: one cycle from `x_in`/`psum_in` to `x_out`/`psum_out`.
    Only `x_out.valid` is reset; the weight registers, the token's slot and value and the
    partial sum are reset-less (a register-file entry is always committed before it is read).
    Each valid token reads register-file entry `token.slot` and adds `value * weight` to the
    partial sum unless either is zero (then the multiplier is not used and the sum passes).
    Activity is counted at the array's edge (see `SystolicArray`), not per PE.
    """

    def __init__(self, operand_bits, acc_bits, rf_depth):
        self.operand_bits = operand_bits
        self.acc_bits = acc_bits
        self.rf_depth = rf_depth
        slot_bits = (rf_depth - 1).bit_length()
        token = token_layout(operand_bits, slot_bits)
        super().__init__({
            "x_in": In(token),
            "x_out": Out(token),
            "psum_in": In(signed(acc_bits)),
            "psum_out": Out(signed(acc_bits)),
            "w_in": In(signed(operand_bits)),
            "w_out": Out(signed(operand_bits)),
            "w_shift": In(1),
            "w_commit": In(1),
            "w_slot": In(max(slot_bits, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        chain = Signal(signed(self.operand_bits), reset_less=True)
        rf = Array(Signal(signed(self.operand_bits), name=f"rf{i}", reset_less=True)
                   for i in range(self.rf_depth))

        m.d.comb += self.w_out.eq(chain)
        with m.If(self.w_shift):
            m.d.sync += chain.eq(self.w_in)
        with m.If(self.w_commit):
            m.d.sync += rf[self.w_slot].eq(chain)

        weight = rf[self.x_in.slot] if self.rf_depth > 1 else rf[0]
        x = self.x_in.value
        gated = (x == 0) | (weight == 0)
        # Only the token's valid bit is reset; its slot and value, and the partial sum, are
        # data that a valid bit qualifies.
        x_valid = Signal()
        x_slot = Signal.like(self.x_in.slot, reset_less=True)
        x_value = Signal.like(self.x_in.value, reset_less=True)
        psum = Signal(signed(self.acc_bits), reset_less=True)
        m.d.sync += [x_valid.eq(self.x_in.valid), x_slot.eq(self.x_in.slot),
                     x_value.eq(self.x_in.value)]
        m.d.comb += [self.x_out.valid.eq(x_valid), self.x_out.slot.eq(x_slot),
                     self.x_out.value.eq(x_value), self.psum_out.eq(psum)]
        with m.If(self.x_in.valid & ~gated):
            m.d.sync += psum.eq(multiply_accumulate(self.psum_in, x, weight))
        with m.Else():
            m.d.sync += psum.eq(self.psum_in)
        return m
