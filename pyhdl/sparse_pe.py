"""One processing element of the 2:4 weight-stationary array: a kept weight, its index, and
a 4:1 selection of the group's inputs."""

from amaranth import Array, Signal, signed
from amaranth.lib import data

from models.sparsity import GROUP
from models.spec import INDEX_BITS

from .pe import ProcessingElement


def sparse_weight_layout(operand_bits):
    """A kept weight: its value and which of its group's four inputs it multiplies."""
    return data.StructLayout({"value": signed(operand_bits), "index": INDEX_BITS})


def kept_weight_word(operand_bits, count):
    """`count` kept weights as a weight buffer word holds them (models/sparsity.py): the
    values, then their indices, weight i's at bit INDEX_BITS * i."""
    return data.StructLayout({
        "values": data.ArrayLayout(signed(operand_bits), count),
        "indices": data.ArrayLayout(INDEX_BITS, count),
    })


def group_token_layout(operand_bits, slot_bits):
    """A group's four inputs travelling along an array row, with valid bit and slot."""
    return data.StructLayout({
        "valid": 1,
        "slot": max(slot_bits, 1),
        "values": data.ArrayLayout(signed(operand_bits), GROUP),
    })


class SparseProcessingElement(ProcessingElement):
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

    @staticmethod
    def layouts(operand_bits, slot_bits):
        return group_token_layout(operand_bits, slot_bits), sparse_weight_layout(operand_bits)

    def operands(self, m, entry):
        """The group's input the kept weight's index selects, and the kept value."""
        weight = Signal(sparse_weight_layout(self.operand_bits))
        m.d.comb += weight.eq(entry)
        return Array(self.x_in.values)[weight.index], weight.value
