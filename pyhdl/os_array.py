"""The output-stationary PE array: each PE keeps one output's sum while operands stream by."""

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .interfaces import tag_layout
from .pe import multiply_accumulate
from .pipeline import delayed_token, token_register


def element_layout(operand_bits):
    """An input operand moving right along a row: `valid` adds its product, `last` ends the
    output's reduction (the sum is captured and the PE starts again from zero)."""
    return data.StructLayout({"valid": 1, "last": 1, "value": signed(operand_bits)})


def weight_layout(operand_bits):
    """A weight moving down a column; `active` for an output channel that exists."""
    return data.StructLayout({"active": 1, "value": signed(operand_bits)})


class OutputStationaryPE(wiring.Component):
    """A MAC whose accumulator stays put; a zero operand gates the multiply.

    Ports:
        x_in/x_out: the input element, registered on to the right.
        w_in/w_out: the weight, registered on downwards.
        chain_in/chain_out: the drain chain; `chain_out` takes this PE's finished sum on a
            `last` element and otherwise the value of `chain_in` (the PE below), so finished
            sums climb one PE a cycle to the top of the column.
        gated: Out(1), this cycle's valid product is skipped (an operand is zero).
    Latency: one cycle from `x_in`/`w_in` to `x_out`/`w_out` and to `chain_out`.
    The accumulator keeps its reset (a reduction starts from it); the operand values and the
    drain chain have none.
    """

    def __init__(self, operand_bits, acc_bits):
        self.acc_bits = acc_bits
        element, weight = self.layouts(operand_bits)
        super().__init__({
            "x_in": In(element),
            "x_out": Out(element),
            "w_in": In(weight),
            "w_out": Out(weight),
            "chain_in": In(signed(acc_bits)),
            "chain_out": Out(signed(acc_bits)),
            "gated": Out(1),
        })

    @staticmethod
    def layouts(operand_bits):
        """(element, weight): what moves right along a row and down a column."""
        return element_layout(operand_bits), weight_layout(operand_bits)

    def operand(self):
        """The input this PE multiplies with `w_in.value`: the element's value."""
        return self.x_in.value

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self.acc_bits))
        x, w = self.x_in, self.w_in
        operand = self.operand()
        useful = x.valid & w.active
        m.d.comb += self.gated.eq(useful & ((operand == 0) | (w.value == 0)))
        total = Signal(signed(self.acc_bits))
        with m.If(useful & ~self.gated):
            m.d.comb += total.eq(multiply_accumulate(acc, operand, w.value))
        with m.Else():
            m.d.comb += total.eq(acc)
        # Valid, last and active are reset; operand values and the drain chain are not.
        x_out = Signal(x.shape(), reset_less=True)
        w_out = Signal(w.shape(), reset_less=True)
        x_valid, x_last, w_active = Signal(), Signal(), Signal()
        chain = Signal(signed(self.acc_bits), reset_less=True)
        m.d.sync += [x_out.eq(x), w_out.eq(w), x_valid.eq(x.valid), x_last.eq(x.last),
                     w_active.eq(w.active)]
        m.d.comb += [
            self.x_out.eq(x_out), self.x_out.valid.eq(x_valid), self.x_out.last.eq(x_last),
            self.w_out.eq(w_out), self.w_out.active.eq(w_active), self.chain_out.eq(chain),
        ]
        with m.If(x.last):
            m.d.sync += [chain.eq(total), acc.eq(0)]
        with m.Else():
            m.d.sync += [chain.eq(self.chain_in), acc.eq(total)]
        return m


def load_layout(spec, addr_bits):
    """One input-buffer word for one array row: the `input_lanes` channels of one pixel at
    one reduction step, serialized into the row over the next `rows` cycles (`rows` channels,
    or with 2:4 weights `2 * rows`, pyhdl/sparse_os_array.py)."""
    return data.StructLayout({
        "valid": 1,
        "row": range(spec.rows),
        "zero": 1,                      # padding or no pixel: load zeros instead of values
        "active": range(spec.rows + 1),  # elements that are real MACs (channels of the block)
        "last": 1,                      # the reduction's last step: capture after it
        "tag": tag_layout(addr_bits),   # where this row's output goes, on the last step
        "values": data.ArrayLayout(signed(spec.operand_bits), spec.input_lanes),
    })


class OutputStationaryArray(wiring.Component):
    """`rows` x `cols` PEs: row r computes output pixel r, column c output channel c.

    Every cycle one row loads an input-buffer word (a pixel's block of `rows` channels) into
    its serializer, which feeds the row one channel a cycle for the next `rows` cycles, and
    one weight word (channel u of `cols` filters) enters the columns.  Loading rows 0, 1, ...
    on consecutive cycles, with the weight of channel u on the cycle row u loads, skews the
    operands so that PE (r, c) sees matching pairs.  On a `last` step each PE hands its sum to
    its column's drain chain, which carries finished sums up one PE a cycle; the top of the
    columns is deskewed into one output word, of one pixel, every other cycle.

    Two reductions must finish an odd number of cycles apart, or at least `2 * rows` apart
    (models.spec.os_drain_spacing_ok), or a sum climbing the chain meets a PE capturing the next one.

    Ports:
        x: In(load_layout), the word loaded into row `x.row` (with its pixel's tag).
        w: In, `cols` weights and how many columns are active (0: no weight this cycle).
        y: Out, the output word of one pixel (`valid` and a sum per column) and `y_tag`, its
           tag: both `latency` cycles after the row's last load plus twice its row index.
        gated: Out, how many valid products were skipped because an operand is zero, one
           cycle after they were (each row's count is registered before the rows' sum).
        busy: Out(1), an element or a finished sum is still in the array.
    """

    def __init__(self, spec, addr_bits):
        self.rows = spec.rows
        self.cols = spec.cols
        self.operand_bits = spec.operand_bits
        self.acc_bits = spec.acc_bits
        self.addr_bits = addr_bits
        super().__init__({
            "x": In(load_layout(spec, addr_bits)),
            "w": In(self.weight_word(spec)),
            "y": Out(data.StructLayout({
                "valid": 1,
                "values": data.ArrayLayout(signed(spec.acc_bits), spec.cols),
            })),
            "y_tag": Out(tag_layout(addr_bits)),
            "gated": Out(range(spec.rows * spec.cols + 1)),
            "busy": Out(1),
        })

    @staticmethod
    def weight_word(spec):
        """What enters the columns in a cycle: `cols` weights and how many columns are active."""
        return data.StructLayout({
            "cols": range(spec.cols + 1),
            "values": data.ArrayLayout(signed(spec.operand_bits), spec.cols),
        })

    @property
    def latency(self):
        """Cycles from row 0's last load on `x` to row 0's output word on `y`; row r's output
        word follows row 0's by `2 * r` cycles."""
        return self.rows + self.cols

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols
        pes = [[self.processing_element() for _ in range(cols)] for _ in range(rows)]
        for r in range(rows):
            for c in range(cols):
                m.submodules[f"pe_{r}_{c}"] = pe = pes[r][c]
                if c > 0:
                    m.d.comb += pe.x_in.eq(pes[r][c - 1].x_out)
                if r > 0:
                    m.d.comb += pe.w_in.eq(pes[r - 1][c].w_out)
                m.d.comb += pe.chain_in.eq(pes[r + 1][c].chain_out if r + 1 < rows else 0)

        busy = []
        tags = self._serialize_rows(m, pes, busy)
        self._skew_weights(m, pes)
        self._drain(m, pes, tags, busy)
        row_gated = []
        for r, row in enumerate(pes):
            count = Signal(range(cols + 1), name=f"row_gated_{r}")
            m.d.sync += count.eq(sum((pe.gated for pe in row), start=0))
            row_gated.append(count)
        m.d.comb += [
            self.gated.eq(sum(row_gated, start=0)),
            self.busy.eq(sum(busy, start=0) != 0),
        ]
        return m

    def processing_element(self):
        """One PE of the grid."""
        return OutputStationaryPE(self.operand_bits, self.acc_bits)

    def _serialize_rows(self, m, pes, busy):
        """Per row: the loaded word, shifted out one element a cycle.  Returns each row's
        tag register (it holds the tag until the row's next load)."""
        rows, x = self.rows, self.x
        tags = []
        for r in range(rows):
            values = Signal(x.values.shape(), name=f"ser_{r}", reset_less=True)
            index = Signal(range(rows + 1), init=rows, name=f"ser_index_{r}")
            active = Signal(range(rows + 1), name=f"ser_active_{r}")
            last = Signal(name=f"ser_last_{r}")
            tag, load_tag = token_register(m, tag_layout(self.addr_bits), f"ser_tag_{r}")
            running = index != rows
            with m.If(x.valid & (x.row == r)):
                m.d.sync += [index.eq(0), active.eq(x.active), last.eq(x.last)]
                m.d.sync += load_tag(x.tag)
                with m.If(~x.zero):
                    m.d.sync += values.eq(x.values)
                with m.Else():
                    m.d.sync += values.eq(0)
            with m.Elif(running):
                m.d.sync += index.eq(index + 1)
                self.shift_serializer(m, values, index)
            m.d.comb += [
                pes[r][0].x_in.valid.eq(running & (index < active)),
                pes[r][0].x_in.last.eq(running & last & (index == rows - 1)),
                *self.serializer_output(pes[r][0].x_in, values),
            ]
            busy.append(running)
            tags.append(tag)
        return tags

    def shift_serializer(self, m, values, index):
        """A running serializer's step after element `index`: one channel on."""
        for i in range(self.rows - 1):
            m.d.sync += values[i].eq(values[i + 1])

    def serializer_output(self, element, values):
        """The statements feeding a row's serializer into its first PE's `element`."""
        return [element.value.eq(values[0])]

    def column_weight(self, c):
        """Column c's weight fields besides `active`, as they enter the skew."""
        return {"value": self.w.values[c]}

    def _skew_weights(self, m, pes):
        """Column c's weight waits c + 1 cycles, to meet row 0's element of the same channel."""
        for c in range(self.cols):
            layout = pes[0][c].w_in.shape()
            fields = self.column_weight(c)
            stage = Signal(layout, name=f"w_skew_{c}_0")
            m.d.comb += stage.active.eq(c < self.w.cols)
            m.d.comb += [stage[f].eq(v) for f, v in fields.items()]
            for i in range(c + 1):
                active = Signal(name=f"w_skew_active_{c}_{i + 1}")
                held = {f: Signal.like(stage[f], name=("w_skew" if f == "value" else
                                                        f"w_skew_{f}") + f"_{c}_{i + 1}",
                                       reset_less=True) for f in fields}
                m.d.sync += active.eq(stage.active)
                m.d.sync += [held[f].eq(stage[f]) for f in fields]
                stage = Signal(layout, name=f"w_skew_{c}_{i + 1}_out")
                m.d.comb += stage.active.eq(active)
                m.d.comb += [stage[f].eq(held[f]) for f in fields]
            m.d.comb += pes[0][c].w_in.eq(stage)

    def _drain(self, m, pes, tags, busy):
        """The tags climb a chain beside column 0 exactly as column 0's sums do; the tops of
        the columns are deskewed so one pixel's sums leave together with its tag."""
        rows, cols = self.rows, self.cols
        layout = tag_layout(self.addr_bits)
        links = [token_register(m, layout, f"tag_chain_{r}") for r in range(rows)]
        chain = [link for link, _ in links]
        for r, (_, load) in enumerate(links):
            below = chain[r + 1] if r + 1 < rows else layout.const(None)
            with m.If(pes[r][0].x_in.last):
                m.d.sync += load(tags[r])
            with m.Else():
                m.d.sync += load(below)
        busy += [link.valid for link in chain]

        tag = chain[0]
        for i in range(cols - 1):
            tag = delayed_token(m, tag, f"tag_deskew_{i}")
            busy.append(tag.valid)
        m.d.comb += [self.y_tag.eq(tag), self.y.valid.eq(tag.valid)]
        for c in range(cols):
            value = pes[0][c].chain_out
            for i in range(cols - 1 - c):
                delayed = Signal(signed(self.acc_bits), name=f"deskew_{c}_{i}", reset_less=True)
                m.d.sync += delayed.eq(value)
                value = delayed
            m.d.comb += self.y.values[c].eq(value)
