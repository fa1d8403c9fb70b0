"""The weight-stationary inner loop with depthwise layers across the whole array
(models/depthwise.py has the mapping and the formulas)."""

from amaranth import Module, Mux, Signal
from amaranth.lib.wiring import Out

from models.hardware import COUNT_BITS

from .inner_loop import COORD, InnerLoop
from .tap_fold_loop import TapFoldLoop

LINE_PORTS = ("dw_new_row", "dw_mid_row", "dw_line_last", "dw_step")
"""The array's line-buffer ports (pyhdl/depthwise_array.py), driven by this loop."""


class DepthwiseLoop(InnerLoop):
    """Runs a layer whose descriptor sets `depthwise` on a `DepthwiseSystolicArray`, and any
    other through the `TapFoldLoop` inside it.

    A depthwise layer's descriptor describes each output row to the loop inside as `q`
    (= dw_q + dw_s - 1) pixels of a 1 x 1 kernel and each filter block as one chunk of `r`
    reduction blocks (kernel rows), so it streams every pixel of an output row's input row
    one a cycle (`pad_value` over the padding) after each block's weights commit.  This loop
    presents those words to the array as they come and issues the window of output column j
    one cycle after pixel j (x.valid, slot and tag registered once more), for j < dw_q: the
    array's input skew and registered lane select then give PE (i, c) pixel j + i, channel c
    of the filter block (pyhdl/depthwise_array.py).  The chunk's channel block (the input
    word holding the block's channels) and lane group follow the filter blocks, which the
    sequencer runs in order from block 0 for every tile.

    With the line buffer (`dw_line`), a filter block is one block of all r x s taps, and the
    loop inside sees each tile as its band of (tile rows - 1) stride + r input rows (the
    descriptor steps them a row apart), streamed back to back; the windows then come from a
    countdown of stream cycles (`dw_first_window`, then stride or `dw_row_gap` + 1 apart,
    dw_q a row for the tile's rows), not from the pixel's column, and the array's line
    buffer steps while the block's words pass its lane select (`dw_step`: the cycle after
    each presented pixel and `cols` - 1 more).

    Ports (besides TapFoldLoop's): depthwise, dw_lane, dw_rows, dw_cols: Out, the array's
    depthwise mode; with the line buffer dw_new_row, dw_mid_row, dw_line_last, dw_step.
    Latency: TapFoldLoop's; a depthwise block streams dw_q + dw_s - 1 cycles per output row
    (with the line buffer, q + s - 1 per streamed row).
    Counts (depthwise): a busy cycle and dw_s x the active columns of MACs per window, the
    array's gated products of every cycle, the dense loop's register-file writes, and
    2 rows x cols transfers per window besides the weight shifts.
    """

    @staticmethod
    def array_ports(spec, array, output_addr_bits):
        line = {name: Out(getattr(array, name).shape())
                for name in LINE_PORTS} if spec.depthwise_line_rows else {}
        return {
            **TapFoldLoop.array_ports(spec, array, output_addr_bits),
            "depthwise": Out(1),
            "dw_lane": Out(array.dw_lane.shape()),
            "dw_rows": Out(array.dw_rows.shape()),
            "dw_cols": Out(array.dw_cols.shape()),
            **line,
        }

    def elaborate(self, platform):
        m = Module()
        spec, d, chunk = self.spec, self.descriptor, self.chunk
        rows, cols = spec.rows, spec.cols
        m.submodules.dense = dense = TapFoldLoop(
            spec, self.array, len(self.input_read.addr), len(self.weight_read.addr),
            self.output_addr_bits)

        # --- the channel block and lane group of each chunk (filter block) ---------------
        lane_groups = spec.input_lanes // cols
        cb, next_cb = Signal(COUNT_BITS), Signal(COUNT_BITS)
        lane, next_lane = Signal.like(self.dw_lane), Signal.like(self.dw_lane)
        with m.If(self.run):
            m.d.sync += [cb.eq(next_cb), lane.eq(next_lane)]
            with m.If(chunk.last_k):
                m.d.sync += [next_cb.eq(0), next_lane.eq(0)]
            with m.Elif(next_lane == lane_groups - 1):
                m.d.sync += [next_cb.eq(next_cb + 1), next_lane.eq(0)]
            with m.Else():
                m.d.sync += next_lane.eq(next_lane + 1)
        chunk_cb = Mux(self.run, next_cb, cb)

        m.d.comb += [
            dense.descriptor.eq(d),
            dense.run.eq(self.run),
            dense.chunk.eq(chunk),
            dense.next_chunk.eq(self.next_chunk),
            self.chunk_done.eq(dense.chunk_done),
            self.prefetch.eq(dense.prefetch),
            self.input_read.en.eq(dense.input_read.en),
            self.input_read.addr.eq(dense.input_read.addr),
            dense.input_read.data.eq(self.input_read.data),
            self.weight_read.en.eq(dense.weight_read.en),
            self.weight_read.addr.eq(dense.weight_read.addr),
            dense.weight_read.data.eq(self.weight_read.data),
            dense.gated.eq(self.gated),
            self.x.eq(dense.x),
            self.events.eq(dense.events),
            self.w_data.eq(dense.w_data),
            self.w_shift.eq(dense.w_shift),
            self.w_commit.eq(dense.w_commit),
            self.w_slot.eq(dense.w_slot),
            self.tag.eq(dense.tag),
            self.idle.eq(dense.idle),
            self.dw_lane.eq(lane),
            self.dw_rows.eq(d.dw_s),
            self.dw_cols.eq(Mux(chunk.last_k, d.k_last, cols)),
        ]
        depthwise = Signal()
        m.d.sync += depthwise.eq(d.depthwise)
        m.d.comb += self.depthwise.eq(depthwise)
        e = self.events

        # --- the stream of an output row's pixels, as the loop inside reads them ----------
        # It sees no padding (pad 0, rows and columns without end, tiles from row 0) and
        # steps one pixel at a time; this loop keeps the real coordinates of the pixel it
        # reads, whether it lies in the padding, and whether it starts a window.
        stream = dense.input_read.en
        line = Signal(reset_less=True)         # a layer constant: the line buffer
        m.d.sync += line.eq(d.dw_line)
        column = Signal(COUNT_BITS)            # the pixel within the row: w coordinate + pad
        phase = Signal(8)                      # column - window * stride
        window_index = Signal(COUNT_BITS)
        hh, first_hh = Signal(COORD), Signal(COORD)
        image_row = Signal(COUNT_BITS)
        block_tap = Signal(COUNT_BITS)         # kernel row of the next block
        pad_end = Signal(COUNT_BITS + 1, reset_less=True)    # pad + w, a layer constant
        m.d.sync += pad_end.eq(d.pad + d.w)
        row_end = column == d.q - 1
        with m.If(self.run):
            m.d.sync += block_tap.eq(0)
        with m.If(dense.w_commit):
            block_hh = chunk.h_start + block_tap
            m.d.sync += [block_tap.eq(block_tap + 1), hh.eq(block_hh), first_hh.eq(block_hh),
                         image_row.eq(0)]
        with m.Elif(stream & row_end):
            with m.If((image_row == d.image_rows - 1) & ~line):
                m.d.sync += [image_row.eq(0), hh.eq(first_hh)]
            with m.Else():
                m.d.sync += [image_row.eq(image_row + 1),
                             hh.eq(hh + Mux(line, 1, d.stride))]
        with m.If(stream & depthwise):
            with m.If(row_end):
                m.d.sync += [column.eq(0), phase.eq(0), window_index.eq(0)]
            with m.Else():
                m.d.sync += column.eq(column + 1)
                with m.If(phase == d.stride - 1):
                    m.d.sync += [phase.eq(0), window_index.eq(window_index + 1)]
                with m.Else():
                    m.d.sync += phase.eq(phase + 1)
        inside = ((hh >= 0) & (hh < d.h) & (column >= d.pad) & (column < pad_end))
        starts = Mux(line, self.line_windows(m, stream, dense.w_commit),
                     (phase == 0) & (window_index < d.dw_q))
        padding = Signal()
        starting = Signal()                    # the pixel presented now starts a window
        m.d.sync += [padding.eq(~inside), starting.eq(stream & starts)]

        # --- windows: issued (and tagged) one cycle after their first pixel ---------------
        out = Signal.like(dense.tag.addr)      # the next window's output word
        fresh = Signal()                       # no window of the block issued yet
        with m.If(dense.w_commit):
            m.d.sync += fresh.eq(1)
        with m.Elif(starting):
            m.d.sync += fresh.eq(0)
        window_out = Mux(fresh, chunk.out_base, out)
        with m.If(starting):
            m.d.sync += out.eq(window_out + chunk.out_step)
        window = Signal()
        window_macs = Signal.like(e.macs)
        window_slot = Signal.like(self.x.slot)
        window_tag = Signal.like(self.tag)
        m.d.sync += [window.eq(starting), window_slot.eq(dense.x.slot),
                     window_macs.eq(Mux(starting, Mux(chunk.last_k, d.macs_k_last,
                                                      d.macs_c_last), 0)),
                     window_tag.valid.eq(starting), window_tag.addr.eq(window_out),
                     window_tag.first.eq(dense.tag.first)]
        if spec.depthwise_line_rows:
            self.drive_line_buffer(m, line, stream)
        with m.If(line):
            m.d.comb += [dense.chunk.tile_rows.eq(self.band_rows(m)),
                         dense.descriptor.image_rows.eq(-1)]
        with m.If(depthwise):
            m.d.comb += [
                dense.descriptor.pad.eq(0),
                dense.descriptor.stride.eq(1),
                dense.descriptor.h.eq(-1),
                dense.descriptor.w.eq(-1),
                dense.chunk.h_start.eq(0),
                dense.chunk.first_cb.eq(chunk_cb),
                dense.chunk.last_cb.eq(chunk_cb),
                self.input_read.en.eq(stream & inside),
                self.x.values.eq(Mux(padding, self.pad_vector(), self.input_read.data)),
                self.x.valid.eq(window),
                self.x.slot.eq(window_slot),
                self.tag.eq(window_tag),
                self.idle.eq(dense.idle & ~window),
                e.busy_cycles.eq(window),
                e.macs.eq(window_macs),
                e.macs_gated.eq(self.gated),
                e.array_transfers.eq(Mux(window, 2 * rows * cols, 0)
                                     + Mux(self.w_shift, rows * cols, 0)),
            ]
        return m

    def band_rows(self, m):
        """The input rows of the chunk's tile, (tile rows - 1) stride + r (stride 1 or 2),
        registered (the loop inside reads them only once streaming)."""
        d, chunk = self.descriptor, self.chunk
        rows = Signal.like(chunk.tile_rows, name="dw_band_rows")
        doubled = Mux(d.stride == 2, chunk.tile_rows << 1, chunk.tile_rows)
        m.d.sync += rows.eq(doubled + d.dw_band_extra)
        return rows

    def line_windows(self, m, stream, commit):
        """Whether the stream cycle now (`stream`) starts a window, with the line buffer: a
        countdown of stream cycles from each block's `commit` to its first window, then to
        each next one, dw_q windows a row for the chunk's rows."""
        d, chunk = self.descriptor, self.chunk
        wait = Signal(COUNT_BITS, name="dw_window_wait")
        column = Signal(COUNT_BITS, name="dw_window_column")
        rows_done = Signal(COUNT_BITS, name="dw_window_rows")
        issuing = (wait == 0) & (rows_done != chunk.tile_rows)
        with m.If(commit):
            m.d.sync += [wait.eq(d.dw_first_window), column.eq(0), rows_done.eq(0)]
        with m.Elif(stream & issuing):
            with m.If(column == d.dw_q - 1):
                m.d.sync += [column.eq(0), rows_done.eq(rows_done + 1), wait.eq(d.dw_row_gap)]
            with m.Else():
                m.d.sync += [column.eq(column + 1), wait.eq(d.stride - 1)]
        with m.Elif(stream & (wait != 0)):
            m.d.sync += wait.eq(wait - 1)
        return issuing

    def drive_line_buffer(self, m, line, stream):
        """The array's line-buffer ports: its rows' sources and ring length (layer
        constants), and a step in each of the `cols` cycles after a pixel is presented (the
        cycle after its read): while any column's lane delay holds a word of the block."""
        d, cols = self.descriptor, self.spec.cols
        presented = Signal(name="dw_presented")
        tail = Signal(range(cols + 1), name="dw_line_tail")
        m.d.sync += presented.eq(stream & line)
        with m.If(presented):
            m.d.sync += tail.eq(cols)
        with m.Elif(tail != 0):
            m.d.sync += tail.eq(tail - 1)
        m.d.comb += [
            self.dw_new_row.eq(Mux(line, d.dw_new_row, 0)),
            self.dw_mid_row.eq(d.dw_mid_row),
            self.dw_line_last.eq(d.dw_line_last),
            self.dw_step.eq(tail != 0),
        ]
