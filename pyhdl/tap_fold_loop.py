"""The weight-stationary inner loop with few-channel layers' kernel taps folded into the array
rows (models/tap_fold.py has the mapping and the formulas)."""

from amaranth import Array, Cat, Mux, Signal, signed

from .ws_loop import WeightStationaryLoop

POS = signed(17)
"""Element positions within a packed input row (negative in the left padding)."""


class TapFoldLoop(WeightStationaryLoop):
    """A `WeightStationaryLoop` that also runs layers whose descriptor sets `fold`: X packed,
    one buffer row of w x c elements per input row, and each reduction block a kernel row and
    a segment of `rows` elements of the window's s x c run in that row.

    The segment of output pixel q starts at element fold_first_pos + q fold_step (+ rows per
    segment) of its row, inside the two buffer words `addr` and `addr + 1` at element `shift`
    of the first.  Each output row starts with a cycle that reads its first word (PRIME);
    then every cycle reads the upper word of a pixel, the lower one being the word held from
    before (the upper word of a pixel the window has stepped past, or the primed one).  The
    vector is the two words shifted by `shift` elements (a multiplexer), with `pad_value` in
    the elements outside the row or on a padded row.  Positions and words step by adders and
    compares from the descriptor's `fold_*` fields (stride x c at most rows, so a window steps
    at most one word).  Words and segments are `input_lanes` elements: `rows` on a dense
    array; on a 2:4 array twice that, of which a folded layer (S x C at most `rows`, one
    segment) uses the first `rows`, fed in dense lanes (pyhdl/sparse_loop.py).

    Latency and counts as WeightStationaryLoop's, plus one cycle and one input-buffer read
    (on a real input row) per output row of every reduction block.
    """

    def tap_fold(self, m, walk, pixel):
        return _FoldWalk(self, m, walk, pixel)


class _FoldWalk:
    """The folded layers' registers of a TapFoldLoop's module `m`, stepped beside the
    reduction walk `walk` and the pixel walk `pixel`."""

    def __init__(self, loop, m, walk, pixel):
        self.loop, self.m, self.walk, self.pixel = loop, m, walk, pixel
        self.d, self.spec = loop.descriptor, loop.spec
        word = self.spec.input_lanes
        self.shift = Signal(range(word), name="fold_shift")
        self.pos = Signal(POS, name="fold_pos")            # the segment's first element
        self.segment_pos = Signal(POS, name="fold_segment_pos")   # ... at output column 0
        self.held = Signal(self.loop.input_read.data.shape(), name="fold_held")
        self.primed = Signal(name="fold_primed")            # the primed word arrives
        self.feed_shift = Signal.like(self.shift, name="fold_feed_shift")
        self.feed_mask = Signal(word, name="fold_feed_mask")
        self.feed_advance = Signal(name="fold_feed_advance")   # the next pixel's lower word
        self.row_inside = (pixel.hh >= 0) & (pixel.hh < self.d.h)

    def restart(self):
        self.m.d.sync += self.segment_pos.eq(self.d.fold_first_pos)

    def start_block(self):
        """In the cycle the block's weights commit: its first pixel's words and element."""
        m, d, pixel = self.m, self.d, self.pixel
        with m.If(d.fold):
            addr = self.loop.chunk.window_base + self.walk.offset + d.fold_first_word
            m.d.sync += [pixel.addr.eq(addr), pixel.row_addr.eq(addr),
                         self.shift.eq(d.fold_first_shift), self.pos.eq(self.segment_pos)]
            m.next = "PRIME"

    def prime(self):
        """An output row's first cycle: read its first window's lower word."""
        m, read = self.m, self.loop.input_read
        m.d.comb += [read.en.eq(self.row_inside), read.addr.eq(self.buffer_word(self.pixel.addr))]
        m.d.sync += self.primed.eq(1)
        m.next = "STREAM"

    def issue(self, feeding, last_pixel):
        """In a STREAM cycle of a folded layer (overriding the dense walk): read the pixel's
        upper word, register its shift and element mask, step to the next pixel."""
        m, d, pixel, spec = self.m, self.d, self.pixel, self.spec
        word, read = spec.input_lanes, self.loop.input_read
        stepped = self.shift + d.fold_step
        advance = stepped >= word
        with m.If(self.primed):
            m.d.sync += self.held.eq(read.data)
        with m.Elif(feeding & self.feed_advance):
            m.d.sync += self.held.eq(read.data)
        m.d.sync += self.primed.eq(0)
        with m.If(d.fold):
            upper = pixel.addr + 1
            m.d.comb += [read.en.eq(self.row_inside), read.addr.eq(self.buffer_word(upper))]
            lanes = [self.row_inside & (self.pos + i >= 0) & (self.pos + i < d.c)
                     for i in range(word)]
            m.d.sync += [self.feed_shift.eq(self.shift), self.feed_mask.eq(Cat(*lanes)),
                         self.feed_advance.eq(advance)]
            with m.If(pixel.last_col):
                m.d.sync += [self.shift.eq(d.fold_first_shift), self.pos.eq(self.segment_pos)]
                with m.If(~last_pixel):
                    m.next = "PRIME"
            with m.Else():
                m.d.sync += [self.pos.eq(self.pos + d.fold_step),
                             self.shift.eq(Mux(advance, stepped - word, stepped)),
                             pixel.addr.eq(pixel.addr + advance)]
            with m.If(last_pixel):
                with m.If(self.walk.cb != self.loop.chunk.last_cb):
                    m.d.sync += self.segment_pos.eq(self.segment_pos + word)
                with m.Else():
                    m.d.sync += self.segment_pos.eq(d.fold_first_pos)

    def buffer_word(self, addr):
        """The input-buffer word read for word `addr` of a folded row: a window hanging over
        the row's left edge (or the band's last word) names a word before the buffer's first
        (or after its last) whose elements are all masked to `pad_value`; the read still
        happens (the model counts it), at the buffer's first (last) word instead."""
        bits = len(self.loop.input_read.addr)
        last = self.spec.input_words - 1
        return Mux(addr < 0, 0, Mux(addr > last, last, addr[:bits]))

    def vector(self, feed_pad):
        """The array's input: a folded layer's shifted, masked words, or the dense word."""
        loop, spec = self.loop, self.spec
        word, bits = spec.input_lanes, spec.operand_bits
        data = loop.input_read.data
        both = Cat(self.held, data)
        shifted = Signal(word * bits, name="fold_shifted")
        self.m.d.comb += shifted.eq(
            Array(both[i * bits:(i + word) * bits] for i in range(word))[self.feed_shift])
        pad = loop.descriptor.pad_value[:bits]
        folded = Cat(*(Mux(self.feed_mask[i], shifted[i * bits:(i + 1) * bits], pad)
                       for i in range(word)))
        return Mux(loop.descriptor.fold, folded, Mux(feed_pad, loop.pad_vector(), data))
