"""The 2:4 output-stationary array: each PE keeps one output's sum while its row's groups of
four inputs stream right and the columns' kept weights, with their 2-bit indices, stream down."""

from amaranth import Array, signed
from amaranth.lib import data

from models.sparsity import GROUP
from models.spec import INDEX_BITS

from .os_array import OutputStationaryArray, OutputStationaryPE
from .sparse_pe import kept_weight_word


def group_element_layout(operand_bits):
    """A group's four inputs moving right along a row: `valid` adds a product, `last` ends the
    output's reduction (as `os_array.element_layout`)."""
    return data.StructLayout({"valid": 1, "last": 1,
                              "values": data.ArrayLayout(signed(operand_bits), GROUP)})


def kept_weight_layout(operand_bits):
    """A kept weight moving down a column: which of its group's inputs it multiplies, and
    `active` for an output channel that exists."""
    return data.StructLayout({"active": 1, "value": signed(operand_bits), "index": INDEX_BITS})


class SparseOutputStationaryPE(OutputStationaryPE):
    """`OutputStationaryPE` for 2:4 weights: the element carries its group's four inputs, and a
    4:1 multiplexer on that registered element, steered by the kept weight's index, picks the
    operand.  A zero selected input or a zero weight gates the multiply.  Ports, latency and
    resets as `OutputStationaryPE` (the element's four values are reset-less)."""

    @staticmethod
    def layouts(operand_bits):
        return group_element_layout(operand_bits), kept_weight_layout(operand_bits)

    def operand(self):
        """The group's input the kept weight's index selects."""
        return Array(self.x_in.values)[self.w_in.index]


class SparseOutputStationaryArray(OutputStationaryArray):
    """`OutputStationaryArray` (`rows` even) for 2:4 weights: a row's input-buffer word holds
    `2 * rows` channels of its pixel, `rows / 2` groups of four, and its serializer presents
    one group for two cycles, then the next: element step u of a word carries group u // 2,
    and the weight word entering the columns with it holds each filter's kept weight u mod 2
    of that group and its index (`weight_word`).  So a word of `2 * rows` channels streams in
    the `rows` cycles a dense word of `rows` takes, and a 2:4 reduction takes half the steps.

    Ports, latency, the drain and the drain-spacing rule as `OutputStationaryArray`, with
    `x.values` of `2 * rows` operands (`x.active`: the word's steps that carry real kept
    weights) and `w` of `cols` kept weights and their indices.
    """

    @staticmethod
    def weight_word(spec):
        """How many columns are active, and `values`: the weight buffer word of the `cols`
        kept weights and their indices (`kept_weight_word`), as the loop reads it."""
        return data.StructLayout({
            "cols": range(spec.cols + 1),
            "values": kept_weight_word(spec.operand_bits, spec.cols),
        })

    def processing_element(self):
        return SparseOutputStationaryPE(self.operand_bits, self.acc_bits)

    def shift_serializer(self, m, values, index):
        """After the second step of a group (odd `index`), the next group moves up."""
        with m.If(index[0]):
            for i in range(len(values) - GROUP):
                m.d.sync += values[i].eq(values[i + GROUP])

    def serializer_output(self, element, values):
        return [element.values[j].eq(values[j]) for j in range(GROUP)]

    def column_weight(self, c):
        return {"value": self.w.values.values[c], "index": self.w.values.indices[c]}
