"""Width conversion between the DRAM bus and buffer words, row by row."""

from amaranth import Const, Module, Mux, Signal
from amaranth.hdl import Assert
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


def chunk_layout(elem_bits, elems):
    """`elems` packed elements of which the first `count` are meaningful; `last` ends a row."""
    return data.StructLayout({
        "data": elem_bits * elems,
        "count": range(elems + 1),
        "last": 1,
    })


class RowGearbox(wiring.Component):
    """Repack a stream of rows from chunks of `in_elems` to chunks of `out_elems` elements.

    Element i of a chunk sits at bits [i*elem_bits, (i+1)*elem_bits).  Only the first `count`
    elements of an input chunk are taken (the rest are masked off), so a row of n elements
    leaves as ceil(n / out_elems) chunks, the last one padded with zeros; the next row starts
    a fresh output chunk.

    Ports:
        i: In(stream of chunk_layout(elem_bits, in_elems)); stalled while the buffer is full or
           a row is being flushed; `ready` counts on this cycle's output being taken, so the
           next row may start in the cycle the last chunk of the previous one leaves.
        o: Out(stream of out_elems * elem_bits); `valid` does not wait for `ready`.
        idle: Out(1), nothing buffered.

    Throughput: min(in_elems, out_elems) elements per cycle, row ends included.
    Latency: one cycle from an accepted input to the output.

    Assertions (checked in simulation): an accepted chunk never overfills the buffer; once
    offered, an output chunk stays offered until it is taken.
    """

    def __init__(self, elem_bits, in_elems, out_elems):
        self.elem_bits = elem_bits
        self.in_elems = in_elems
        self.out_elems = out_elems
        super().__init__({
            "i": In(stream.Signature(chunk_layout(elem_bits, in_elems))),
            "o": Out(stream.Signature(elem_bits * out_elems)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w, n_in, n_out = self.elem_bits, self.in_elems, self.out_elems
        capacity = n_in + n_out
        # The buffer has no reset: bits at and above `fill` are zero once a chunk has entered
        # an empty buffer (which drops whatever the buffer held), and nothing reads them before.
        buf = Signal(capacity * w, reset_less=True)
        fill = Signal(range(capacity + 1))
        row_end = Signal()

        emit = Signal()
        fill_after = Signal.like(fill)
        buf_after = Signal.like(buf)
        m.d.comb += [
            self.o.valid.eq((fill >= n_out) | (row_end & (fill != 0))),
            self.o.payload.eq(buf[:n_out * w]),
            emit.eq(self.o.valid & self.o.ready),
            fill_after.eq(Mux(emit, Mux(fill >= n_out, fill - n_out, 0), fill)),
            buf_after.eq(Mux(emit, buf >> (n_out * w), buf)),
            self.i.ready.eq((~row_end | (fill_after == 0)) & (fill_after <= n_out)),
            self.idle.eq((fill == 0) & ~row_end),
        ]

        all_ones = Const((1 << (n_in * w)) - 1, n_in * w)
        keep = Signal(n_in * w)
        m.d.comb += keep.eq(~(all_ones << (self.i.payload.count * w))[:n_in * w])
        incoming = Signal(capacity * w)
        m.d.comb += incoming.eq((self.i.payload.data & keep) << (fill_after * w))

        offered = Signal()
        m.d.sync += offered.eq(self.o.valid & ~self.o.ready)
        m.d.sync += [
            Assert(~(self.i.valid & self.i.ready)
                   | (fill_after + self.i.payload.count <= capacity),
                   "gearbox: buffer overflow"),
            Assert(~offered | self.o.valid, "gearbox: output withdrawn before it was taken"),
        ]

        m.d.sync += [buf.eq(buf_after), fill.eq(fill_after)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                buf.eq(Mux(fill_after == 0, 0, buf_after) | incoming),
                fill.eq(fill_after + self.i.payload.count),
                row_end.eq(self.i.payload.last),
            ]
        with m.Elif(fill_after == 0):
            m.d.sync += row_end.eq(0)
        return m
