"""The weight-stationary array with the depthwise mode (models/depthwise.py): a channel per
column, a kernel row's taps down the rows, or all of them with the line buffer."""

from amaranth import Array, Cat, Mux, Signal
from amaranth.lib import memory
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
    With the line buffer (`spec.depthwise_line_rows` R' >= 2):
        dw_new_row, dw_mid_row: In, layer constants: rows from dw_new_row on take the
            delayed lanes as above (all rows: 0); rows from dw_mid_row on (below
            dw_new_row) take them D cycles later, the rows below dw_mid_row 2 D later (R' 3).
        dw_line_last: In, a layer constant: the ring's last word, D - 2.
        dw_step: In(1), the ring steps: it writes the delayed lanes (and, for R' 3, the words
            it read D cycles before) and reads the word it wrote D - 1 steps before, so its
            read data lags the delayed lanes by D steps per group.  `w_commit` restarts it.
    The ring is `spec.depthwise_line_words` words of `spec.depthwise_line_bits` bits (an
    `amaranth.lib.memory.Memory`, one read and one write port).
    """

    def mode_ports(self, spec):
        self.lane_groups = spec.input_lanes // spec.cols
        self.line_rows = spec.depthwise_line_rows
        self.line_words = spec.depthwise_line_words
        self.line_bits = spec.depthwise_line_bits
        line = {
            "dw_new_row": In(range(spec.rows + 1)),
            "dw_mid_row": In(range(spec.rows + 1)),
            "dw_line_last": In(range(max(self.line_words, 2))),
            "dw_step": In(1),
        } if self.line_rows else {}
        return {
            "depthwise": In(1),
            "dw_lane": In(max((self.lane_groups - 1).bit_length(), 1)),
            "dw_rows": In(range(spec.rows + 1)),
            "dw_cols": In(range(spec.cols + 1)),
            **line,
        }

    def elaborate(self, platform):
        self._lines = None
        self._sources = None
        return super().elaborate(platform)

    def _line_buffer(self, m):
        """The ring's read data: per group of rows fed from it (the row before the newest,
        then for R' 3 the one before that), each column's operand."""
        cols, bits = self.cols, self.operand_bits
        ring = memory.Memory(shape=self.line_bits, depth=self.line_words, init=[])
        write, read = ring.write_port(), ring.read_port(transparent_for=())
        m.submodules.dw_line_buffer = ring
        addr = Signal.like(write.addr, name="dw_line_addr")
        with m.If(self.w_commit):
            m.d.sync += addr.eq(0)
        with m.Elif(self.dw_step):
            m.d.sync += addr.eq(Mux(addr == self.dw_line_last, 0, addr + 1))
        groups = [[read.data[(g * cols + c) * bits:(g * cols + c + 1) * bits]
                   for c in range(cols)] for g in range(self.line_rows - 1)]
        written = [self._lines] + groups[:-1]
        m.d.comb += [write.en.eq(self.dw_step), write.addr.eq(addr),
                     write.data.eq(Cat(*(value for group in written for value in group))),
                     read.en.eq(self.dw_step), read.addr.eq(addr)]
        return groups

    def _row_sources(self, m):
        """Per array row, per column: the operand it takes in the depthwise mode."""
        lines = self._lines
        if not self.line_rows:
            return [lines] * self.rows
        groups = self._line_buffer(m)
        sources = []
        for r in range(self.rows):
            newest = Signal(name=f"dw_newest_{r}")
            middle = Signal(name=f"dw_middle_{r}")
            m.d.sync += [newest.eq(r >= self.dw_new_row), middle.eq(r >= self.dw_mid_row)]
            older = groups[0] if len(groups) == 1 else [
                Mux(middle, a, b) for a, b in zip(groups[0], groups[1])]
            sources.append([Mux(newest, a, b) for a, b in zip(lines, older)])
        return sources

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
            self._sources = self._row_sources(m)
        chosen = Signal.like(token, name=f"pe_in_{r}_{c}")
        m.d.comb += [chosen.eq(token),
                     chosen.value.eq(Mux(self.depthwise, self._sources[r][c], token.value))]
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
