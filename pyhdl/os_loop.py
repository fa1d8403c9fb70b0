"""The output-stationary inner loop: groups of `rows` output pixels, each on its own array
row, every reduction block of the chunk streamed through them."""

from amaranth import Module, Mux, Signal
from amaranth.lib.wiring import In, Out

from models.hardware import COUNT_BITS, EVENT_BITS

from .inner_loop import InnerLoop, PixelWalk, ReductionWalk


class OutputStationaryLoop(InnerLoop):
    """Feeds an `OutputStationaryArray` one chunk, a group of `rows` output pixels at a time:
    for each reduction block (tap, block of `rows` channels), one cycle per pixel of the
    group loads the pixel's input word into its array row (`pad_value` where the window
    hangs over the padding, zeros past the tile's last pixel) and one channel of the block's
    `cols` filters into the columns; the rows' consecutive loads are the systolic skew.

    A group whose reduction is a single block waits, if need be, for the array's drain
    spacing (two reductions must end an odd number of cycles or at least 2 rows apart;
    `models.spec.os_drain_spacing_ok` is the same rule for the model).

    Ports (besides InnerLoop's):
        w: Out, the weights entering the columns.  array_busy: In(1), sums still draining.
    Latency: `run` to the first load: two cycles; then one cycle per pixel of a group and
    reduction block.
    Counts: busy cycles, MACs and register-file writes (the PEs' accumulators, one per MAC),
    gated MACs (the array's count), inter-PE transfers (operands per load, and the finished
    sums' hops down the drain chains).
    """

    separate_weight_reader = True

    @staticmethod
    def array_ports(spec, array, output_addr_bits):
        return {"w": Out(array.w.shape()), "array_busy": In(1)}

    def reduction_walk(self, m, descriptor, chunk):
        """The walk over the chunk's reduction blocks."""
        return ReductionWalk(m, descriptor, chunk, "red")

    def block_steps(self, walk):
        """Steps (elements a row serializer feeds, weight words read) of the block `walk` is
        at that are real MACs: the channels of the block."""
        return Mux(walk.last_cb, self.descriptor.c_last, self.spec.rows)

    def array_vector(self, m, walk, vector):
        """The array's input word for the input `vector` loaded this cycle (of the block
        `walk` was at a cycle before): the vector itself."""
        return vector

    def block_macs(self, walk):
        """MACs a pixel's load of the block `walk` is at performs."""
        return self.vector_macs(walk.last_cb)

    def mac_events(self, feeding, performed):
        """The MAC counts of a cycle that feeds (`feeding`) a load of `performed` MACs."""
        return [self.events.macs.eq(Mux(feeding, performed, 0))]

    def elaborate(self, platform):
        m = Module()
        spec, d, chunk = self.spec, self.descriptor, self.chunk
        rows, cols = spec.rows, spec.cols
        m.d.comb += [self.input_read.en.eq(0), self.weight_read.en.eq(0)]

        walk = self.reduction_walk(m, d, chunk)
        pixel = PixelWalk(m, d, chunk, self.output_addr_bits, "pixel")
        group = PixelWalk(m, d, chunk, self.output_addr_bits, "group")
        group_pixel = Signal(COUNT_BITS + 1)   # the group's first pixel in the tile
        lane = Signal(range(rows))             # the group's pixel (array row) this cycle
        lane_hops = Signal(EVENT_BITS)         # (lane + 1) * cols
        w_read = Signal.like(self.weight_read.addr)
        since_load = Signal(range(2 * rows + 1))   # cycles since the last load, saturated
        m.d.sync += since_load.eq(Mux(since_load == 2 * rows, since_load, since_load + 1))

        inside = pixel.inside(walk.tap_r, walk.tap_s)
        pixel_valid = group_pixel + lane < chunk.tile_pixels
        rows_active = self.block_steps(walk)
        channel_active = lane < rows_active
        cols_active = Mux(chunk.last_k, d.k_last, cols)
        # A single-block reduction follows the last one by `rows` + the gap.
        distance = rows + 1 + since_load
        spacing_ok = (chunk.red != 1) | (distance[0] == 1) | (distance >= 2 * rows)

        feeding = Signal()
        feed_pad = Signal()
        feed_macs = Signal(EVENT_BITS)
        feed_hops = Signal(EVENT_BITS)
        m.d.sync += [feeding.eq(0), self.x.valid.eq(0), self.w.cols.eq(0)]
        e = self.events
        m.d.comb += [
            self.idle.eq(~feeding & ~self.array_busy),
            self.x.values.eq(self.array_vector(
                m, walk, Mux(feed_pad, self.pad_vector(), self.input_read.data))),
            self.w.values.eq(self.weight_read.data),
            e.busy_cycles.eq(feeding),
            *self.mac_events(feeding, feed_macs),
            e.macs_gated.eq(self.gated),
            e.rf_writes.eq(Mux(feeding, feed_macs, 0)),
            e.array_transfers.eq(Mux(feeding, 2 * rows * cols + feed_hops, 0)),
        ]

        def group_start():
            """Back to the group's first pixel, in array row 0."""
            group.copy_to(pixel)
            m.d.sync += [lane.eq(0), lane_hops.eq(cols)]

        with m.FSM():
            with m.State("IDLE"):
                # The walks restart in every idle cycle (from a stable chunk in the `run`
                # one), so `run` drives only the state.
                walk.restart()
                m.d.sync += group_pixel.eq(0)
                group.load(chunk.h_start, -d.pad, chunk.window_base, chunk.out_base)
                with m.If(self.run):
                    m.next = "GROUP"
            with m.State("GROUP"):
                with m.If(spacing_ok):
                    group_start()
                    walk.restart()
                    m.d.sync += w_read.eq(chunk.w_base)
                    m.d.comb += self.prefetch.eq(group_pixel == 0)
                    m.next = "STREAM"
            with m.State("STREAM"):
                m.d.comb += [
                    self.input_read.en.eq(pixel_valid & inside),
                    self.input_read.addr.eq(
                        (pixel.addr + walk.offset)[:len(self.input_read.addr)]),
                    self.weight_read.en.eq(channel_active),
                    self.weight_read.addr.eq(w_read),
                ]
                m.d.sync += [
                    feeding.eq(1),
                    since_load.eq(0),
                    feed_pad.eq(~inside),
                    self.x.valid.eq(1),
                    self.x.row.eq(lane),
                    self.x.zero.eq(~pixel_valid),
                    self.x.active.eq(Mux(pixel_valid, rows_active, 0)),
                    self.x.last.eq(walk.last_block),
                    self.x.tag.valid.eq(pixel_valid & walk.last_block),
                    self.x.tag.addr.eq(pixel.out),
                    self.x.tag.first.eq(chunk.first),
                    self.w.cols.eq(Mux(channel_active, cols_active, 0)),
                    feed_macs.eq(Mux(pixel_valid, self.block_macs(walk), 0)),
                    feed_hops.eq(Mux(walk.last_block, lane_hops, 0)),
                    w_read.eq(w_read + channel_active),
                ]
                with m.If(lane != rows - 1):
                    m.d.sync += [lane.eq(lane + 1), lane_hops.eq(lane_hops + cols)]
                    pixel.next_to(pixel, -d.pad, chunk.h_start)
                with m.Elif(~walk.last_block):
                    group_start()
                    walk.step()
                with m.Else():
                    pixel.next_to(group, -d.pad, chunk.h_start)
                    m.d.sync += group_pixel.eq(group_pixel + rows)
                    with m.If(group_pixel + rows < chunk.tile_pixels):
                        m.next = "GROUP"
                    with m.Else():
                        m.d.comb += self.chunk_done.eq(1)
                        m.next = "IDLE"
        return m
