"""The weight-stationary inner loop with few-channel layers' kernel taps folded into the array
rows (models/tap_fold.py has the mapping and the formulas)."""

from amaranth import Array, Cat, Mux, Signal, signed

from models.hardware import COUNT_BITS
from models.spec import FOLD_LINE_WORDS

from .ws_loop import WeightStationaryLoop

POS = signed(17)
"""Element positions within a packed input row (negative in the left padding)."""


class TapFoldLoop(WeightStationaryLoop):
    """A `WeightStationaryLoop` that also runs layers whose descriptor sets `fold`: X packed,
    one buffer row of w x c elements per input row, and each reduction block either a kernel
    row and a segment of `input_lanes` elements of the window's s x c run in that row
    (`fold_rows` 1, streamed), or `fold_rows` kernel rows whose runs take lane groups of the
    input word each (from the line buffer; `ArchSpec.fold_lane_groups` has their widths).

    Streamed, the segment of output pixel q starts at element fold_first_pos + q fold_step
    (+ `input_lanes` per segment) of its row, inside the two buffer words `addr` and
    `addr + 1` at element `shift` of the first.  Each output row starts with a cycle that reads its first
    word (PRIME); then every cycle reads the upper word of a pixel, the lower one being the
    word held from before (the upper word of a pixel the window has stepped past, or the
    primed one).  From the line buffer (`ArchSpec.fold_line_rows` rows of FOLD_LINE_WORDS
    words),
    each output row starts with `fold_words` reads per kernel row of the block (PRIME), one a
    cycle, into the buffer's rows; the pixels then stream without reads, each row's two
    first words being its window's, and all rows moving on a word when the window steps past
    one.  The vector is the two words shifted by `shift` elements, per lane group, with
    `pad_value` in the elements outside the row or on a padded row: a multiplexer steered by
    the shift registered one-hot (`fold_feed_select`), so each of its bits drives only its
    own shift's gates in every window, not a decode of the shift that fans out to all of them
    (on a 2:4 array the windows take 64 + 4 x 32 operands of 32 lanes).  Positions
    and words step by adders and compares from the descriptor's `fold_*` fields (stride x c
    at most rows, so a window steps at most one word).  Words and segments are `input_lanes`
    elements: `rows` on a dense array; on a 2:4 array twice that, of which a folded dense
    layer (S x C at most `rows`, one segment, or its lane groups) uses the first `rows`, fed
    in dense lanes (pyhdl/sparse_loop.py), and a 2:4 layer all, its lane groups whole groups
    of four.

    Latency and counts as WeightStationaryLoop's, plus per output row of every reduction
    block `fold_words` cycles and input-buffer reads (on real input rows) per kernel row.
    """

    def tap_fold(self, m, walk, pixel):
        return _FoldWalk(self, m, walk, pixel)

    def block_macs(self, walk):
        """A folded layer's last block of kernel rows may have fewer of them."""
        d = self.descriptor
        last_rows = d.fold & (walk.tap_r == d.taps - 1) & walk.last_cb
        return Mux(last_rows, Mux(self.chunk.last_k, d.fold_macs_gk_last, d.fold_macs_g_last),
                   super().block_macs(walk))


class _FoldWalk:
    """The folded layers' registers of a TapFoldLoop's module `m`, stepped beside the
    reduction walk `walk` and the pixel walk `pixel`."""

    def __init__(self, loop, m, walk, pixel):
        self.loop, self.m, self.walk, self.pixel = loop, m, walk, pixel
        self.d, self.spec = loop.descriptor, loop.spec
        d, lanes, word = self.d, self.spec.input_lanes, self.loop.input_read.data.shape()
        self.regions = self.spec.fold_line_rows
        self.shift = Signal(range(lanes), name="fold_shift")
        self.pos = Signal(POS, name="fold_pos")            # the segment's first element
        self.segment_pos = Signal(POS, name="fold_segment_pos")   # ... at output column 0
        self.held = Signal(word, name="fold_held")
        self.primed = Signal(name="fold_primed")            # the primed word arrives
        self.feed_select = Signal(lanes, name="fold_feed_select")   # the shift, one-hot
        self.feed_mask = Signal(lanes, name="fold_feed_mask")
        self.feed_advance = Signal(name="fold_feed_advance")   # the next pixel's lower word
        self.kernel_row = Signal(COUNT_BITS, name="fold_kernel_row")   # the block's first
        self.block_rows = Signal(8, name="fold_block_rows")   # kernel rows of this block
        self.prime_row = Signal(8, name="fold_prime_row")
        self.prime_word = Signal(8, name="fold_prime_word")
        self.write = Signal(name="fold_line_write")         # a primed word arrives ...
        self.write_row = Signal.like(self.prime_row, name="fold_write_row")   # for this row
        self.write_word = Signal.like(self.prime_word, name="fold_write_word")
        # Layer constants (the descriptor is written before `start`).
        self.multirow = Signal(name="fold_multirow", reset_less=True)
        self.row_skip = Signal(POS, name="fold_row_skip", reset_less=True)
        self.option = {(n, sparse, width): Signal(name=f"fold_rows_is_{n}{'_2to4' * sparse}",
                                                  reset_less=True)
                       for n, sparse, width in self.spec.fold_lane_groups}
        m.d.sync += [self.multirow.eq(d.fold_rows != 1),
                     self.row_skip.eq(d.fold_line_words - d.fold_words + 1),
                     *(flag.eq(self.chooses(n, sparse))
                       for (n, sparse, _), flag in self.option.items())]
        self.line = [[Signal(word, name=f"fold_line_{j}_{w}") for w in range(FOLD_LINE_WORDS)]
                     for j in range(self.regions)] if self.regions > 1 else []
        self.region_inside = [(pixel.hh + j >= 0) & (pixel.hh + j < d.h)
                              for j in range(self.regions)]
        self.row_inside = self.region_inside[0]
        m.d.sync += self.write.eq(0)
        with m.If(self.write):
            for j, line in enumerate(self.line):
                for w, slot in enumerate(line):
                    with m.If((self.write_row == j) & (self.write_word == w)):
                        m.d.sync += slot.eq(loop.input_read.data)

    def chooses(self, fold_rows, sparse):
        """Whether the layer's blocks take `fold_rows` kernel rows as a 2:4 (`sparse`) or
        dense layer (on a dense array every layer is dense)."""
        d = self.d
        if not self.spec.skips_weights:
            return d.fold_rows == fold_rows
        return (d.fold_rows == fold_rows) & (d.dense_lanes != sparse)

    def block_row(self):
        """The first kernel row of the block the walk is at."""
        return Mux(self.d.fold, self.kernel_row, self.walk.tap_r)

    def restart(self):
        self.m.d.sync += [self.segment_pos.eq(self.d.fold_first_pos), self.kernel_row.eq(0)]

    def start_block(self):
        """In the cycle the block's weights commit: its first pixel's words and element."""
        m, d, pixel = self.m, self.d, self.pixel
        with m.If(d.fold):
            addr = self.loop.chunk.window_base + self.walk.offset + d.fold_first_word
            last = self.walk.tap_r == d.taps - 1
            m.d.sync += [pixel.addr.eq(addr), pixel.row_addr.eq(addr),
                         self.shift.eq(d.fold_first_shift), self.pos.eq(self.segment_pos),
                         self.block_rows.eq(Mux(last, d.fold_rows_last, d.fold_rows)),
                         self.prime_row.eq(0), self.prime_word.eq(0)]
            m.next = "PRIME"

    def prime(self):
        """An output row's first cycles: read its first window's lower word (streamed), or
        the words of each of the block's input rows into the line buffer."""
        m, d, pixel, read = self.m, self.d, self.pixel, self.loop.input_read
        inside = (Array(self.region_inside)[self.prime_row] if self.regions > 1
                  else self.row_inside)
        m.d.comb += [read.en.eq(inside), read.addr.eq(self.buffer_word(pixel.addr))]
        m.d.sync += [self.write.eq(1), self.write_row.eq(self.prime_row),
                     self.write_word.eq(self.prime_word)]
        last_word = self.prime_word == d.fold_words - 1
        with m.If(self.multirow):
            m.d.sync += pixel.addr.eq(pixel.addr + Mux(last_word, self.row_skip, 1))
        with m.If(last_word):
            m.d.sync += [self.prime_word.eq(0), self.prime_row.eq(self.prime_row + 1)]
            with m.If(self.prime_row == self.block_rows - 1):
                m.d.sync += [self.primed.eq(1), self.prime_row.eq(0)]
                m.next = "STREAM"
        with m.Else():
            m.d.sync += self.prime_word.eq(self.prime_word + 1)

    def issue(self, feeding, last_pixel):
        """In a STREAM cycle of a folded layer (overriding the dense walk): read the pixel's
        upper word (streamed), register its shift and element mask, step to the next pixel."""
        m, d, pixel, spec = self.m, self.d, self.pixel, self.spec
        word, read = spec.input_lanes, self.loop.input_read
        stepped = self.shift + d.fold_step
        advance = stepped >= word
        with m.If(self.primed):
            m.d.sync += self.held.eq(read.data)
        with m.Elif(feeding & self.feed_advance):
            m.d.sync += self.held.eq(read.data)
            # The line buffer's rows move on a word (never while a primed word arrives).
            for line in self.line:
                m.d.sync += [a.eq(b) for a, b in zip(line, line[1:])]
        m.d.sync += self.primed.eq(0)
        with m.If(d.fold):
            upper = pixel.addr + 1
            m.d.comb += [read.en.eq(self.row_inside & ~self.multirow),
                         read.addr.eq(self.buffer_word(upper))]
            m.d.sync += [self.feed_select.eq(Cat(self.shift == i for i in range(word))),
                         self.feed_mask.eq(self.lane_mask()),
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
                    m.d.sync += [self.segment_pos.eq(d.fold_first_pos),
                                 self.kernel_row.eq(self.kernel_row + d.fold_rows)]

    def lane_groups(self):
        """For each choice of kernel rows a block (1, then the line buffer's choices): its
        flag and, per lane (of an input word), the (row, element) it takes, or None."""
        lanes = self.spec.input_lanes
        yield None, [(0, i) for i in range(lanes)]
        for (n, _, width), flag in self.option.items():
            yield flag, [(i // width, i % width) if i // width < n else None
                         for i in range(lanes)]

    def select(self, per_lane):
        """Per lane, the value `per_lane(row, element)` of the layer's lane groups: the chosen
        group's where the layer's flag gives the lane one, else the one-row block's.  The
        flags are exclusive (layer constants), so an AND-OR of them, a balanced tree."""
        (_, single), *choices = self.lane_groups()
        lanes = []
        for i, group in enumerate(single):
            taken = [(flag, per_lane(*groups[i])) for flag, groups in choices
                     if groups[i] is not None]
            value = per_lane(*group)
            if taken:
                flags = Cat(flag for flag, _ in taken)
                value = Mux(flags.any(), one_hot_select(flags, [v for _, v in taken]), value)
            lanes.append(value)
        return lanes

    def lane_mask(self):
        """The lanes on a real element: their row inside the image, their element inside it."""
        d = self.d
        in_row = [(self.pos + e >= 0) & (self.pos + e < d.c)
                  for e in range(self.spec.input_lanes)]
        return Cat(*self.select(lambda j, e: self.region_inside[j] & in_row[e]))

    def buffer_word(self, addr):
        """The input-buffer word read for word `addr` of a folded row: a window hanging over
        the row's left edge (or the band's last word) names a word before the buffer's first
        (or after its last) whose elements are all masked to `pad_value`; the read still
        happens (the model counts it), at the buffer's first (last) word instead."""
        bits = len(self.loop.input_read.addr)
        last = self.spec.input_words - 1
        return Mux(addr < 0, 0, Mux(addr > last, last, addr[:bits]))

    def vector(self, feed_pad):
        """The array's input: a folded layer's shifted, masked lane groups, or the dense
        word."""
        loop, spec = self.loop, self.spec
        word, bits = spec.input_lanes, spec.operand_bits
        data = loop.input_read.data
        streamed = Cat(self.held, data)
        sources = [Mux(self.multirow, Cat(*self.line[0]), streamed) if self.line else streamed]
        sources += [Cat(*line) for line in self.line[1:]]
        shifted = []
        for j, both in enumerate(sources):
            width = word if j == 0 else word // 2
            window = Signal(width * bits, name=f"fold_shifted_{j}")
            self.m.d.comb += window.eq(one_hot_select(
                self.feed_select, [both[i * bits:(i + width) * bits] for i in range(word)]))
            shifted.append(window)
        pad = loop.descriptor.pad_value[:bits]
        values = self.select(lambda j, e: shifted[j][e * bits:(e + 1) * bits])
        folded = Cat(*(Mux(self.feed_mask[i], value, pad) for i, value in enumerate(values)))
        return Mux(loop.descriptor.fold, folded, Mux(feed_pad, loop.pad_vector(), data))


def one_hot_select(select, options):
    """The option whose bit of the one-hot `select` is set: an AND-OR, each select bit gating
    its own option's bits only, the OR a balanced tree (log2 of the options deep)."""
    terms = [option & select[i].replicate(len(option)) for i, option in enumerate(options)]
    while len(terms) > 1:
        pairs = [a | b for a, b in zip(terms[0::2], terms[1::2])]
        terms = pairs + terms[2 * len(pairs):]
    return terms[0]
