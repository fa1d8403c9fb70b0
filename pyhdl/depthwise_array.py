"""The weight-stationary array with the depthwise mode (models/depthwise.py): a channel per
column, a kernel row's taps down the rows."""

from amaranth import Array, Mux, Signal
from amaranth.lib.wiring import In

from .array import SystolicArray


class DepthwiseSystolicArray(SystolicArray):
    """A `SystolicArray` that can also take, in every PE of column c, lane
    `dw_lane * cols + c` of the input word presented c + 1 cycles before (a registered lane
    select: the lane's multiplexer, then a delay line of c + 1 registers, its output shared
    by the column's rows), instead of the operand its row carries.

    With the input skew, PE (i, c) meets the partial sum of the vector that entered i + c
    cycles before: the word presented i - 1 cycles after that vector, lane c.  An inner
    loop that presents a row's pixels one a cycle and issues window j with pixel j + 1 so
    gives array row i pixel j + i of the window, each column its own channel of it
    (pyhdl/depthwise_loop.py).  Dense layers (`depthwise` low) see the SystolicArray.

    Ports (besides SystolicArray's):
        depthwise: In(1), the layer runs depthwise (a layer constant).
        dw_lane: In, which group of `cols` lanes of the input word the columns take.
        dw_rows: In, the rows holding taps (a layer constant): the others' products are not
            MACs.
        dw_cols: In, the columns holding filters, taken per register-file slot at `w_commit`.
        gated (depthwise): the gated products of a cycle on the rows and columns holding
            taps and filters, two cycles later (a register per column's count, one for their
            sum); a depthwise loop counts every cycle's, not a vector's.
    """

    def mode_ports(self, spec):
        self.lane_groups = spec.input_lanes // spec.cols
        return {
            "depthwise": In(1),
            "dw_lane": In(max((self.lane_groups - 1).bit_length(), 1)),
            "dw_rows": In(range(spec.rows + 1)),
            "dw_cols": In(range(spec.cols + 1)),
        }

    def elaborate(self, platform):
        self._lines = None
        return super().elaborate(platform)

    def _column_lines(self, m):
        """Each column's lane of the input word, delayed c + 1 cycles."""
        lines = []
        for c in range(self.cols):
            lane = Array(self.x.values[g * self.cols + c] for g in range(self.lane_groups))
            value = lane[self.dw_lane] if self.lane_groups > 1 else lane[0]
            for i in range(c + 1):
                stage = Signal.like(self.x.values[0], name=f"dw_lane_{c}_{i}", reset_less=True)
                m.d.sync += stage.eq(value)
                value = stage
            lines.append(value)
        return lines

    def pe_input(self, m, token, r, c):
        if self._lines is None:
            self._lines = self._column_lines(m)
        chosen = Signal.like(token, name=f"pe_in_{r}_{c}")
        m.d.comb += [chosen.eq(token),
                     chosen.value.eq(Mux(self.depthwise, self._lines[c], token.value))]
        return chosen

    def _count_gated(self, m, pes):
        super()._count_gated(m, pes)
        rows, cols = self.rows, self.cols
        row_on = [Signal(name=f"dw_row_on_{r}") for r in range(rows)]
        m.d.sync += [on.eq(r < self.dw_rows) for r, on in enumerate(row_on)]
        col_on = [[Signal(name=f"dw_col_on_{c}_{s}") for s in range(self.rf_depth)]
                  for c in range(cols)]
        for s in range(self.rf_depth):
            with m.If(self.w_commit & (self.w_slot == s)):
                m.d.sync += [col_on[c][s].eq(c < self.dw_cols) for c in range(cols)]
        column_counts = []
        for c in range(cols):
            count = Signal(range(rows + 1), name=f"dw_gated_{c}")
            bits = []
            for r in range(rows):
                pe = pes[r][c]
                on = Array(col_on[c])[pe.x_in.slot] if self.rf_depth > 1 else col_on[c][0]
                bits.append(pe.skip & row_on[r] & on)
            m.d.sync += count.eq(sum(bits, start=0))
            column_counts.append(count)
        total = Signal.like(self.gated, name="dw_gated_total")
        m.d.sync += total.eq(sum(column_counts, start=0))
        with m.If(self.depthwise):
            m.d.comb += self.gated.eq(total)
