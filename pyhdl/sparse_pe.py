"""One processing element of the 2:4 weight-stationary array: a kept weight, its index, and
a 4:1 selection of the group's inputs."""

from amaranth import Array, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from models.sparsity import GROUP
from models.spec import INDEX_BITS

from .pe import multiply_accumulate


def sparse_weight_layout(operand_bits):
    """A kept weight: its value and which of its group's four inputs it multiplies."""
    return data.StructLayout({"value": signed(operand_bits), "index": INDEX_BITS})


def group_token_layout(operand_bits, slot_bits):
    """A group's four inputs travelling along an array row, with valid bit and slot."""
    return data.StructLayout({
        "valid": 1,
        "slot": max(slot_bits, 1),
        "values": data.ArrayLayout(signed(operand_bits), GROUP),
    })


class SparseProcessingElement(wiring.Component):
    """A MAC whose register file holds kept 2:4 weights (value and 2-bit index); each token
    brings its group's four inputs and the PE multiplies the one its weight's index selects
    (a registered-token 4:1 multiplexer in front of the multiplier).  A zero selected input
    or a zero weight gates the multiply.

    Ports:
        x_in/x_out: the group's input token from the left neighbour, registered on to the
            right (four operands a hop).
        psum_in/psum_out: partial sum from above, registered (plus this PE's product) below.
        w_in/w_out: the weight shift chain (value and index; `w_shift` moves it right).
        w_commit/w_slot: copy the chain register into register-file entry `w_slot`.

    Latency: one cycle from `x_in`/`psum_in` to `x_out`/`psum_out`, as `ProcessingElement`.
    Only `x_out.valid` is reset.  Counts nothing itself: the array counts gated products
    at its edge (`SparseSystolicArray`).
    """

    def __init__(self, operand_bits, acc_bits, rf_depth):
        self.operand_bits = operand_bits
        self.acc_bits = acc_bits
        self.rf_depth = rf_depth
        slot_bits = (rf_depth - 1).bit_length()
        token = group_token_layout(operand_bits, slot_bits)
        weight = sparse_weight_layout(operand_bits)
        super().__init__({
            "x_in": In(token),
            "x_out": Out(token),
            "psum_in": In(signed(acc_bits)),
            "psum_out": Out(signed(acc_bits)),
            "w_in": In(weight),
            "w_out": Out(weight),
            "w_shift": In(1),
            "w_commit": In(1),
            "w_slot": In(max(slot_bits, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        layout = sparse_weight_layout(self.operand_bits)
        chain = Signal(layout, reset_less=True)
        # Register-file entries as plain bit vectors: a slot's weight is read whole, then
        # viewed as value and index.
        rf = Array(Signal(layout.size, name=f"rf{i}", reset_less=True)
                   for i in range(self.rf_depth))

        m.d.comb += self.w_out.eq(chain)
        with m.If(self.w_shift):
            m.d.sync += chain.eq(self.w_in)
        with m.If(self.w_commit):
            m.d.sync += rf[self.w_slot].eq(chain)

        weight = Signal(layout)
        m.d.comb += weight.eq(rf[self.x_in.slot] if self.rf_depth > 1 else rf[0])
        x = Array(self.x_in.values)[weight.index]
        gated = (x == 0) | (weight.value == 0)
        x_valid = Signal()
        x_slot = Signal.like(self.x_in.slot, reset_less=True)
        x_values = Signal.like(self.x_in.values, reset_less=True)
        psum = Signal(signed(self.acc_bits), reset_less=True)
        m.d.sync += [x_valid.eq(self.x_in.valid), x_slot.eq(self.x_in.slot),
                     x_values.eq(self.x_in.values)]
        m.d.comb += [self.x_out.valid.eq(x_valid), self.x_out.slot.eq(x_slot),
                     self.x_out.values.eq(x_values), self.psum_out.eq(psum)]
        with m.If(self.x_in.valid & ~gated):
            m.d.sync += psum.eq(multiply_accumulate(self.psum_in, x, weight.value))
        with m.Else():
            m.d.sync += psum.eq(self.psum_in)
        return m
