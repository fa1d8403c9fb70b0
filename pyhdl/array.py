"""The weight-stationary systolic PE array with its input skew and output deskew."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pe import ProcessingElement
from .pipeline import delayed_token


def deskew(m, array, bottoms):
    """Output deskew of a weight-stationary array: column c's (partial sum, valid) at the
    bottom leaves c cycles after column 0's; delay the rest onto `array.y`."""
    cols = len(bottoms)
    for c, (value, valid) in enumerate(bottoms):
        for i in range(cols - 1 - c):
            value_d = Signal(signed(array.psum_bits), name=f"deskew_{c}_{i}", reset_less=True)
            valid_d = Signal(name=f"deskew_valid_{c}_{i}")
            m.d.sync += [value_d.eq(value), valid_d.eq(valid)]
            value, valid = value_d, valid_d
        m.d.comb += array.y.values[c].eq(value)
        if c == 0:
            m.d.comb += array.y.valid.eq(valid)


class SystolicArray(wiring.Component):
    """`rows` x `cols` PEs: inputs flow right along rows, partial sums flow down columns.

    Array row r holds reduction element r, column c output channel c.  Weights enter column 0
    as one word of `rows` operands per `w_shift` and move one column right per shift, so the
    word for column c is shifted in `cols - 1 - c`'th; `w_commit` then copies every PE's
    chain register into register-file entry `w_slot`.

    Ports:
        x: In, an input vector (one operand per row), its slot and valid; accepted every cycle,
           there is no backpressure.
        w_data, w_shift, w_commit, w_slot: In, the weight load, broadcast to every PE of the
           array in the cycle it arrives (`load_latency` 0).
        y: Out, one partial sum per column and valid, `latency` cycles after `x`, at
           `psum_bits` (spec.psum_bits: a column adds at most `rows` products to the zero
           that enters its top, so its sum cannot overflow; the accumulator sign-extends it).
        gated: Out, how many of the rows x cols multiplies of an `x` are skipped because the
           input or the stationary weight is zero, `gated_latency` cycles after that `x` (0
           for an `x` that is not valid).  Padding PEs hold zero weights or see zero inputs,
           so they count too.

    Latency: `rows + cols - 1` cycles (skew, rows x cols PE hops, deskew).

    Not yet registered: the weight load's broadcast.  A per-row register stage in front of
    the fan-out (load_latency 1) kept every output exact but made the gated-MAC count wrong
    after a prefetched chunk (found by tests/test_rtl_conv.py on the 4x4 with two filter
    blocks); until that is understood the load reaches the PEs directly.
    """

    def __init__(self, spec):
        self.rows = spec.rows
        self.cols = spec.cols
        self.operand_bits = spec.operand_bits
        self.psum_bits = spec.psum_bits
        self.rf_depth = spec.rf_depth
        self.slot_bits = max((spec.rf_depth - 1).bit_length(), 1)
        super().__init__({
            "x": In(data.StructLayout({
                "valid": 1,
                "slot": self.slot_bits,
                "values": data.ArrayLayout(signed(self.operand_bits), spec.input_lanes),
            })),
            "w_data": In(self.weight_word(spec)),
            "w_shift": In(1),
            "w_commit": In(1),
            "w_slot": In(self.slot_bits),
            "y": Out(data.StructLayout({
                "valid": 1,
                "values": data.ArrayLayout(signed(self.psum_bits), self.cols),
            })),
            "gated": Out(range(self.rows * self.cols + 1)),
            **self.mode_ports(spec),
        })

    def mode_ports(self, spec):
        """Ports of an array's further modes (pyhdl/depthwise_array.py); none here."""
        return {}

    def pe_input(self, m, token, r, c):
        """What PE (r, c) takes as its input token, given `token`: the skewed row input
        (c = 0) or its left neighbour's output."""
        return token

    @staticmethod
    def weight_word(spec):
        """A column of a reduction block as it enters column 0: one weight per row."""
        return data.ArrayLayout(signed(spec.operand_bits), spec.rows)

    def processing_element(self):
        """One PE of the grid."""
        return ProcessingElement(self.operand_bits, self.psum_bits, self.rf_depth)

    def row_weight(self, r):
        """Row r's part of `w_data`, as it enters the row's weight chain."""
        return self.w_data[r]

    def row_operands(self, token, r):
        """The statements giving input token `token` of row r its operands from `x`."""
        return [token.value.eq(self.x.values[r])]

    @property
    def latency(self):
        """Cycles from an input vector on `x` to its partial sums on `y`."""
        return self.rows + self.cols - 1

    @property
    def gated_latency(self):
        """Cycles from an input vector on `x` to its count on `gated`: the rows' counts are
        registered before their sum."""
        return 1

    @property
    def load_latency(self):
        """Cycles the weight load waits before it reaches the PEs: 0 (see the docstring)."""
        return 0

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols
        pes = [[self.processing_element() for _ in range(cols)] for _ in range(rows)]
        for r in range(rows):
            for c in range(cols):
                m.submodules[f"pe_{r}_{c}"] = pe = pes[r][c]
                m.d.comb += [
                    pe.w_shift.eq(self.w_shift),
                    pe.w_commit.eq(self.w_commit),
                    pe.w_slot.eq(self.w_slot),
                    pe.w_in.eq(self.row_weight(r) if c == 0 else pes[r][c - 1].w_out),
                    pe.psum_in.eq(0 if r == 0 else pes[r - 1][c].psum_out),
                ]
                if c > 0:
                    m.d.comb += pe.x_in.eq(self.pe_input(m, pes[r][c - 1].x_out, r, c))

        # Input skew: row r enters r cycles late, so the diagonal wavefront meets the psums.
        for r in range(rows):
            stage = Signal(pes[r][0].x_in.shape(), name=f"skew_{r}_0")
            m.d.comb += [stage.valid.eq(self.x.valid), stage.slot.eq(self.x.slot)]
            m.d.comb += self.row_operands(stage, r)
            for i in range(r):
                stage = delayed_token(m, stage, f"skew_{r}_{i + 1}")
            m.d.comb += pes[r][0].x_in.eq(self.pe_input(m, stage, r, 0))

        deskew(m, self, [(pes[rows - 1][c].psum_out, pes[rows - 1][c].x_out.valid)
                         for c in range(cols)])
        self._count_gated(m, pes)
        return m

    def _count_gated(self, m, pes):
        """Zero-weight counts per row and slot are kept as weights commit, so the count of
        gated multiplies for an input vector needs only one small adder per row."""
        rows, cols = self.rows, self.cols
        count_shape = range(cols + 1)
        # Register files start at zero, so every weight of an uncommitted slot counts as zero.
        zero_weights = [[Signal(count_shape, init=cols, name=f"zero_w_{r}_{s}")
                         for s in range(self.rf_depth)]
                        for r in range(rows)]
        per_row = []
        for r in range(rows):
            chain_zeros = sum((pes[r][c].w_out == 0 for c in range(cols)), start=0)
            for s in range(self.rf_depth):
                with m.If(self.w_commit & (self.w_slot == s)):
                    m.d.sync += zero_weights[r][s].eq(chain_zeros)
            slot_zeros = Signal(count_shape, name=f"slot_zeros_{r}")
            m.d.comb += slot_zeros.eq(zero_weights[r][0])
            for s in range(1, self.rf_depth):
                with m.If(self.x.slot == s):
                    m.d.comb += slot_zeros.eq(zero_weights[r][s])
            row_gated = Signal(count_shape, name=f"row_gated_{r}")
            m.d.sync += row_gated.eq(Mux(self.x.valid,
                                         Mux(self.x.values[r] == 0, cols, slot_zeros), 0))
            per_row.append(row_gated)
        m.d.comb += self.gated.eq(sum(per_row, start=0))
