"""One processing element of the row-stationary (Eyeriss) array: 1-D convolutions of filter
rows over input rows, with a filter scratchpad, an input window and a psum register file."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

RS_PE_EVENTS = ("macs", "gated_macs", "filter_rf_reads", "filter_rf_writes", "input_rf_reads",
                "input_rf_writes", "psum_rf_reads", "psum_rf_writes", "psum_drains")
"""The PE's event strobes, named as models.row_stationary.PE_EVENTS counts them."""


def job_layout(filter_depth, input_depth, psum_depth, output_bits):
    """A PE's job, held stable from `start` until `busy` falls: p filters, q channels, S taps,
    the new input words per channel for each output after the first (min(stride, S)) and F
    outputs. The mapper keeps p*q*S within the filter scratchpad and q*S within the window."""
    return data.StructLayout({
        "filters": range(1, psum_depth + 1),
        "channels": range(1, input_depth + 1),
        "taps": range(1, min(filter_depth, input_depth) + 1),
        "step": range(1, input_depth + 1),
        "outputs": range(1, 2 ** output_bits),
    })


class NestedCount:
    """Counters over (channel, tap, filter), filter innermost, with the "last" conditions."""

    def __init__(self, name, job):
        self.job = job
        self.c = Signal.like(job.channels, name=f"{name}_c", init=0)
        self.s = Signal.like(job.taps, name=f"{name}_s", init=0)
        self.k = Signal.like(job.filters, name=f"{name}_k", init=0)
        self.last_k = self.k == job.filters - 1
        self.last_s = self.s == job.taps - 1
        self.last = self.last_k & self.last_s & (self.c == job.channels - 1)

    def clear(self):
        return [self.c.eq(0), self.s.eq(0), self.k.eq(0)]

    def advance(self):
        """The statements stepping to the next (c, s, k); they wrap to (0, 0, 0) after the last."""
        return [self.k.eq(Mux(self.last_k, 0, self.k + 1)),
                self.s.eq(Mux(self.last_k, Mux(self.last_s, 0, self.s + 1), self.s)),
                self.c.eq(Mux(self.last_k & self.last_s,
                              Mux(self.last, 0, self.c + 1), self.c))]


class RowStationaryPE(wiring.Component):
    """An Eyeriss PE: p filter rows x q channels of 1-D convolution, sums added up the column.

    Ports:
        job, start, busy: `start` (one cycle, while idle) runs `job`; `busy` until the last
            sum has left.
        filter_in: the horizontal filter bus; the job's p*q*S weights in (channel, tap,
            filter) order, filter innermost, written to the filter scratchpad.
        input_in: the diagonal input bus; per output, for each channel, the window's new
            words (S for the first output, then `step`), written over the oldest entries of
            the channel's S-entry circular window.
        psum_in / psum_out: the column's partial sums. After each output's MACs, for each
            filter, psum_out carries this PE's sum plus psum_in's (valid follows psum_in,
            psum_in's ready follows psum_out's).
        events: one strobe per RS_PE_EVENTS name for each event in this cycle.

    Per output: for each channel, each tap, one window read, then p MACs (one per filter) each
    reading one weight; a zero input gates the multiplier (its product register keeps its value,
    zero is added; the MAC and gated_macs are counted). The first MAC of each filter writes its
    psum entry without reading it; each drained sum reads its entry once.

    Latency: the MAC is pipelined in three stages (operands and scratchpad read, product,
    psum update); with buses and psum streams that never stall, `busy` lasts p*q*S cycles to
    load, then per output q*(new words) cycles to fill, p*q*S to issue, 3 to empty the
    pipeline and p to drain: see `job_cycles`.
    """

    def __init__(self, operand_bits, acc_bits, filter_depth, input_depth, psum_depth,
                 output_bits=12):
        for name, value in (("filter_depth", filter_depth), ("input_depth", input_depth),
                            ("psum_depth", psum_depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"RowStationaryPE: {name} must be a positive integer, "
                                 f"not {value!r}")
        self.operand_bits = operand_bits
        self.acc_bits = acc_bits
        self.filter_depth = filter_depth
        self.input_depth = input_depth
        self.psum_depth = psum_depth
        super().__init__({
            "job": In(job_layout(filter_depth, input_depth, psum_depth, output_bits)),
            "start": In(1),
            "busy": Out(1),
            "filter_in": In(stream.Signature(signed(operand_bits))),
            "input_in": In(stream.Signature(signed(operand_bits))),
            "psum_in": In(stream.Signature(signed(acc_bits))),
            "psum_out": Out(stream.Signature(signed(acc_bits))),
            "events": Out(data.StructLayout({name: 1 for name in RS_PE_EVENTS})),
        })

    @staticmethod
    def job_cycles(filters, channels, taps, step, outputs):
        """Cycles `busy` is high for a job when no bus or psum stream stalls."""
        macs = filters * channels * taps
        fill = channels * (taps + (outputs - 1) * step)
        return macs + fill + outputs * (macs + 3 + filters)

    def elaborate(self, platform):
        m = Module()
        job, ev = self.job, self.events
        m.submodules.filter_rf = filter_rf = Memory(
            shape=signed(self.operand_bits), depth=self.filter_depth, init=[])
        filter_write = filter_rf.write_port()
        filter_read = filter_rf.read_port(domain="sync")
        window = Array(Signal(signed(self.operand_bits), name=f"window{i}", reset_less=True)
                       for i in range(self.input_depth))
        psums = Array(Signal(signed(self.acc_bits), name=f"psum{i}", reset_less=True)
                      for i in range(self.psum_depth))

        filter_addr = Signal(range(self.filter_depth + 1))
        output = Signal.like(job.outputs)
        head = Signal.like(job.taps)       # oldest window entry of every channel
        base = Signal(range(self.input_depth + 1))  # first window entry of the channel
        pos = Signal.like(job.taps)        # window position of the word written / read
        fill = Signal.like(job.taps)       # new words of this channel so far
        issue = NestedCount("issue", job)
        drain = Signal.like(job.filters)
        pos_next = Mux(pos == job.taps - 1, 0, pos + 1)

        # The MAC pipeline: stage 1 operands (the scratchpad's read lands here), stage 2 the
        # product, then the psum update.
        x_hold = Signal(signed(self.operand_bits), reset_less=True)
        s1_valid, s1_first = Signal(), Signal()
        s1_k = Signal.like(job.filters, reset_less=True)
        s1_x = Signal(signed(self.operand_bits), reset_less=True)
        s2_valid, s2_first = Signal(), Signal()
        s2_k = Signal.like(job.filters, reset_less=True)
        product = Signal(signed(2 * self.operand_bits), reset_less=True)
        issuing = Signal()

        x_now = Mux(issue.k == 0, window[base + pos], x_hold)
        m.d.comb += filter_read.addr.eq(filter_addr)
        m.d.sync += [s1_valid.eq(issuing), s1_first.eq((issue.c == 0) & (issue.s == 0)),
                     s1_k.eq(issue.k), s1_x.eq(x_now), x_hold.eq(x_now)]
        gated = s1_x == 0
        s2_gated = Signal()
        m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_k.eq(s1_k),
                     s2_gated.eq(gated)]
        with m.If(s1_valid & ~gated):  # a gated MAC leaves the product register unclocked
            m.d.sync += product.eq(s1_x * filter_read.data)
        with m.If(s2_valid):
            m.d.sync += psums[s2_k].eq(Mux(s2_first, 0, psums[s2_k])
                                       + Mux(s2_gated, 0, product))
        m.d.comb += [ev.macs.eq(s1_valid), ev.gated_macs.eq(s1_valid & gated),
                     ev.filter_rf_reads.eq(issuing), ev.input_rf_reads.eq(issuing & (issue.k == 0)),
                     ev.psum_rf_writes.eq(s2_valid), ev.psum_rf_reads.eq(s2_valid & ~s2_first)]

        new_words = Mux(output == 0, job.taps, job.step)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [filter_addr.eq(0), output.eq(0), head.eq(0), base.eq(0),
                                 pos.eq(0), fill.eq(0), *issue.clear()]
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += [self.busy.eq(1), self.filter_in.ready.eq(1),
                             filter_write.addr.eq(filter_addr),
                             filter_write.data.eq(self.filter_in.payload),
                             filter_write.en.eq(self.filter_in.valid),
                             ev.filter_rf_writes.eq(self.filter_in.valid)]
                with m.If(self.filter_in.valid):
                    m.d.sync += [filter_addr.eq(filter_addr + 1), *issue.advance()]
                    with m.If(issue.last):
                        m.next = "FILL"
            with m.State("FILL"):
                m.d.comb += [self.busy.eq(1), self.input_in.ready.eq(1),
                             ev.input_rf_writes.eq(self.input_in.valid)]
                with m.If(self.input_in.valid):
                    m.d.sync += [window[base + pos].eq(self.input_in.payload),
                                 pos.eq(pos_next), fill.eq(fill + 1)]
                    with m.If(fill == new_words - 1):
                        m.d.sync += fill.eq(0)
                        with m.If(issue.c == job.channels - 1):
                            m.d.sync += [head.eq(pos_next), pos.eq(pos_next), base.eq(0),
                                         issue.c.eq(0), filter_addr.eq(0)]
                            m.next = "COMPUTE"
                        with m.Else():
                            m.d.sync += [base.eq(base + job.taps), pos.eq(head),
                                         issue.c.eq(issue.c + 1)]
            with m.State("COMPUTE"):
                m.d.comb += [self.busy.eq(1), issuing.eq(1)]
                m.d.sync += [filter_addr.eq(filter_addr + 1), *issue.advance()]
                with m.If(issue.last_k):
                    m.d.sync += pos.eq(pos_next)
                    with m.If(issue.last_s):
                        m.d.sync += [pos.eq(head), base.eq(base + job.taps)]
                with m.If(issue.last):
                    m.d.sync += base.eq(0)
                    m.next = "EMPTY"
            with m.State("EMPTY"):
                m.d.comb += self.busy.eq(1)
                with m.If(~s1_valid & ~s2_valid):
                    m.d.sync += drain.eq(0)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                moved = self.psum_in.valid & self.psum_out.ready
                m.d.comb += [self.busy.eq(1),
                             self.psum_out.payload.eq(psums[drain] + self.psum_in.payload),
                             self.psum_out.valid.eq(self.psum_in.valid),
                             self.psum_in.ready.eq(self.psum_out.ready),
                             ev.psum_rf_reads.eq(moved), ev.psum_drains.eq(moved)]
                with m.If(moved):
                    m.d.sync += drain.eq(drain + 1)
                    with m.If(drain == job.filters - 1):
                        m.d.sync += output.eq(output + 1)
                        with m.If(output == job.outputs - 1):
                            m.next = "IDLE"
                        with m.Else():
                            m.next = "FILL"
        return m
