"""The layer controller: walks the tile loops of a convolution (fully connected is a 1x1 one)."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .accumulator import tag_layout
from .counters import EVENT_BITS
from .csr import descriptor_layout
from .dma import ReadJob, WriteJob

COORD = signed(18)
"""Signed pixel coordinates, padding included (inputs up to 65535 rows or columns)."""


def _min(a, b):
    return Mux(a < b, a, b)


class ConvController(wiring.Component):
    """Runs Y[n, k, p, q] = sum_{r, s, c} X[n, c, p*st + r - pad, q*st + s - pad] W[k, c, r, s].

    Loop nest (outermost first), with the buffer each level fills:
        once, if the layer adds a bias:  DMA the bias to the bias buffer
        for each image n, each tile of `tile_p` output rows:
                                  DMA the tile's input band (rows it needs) to the input buffer
          for each group of output-channel blocks whose outputs fit the output buffer,
           each block of `cols` output channels in it,
            each chunk of channels whose weights fit the weight buffer:
                                  DMA their weights (one row slice per k, r, s) to the weight
                                  buffer
            for each reduction block (r, s, block of `rows` channels) of the chunk:
                                  commit its weights, then stream every output pixel of the
                                  tile: input-buffer address generated on the fly, zeros where
                                  the window hangs over the padding
           when the group is done:  DMA its outputs (a slice of each output pixel) to DRAM
    Weights of the next reduction block are shifted into the array while the current block
    streams; the commit waits only for the shift and for the register-file slot to be free
    of vectors in flight.  With `w_half_words` set, the weight buffer is two halves and the
    next chunk's weights are fetched into one while the other streams.

    Ports:
        descriptor: In, the layer (see models.registers.DESCRIPTOR_FIELDS).
        start: In(1) pulse; busy: Out(1); done: Out(1), a pulse at the end of the layer.
        read_job, write_job: Out(stream), jobs for the DMA engines; reader_busy, writer_busy:
            In(1); load_weights: Out(1), the reader's words go to the weight buffer.
        bias_job: Out(stream), the bias load at the start of a layer that adds a bias;
            bias_busy: In(1); loading_bias: Out(1), the DRAM read port is the bias reader's.
        input_read, weight_read: In(ReadPort.Signature), the buffers feeding the array.
        x, w_data, w_shift, w_commit, w_slot: Out, the array's inputs; gated: In.
        tag: Out, where the partial sums of the vector entering the array go.
        accumulator_busy: In(1).
        k_word_base: Out, the first block of output channels in the output buffer (for the
            post-processor's biases).
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
            "bias_job": Out(stream.Signature(ReadJob)),
            "bias_busy": In(1),
            "loading_bias": Out(1),
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
            "k_word_base": Out(16),
            "events": Out(data.StructLayout({
                "busy_cycles": 1, "macs": EVENT_BITS, "macs_gated": EVENT_BITS,
                "rf_writes": EVENT_BITS, "array_transfers": EVENT_BITS,
            })),
        })

    def elaborate(self, platform):
        m = Module()
        spec, d = self.spec, self.descriptor
        rows, cols, depth = spec.rows, spec.cols, spec.rf_depth

        # A read port's `en` resets to 1; read only where asked to.
        m.d.comb += [self.input_read.en.eq(0), self.weight_read.en.eq(0)]

        # --- tile loop state -------------------------------------------------------------
        image = Signal(16)
        p0 = Signal(16)
        tile_rows = Signal(16)            # output rows in this tile
        h_start = Signal(COORD)           # input row of the tile's first window (may be < 0)
        band_first = Signal(16)           # first input row held in the input buffer
        band_rows = Signal(16)
        x_image = Signal(32)
        y_addr = Signal(32)
        w_addr = Signal(32)
        kb = Signal(16)
        last_kb = kb == d.k_blocks - 1
        cols_active = Mux(last_kb, d.k_last[:7], cols)

        # --- output-channel groups: the output buffer holds `k_group_blocks` words of every
        # pixel of a tile; each group is written back as a slice of every output pixel.
        group_first_kb = Signal(16)
        group_offset = Signal(16)         # beats into an output row where the group starts
        last_group = group_first_kb + d.k_group_blocks >= d.k_blocks
        group_blocks = Signal(16)
        m.d.comb += [
            group_blocks.eq(Mux(last_group, d.k_blocks - group_first_kb, d.k_group_blocks)),
            self.k_word_base.eq(group_first_kb),
        ]
        last_kb_in_group = kb == group_first_kb + group_blocks - 1
        tile_pixels = Signal(32)
        m.d.comb += tile_pixels.eq(tile_rows * d.q[:16])

        # --- reduction chunks: the weight buffer holds `c_chunk_blocks` channel blocks of a
        # block of filters (every tap) at a time; the last chunk may hold fewer.
        chunk = Signal(16)
        chunk_first_cb = Signal(16)
        chunk_offset = Signal(16)         # beats into a weight row where the chunk starts
        last_chunk = chunk == d.c_chunks - 1
        chunk_blocks = Signal(16)
        chunk_red = Signal(16)            # reduction blocks (taps x channel blocks) in it
        m.d.comb += [
            chunk_blocks.eq(Mux(last_chunk, d.c_blocks - chunk_first_cb, d.c_chunk_blocks)),
            chunk_red.eq(d.r[:8] * d.s[:8] * chunk_blocks),
        ]

        # --- the weight chunk after the current one, fetched into the other half of the
        # weight buffer while the current one streams (when w_half_words is not 0) -----------
        w_half = Signal()                 # the half holding the current chunk
        prefetched = Signal()             # the next chunk is in (or on its way to) the other
        has_next = ~last_chunk | ~last_kb
        next_kb = Mux(last_chunk, kb + 1, kb)
        next_cols_active = Mux(next_kb == d.k_blocks - 1, d.k_last[:7], cols)

        def weight_job(payload, addr, offset, first_cb, is_last_chunk, active, half):
            """The read job of one chunk of weights into one half of the weight buffer."""
            return [
                payload.base.eq(Mux(half, d.w_half_words, 0)),
                payload.addr.eq(addr + offset),
                payload.rows.eq(active * d.r[:8] * d.s[:8]),
                payload.row_beats.eq(Mux(is_last_chunk, d.w_row_beats - offset,
                                         d.w_chunk_beats)),
                payload.pitch.eq(d.w_row_beats),
                payload.row_elems.eq(_min(d.c - first_cb * rows, d.c_chunk_blocks * rows)),
            ]

        def next_chunk():
            """Step the chunk registers to the next chunk (of this block of filters, or the
            first of the next block)."""
            with m.If(~last_chunk):
                m.d.sync += [chunk.eq(chunk + 1),
                             chunk_first_cb.eq(chunk_first_cb + d.c_chunk_blocks),
                             chunk_offset.eq(chunk_offset + d.w_chunk_beats)]
            with m.Else():
                m.d.sync += [kb.eq(kb + 1), w_addr.eq(w_addr + d.w_block_beats),
                             chunk.eq(0), chunk_first_cb.eq(0), chunk_offset.eq(0)]

        def to_next_chunk():
            """Go on to the next chunk: straight to its shifting if it was prefetched."""
            with m.If(prefetched):
                m.d.sync += [w_half.eq(~w_half), prefetched.eq(0)]
                m.next = "WAIT_W"
            with m.Else():
                m.next = "LOAD_W"

        # --- weight loader: shifts one reduction block into the array's chain ---------------
        load_step = Signal(range(cols + 2))
        loading = Signal()
        loaded = Signal()                 # the chain holds the next block, uncommitted
        shift_addr = Signal.like(self.weight_read.addr)
        shift_active = Signal()
        start_load = Signal()
        start_block = Signal(16)
        with m.If(start_load):
            m.d.sync += [loading.eq(1), loaded.eq(0), load_step.eq(0),
                         shift_addr.eq(Mux(w_half, d.w_half_words, 0)
                                       + (cols - 1) * chunk_red + start_block)]
        with m.Elif(loading):
            # Step j reads the word of column cols-1-j; it is shifted in at step j+1.
            m.d.comb += [
                self.weight_read.en.eq(load_step < cols),
                self.weight_read.addr.eq(shift_addr),
                self.w_shift.eq(load_step != 0),
                self.w_data.eq(Mux(shift_active, self.weight_read.data, 0)),
            ]
            m.d.sync += [
                load_step.eq(load_step + 1),
                shift_addr.eq(shift_addr - chunk_red),
                shift_active.eq(cols - 1 - load_step < cols_active),
            ]
            with m.If(load_step == cols):
                m.d.sync += [loading.eq(0), loaded.eq(1)]

        # --- register-file slots: free once the last vector that read them left the array --
        slot = Signal(self.slot_bits)
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
        next_slot = Mux(slot == depth - 1, 0, slot + 1) if depth > 1 else slot

        # --- the reduction block being streamed: tap (tap_r, tap_s), channel block cb ------
        tap_r = Signal(16)
        tap_s = Signal(16)
        cb = Signal(16)
        block = Signal(16)
        last_cb = cb == d.c_blocks - 1
        last_cb_in_chunk = cb == chunk_first_cb + chunk_blocks - 1
        last_block = block == chunk_red - 1
        rows_active = Mux(last_cb, d.c_last[:7], rows)
        active_macs = Signal(EVENT_BITS)

        # --- pixel walker: the input-buffer word of each output pixel for this block -------
        row_in = Signal(16)               # output row within the tile
        col_out = Signal(16)
        hh = Signal(COORD)
        ww = Signal(COORD)
        ww_first = Signal(COORD)
        row_addr = Signal(signed(33))
        addr = Signal(signed(33))
        inside = (hh >= 0) & (hh < d.h[:16]) & (ww >= 0) & (ww < d.w[:16])
        last_col = col_out == d.q - 1
        last_pixel = last_col & (row_in == tile_rows - 1)
        output_addr = Signal.like(self.tag.addr)
        stride = d.stride[:8]
        row_step = Signal(32)             # input-buffer words between output rows' windows
        m.d.comb += row_step.eq(stride * d.line_words)

        block_hh = Signal(COORD)
        block_ww = Signal(COORD)
        block_addr = Signal(signed(33))
        m.d.comb += [
            block_hh.eq(h_start + tap_r),
            block_ww.eq(tap_s - d.pad[:8]),
            block_addr.eq((block_hh - band_first) * d.line_words
                          + block_ww * d.c_blocks[:16] + cb),
        ]

        # --- feeding the array: the input buffer answers a cycle after the read ------------
        feeding = Signal()
        feed_slot = Signal(self.slot_bits)
        feed_zero = Signal()
        feed_tag = Signal.like(self.tag)
        m.d.sync += [feeding.eq(0), feed_tag.valid.eq(0)]
        m.d.comb += [
            self.x.valid.eq(feeding),
            self.x.slot.eq(feed_slot),
            self.x.values.eq(Mux(feed_zero, 0, self.input_read.data)),
            self.tag.eq(feed_tag),
        ]

        e = self.events
        m.d.comb += [
            e.busy_cycles.eq(feeding),
            e.macs.eq(Mux(feeding, active_macs, 0)),
            e.macs_gated.eq(Mux(feeding, self.gated - (rows * cols - active_macs), 0)),
            e.rf_writes.eq(Mux(self.w_commit, rows * cols, 0)),
            e.array_transfers.eq(Mux(feeding, 2 * rows * cols, 0)
                                 + Mux(self.w_shift, rows * cols, 0)),
        ]

        loading_weights = Signal()
        m.d.comb += self.load_weights.eq(loading_weights)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        image.eq(0), p0.eq(0),
                        tile_rows.eq(_min(d.p[:16], d.tile_p[:16])),
                        h_start.eq(-d.pad[:8]),
                        x_image.eq(d.x_addr),
                        y_addr.eq(d.y_addr),
                    ]
                    with m.If(d.post[0]):
                        m.next = "LOAD_BIAS"
                    with m.Else():
                        m.next = "BAND"
            with m.State("LOAD_BIAS"):
                m.d.comb += [
                    self.loading_bias.eq(1),
                    self.bias_job.valid.eq(1),
                    self.bias_job.payload.base.eq(0),
                    self.bias_job.payload.addr.eq(d.b_addr),
                    self.bias_job.payload.rows.eq(1),
                    self.bias_job.payload.row_beats.eq(d.b_row_beats),
                    self.bias_job.payload.pitch.eq(d.b_row_beats),
                    self.bias_job.payload.row_elems.eq(d.k),
                ]
                with m.If(self.bias_job.ready):
                    m.next = "WAIT_BIAS"
            with m.State("WAIT_BIAS"):
                m.d.comb += self.loading_bias.eq(1)
                with m.If(~self.bias_busy):
                    m.next = "BAND"
            with m.State("BAND"):
                band_last = _min(h_start + (tile_rows - 1) * stride + d.r[:8], d.h[:16])
                first = Mux(h_start < 0, 0, h_start)
                m.d.sync += [band_first.eq(first), band_rows.eq(band_last - first)]
                m.next = "LOAD_X"
            with m.State("LOAD_X"):
                m.d.comb += [
                    self.read_job.valid.eq(1),
                    self.read_job.payload.base.eq(0),
                    self.read_job.payload.addr.eq(x_image + band_first * d.x_line_beats),
                    self.read_job.payload.rows.eq(band_rows * d.w[:16]),
                    self.read_job.payload.row_beats.eq(d.x_row_beats),
                    self.read_job.payload.pitch.eq(d.x_pitch),
                    self.read_job.payload.row_elems.eq(d.c),
                ]
                with m.If(self.read_job.ready):
                    m.d.sync += [kb.eq(0), w_addr.eq(d.w_addr), loading_weights.eq(0),
                                 chunk.eq(0), chunk_first_cb.eq(0), chunk_offset.eq(0),
                                 group_first_kb.eq(0), group_offset.eq(0), w_half.eq(0),
                                 prefetched.eq(0)]
                    m.next = "LOAD_W"
            with m.State("LOAD_W"):
                m.d.comb += [self.read_job.valid.eq(~self.reader_busy),
                             *weight_job(self.read_job.payload, w_addr, chunk_offset,
                                         chunk_first_cb, last_chunk, cols_active, w_half)]
                with m.If(self.read_job.valid & self.read_job.ready):
                    m.d.sync += loading_weights.eq(1)
                    m.next = "WAIT_W"
            with m.State("WAIT_W"):
                with m.If(~self.reader_busy):
                    m.d.sync += [tap_r.eq(0), tap_s.eq(0), cb.eq(chunk_first_cb), block.eq(0)]
                    m.d.comb += [start_load.eq(1), start_block.eq(0)]
                    m.next = "COMMIT"
            with m.State("COMMIT"):
                with m.If(loaded & slot_free):
                    m.d.comb += [self.w_commit.eq(1), self.w_slot.eq(slot)]
                    m.d.sync += [
                        loaded.eq(0),
                        active_macs.eq(rows_active * cols_active),
                        row_in.eq(0), col_out.eq(0),
                        hh.eq(block_hh), ww.eq(block_ww), ww_first.eq(block_ww),
                        row_addr.eq(block_addr), addr.eq(block_addr),
                        output_addr.eq(kb - group_first_kb),
                    ]
                    with m.If(~last_block):
                        m.d.comb += [start_load.eq(1), start_block.eq(block + 1)]
                    with m.If((block == 0) & has_next & (d.w_half_words != 0)):
                        m.d.comb += [
                            self.read_job.valid.eq(1),
                            *weight_job(self.read_job.payload,
                                        Mux(last_chunk, w_addr + d.w_block_beats, w_addr),
                                        Mux(last_chunk, 0, chunk_offset + d.w_chunk_beats),
                                        Mux(last_chunk, 0, chunk_first_cb + d.c_chunk_blocks),
                                        Mux(last_chunk, d.c_chunks == 1,
                                            chunk + 2 == d.c_chunks),
                                        next_cols_active, ~w_half),
                        ]
                        m.d.sync += [prefetched.eq(self.read_job.ready),
                                     loading_weights.eq(1)]
                    m.next = "STREAM"
            with m.State("STREAM"):
                m.d.comb += [self.input_read.en.eq(inside),
                             self.input_read.addr.eq(addr[:len(self.input_read.addr)])]
                m.d.sync += [
                    feeding.eq(1),
                    feed_slot.eq(slot),
                    feed_zero.eq(~inside),
                    feed_tag.valid.eq(1),
                    feed_tag.addr.eq(output_addr),
                    feed_tag.first.eq((chunk == 0) & (block == 0)),
                    output_addr.eq(output_addr + group_blocks),
                ]
                with m.If(last_col):
                    m.d.sync += [
                        col_out.eq(0), row_in.eq(row_in + 1),
                        hh.eq(hh + stride), ww.eq(ww_first),
                        row_addr.eq(row_addr + row_step), addr.eq(row_addr + row_step),
                    ]
                with m.Else():
                    m.d.sync += [col_out.eq(col_out + 1), ww.eq(ww + stride),
                                 addr.eq(addr + stride * d.c_blocks[:16])]
                with m.If(last_pixel):
                    m.d.sync += [slot.eq(next_slot), block.eq(block + 1)]
                    with m.If(~last_cb_in_chunk):
                        m.d.sync += cb.eq(cb + 1)
                    with m.Elif(tap_s != d.s - 1):
                        m.d.sync += [cb.eq(chunk_first_cb), tap_s.eq(tap_s + 1)]
                    with m.Else():
                        m.d.sync += [cb.eq(chunk_first_cb), tap_s.eq(0), tap_r.eq(tap_r + 1)]
                    with m.If(~last_block):
                        m.next = "COMMIT"
                    with m.Elif(~last_chunk | ~last_kb_in_group):
                        next_chunk()
                        to_next_chunk()
                    with m.Else():
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(~feeding & ~self.accumulator_busy):
                    m.next = "STORE_Y"
            with m.State("STORE_Y"):
                m.d.comb += [
                    self.write_job.valid.eq(1),
                    self.write_job.payload.addr.eq(y_addr + group_offset),
                    self.write_job.payload.rows.eq(tile_pixels),
                    self.write_job.payload.row_words.eq(group_blocks),
                    self.write_job.payload.row_beats.eq(
                        Mux(last_group, d.y_row_beats - group_offset, d.y_group_beats)),
                    self.write_job.payload.pitch.eq(d.y_pitch),
                    self.write_job.payload.word_elems.eq(d.y_word_elems),
                    self.write_job.payload.last_elems.eq(
                        Mux(last_group, d.y_last_elems, d.y_word_elems)),
                ]
                with m.If(self.write_job.ready):
                    m.next = "WAIT_Y"
            with m.State("WAIT_Y"):
                with m.If(~self.writer_busy & ~last_group):
                    m.d.sync += [
                        group_first_kb.eq(group_first_kb + d.k_group_blocks),
                        group_offset.eq(group_offset + d.y_group_beats),
                    ]
                    next_chunk()
                    to_next_chunk()
                with m.Elif(~self.writer_busy):
                    next_p0 = p0 + tile_rows
                    image_done = next_p0 == d.p
                    m.d.sync += y_addr.eq(y_addr + tile_pixels * d.y_pitch)
                    with m.If(image_done):
                        m.d.sync += [
                            image.eq(image + 1), p0.eq(0),
                            tile_rows.eq(_min(d.p[:16], d.tile_p[:16])),
                            h_start.eq(-d.pad[:8]),
                            x_image.eq(x_image + d.x_image_beats),
                        ]
                    with m.Else():
                        m.d.sync += [
                            p0.eq(next_p0),
                            tile_rows.eq(_min(d.p[:16] - next_p0, d.tile_p[:16])),
                            h_start.eq(h_start + tile_rows * stride),
                        ]
                    with m.If(image_done & (image == d.n - 1)):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "BAND"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
