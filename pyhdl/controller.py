"""The layer controller: walks the tile loops of a convolution (fully connected is a 1x1 one)."""

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .counters import EVENT_BITS
from .csr import descriptor_layout
from .dma import ReadJob, WriteJob
from .interfaces import tag_layout

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
             weight-stationary, for each reduction block (r, s, block of `rows` channels):
                                  commit its weights, then stream every output pixel of the
                                  tile: input-buffer address generated on the fly, zeros where
                                  the window hangs over the padding
             output-stationary, for each group of `rows` output pixels of the tile,
              each reduction block, each of the `rows` pixels (one a cycle):
                                  load the pixel's input word into its array row and one
                                  channel of the block's `cols` filters into the columns
           when the group is done:  DMA its outputs (a slice of each output pixel) to DRAM
    Weight-stationary: the next reduction block's weights are shifted into the array while the
    current block streams; the commit waits only for the shift and for the register-file slot
    to be free of vectors in flight.  Output-stationary: a group whose reduction is a single
    block waits, if need be, for the drain spacing of OutputStationaryArray.  With
    `w_half_words` set, the weight buffer is two halves and the next chunk's weights are
    fetched into one while the other streams.

    Ports:
        descriptor: In, the layer (see models.registers.DESCRIPTOR_FIELDS).
        start: In(1) pulse; busy: Out(1); done: Out(1), a pulse at the end of the layer.
        read_job, write_job: Out(stream), jobs for the DMA engines; reader_busy, writer_busy:
            In(1).  Weight-stationary: load_weights: Out(1), the reader's words go to the
            weight buffer.  Output-stationary: weight_job: Out(stream), weight_reader_busy:
            In(1), the weights' own reader (its words are `cols` wide).
        bias_job: Out(stream), the bias load at the start of a layer that adds a bias;
            bias_busy: In(1); loading_bias: Out(1), the DRAM read port is the bias reader's.
        input_read, weight_read: In(ReadPort.Signature), the buffers feeding the array.
        x, gated: the array's input and its count of gated products.
        Weight-stationary: w_data, w_shift, w_commit, w_slot: Out, the weight load; tag: Out,
            where the partial sums of the vector entering the array go.
        Output-stationary: w: Out, the weights entering the columns; array_busy: In(1).
        accumulator_busy: In(1).
        k_word_base: Out, the first block of output channels in the output buffer (for the
            post-processor's biases).
        events: Out, this cycle's increments of the compute counters.
    """

    def __init__(self, spec, array, input_addr_bits, weight_addr_bits, output_addr_bits):
        self.spec = spec
        self.array = array
        self.output_stationary = spec.dataflow == "os"
        self.output_addr_bits = output_addr_bits
        word = spec.rows * spec.operand_bits
        ports = {
            "descriptor": In(descriptor_layout()),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "read_job": Out(stream.Signature(ReadJob)),
            "reader_busy": In(1),
            "bias_job": Out(stream.Signature(ReadJob)),
            "bias_busy": In(1),
            "loading_bias": Out(1),
            "write_job": Out(stream.Signature(WriteJob)),
            "writer_busy": In(1),
            "input_read": In(memory.ReadPort.Signature(addr_width=input_addr_bits, shape=word)),
            "weight_read": In(memory.ReadPort.Signature(
                addr_width=weight_addr_bits, shape=spec.weight_lanes * spec.operand_bits)),
            "x": Out(array.x.shape()),
            "gated": In(array.gated.shape()),
            "accumulator_busy": In(1),
            "k_word_base": Out(16),
            "events": Out(data.StructLayout({
                "busy_cycles": 1, "macs": EVENT_BITS, "macs_gated": EVENT_BITS,
                "rf_writes": EVENT_BITS, "array_transfers": EVENT_BITS,
            })),
        }
        if self.output_stationary:
            ports.update({
                "weight_job": Out(stream.Signature(ReadJob)),
                "weight_reader_busy": In(1),
                "w": Out(array.w.shape()),
                "array_busy": In(1),
            })
        else:
            ports.update({
                "load_weights": Out(1),
                "w_data": Out(data.ArrayLayout(signed(spec.operand_bits), spec.rows)),
                "w_shift": Out(1),
                "w_commit": Out(1),
                "w_slot": Out(array.slot_bits),
                "tag": Out(tag_layout(output_addr_bits)),
            })
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        spec, d = self.spec, self.descriptor
        rows, cols = spec.rows, spec.cols
        pad_word = Cat(d.pad_value[:spec.operand_bits] for _ in range(rows))
        os_flow = self.output_stationary
        weight_job = self.weight_job if os_flow else self.read_job
        # Output-stationary: the two readers share the DRAM port, so a weight load waits for
        # the input band too (and streaming for both).
        weight_busy = (self.weight_reader_busy | self.reader_busy) if os_flow \
            else self.reader_busy

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
        # The output buffer as two halves (y_half_words): each group accumulates in one while
        # the writer drains the other; as one buffer, streaming waits for the writer.
        y_half = Signal()
        y_base = Mux(y_half, d.y_half_words, 0)
        halves = d.y_half_words != 0
        write_k_base = Signal(16)         # the group being written back (for its biases)
        m.d.comb += [
            group_blocks.eq(Mux(last_group, d.k_blocks - group_first_kb, d.k_group_blocks)),
            self.k_word_base.eq(write_k_base),
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
        taps = d.r[:8] * d.s[:8]
        m.d.comb += [
            chunk_blocks.eq(Mux(last_chunk, d.c_blocks - chunk_first_cb, d.c_chunk_blocks)),
            chunk_red.eq(taps * chunk_blocks),
        ]

        # --- the weight chunk after the current one, fetched into the other half of the
        # weight buffer while the current one streams (when w_half_words is not 0) -----------
        w_half = Signal()                 # the half holding the current chunk
        prefetched = Signal()             # the next chunk is in (or on its way to) the other
        has_next = ~last_chunk | ~last_kb
        next_kb = Mux(last_chunk, kb + 1, kb)
        next_cols_active = Mux(next_kb == d.k_blocks - 1, d.k_last[:7], cols)

        if os_flow:
            # One DRAM row of `cols` filters per (r, s, c), each chunk's rows in a run.
            chunk_rows = Signal(32)
            next_rows = Signal(32)
            chunk_size = d.c_chunk_blocks * rows
            m.d.comb += [
                chunk_rows.eq(taps * _min(d.c - chunk_first_cb * rows, chunk_size)),
                next_rows.eq(taps * Mux(last_chunk, _min(d.c, chunk_size),
                                        _min(d.c - (chunk_first_cb + d.c_chunk_blocks) * rows,
                                             chunk_size))),
            ]

            def weight_load(payload, following):
                return [
                    payload.base.eq(Mux(w_half ^ following, d.w_half_words, 0)),
                    payload.addr.eq(w_addr + Mux(following, chunk_rows * d.w_row_beats, 0)),
                    payload.rows.eq(Mux(following, next_rows, chunk_rows)),
                    payload.row_beats.eq(d.w_row_beats),
                    payload.pitch.eq(d.w_row_beats),
                    payload.row_elems.eq(cols),
                ]
        else:
            # One row slice per (k, r, s): the chunk's channels of every weight row.
            def ws_job(payload, addr, offset, first_cb, is_last_chunk, active, half):
                return [
                    payload.base.eq(Mux(half, d.w_half_words, 0)),
                    payload.addr.eq(addr + offset),
                    payload.rows.eq(active * taps),
                    payload.row_beats.eq(Mux(is_last_chunk, d.w_row_beats - offset,
                                             d.w_chunk_beats)),
                    payload.pitch.eq(d.w_row_beats),
                    payload.row_elems.eq(_min(d.c - first_cb * rows, d.c_chunk_blocks * rows)),
                ]

            def weight_load(payload, following):
                if not following:
                    return ws_job(payload, w_addr, chunk_offset, chunk_first_cb, last_chunk,
                                  cols_active, w_half)
                return ws_job(payload,
                              Mux(last_chunk, w_addr + d.w_block_beats, w_addr),
                              Mux(last_chunk, 0, chunk_offset + d.w_chunk_beats),
                              Mux(last_chunk, 0, chunk_first_cb + d.c_chunk_blocks),
                              Mux(last_chunk, d.c_chunks == 1, chunk + 2 == d.c_chunks),
                              next_cols_active, ~w_half)

        loading_weights = Signal()        # weight-stationary: the reader fills the weights

        def prefetch():
            """Offer the next chunk's weight load; it is prefetched if the reader takes it."""
            m.d.comb += [weight_job.valid.eq(1), *weight_load(weight_job.payload, True)]
            m.d.sync += prefetched.eq(weight_job.ready)
            if not os_flow:
                m.d.sync += loading_weights.eq(1)

        def next_chunk():
            """Step the chunk registers to the next chunk (of this block of filters, or the
            first of the next block)."""
            with m.If(~last_chunk):
                m.d.sync += [chunk.eq(chunk + 1),
                             chunk_first_cb.eq(chunk_first_cb + d.c_chunk_blocks),
                             chunk_offset.eq(chunk_offset + d.w_chunk_beats)]
            with m.Else():
                m.d.sync += [kb.eq(kb + 1), chunk.eq(0), chunk_first_cb.eq(0),
                             chunk_offset.eq(0)]
                if not os_flow:
                    m.d.sync += w_addr.eq(w_addr + d.w_block_beats)
            if os_flow:
                m.d.sync += w_addr.eq(w_addr + chunk_rows * d.w_row_beats)

        def to_next_chunk():
            """Go on to the next chunk: straight to its streaming if it was prefetched."""
            with m.If(prefetched):
                m.d.sync += [w_half.eq(~w_half), prefetched.eq(0)]
                m.next = "WAIT_W"
            with m.Else():
                m.next = "LOAD_W"

        # --- the reduction block being streamed: tap (tap_r, tap_s), channel block cb ------
        tap_r = Signal(16)
        tap_s = Signal(16)
        cb = Signal(16)
        block = Signal(16)
        last_cb = cb == d.c_blocks - 1
        last_cb_in_chunk = cb == chunk_first_cb + chunk_blocks - 1
        last_block = block == chunk_red - 1
        rows_active = Mux(last_cb, d.c_last[:7], rows)

        def next_block():
            """Step (tap_r, tap_s, cb) to the chunk's next reduction block."""
            m.d.sync += block.eq(block + 1)
            with m.If(~last_cb_in_chunk):
                m.d.sync += cb.eq(cb + 1)
            with m.Elif(tap_s != d.s - 1):
                m.d.sync += [cb.eq(chunk_first_cb), tap_s.eq(tap_s + 1)]
            with m.Else():
                m.d.sync += [cb.eq(chunk_first_cb), tap_s.eq(0), tap_r.eq(tap_r + 1)]

        def end_of_chunk():
            """After a chunk's last block: the next chunk, or the group's write-back."""
            with m.If(~last_chunk | ~last_kb_in_group):
                next_chunk()
                to_next_chunk()
            with m.Else():
                m.next = "DRAIN"

        # --- pixel walker: the input-buffer word of each output pixel, at tap (0, 0) and
        # channel block 0 for output-stationary (the block's offset is added on the way) ----
        row_in = Signal(16)               # output row within the tile
        col_out = Signal(16)
        hh = Signal(COORD)
        ww = Signal(COORD)
        ww_first = Signal(COORD)
        row_addr = Signal(signed(33))
        addr = Signal(signed(33))
        output_addr = Signal(self.output_addr_bits)
        last_col = col_out == d.q - 1
        stride = d.stride[:8]
        row_step = Signal(32)             # input-buffer words between output rows' windows
        m.d.comb += row_step.eq(stride * d.line_words)

        def advance_pixel(dst):
            """Assign the walker's next pixel (in tile order) to the registers `dst`."""
            n_row_in, n_col_out, n_hh, n_ww, n_row_addr, n_addr, n_out = dst
            m.d.sync += n_out.eq(output_addr + group_blocks)
            with m.If(last_col):
                m.d.sync += [
                    n_col_out.eq(0), n_row_in.eq(row_in + 1),
                    n_hh.eq(hh + stride), n_ww.eq(ww_first),
                    n_row_addr.eq(row_addr + row_step), n_addr.eq(row_addr + row_step),
                ]
            with m.Else():
                m.d.sync += [n_col_out.eq(col_out + 1), n_row_in.eq(row_in),
                             n_hh.eq(hh), n_ww.eq(ww + stride), n_row_addr.eq(row_addr),
                             n_addr.eq(addr + stride * d.c_blocks[:16])]

        here = (row_in, col_out, hh, ww, row_addr, addr, output_addr)

        feeding = Signal()
        m.d.sync += feeding.eq(0)
        e = self.events
        m.d.comb += e.busy_cycles.eq(feeding)

        if os_flow:
            # --- output-stationary: groups of `rows` pixels, each pixel on its own row ---
            base = [Signal.like(reg, name=f"group_{reg.name}") for reg in here]
            group_pixel = Signal(32)      # the group's first pixel in the tile
            lane = Signal(range(rows))    # the pixel of the group (array row) this cycle
            w_read = Signal.like(self.weight_read.addr)
            since_load = Signal(range(2 * rows + 1))   # cycles since the last load, saturated
            m.d.sync += since_load.eq(Mux(since_load == 2 * rows, since_load, since_load + 1))
            tap_offset = Signal(signed(33))
            m.d.comb += tap_offset.eq(tap_r * d.line_words + tap_s * d.c_blocks[:16] + cb)
            row_hh = Signal(COORD)
            row_ww = Signal(COORD)
            m.d.comb += [row_hh.eq(hh + tap_r), row_ww.eq(ww + tap_s)]
            inside = (row_hh >= 0) & (row_hh < d.h[:16]) & (row_ww >= 0) & (row_ww < d.w[:16])
            pixel_valid = group_pixel + lane < tile_pixels
            channel_active = lane < rows_active
            # A single-block reduction follows the last one by `rows` + the gap.
            spacing_ok = Signal()
            distance = rows + 1 + since_load
            m.d.comb += spacing_ok.eq((chunk_red != 1) | (distance[0] == 1)
                                      | (distance >= 2 * rows))

            feed_macs = Signal(EVENT_BITS)
            feed_hops = Signal(EVENT_BITS)
            feed_pad = Signal()           # a padded window position: the pad value, not data
            m.d.sync += [self.x.valid.eq(0), self.w.cols.eq(0)]
            m.d.comb += [
                self.x.values.eq(Mux(feed_pad, pad_word, self.input_read.data)),
                self.w.values.eq(self.weight_read.data),
                e.macs.eq(Mux(feeding, feed_macs, 0)),
                e.macs_gated.eq(self.gated),
                e.rf_writes.eq(Mux(feeding, feed_macs, 0)),
                e.array_transfers.eq(Mux(feeding, 2 * rows * cols + feed_hops, 0)),
            ]

            def walk_from_group_start():
                m.d.sync += [reg.eq(start) for reg, start in zip(here, base)]
                m.d.sync += ww_first.eq(-d.pad[:8])
        else:
            block_hh = Signal(COORD)
            block_ww = Signal(COORD)
            block_addr = Signal(signed(33))
            m.d.comb += [
                block_hh.eq(h_start + tap_r),
                block_ww.eq(tap_s - d.pad[:8]),
                block_addr.eq((block_hh - band_first) * d.line_words
                              + block_ww * d.c_blocks[:16] + cb),
            ]

            def walk_from_tile_start():
                """Put the walker on the tile's first pixel at the current block."""
                m.d.sync += [
                    row_in.eq(0), col_out.eq(0),
                    hh.eq(block_hh), ww.eq(block_ww), ww_first.eq(block_ww),
                    row_addr.eq(block_addr), addr.eq(block_addr),
                    output_addr.eq(kb - group_first_kb + y_base),
                ]

            # --- weight-stationary: the weight loader shifts one reduction block into the
            # array's chain -------------------------------------------------------------------
            depth = spec.rf_depth
            latency = self.array.latency
            load_step = Signal(range(cols + 2))
            loading = Signal()
            loaded = Signal()             # the chain holds the next block, uncommitted
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

            # Register-file slots: free once the last vector that read them left the array.
            slot = Signal(self.array.slot_bits)
            slot_timers = [Signal(range(latency + 2), name=f"slot_timer_{s}")
                           for s in range(depth)]
            slot_free = Signal()
            for s, timer in enumerate(slot_timers):
                with m.If(self.x.valid & (self.x.slot == s)):
                    m.d.sync += timer.eq(latency + 1)
                with m.Elif(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.If(slot == s):
                    m.d.comb += slot_free.eq(timer == 0)
            next_slot = Mux(slot == depth - 1, 0, slot + 1) if depth > 1 else slot

            inside = (hh >= 0) & (hh < d.h[:16]) & (ww >= 0) & (ww < d.w[:16])
            last_pixel = last_col & (row_in == tile_rows - 1)
            active_macs = Signal(EVENT_BITS)

            # Feeding the array: the input buffer answers a cycle after the read.
            feed_slot = Signal(self.array.slot_bits)
            feed_zero = Signal()
            feed_tag = Signal.like(self.tag)
            m.d.sync += feed_tag.valid.eq(0)
            m.d.comb += [
                self.x.valid.eq(feeding),
                self.x.slot.eq(feed_slot),
                self.x.values.eq(Mux(feed_zero, pad_word, self.input_read.data)),
                self.tag.eq(feed_tag),
                self.load_weights.eq(loading_weights),
                e.macs.eq(Mux(feeding, active_macs, 0)),
                e.macs_gated.eq(Mux(feeding, self.gated - (rows * cols - active_macs), 0)),
                e.rf_writes.eq(Mux(self.w_commit, rows * cols, 0)),
                e.array_transfers.eq(Mux(feeding, 2 * rows * cols, 0)
                                     + Mux(self.w_shift, rows * cols, 0)),
            ]

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        image.eq(0), p0.eq(0),
                        tile_rows.eq(_min(d.p[:16], d.tile_p[:16])),
                        h_start.eq(-d.pad[:8]),
                        x_image.eq(d.x_addr),
                        y_addr.eq(d.y_addr),
                        y_half.eq(0),
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
                    m.d.sync += [kb.eq(0), w_addr.eq(d.w_addr),
                                 chunk.eq(0), chunk_first_cb.eq(0), chunk_offset.eq(0),
                                 group_first_kb.eq(0), group_offset.eq(0), w_half.eq(0),
                                 prefetched.eq(0)]
                    if not os_flow:
                        m.d.sync += loading_weights.eq(0)
                    m.next = "LOAD_W"
            with m.State("LOAD_W"):
                m.d.comb += [weight_job.valid.eq(~weight_busy),
                             *weight_load(weight_job.payload, False)]
                with m.If(weight_job.valid & weight_job.ready):
                    if not os_flow:
                        m.d.sync += loading_weights.eq(1)
                    m.next = "WAIT_W"
            with m.State("WAIT_W"):
                with m.If(~weight_busy & (halves | ~self.writer_busy)):
                    m.d.sync += [tap_r.eq(0), tap_s.eq(0), cb.eq(chunk_first_cb), block.eq(0)]
                    if os_flow:
                        first_addr = ((h_start - band_first) * d.line_words
                                      - d.pad[:8] * d.c_blocks[:16])
                        m.d.sync += group_pixel.eq(0)
                        m.d.sync += [reg.eq(start) for reg, start in zip(base, (
                            0, 0, h_start, -d.pad[:8], first_addr, first_addr,
                            kb - group_first_kb + y_base))]
                        m.next = "GROUP"
                    else:
                        m.d.comb += [start_load.eq(1), start_block.eq(0)]
                        m.next = "COMMIT"
            if os_flow:
                with m.State("GROUP"):
                    with m.If(spacing_ok):
                        walk_from_group_start()
                        m.d.sync += [lane.eq(0), w_read.eq(Mux(w_half, d.w_half_words, 0)),
                                     tap_r.eq(0), tap_s.eq(0), cb.eq(chunk_first_cb),
                                     block.eq(0)]
                        with m.If((group_pixel == 0) & has_next & (d.w_half_words != 0)):
                            prefetch()
                        m.next = "STREAM"
                with m.State("STREAM"):
                    m.d.comb += [
                        self.input_read.en.eq(pixel_valid & inside),
                        self.input_read.addr.eq((addr + tap_offset)[:len(self.input_read.addr)]),
                        self.weight_read.en.eq(channel_active),
                        self.weight_read.addr.eq(w_read),
                    ]
                    m.d.sync += [
                        feeding.eq(1),
                        since_load.eq(0),
                        self.x.valid.eq(1),
                        self.x.row.eq(lane),
                        self.x.zero.eq(~pixel_valid),
                        feed_pad.eq(~inside),
                        self.x.active.eq(Mux(pixel_valid, rows_active, 0)),
                        self.x.last.eq(last_block),
                        self.x.tag.valid.eq(pixel_valid & last_block),
                        self.x.tag.addr.eq(output_addr),
                        self.x.tag.first.eq(chunk == 0),
                        self.w.cols.eq(Mux(channel_active, cols_active, 0)),
                        feed_macs.eq(Mux(pixel_valid, rows_active * cols_active, 0)),
                        feed_hops.eq(Mux(last_block, (lane + 1) * cols, 0)),
                        w_read.eq(w_read + channel_active),
                    ]
                    with m.If(lane != rows - 1):
                        m.d.sync += lane.eq(lane + 1)
                        advance_pixel(here)
                    with m.Elif(~last_block):
                        m.d.sync += lane.eq(0)
                        walk_from_group_start()
                        next_block()
                    with m.Else():
                        advance_pixel(base)
                        m.d.sync += group_pixel.eq(group_pixel + rows)
                        with m.If(group_pixel + rows < tile_pixels):
                            m.next = "GROUP"
                        with m.Else():
                            end_of_chunk()
            else:
                with m.State("COMMIT"):
                    with m.If(loaded & slot_free):
                        m.d.comb += [self.w_commit.eq(1), self.w_slot.eq(slot)]
                        m.d.sync += [loaded.eq(0), active_macs.eq(rows_active * cols_active)]
                        walk_from_tile_start()
                        with m.If(~last_block):
                            m.d.comb += [start_load.eq(1), start_block.eq(block + 1)]
                        with m.If((block == 0) & has_next & (d.w_half_words != 0)):
                            prefetch()
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
                    ]
                    advance_pixel(here)
                    with m.If(last_pixel):
                        m.d.sync += slot.eq(next_slot)
                        next_block()
                        with m.If(~last_block):
                            m.next = "COMMIT"
                        with m.Else():
                            end_of_chunk()
            with m.State("DRAIN"):
                idle = ~feeding & ~self.accumulator_busy
                if os_flow:
                    idle &= ~self.array_busy
                with m.If(idle):
                    m.next = "STORE_Y"
            with m.State("STORE_Y"):
                m.d.comb += [
                    self.write_job.valid.eq(1),
                    self.write_job.payload.base.eq(y_base),
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
                    m.d.sync += [write_k_base.eq(group_first_kb), y_half.eq(y_half ^ halves)]
                    m.next = "WAIT_Y"
            with m.State("WAIT_Y"):
                # The write-back runs on while the next group or tile starts; only the end of
                # the layer waits for it.
                next_p0 = p0 + tile_rows
                image_done = next_p0 == d.p
                with m.If(~last_group):
                    m.d.sync += [
                        group_first_kb.eq(group_first_kb + d.k_group_blocks),
                        group_offset.eq(group_offset + d.y_group_beats),
                    ]
                    next_chunk()
                    to_next_chunk()
                with m.Elif(~(image_done & (image == d.n - 1))):
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
                    m.next = "BAND"
                with m.Elif(~self.writer_busy):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
