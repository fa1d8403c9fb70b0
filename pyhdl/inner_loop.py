"""What the layer sequencer and a dataflow's inner loop share: the chunk they hand over, the
loop's ports, and the two walkers every inner loop steps (reduction blocks, output pixels).

The sequencer (pyhdl/sequencer.py) walks images, tiles, output-channel groups, filter blocks
and weight chunks, and runs every DMA job.  For each chunk whose weights are in the weight
buffer it pulses `run` with the chunk's context; the inner loop then feeds the array every
reduction block of the chunk for every output pixel of the tile, in its dataflow's order, and
pulses `chunk_done` in the cycle it issues the chunk's last input.  A new dataflow or mode is
a new inner loop with these ports (`InnerLoop`), not new branches in the sequencer.
"""

from amaranth import Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import COORD_BITS, COUNT_BITS, EVENT_BITS, OFFSET_BITS
from models.registers import WORDS_BITS

from .csr import descriptor_layout

COORD = signed(COORD_BITS)
OFFSET = signed(OFFSET_BITS)


def chunk_layout(output_addr_bits):
    """One chunk, as the sequencer hands it to the inner loop (stable while the loop runs).

    first: the chunk is its filter block's first (its sums overwrite the output words).
    first_cb, last_cb: its channel blocks; red: its reduction blocks (taps x channel blocks).
    last_k: its filter block is the layer's last (k_last filters active).
    w_base: the weight-buffer word of the half holding it; shift_first: weight-stationary,
        the word of column cols-1's first reduction block (descriptor `shift_first`).
    out_base: output-buffer word of the tile's first pixel for this filter block;
        out_step: output-buffer words per pixel (the group's filter blocks).
    tile_rows, tile_pixels: the tile's output rows and pixels; h_start: input row of its
        first window (negative in the padding); window_base: input-buffer word of its first
        window at tap (0, 0), channel block 0 (negative into the padding).
    """
    return data.StructLayout({
        "first": 1,
        "first_cb": COUNT_BITS,
        "last_cb": COUNT_BITS,
        "red": COUNT_BITS,
        "last_k": 1,
        "w_base": WORDS_BITS,
        "shift_first": COUNT_BITS,
        "out_base": output_addr_bits,
        "out_step": COUNT_BITS,
        "tile_rows": COUNT_BITS,
        "tile_pixels": COUNT_BITS,
        "h_start": COORD,
        "window_base": OFFSET,
    })


def next_chunk_layout():
    """The chunk after the running one, as the sequencer offers it while the running one
    streams, for a weight-stationary loop to shift its first block's weights in early.

    ready: its weights are in the weight buffer (resident, or prefetched and in) and it
        follows in the same tile; combinational.
    w_start: the weight-buffer word of its first block's column cols-1 (w_base +
        shift_first); red: its reduction blocks; last_k: its filter block is the layer's
        last.  These three registered, valid from the second cycle of the running chunk.
    """
    return data.StructLayout({
        "ready": 1,
        "w_start": WORDS_BITS,
        "red": COUNT_BITS,
        "last_k": 1,
    })


def loop_events_layout():
    """This cycle's increments of the counters an inner loop drives."""
    return data.StructLayout({
        "busy_cycles": 1, "macs": EVENT_BITS, "macs_gated": EVENT_BITS,
        "rf_writes": EVENT_BITS, "array_transfers": EVENT_BITS,
    })


class InnerLoop(wiring.Component):
    """Base of the per-dataflow inner loops: the ports every one has.

    Ports:
        descriptor: In, the layer.  run: In(1), a pulse: start the chunk in `chunk`.
        chunk: In(chunk_layout), the chunk, stable from `run` to `chunk_done`.
        next_chunk: In(next_chunk_layout), the chunk after it (loops that shift weights
            may start its first block's shift early; the others leave it alone).
        chunk_done: Out(1), a pulse in the cycle the chunk's last input is issued.
        prefetch: Out(1), a pulse when the sequencer may fetch the next chunk's weights
            into the other half of the weight buffer (the current chunk is under way).
        idle: Out(1), nothing of this loop's is still in flight towards the outputs.
        input_read, weight_read: In(ReadPort.Signature), the buffers feeding the array.
        x: Out, the array's input; gated: In, the array's count of gated products.
        events: Out(loop_events_layout()), this cycle's counter increments.
    Subclasses add their array's weight and tag ports (`array_ports`) and set
    `separate_weight_reader` when weights come through a DMA reader of their own.
    """

    separate_weight_reader = False

    @staticmethod
    def array_ports(spec, array, output_addr_bits):
        """The ports, beyond the common ones, that drive this loop's array."""
        raise NotImplementedError

    def __init__(self, spec, array, input_addr_bits, weight_addr_bits, output_addr_bits):
        self.spec = spec
        self.array = array
        self.output_addr_bits = output_addr_bits
        super().__init__({
            "descriptor": In(descriptor_layout()),
            "run": In(1),
            "chunk": In(chunk_layout(output_addr_bits)),
            "next_chunk": In(next_chunk_layout()),
            "chunk_done": Out(1),
            "prefetch": Out(1),
            "idle": Out(1),
            "input_read": In(memory.ReadPort.Signature(
                addr_width=input_addr_bits, shape=spec.input_lanes * spec.operand_bits)),
            "weight_read": In(memory.ReadPort.Signature(
                addr_width=weight_addr_bits, shape=spec.weight_lanes * spec.operand_bits)),
            # A loop that holds its array inside (row-stationary) is given none.
            **({"x": Out(array.x.shape()), "gated": In(array.gated.shape())}
               if array is not None else {}),
            "events": Out(loop_events_layout()),
            **self.array_ports(spec, array, output_addr_bits),
        })

    def vector_macs(self, last_cb):
        """MACs of one input vector of the current chunk's filter block at a channel block
        that is (`last_cb`) or is not the layer's last: one of four descriptor values."""
        d, spec = self.descriptor, self.spec
        return Mux(self.chunk.last_k,
                   Mux(last_cb, d.macs_ck_last, d.macs_k_last),
                   Mux(last_cb, d.macs_c_last, spec.rows * spec.cols))

    def pad_vector(self):
        """An input word whose every operand is the descriptor's `pad_value`."""
        return self.descriptor.pad_value[:self.spec.operand_bits].replicate(self.spec.rows)


class ReductionWalk:
    """The reduction block an inner loop is at: kernel tap (tap_r, tap_s) and channel block
    cb, numbered `block` within the chunk, and `offset`, its input-buffer word offset from a
    window's tap (0, 0), block 0: tap_r * line_words + tap_s * c_blocks + cb, kept by adders
    as the walk steps (cb fastest, then tap_s, then tap_r).  Registers of module `m`."""

    def __init__(self, m, descriptor, chunk, name):
        self.m, self.d, self.chunk = m, descriptor, chunk
        self.tap_r = Signal(COUNT_BITS, name=f"{name}_tap_r")
        self.tap_s = Signal(COUNT_BITS, name=f"{name}_tap_s")
        self.cb = Signal(COUNT_BITS, name=f"{name}_cb")
        self.block = Signal(COUNT_BITS, name=f"{name}_block")
        self.row_words = Signal(OFFSET_BITS, name=f"{name}_row_words")   # tap_r * line_words
        self.col_words = Signal(OFFSET_BITS, name=f"{name}_col_words")   # tap_s * c_blocks
        self.offset = Signal(OFFSET, name=f"{name}_offset")
        self.last_block = self.block == chunk.red - 1
        self.last_cb = self.cb == descriptor.c_blocks - 1

    def restart(self):
        """Go to the chunk's first block."""
        first = self.chunk.first_cb
        self.m.d.sync += [self.tap_r.eq(0), self.tap_s.eq(0), self.cb.eq(first),
                          self.block.eq(0), self.row_words.eq(0), self.col_words.eq(0),
                          self.offset.eq(first)]

    def step(self):
        """Go to the chunk's next block."""
        m, d, chunk = self.m, self.d, self.chunk
        m.d.sync += self.block.eq(self.block + 1)
        with m.If(self.cb != chunk.last_cb):
            m.d.sync += [self.cb.eq(self.cb + 1), self.offset.eq(self.offset + 1)]
        with m.Elif(self.tap_s != d.s - 1):
            col_words = self.col_words + d.c_blocks
            m.d.sync += [self.cb.eq(chunk.first_cb), self.tap_s.eq(self.tap_s + 1),
                         self.col_words.eq(col_words),
                         self.offset.eq(self.row_words + col_words + chunk.first_cb)]
        with m.Else():
            row_words = self.row_words + d.line_words
            m.d.sync += [self.cb.eq(chunk.first_cb), self.tap_s.eq(0),
                         self.tap_r.eq(self.tap_r + 1), self.col_words.eq(0),
                         self.row_words.eq(row_words),
                         self.offset.eq(row_words + chunk.first_cb)]


class PixelWalk:
    """An output pixel of the tile and its window: output row within the tile and column,
    input coordinates (hh, ww) of the window's tap (0, 0) (plus the walk's tap offset), the
    input-buffer word `addr` of that tap and `row_addr` of the row's first window, and the
    output-buffer word `out`.  Registers of module `m`, stepped by adders only.

    A tile may span whole images (the input buffer holds them one after the other): after
    an image's last output row (`image_row`, descriptor `image_rows`) the window goes back to
    the image's first input row and on to the next image's words (`image_step_words`)."""

    FIELDS = ("row_in", "image_row", "col_out", "hh", "ww", "row_addr", "addr", "out")

    def __init__(self, m, descriptor, chunk, output_addr_bits, name):
        self.m, self.d, self.chunk = m, descriptor, chunk
        self.row_in = Signal(COUNT_BITS, name=f"{name}_row_in")
        self.image_row = Signal(COUNT_BITS, name=f"{name}_image_row")
        self.col_out = Signal(COUNT_BITS, name=f"{name}_col_out")
        self.hh = Signal(COORD, name=f"{name}_hh")
        self.ww = Signal(COORD, name=f"{name}_ww")
        self.row_addr = Signal(OFFSET, name=f"{name}_row_addr")
        self.addr = Signal(OFFSET, name=f"{name}_addr")
        self.out = Signal(output_addr_bits, name=f"{name}_out")
        self.last_col = self.col_out == descriptor.q - 1
        self.last_image_row = self.image_row == descriptor.image_rows - 1

    def registers(self):
        return [getattr(self, name) for name in self.FIELDS]

    def load(self, hh, ww, addr, out):
        """Start at the tile's first pixel, window tap at (hh, ww), word `addr`."""
        self.m.d.sync += [self.row_in.eq(0), self.image_row.eq(0), self.col_out.eq(0),
                          self.hh.eq(hh),
                          self.ww.eq(ww), self.row_addr.eq(addr), self.addr.eq(addr),
                          self.out.eq(out)]

    def copy_to(self, dst):
        self.m.d.sync += [a.eq(b) for a, b in zip(dst.registers(), self.registers())]

    def next_to(self, dst, ww_first, hh_first):
        """Assign `dst` the pixel after this one in tile order (row-major); a new output row
        starts at input column `ww_first`, a new image's first at input row `hh_first`."""
        m, d = self.m, self.d
        m.d.sync += dst.out.eq(self.out + self.chunk.out_step)
        with m.If(self.last_col):
            m.d.sync += [dst.col_out.eq(0), dst.row_in.eq(self.row_in + 1),
                         dst.ww.eq(ww_first)]
            with m.If(self.last_image_row):
                row_addr = self.row_addr + d.image_step_words
                m.d.sync += [dst.image_row.eq(0), dst.hh.eq(hh_first),
                             dst.row_addr.eq(row_addr), dst.addr.eq(row_addr)]
            with m.Else():
                row_addr = self.row_addr + d.row_step
                m.d.sync += [dst.image_row.eq(self.image_row + 1), dst.hh.eq(self.hh + d.stride),
                             dst.row_addr.eq(row_addr), dst.addr.eq(row_addr)]
        with m.Else():
            m.d.sync += [dst.col_out.eq(self.col_out + 1), dst.row_in.eq(self.row_in),
                         dst.image_row.eq(self.image_row),
                         dst.hh.eq(self.hh), dst.ww.eq(self.ww + d.stride),
                         dst.row_addr.eq(self.row_addr), dst.addr.eq(self.addr + d.col_step)]

    def inside(self, tap_r=0, tap_s=0):
        """The window's tap (tap_r, tap_s) lies inside the image (not in the padding)."""
        hh, ww = self.hh + tap_r, self.ww + tap_s
        return (hh >= 0) & (hh < self.d.h) & (ww >= 0) & (ww < self.d.w)
