"""The layer controller: walks the tile loops of a GEMM / fully-connected layer."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .accumulator import tag_layout
from .counters import EVENT_BITS
from .csr import descriptor_layout
from .dma import ReadJob, WriteJob


class GemmController(wiring.Component):
    """Runs Y[m, k] = sum_c X[m, c] W[k, c] from the descriptor, tile by tile.

    Loop nest (outermost first), with the buffer each level fills:
        for each tile of m_tile rows of X:       DMA the rows into the input buffer
          for each block of `cols` rows of W:    DMA them into the weight buffer
            for each block of `rows` of C:       shift the weights in, commit them to a
                                                 register-file slot, stream the tile's rows
          when the tile is done:                 DMA its outputs from the output buffer
    The weights of the next c block are shifted in as soon as the previous block's inputs are
    in the array; committing waits only until no vector in flight still uses that slot.

    Ports:
        descriptor: In, the layer (see models.registers.DESCRIPTOR_FIELDS).
        start: In(1) pulse; busy: Out(1); done: Out(1), a pulse at the end of the layer.
        read_job, write_job: Out(stream), jobs for the DMA engines; reader_busy, writer_busy:
            In(1); load_weights: Out(1), the reader's words go to the weight buffer.
        input_read, weight_read: In(ReadPort.Signature), the buffers feeding the array.
        x, w_data, w_shift, w_commit, w_slot: Out, the array's inputs; gated: In.
        tag: Out, where the partial sums of the vector entering the array go.
        accumulator_busy: In(1).
        events: Out, this cycle's increments of the compute counters.
    """

    def __init__(self, spec, array, input_addr_bits, weight_addr_bits, output_addr_bits):
        self.spec = spec
        self.array_latency = array.latency
        self.slot_bits = array.slot_bits
        vector = data.ArrayLayout(signed(spec.operand_bits), spec.rows)
        word = spec.rows * spec.operand_bits
        super().__init__({
            "descriptor": In(descriptor_layout()),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "read_job": Out(stream.Signature(ReadJob)),
            "reader_busy": In(1),
            "load_weights": Out(1),
            "write_job": Out(stream.Signature(WriteJob)),
            "writer_busy": In(1),
            "input_read": In(memory.ReadPort.Signature(addr_width=input_addr_bits, shape=word)),
            "weight_read": In(memory.ReadPort.Signature(addr_width=weight_addr_bits,
                                                         shape=word)),
            "x": Out(array.x.shape()),
            "w_data": Out(vector),
            "w_shift": Out(1),
            "w_commit": Out(1),
            "w_slot": Out(self.slot_bits),
            "gated": In(array.gated.shape()),
            "tag": Out(tag_layout(output_addr_bits)),
            "accumulator_busy": In(1),
            "events": Out(data.StructLayout({
                "busy_cycles": 1, "macs": EVENT_BITS, "macs_gated": EVENT_BITS,
                "rf_writes": EVENT_BITS, "array_transfers": EVENT_BITS,
            })),
        })

    def elaborate(self, platform):
        m = Module()
        spec, d = self.spec, self.descriptor
        rows, cols, depth = spec.rows, spec.cols, spec.rf_depth

        m_left = Signal(32)
        tile_rows = Signal(16)
        x_addr = Signal(32)
        y_addr = Signal(32)
        w_addr = Signal(32)
        kb = Signal(16)
        cb = Signal(16)
        slot = Signal(self.slot_bits)
        step = Signal(range(cols + 2))
        shift_addr = Signal.like(self.weight_read.addr)
        shift_active = Signal()
        m_index = Signal(16)
        input_addr = Signal.like(self.input_read.addr)
        output_addr = Signal.like(self.tag.addr)
        active_macs = Signal(EVENT_BITS)
        loading_weights = Signal()
        m.d.comb += self.load_weights.eq(loading_weights)

        last_kb = kb == d.k_blocks - 1
        last_cb = cb == d.c_blocks - 1
        cols_active = Mux(last_kb, d.k_last[:7], cols)
        rows_active = Mux(last_cb, d.c_last[:7], rows)

        # A slot may be overwritten once the last vector that read it has left the array.
        slot_timers = [Signal(range(self.array_latency + 2), name=f"slot_timer_{s}")
                       for s in range(depth)]
        slot_free = Signal()
        for s, timer in enumerate(slot_timers):
            with m.If(self.x.valid & (self.x.slot == s)):
                m.d.sync += timer.eq(self.array_latency + 1)
            with m.Elif(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.If(slot == s):
                m.d.comb += slot_free.eq(timer == 0)

        # The input buffer answers one cycle after the read, so the vector and its tag follow.
        feeding = Signal()
        feed_slot = Signal(self.slot_bits)
        feed_tag = Signal.like(self.tag)
        m.d.sync += [feeding.eq(0), feed_tag.valid.eq(0)]
        m.d.comb += [
            self.x.valid.eq(feeding),
            self.x.slot.eq(feed_slot),
            self.x.values.eq(self.input_read.data),
            self.tag.eq(feed_tag),
        ]

        # A read port's `en` resets to 1; read only where a state asks for it.
        m.d.comb += [self.input_read.en.eq(0), self.weight_read.en.eq(0)]

        e = self.events
        m.d.comb += [
            e.busy_cycles.eq(feeding),
            e.macs.eq(Mux(feeding, active_macs, 0)),
            e.macs_gated.eq(Mux(feeding, self.gated - (rows * cols - active_macs), 0)),
            e.rf_writes.eq(Mux(self.w_commit, rows * cols, 0)),
            e.array_transfers.eq(Mux(feeding, 2 * rows * cols, 0)
                                 + Mux(self.w_shift, rows * cols, 0)),
        ]

        def next_slot():
            return Mux(slot == depth - 1, 0, slot + 1) if depth > 1 else slot

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        m_left.eq(d.m),
                        tile_rows.eq(Mux(d.m < d.m_tile, d.m, d.m_tile)),
                        x_addr.eq(d.x_addr),
                        y_addr.eq(d.y_addr),
                    ]
                    m.next = "LOAD_X"
            with m.State("LOAD_X"):
                m.d.comb += [
                    self.read_job.valid.eq(1),
                    self.read_job.payload.addr.eq(x_addr),
                    self.read_job.payload.rows.eq(tile_rows),
                    self.read_job.payload.row_beats.eq(d.x_row_beats),
                    self.read_job.payload.row_elems.eq(d.c),
                ]
                with m.If(self.read_job.ready):
                    m.d.sync += [kb.eq(0), w_addr.eq(d.w_addr), loading_weights.eq(0)]
                    m.next = "LOAD_W"
            with m.State("LOAD_W"):
                m.d.comb += [
                    self.read_job.valid.eq(~self.reader_busy),
                    self.read_job.payload.addr.eq(w_addr),
                    self.read_job.payload.rows.eq(cols_active),
                    self.read_job.payload.row_beats.eq(d.w_row_beats),
                    self.read_job.payload.row_elems.eq(d.c),
                ]
                with m.If(self.read_job.valid & self.read_job.ready):
                    m.d.sync += loading_weights.eq(1)
                    m.next = "WAIT_W"
            with m.State("WAIT_W"):
                with m.If(~self.reader_busy):
                    m.d.sync += [cb.eq(0), step.eq(0), shift_addr.eq(d.w_shift_start)]
                    m.next = "SHIFT"
            with m.State("SHIFT"):
                # Step j reads the word of column cols-1-j; it is shifted in at step j+1.
                m.d.comb += [
                    self.weight_read.en.eq(step < cols),
                    self.weight_read.addr.eq(shift_addr),
                    self.w_shift.eq(step != 0),
                    self.w_data.eq(Mux(shift_active, self.weight_read.data, 0)),
                ]
                m.d.sync += [
                    step.eq(step + 1),
                    shift_addr.eq(shift_addr - d.c_blocks),
                    shift_active.eq(cols - 1 - step < cols_active),
                ]
                with m.If(step == cols):
                    m.d.sync += active_macs.eq(rows_active * cols_active)
                    m.next = "COMMIT"
            with m.State("COMMIT"):
                with m.If(slot_free):
                    m.d.comb += [self.w_commit.eq(1), self.w_slot.eq(slot)]
                    m.d.sync += [
                        m_index.eq(0),
                        input_addr.eq(cb),
                        output_addr.eq(kb),
                    ]
                    m.next = "STREAM"
            with m.State("STREAM"):
                m.d.comb += [self.input_read.en.eq(1), self.input_read.addr.eq(input_addr)]
                m.d.sync += [
                    feeding.eq(1),
                    feed_slot.eq(slot),
                    feed_tag.valid.eq(1),
                    feed_tag.addr.eq(output_addr),
                    feed_tag.first.eq(cb == 0),
                    m_index.eq(m_index + 1),
                    input_addr.eq(input_addr + d.c_blocks),
                    output_addr.eq(output_addr + d.k_blocks),
                ]
                with m.If(m_index == tile_rows - 1):
                    m.d.sync += [slot.eq(next_slot()), step.eq(0)]
                    with m.If(~last_cb):
                        m.d.sync += [cb.eq(cb + 1), shift_addr.eq(d.w_shift_start + cb + 1)]
                        m.next = "SHIFT"
                    with m.Elif(~last_kb):
                        m.d.sync += [kb.eq(kb + 1), w_addr.eq(w_addr + d.w_block_beats)]
                        m.next = "LOAD_W"
                    with m.Else():
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(~feeding & ~self.accumulator_busy):
                    m.next = "STORE_Y"
            with m.State("STORE_Y"):
                m.d.comb += [
                    self.write_job.valid.eq(1),
                    self.write_job.payload.addr.eq(y_addr),
                    self.write_job.payload.rows.eq(tile_rows),
                    self.write_job.payload.row_words.eq(d.k_blocks),
                    self.write_job.payload.row_beats.eq(d.y_row_beats),
                    self.write_job.payload.last_elems.eq(d.k_last),
                ]
                with m.If(self.write_job.ready):
                    m.next = "WAIT_Y"
            with m.State("WAIT_Y"):
                with m.If(~self.writer_busy):
                    remaining = m_left - tile_rows
                    m.d.sync += [
                        m_left.eq(remaining),
                        tile_rows.eq(Mux(remaining < d.m_tile, remaining, d.m_tile)),
                        x_addr.eq(x_addr + d.x_tile_beats),
                        y_addr.eq(y_addr + d.y_tile_beats),
                    ]
                    with m.If(remaining == 0):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "LOAD_X"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
