"""The row-stationary inner loop (`RowStationaryLoop`, issue 14) and its parts: the walk of a pass's input-bus words
over the input buffer (`RowStationaryInputWalk`) and the bus source that reads them
(`RowStationaryInputFeed`), the filter buses' source (`RowStationaryFilterFeed`), the
gathering of the psum columns' sums into output-buffer words (`RowStationaryPsumCollector`)
and the walk over a chunk's passes that configures and starts them (`RowStationaryPassWalk`).

The input buffer holds a tile's band as the other dataflows load it (pyhdl/sequencer.py): a
pixel is `c_blocks` words of `rows` channels, a row `line_words` words.  The row-stationary
array takes one operand a cycle on its diagonal input bus, so each bus word is one lane of
an input-buffer word, or the padding value where the window hangs over the image's edge.
"""

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import COORD_BITS, COUNT_BITS, EVENT_BITS, OFFSET_BITS
from models.registers import WORDS_BITS

from .inner_loop import InnerLoop
from .interfaces import tag_layout
from .rs_array import Place, RowStationaryPEArray, array_events_layout, pass_layout
from .rs_pe import NestedCount


def input_walk_layout(rows, cols, taps_bits=8):
    """One pass's input walk, stable from `start` until `busy` falls (the loop computes every
    product in it by adders, or takes it from the descriptor).

    outputs F, taps S, step min(U, S), stride U; fold_len / strip_len: the pass's filter rows
    and output rows; vertical_sets, channels q per set and channels_last of the last set;
    first_lane / first_block: lane and word of the pass's first channel in a pixel's blocks;
    q_lanes / q_blocks: q mod rows and q div rows; row_addr: input-buffer word of the pass's
    first padded row at padded column 0, block 0 (negative into the padding); row_hh: that
    row in the image (negative in the padding); line_words, c_blocks: words per input row and
    per pixel; row_step: U * line_words; col_skip = max(U - S, 0) and col_skip_words =
    col_skip * c_blocks: columns no window of the row uses between two outputs; h, w, pad:
    the image and its padding."""
    return data.StructLayout({
        "outputs": COUNT_BITS, "taps": taps_bits, "step": taps_bits, "stride": taps_bits,
        "fold_len": range(1, rows + 1), "strip_len": range(1, cols + 1),
        "vertical_sets": range(1, rows + 1), "channels": COUNT_BITS,
        "channels_last": COUNT_BITS, "first_lane": range(rows), "first_block": COUNT_BITS,
        "q_lanes": range(rows), "q_blocks": COUNT_BITS,
        "row_addr": signed(OFFSET_BITS), "row_hh": signed(COORD_BITS),
        "line_words": WORDS_BITS, "c_blocks": COUNT_BITS, "row_step": WORDS_BITS,
        "col_skip": taps_bits, "col_skip_words": WORDS_BITS,
        "h": COUNT_BITS, "w": COUNT_BITS, "pad": taps_bits,
    })


def input_word_layout(rows, diagonals):
    """A word of the walk: the array's tags (vertical set, diagonal), the input-buffer word
    and lane holding the operand, and `pad`: the operand is the padding value (no read)."""
    return data.StructLayout({
        "vset": range(rows), "diagonal": range(diagonals), "addr": signed(OFFSET_BITS),
        "lane": range(rows), "pad": 1,
    })


class RowStationaryInputWalk(wiring.Component):
    """Walks one pass's input-bus words in `models.row_stationary.Pass.input_sends` order:
    for each output f, each vertical set v, each distinct diagonal y, each channel of set v,
    the window's new words (S for the first output, then min(U, S)).

    The distinct diagonals i + j*U (i < fold_len, j < strip_len) are walked j by j: strip
    column 0 brings rows 0 to fold_len - 1, each further column the rows its diagonals add:
    the next U rows when U < fold_len (diagonals overlap), else its own fold_len rows from
    j*U on.  Every address, row, column and lane steps by adders.

    Ports:
        config: the pass (`input_walk_layout`), stable from `start` until `busy` falls.
        start: In(1), a pulse while idle.  busy: Out(1).
        word: Out(stream), one word a cycle while the consumer is ready (valid never waits
            for ready).
    Latency: the first word is valid the cycle after `start`.
    """

    def __init__(self, rows, cols, max_stride=7):
        self.rows, self.cols = rows, cols
        self.diagonals = rows + (cols - 1) * max_stride
        super().__init__({
            "config": In(input_walk_layout(rows, cols)),
            "start": In(1),
            "busy": Out(1),
            "word": Out(stream.Signature(input_word_layout(rows, self.diagonals))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, rows = self.config, self.rows
        f = Signal(COUNT_BITS)
        t = Signal.like(cfg.taps)
        v = Signal(range(rows))
        cc = Signal(COUNT_BITS)
        j = Signal(range(self.cols))
        i = Signal.like(cfg.fold_len)
        y = Signal(range(self.diagonals))
        hh = Signal(signed(COORD_BITS))
        ww = Signal(signed(COORD_BITS))
        f_ww = Signal(signed(COORD_BITS))             # image column of f's first new word
        row_words = Signal(signed(OFFSET_BITS))       # y's row, from row_addr
        col_words = Signal(OFFSET_BITS)               # the word's column * c_blocks
        f_col_words = Signal(OFFSET_BITS)             # f's first new column * c_blocks
        base_y = Signal.like(y)                       # j * U
        base_row_words = Signal.like(row_words)       # j * U * line_words
        base_hh = Signal.like(hh)                     # row_hh + j * U
        lane = Signal(range(rows))
        block = Signal(COUNT_BITS)
        set_lane = Signal(range(rows))                # set v's first channel
        set_block = Signal(COUNT_BITS)
        overlap = cfg.stride < cfg.fold_len

        inside = (hh >= 0) & (hh < cfg.h) & (ww >= 0) & (ww < cfg.w)
        p = self.word.payload
        m.d.comb += [p.vset.eq(v), p.diagonal.eq(y), p.lane.eq(lane), p.pad.eq(~inside),
                     p.addr.eq(cfg.row_addr + row_words + col_words + block)]

        last_t = t == Mux(f == 0, cfg.taps, cfg.step) - 1
        last_c = cc == Mux(v == cfg.vertical_sets - 1, cfg.channels_last, cfg.channels) - 1
        last_i = i == cfg.fold_len - 1
        last_y = last_i & (j == cfg.strip_len - 1)
        last_v = v == cfg.vertical_sets - 1
        last_f = f == cfg.outputs - 1

        def first_row():
            m.d.sync += [j.eq(0), i.eq(0), y.eq(0), row_words.eq(0), hh.eq(cfg.row_hh),
                         base_y.eq(0), base_row_words.eq(0), base_hh.eq(cfg.row_hh)]

        def first_channel(lane_value, block_value):
            m.d.sync += [cc.eq(0), lane.eq(lane_value), block.eq(block_value)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    first_row()
                    first_channel(cfg.first_lane, cfg.first_block)
                    m.d.sync += [f.eq(0), t.eq(0), v.eq(0), set_lane.eq(cfg.first_lane),
                                 set_block.eq(cfg.first_block), col_words.eq(0),
                                 f_col_words.eq(0), ww.eq(-cfg.pad), f_ww.eq(-cfg.pad)]
                    m.next = "WALK"
            with m.State("WALK"):
                m.d.comb += [self.busy.eq(1), self.word.valid.eq(1)]
                with m.If(self.word.ready):
                    with m.If(~last_t):
                        m.d.sync += [t.eq(t + 1), col_words.eq(col_words + cfg.c_blocks),
                                     ww.eq(ww + 1)]
                    with m.Else():
                        m.d.sync += [t.eq(0), col_words.eq(f_col_words), ww.eq(f_ww)]
                        with m.If(~last_c):
                            m.d.sync += cc.eq(cc + 1)
                            with m.If(lane == rows - 1):
                                m.d.sync += [lane.eq(0), block.eq(block + 1)]
                            with m.Else():
                                m.d.sync += lane.eq(lane + 1)
                        with m.Else():
                            first_channel(set_lane, set_block)
                            with m.If(~last_y):
                                self._next_diagonal(m, cfg, last_i, overlap, j, i, y, hh,
                                                    row_words, base_y, base_row_words,
                                                    base_hh)
                            with m.Else():
                                first_row()
                                with m.If(~last_v):
                                    self._next_set(m, cfg, v, set_lane, set_block, lane,
                                                   block, cc)
                                with m.Else():
                                    m.d.sync += [v.eq(0), set_lane.eq(cfg.first_lane),
                                                 set_block.eq(cfg.first_block)]
                                    first_channel(cfg.first_lane, cfg.first_block)
                                    with m.If(~last_f):
                                        # The next output's first new column follows this
                                        # window's last one, past the columns no window uses.
                                        next_col = col_words + cfg.c_blocks + cfg.col_skip_words
                                        next_ww = ww + 1 + cfg.col_skip
                                        m.d.sync += [f.eq(f + 1), col_words.eq(next_col),
                                                     f_col_words.eq(next_col), ww.eq(next_ww),
                                                     f_ww.eq(next_ww)]
                                    with m.Else():
                                        m.next = "IDLE"
        return m

    @staticmethod
    def _next_diagonal(m, cfg, last_i, overlap, j, i, y, hh, row_words, base_y,
                       base_row_words, base_hh):
        """The next distinct diagonal: the next row of this strip column's fold, or the
        first new row of the next column."""
        m.d.sync += [base_y.eq(Mux(last_i, base_y + cfg.stride, base_y)),
                     base_row_words.eq(Mux(last_i, base_row_words + cfg.row_step,
                                           base_row_words)),
                     base_hh.eq(Mux(last_i, base_hh + cfg.stride, base_hh))]
        with m.If(~last_i | overlap):
            m.d.sync += [y.eq(y + 1), row_words.eq(row_words + cfg.line_words),
                         hh.eq(hh + 1),
                         i.eq(Mux(last_i, cfg.fold_len - cfg.stride, i + 1))]
        with m.Else():
            m.d.sync += [y.eq(base_y + cfg.stride),
                         row_words.eq(base_row_words + cfg.row_step),
                         hh.eq(base_hh + cfg.stride), i.eq(0)]
        with m.If(last_i):
            m.d.sync += j.eq(j + 1)

    def _next_set(self, m, cfg, v, set_lane, set_block, lane, block, cc):
        """Vertical set v + 1: its first channel is q after set v's."""
        lane_sum = set_lane + cfg.q_lanes
        wraps = lane_sum >= self.rows
        next_lane = Mux(wraps, lane_sum - self.rows, lane_sum)
        next_block = set_block + cfg.q_blocks + wraps
        m.d.sync += [v.eq(v + 1), set_lane.eq(next_lane), set_block.eq(next_block),
                     cc.eq(0), lane.eq(next_lane), block.eq(next_block)]


class RowStationaryInputFeed(wiring.Component):
    """The diagonal input bus's source: a `RowStationaryInputWalk` reading the input buffer.

    A walk word is taken into the output stage when the stage is empty or the bus takes its
    word; a word inside the image reads its input-buffer word in that cycle (the buffer
    answers the next one, and holds its answer while the bus stalls), a padding word reads
    nothing and carries `pad_value`.

    Ports:
        config, start, busy: the walk's (`input_walk_layout`); busy until the last word is
            taken by the bus.
        pad_value: In, the padding operand.
        read: In(ReadPort.Signature), the input buffer (`rows` operands a word).
        bus: Out(stream), the array's `input_in` (vset, diagonal, data); valid never waits
            for ready.
    Latency: the first word is on the bus two cycles after `start`; then one a cycle while
    the bus takes them.
    Counts: every enabled read is a global-buffer input read (the buffer counts them).
    """

    def __init__(self, rows, cols, operand_bits, addr_bits, max_stride=7):
        self.rows, self.cols, self.operand_bits = rows, cols, operand_bits
        self.max_stride = max_stride
        self.diagonals = rows + (cols - 1) * max_stride
        super().__init__({
            "config": In(input_walk_layout(rows, cols)),
            "start": In(1),
            "busy": Out(1),
            "pad_value": In(signed(operand_bits)),
            "read": In(memory.ReadPort.Signature(addr_width=addr_bits,
                                                 shape=rows * operand_bits)),
            "bus": Out(stream.Signature(data.StructLayout({
                "vset": range(rows), "diagonal": range(self.diagonals),
                "data": signed(operand_bits)}))),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.walk = walk = RowStationaryInputWalk(self.rows, self.cols,
                                                          self.max_stride)
        m.d.comb += [walk.config.eq(self.config), walk.start.eq(self.start)]
        held = Signal()
        vset = Signal.like(walk.word.payload.vset)
        diagonal = Signal.like(walk.word.payload.diagonal)
        lane = Signal.like(walk.word.payload.lane)
        pad = Signal()
        advance = ~held | self.bus.ready
        word = walk.word.payload
        m.d.comb += [walk.word.ready.eq(advance),
                     self.read.addr.eq(word.addr[:len(self.read.addr)]),
                     self.read.en.eq(advance & walk.word.valid & ~word.pad)]
        with m.If(advance):
            m.d.sync += [held.eq(walk.word.valid), vset.eq(word.vset),
                         diagonal.eq(word.diagonal), lane.eq(word.lane), pad.eq(word.pad)]
        lanes = data.ArrayLayout(signed(self.operand_bits), self.rows)(self.read.data)
        operand = Signal(signed(self.operand_bits))
        with m.Switch(lane):
            for index in range(self.rows):
                with m.Case(index):
                    m.d.comb += operand.eq(lanes[index])
        b = self.bus.payload
        m.d.comb += [self.bus.valid.eq(held), b.vset.eq(vset), b.diagonal.eq(diagonal),
                     b.data.eq(Mux(pad, self.pad_value, operand)),
                     self.busy.eq(walk.busy | held)]
        return m


def filter_feed_layout(rows, cols, psum_depth, input_depth, taps_bits=8):
    """One pass's filter feed, stable from `start` until `busy` falls: the pass's vertical
    placement (fold_rows, fold_len, vertical_sets), channels q per vertical set and
    channels_last of the last, horizontal_sets, filters p per horizontal set and
    filters_last of the last, taps S, and base: the weight-buffer word of its first word."""
    return data.StructLayout({
        "fold_rows": range(1, rows + 1), "fold_len": range(1, rows + 1),
        "vertical_sets": range(1, rows + 1), "channels": range(1, input_depth + 1),
        "channels_last": range(1, input_depth + 1), "horizontal_sets": range(1, cols + 1),
        "filters": range(1, psum_depth + 1), "filters_last": range(1, psum_depth + 1),
        "taps": range(1, input_depth + 1), "base": WORDS_BITS,
    })


class RowStationaryFilterFeed(wiring.Component):
    """The filter buses' source: reads a pass's weight-buffer words
    (`models.row_stationary.Pass.filter_words`) and puts lane a of each on PE row a's bus.

    For each horizontal set h, the words walk (channel, tap, filter) over the largest
    channel count q, S taps and p_h filters, filter innermost; lane a carries a weight while
    its row is in the pass (fold row below fold_len of a used vertical set) and the channel
    is below its set's count (the last set may have fewer).  A word leaves when every bus
    carrying a weight of it takes it; the buffer holds its answer meanwhile.

    Ports:
        config: the pass (`filter_feed_layout`).  start: In(1), a pulse while idle.
        busy: Out(1), until the last word has left.
        read: In(ReadPort.Signature), the weight buffer (`rows` operands a word).
        bus[a]: Out(stream), PE row a's filter bus (hset, data).
        end: Out, once idle: the weight-buffer word after the pass's last one.
    Latency: the first word is on the buses two cycles after `start`, then one a cycle
    while the buses take them.
    Counts: every word read is a global-buffer weight read (the buffer counts them).
    """

    def __init__(self, rows, cols, operand_bits, addr_bits, psum_depth, input_depth):
        self.rows, self.cols, self.operand_bits = rows, cols, operand_bits
        self.psum_depth, self.input_depth = psum_depth, input_depth
        super().__init__({
            "config": In(filter_feed_layout(rows, cols, psum_depth, input_depth)),
            "start": In(1),
            "busy": Out(1),
            "read": In(memory.ReadPort.Signature(addr_width=addr_bits,
                                                 shape=rows * operand_bits)),
            "bus": Out(stream.Signature(data.StructLayout({
                "hset": range(cols), "data": signed(operand_bits)}))).array(rows),
            "end": Out(WORDS_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, rows = self.config, self.rows
        place = Place(m, "filter_row", rows, cfg.fold_rows, cfg.fold_len, cfg.vertical_sets)
        h = Signal(range(self.cols))
        last_h = h == cfg.horizontal_sets - 1
        job = Signal(data.StructLayout({
            "filters": range(1, self.psum_depth + 1), "channels": range(1, self.input_depth + 1),
            "taps": range(1, self.input_depth + 1)}))
        m.d.comb += [job.filters.eq(Mux(last_h, cfg.filters_last, cfg.filters)),
                     job.channels.eq(cfg.channels), job.taps.eq(cfg.taps)]
        count = NestedCount("filter_word", job)
        addr = Signal(WORDS_BITS)
        walking = Signal()
        m.d.comb += self.end.eq(addr)

        held = Signal()
        hset = Signal.like(h)
        lanes = [Signal(name=f"lane{a}_valid") for a in range(rows)]
        taken = Signal()
        m.d.comb += taken.eq(Cat(~lane | bus.ready for lane, bus in zip(lanes, self.bus)).all())
        advance = ~held | taken
        m.d.comb += [self.read.addr.eq(addr[:len(self.read.addr)]),
                     self.read.en.eq(walking & advance),
                     self.busy.eq(walking | held)]
        last_set = [place.set[a] == cfg.vertical_sets - 1 for a in range(rows)]
        with m.If(advance):
            m.d.sync += [held.eq(walking), hset.eq(h)]
            for a in range(rows):
                channels = Mux(last_set[a], cfg.channels_last, cfg.channels)
                m.d.sync += lanes[a].eq(walking & place.active[a] & (count.c < channels))
        with m.Else():
            # A bus that took the word is done with it; the others still offer it.
            for lane, bus in zip(lanes, self.bus):
                with m.If(bus.ready):
                    m.d.sync += lane.eq(0)
        with m.If(self.start):
            m.d.sync += [walking.eq(1), h.eq(0), addr.eq(cfg.base), *count.clear()]
        with m.Elif(walking & advance):
            m.d.sync += [addr.eq(addr + 1), *count.advance()]
            with m.If(count.last):
                m.d.sync += h.eq(h + 1)
                with m.If(last_h):
                    m.d.sync += walking.eq(0)
        words = data.ArrayLayout(signed(self.operand_bits), rows)(self.read.data)
        for a, bus in enumerate(self.bus):
            m.d.comb += [bus.valid.eq(held & lanes[a]), bus.payload.hset.eq(hset),
                         bus.payload.data.eq(words[a])]
        return m


def collector_layout(cols, psum_depth, output_addr_bits):
    """One pass's sums, stable from `start` until `busy` falls: strip_cols, strip_len and
    horizontal_sets (the array's horizontal placement), filters p per horizontal set and
    filters_last of the last, outputs F, lane_base: the output-word lane of the pass's first
    filter, out_base: the output-buffer word of its first output row's first pixel, col_step
    and row_step: words from a pixel to the next one in its row and in its column, first:
    the words are overwritten (the first pass reducing into them), not added to."""
    return data.StructLayout({
        "strip_cols": range(1, cols + 1), "strip_len": range(1, cols + 1),
        "horizontal_sets": range(1, cols + 1), "filters": range(1, psum_depth + 1),
        "filters_last": range(1, psum_depth + 1), "outputs": COUNT_BITS,
        "lane_base": range(cols), "out_base": output_addr_bits, "col_step": COUNT_BITS,
        "row_step": WORDS_BITS, "first": 1,
    })


class RowStationaryPsumCollector(wiring.Component):
    """Gathers a pass's column sums into output vectors for the accumulator
    (pyhdl/accumulator.py, latency 0: the tag comes with the vector).

    Column b = h * strip_cols + j carries, for each output f, the sums of horizontal set h's
    p_h filters for output row j of the strip.  For each output f and strip column j, the
    collector takes the sums of every horizontal set's column j in turn, one a cycle, into
    lanes lane_base + h*p + k (stepped by adders) of a vector of `cols` lanes, zero
    elsewhere, and hands it over with the word of pixel (j, f) (out_base + j*row_step +
    f*col_step, stepped by adders).  The accumulator adds it to the word, or overwrites the
    word when `first`; the columns never start from the global buffer's sums (the array's
    `accumulate` stays 0).

    Ports:
        config: the pass (`collector_layout`).  start: In(1), a pulse while idle.
        busy: Out(1), until the pass's last vector is handed over.
        column[b]: In(stream), the array's psum_out[b]; taken one sum a cycle.
        y, tag: Out, the accumulator's vector (valid, `cols` sums) and its tag.
    Latency: a vector leaves the cycle after its last sum is taken.
    """

    def __init__(self, cols, acc_bits, psum_depth, output_addr_bits):
        self.cols, self.acc_bits = cols, acc_bits
        super().__init__({
            "config": In(collector_layout(cols, psum_depth, output_addr_bits)),
            "start": In(1),
            "busy": Out(1),
            "column": In(stream.Signature(signed(acc_bits))).array(cols),
            "y": Out(data.StructLayout({
                "valid": 1, "values": data.ArrayLayout(signed(acc_bits), cols)})),
            "tag": Out(tag_layout(output_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, cols = self.config, self.cols
        f = Signal(COUNT_BITS)
        j = Signal(range(cols))
        h = Signal(range(cols))
        k = Signal.like(cfg.filters)
        column = Signal(range(cols))       # h * strip_cols + j
        lane = Signal(range(cols))         # lane_base + h * p + k
        set_lane = Signal(range(cols))     # lane_base + h * p
        pixel = Signal.like(cfg.out_base)  # out_base + j * row_step + f * col_step
        f_pixel = Signal.like(cfg.out_base)
        values = Signal(data.ArrayLayout(signed(self.acc_bits), cols))
        collecting = Signal()
        last_h = h == cfg.horizontal_sets - 1
        last_k = k == Mux(last_h, cfg.filters_last, cfg.filters) - 1
        last_j = j == cfg.strip_len - 1
        last_f = f == cfg.outputs - 1

        columns = Array(self.column)
        sum_in = columns[column]
        m.d.comb += self.busy.eq(collecting | self.y.valid)
        m.d.sync += [self.y.valid.eq(0), self.tag.valid.eq(0)]
        for b in range(cols):
            m.d.comb += self.column[b].ready.eq(collecting & (column == b))
        with m.If(self.start):
            m.d.sync += [collecting.eq(1), f.eq(0), j.eq(0), h.eq(0), k.eq(0), column.eq(0),
                         lane.eq(cfg.lane_base), set_lane.eq(cfg.lane_base),
                         pixel.eq(cfg.out_base), f_pixel.eq(cfg.out_base), values.eq(0)]
        with m.Elif(collecting & sum_in.valid):
            m.d.sync += values[lane].eq(sum_in.payload)
            with m.If(~last_k):
                m.d.sync += [k.eq(k + 1), lane.eq(lane + 1)]
            with m.Elif(~last_h):
                next_lane = set_lane + cfg.filters
                m.d.sync += [k.eq(0), h.eq(h + 1), column.eq(column + cfg.strip_cols),
                             set_lane.eq(next_lane), lane.eq(next_lane)]
            with m.Else():
                # The vector of pixel (j, f) is complete: hand it over (the lane just taken
                # goes in with it), then the next strip column, or the next output.
                m.d.sync += [self.y.valid.eq(1), self.tag.valid.eq(1),
                             self.tag.addr.eq(pixel), self.tag.first.eq(cfg.first),
                             k.eq(0), h.eq(0), lane.eq(cfg.lane_base),
                             set_lane.eq(cfg.lane_base)]
                for index in range(cols):
                    m.d.sync += self.y.values[index].eq(
                        Mux(lane == index, sum_in.payload, values[index]))
                m.d.sync += values.eq(0)
                with m.If(~last_j):
                    m.d.sync += [j.eq(j + 1), column.eq(j + 1), pixel.eq(pixel + cfg.row_step)]
                with m.Else():
                    next_pixel = f_pixel + cfg.col_step
                    m.d.sync += [j.eq(0), column.eq(0), f.eq(f + 1), pixel.eq(next_pixel),
                                 f_pixel.eq(next_pixel)]
                    with m.If(last_f):
                        m.d.sync += collecting.eq(0)
        return m


def pass_walk_layout(rows, cols, psum_depth, input_depth, output_addr_bits, taps_bits=8):
    """A chunk's passes, stable from `start` until `busy` falls (the mapper's products).

    k_tiles, c_tiles, folds, strips: the pass loops' counts (filter tile outermost, strip
    innermost); filter_tile: filters a tile; ct_lanes / ct_blocks: channel_tile mod and div
    rows; fold_rows / fold_last, strip_cols / strip_last: the fold's and strip's size and the
    last one's; vertical_sets / vsets_last and channels / channels_last: of every channel
    tile and the last; horizontal_sets / hsets_last and filters / filters_last likewise for
    filter tiles; fold_words = fold_rows * line_words; strip_rows = strip_cols * U and
    strip_words = strip_rows * line_words; strip_out = strip_cols * out_row_step; row_addr,
    row_hh: the chunk's first padded input row (as `input_walk_layout`); out_base: its first
    output word; weight_base: the weight-buffer word of its first pass; first_cb: the input
    word of its first channel in a pixel's blocks; first: it is its filter block's first
    chunk; the other fields go to the units as they are."""
    layout = {
        "k_tiles": COUNT_BITS, "c_tiles": COUNT_BITS, "folds": COUNT_BITS,
        "strips": COUNT_BITS, "filter_tile": COUNT_BITS, "ct_lanes": range(rows),
        "ct_blocks": COUNT_BITS, "fold_rows": range(1, rows + 1),
        "fold_last": range(1, rows + 1), "strip_cols": range(1, cols + 1),
        "strip_last": range(1, cols + 1), "vertical_sets": range(1, rows + 1),
        "vsets_last": range(1, rows + 1), "channels": range(1, input_depth + 1),
        "channels_last": range(1, input_depth + 1), "horizontal_sets": range(1, cols + 1),
        "hsets_last": range(1, cols + 1), "filters": range(1, psum_depth + 1),
        "filters_last": range(1, psum_depth + 1), "fold_words": WORDS_BITS,
        "strip_rows": COUNT_BITS, "strip_words": WORDS_BITS, "strip_out": WORDS_BITS,
        "row_addr": signed(OFFSET_BITS), "row_hh": signed(COORD_BITS),
        "out_base": output_addr_bits, "weight_base": WORDS_BITS,
        "out_col_step": COUNT_BITS, "out_row_step": WORDS_BITS,
        "q_lanes": range(rows), "q_blocks": COUNT_BITS, "first_cb": COUNT_BITS, "first": 1,
    }
    for name in ("outputs", "taps", "step", "stride", "line_words", "c_blocks", "row_step",
                 "col_skip", "col_skip_words", "h", "w", "pad"):
        layout[name] = input_walk_layout(rows, cols, taps_bits).members[name]
    return data.StructLayout(layout)


class RowStationaryPassWalk(wiring.Component):
    """Walks a chunk's passes (filter tile, channel tile, fold, strip; strip innermost, as
    `RowStationaryMapping.passes`), and for each configures the array, the feeds and the
    collector and starts them together, then waits for all of them to be idle.

    Every per-pass value steps by adders from the chunk's `pass_walk_layout`: the fold's
    and strip's first input row and word, the strip's first output word, the channel tile's
    first lane and block, the filter tile's first output lane.  The strips of a fold re-read
    the fold's weights: a fold starts at the weight word where the filter feed ended the
    fold before (`filter_end`).  Sums overwrite their words in the first filter tile's
    first channel tile and fold, and add to them in every later pass.

    Ports:
        config: the chunk.  start: In(1), a pulse while idle.  busy: Out(1).
        units_busy: In(1), any of the units still at work.  filter_end: In, the filter
            feed's `end`.
        pass_start: Out(1), the units' `start`.
        array_config, walk_config, filter_config, collector_config: Out, the units' pass.
    Latency: a pass starts the cycle after `start` and the cycle after the units of the
    previous one are idle.
    """

    def __init__(self, rows, cols, psum_depth, input_depth, filter_depth, output_addr_bits,
                 max_stride=7, output_bits=12):
        self.rows, self.cols = rows, cols
        super().__init__({
            "config": In(pass_walk_layout(rows, cols, psum_depth, input_depth,
                                          output_addr_bits)),
            "start": In(1),
            "busy": Out(1),
            "units_busy": In(1),
            "filter_end": In(WORDS_BITS),
            "pass_start": Out(1),
            "array_config": Out(pass_layout(rows, cols, filter_depth, input_depth,
                                            psum_depth, max_stride, output_bits)),
            "walk_config": Out(input_walk_layout(rows, cols)),
            "filter_config": Out(filter_feed_layout(rows, cols, psum_depth, input_depth)),
            "collector_config": Out(collector_layout(cols, psum_depth, output_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, rows, cols = self.config, self.rows, self.cols
        kt, ct, fold, strip = (Signal(COUNT_BITS, name=n) for n in ("kt", "ct", "fold", "strip"))
        last_kt, last_ct = kt == cfg.k_tiles - 1, ct == cfg.c_tiles - 1
        last_fold, last_strip = fold == cfg.folds - 1, strip == cfg.strips - 1
        lane_base = Signal(range(cols))
        c_lane, c_block = Signal(range(rows)), Signal(COUNT_BITS)
        fold_hh, pass_hh = Signal(signed(COORD_BITS)), Signal(signed(COORD_BITS))
        fold_addr, pass_addr = Signal(signed(OFFSET_BITS)), Signal(signed(OFFSET_BITS))
        strip_out = Signal.like(cfg.out_base)
        fold_base = Signal(WORDS_BITS)

        vsets = Mux(last_ct, cfg.vsets_last, cfg.vertical_sets)
        hsets = Mux(last_kt, cfg.hsets_last, cfg.horizontal_sets)
        q_last = Mux(last_ct, cfg.channels_last, cfg.channels)
        p_last = Mux(last_kt, cfg.filters_last, cfg.filters)
        fold_len = Mux(last_fold, cfg.fold_last, cfg.fold_rows)
        strip_len = Mux(last_strip, cfg.strip_last, cfg.strip_cols)
        first_q = Mux(vsets == 1, q_last, cfg.channels)
        first_p = Mux(hsets == 1, p_last, cfg.filters)

        a = self.array_config
        m.d.comb += [a.fold_rows.eq(cfg.fold_rows), a.fold_len.eq(fold_len),
                     a.vertical_sets.eq(vsets), a.strip_cols.eq(cfg.strip_cols),
                     a.strip_len.eq(strip_len), a.horizontal_sets.eq(hsets),
                     a.taps.eq(cfg.taps), a.step.eq(cfg.step), a.outputs.eq(cfg.outputs),
                     a.stride.eq(cfg.stride), a.accumulate.eq(0)]
        for v in range(rows):
            m.d.comb += a.channels[v].eq(Mux(v == vsets - 1, q_last, cfg.channels))
        for h in range(cols):
            m.d.comb += a.filters[h].eq(Mux(h == hsets - 1, p_last, cfg.filters))
        w = self.walk_config
        for name in ("outputs", "taps", "step", "stride", "line_words", "c_blocks",
                     "row_step", "col_skip", "col_skip_words", "h", "w", "pad", "q_lanes",
                     "q_blocks", "channels"):
            m.d.comb += getattr(w, name).eq(getattr(cfg, name))
        m.d.comb += [w.fold_len.eq(fold_len), w.strip_len.eq(strip_len),
                     w.vertical_sets.eq(vsets), w.channels_last.eq(q_last),
                     w.first_lane.eq(c_lane), w.first_block.eq(c_block),
                     w.row_addr.eq(pass_addr), w.row_hh.eq(pass_hh)]
        f = self.filter_config
        m.d.comb += [f.fold_rows.eq(cfg.fold_rows), f.fold_len.eq(fold_len),
                     f.vertical_sets.eq(vsets), f.channels.eq(first_q),
                     f.channels_last.eq(q_last), f.horizontal_sets.eq(hsets),
                     f.filters.eq(first_p), f.filters_last.eq(p_last), f.taps.eq(cfg.taps),
                     f.base.eq(fold_base)]
        c = self.collector_config
        m.d.comb += [c.strip_cols.eq(cfg.strip_cols), c.strip_len.eq(strip_len),
                     c.horizontal_sets.eq(hsets), c.filters.eq(first_p),
                     c.filters_last.eq(p_last), c.outputs.eq(cfg.outputs),
                     c.lane_base.eq(lane_base), c.out_base.eq(strip_out),
                     c.col_step.eq(cfg.out_col_step), c.row_step.eq(cfg.out_row_step),
                     c.first.eq(cfg.first & (kt == 0) & (ct == 0) & (fold == 0))]

        def first_fold():
            m.d.sync += [fold.eq(0), fold_hh.eq(cfg.row_hh), fold_addr.eq(cfg.row_addr)]
            first_strip(cfg.row_hh, cfg.row_addr)

        def first_strip(hh, addr):
            m.d.sync += [strip.eq(0), pass_hh.eq(hh), pass_addr.eq(addr),
                         strip_out.eq(cfg.out_base)]

        def first_channel_tile():
            m.d.sync += [ct.eq(0), c_lane.eq(0), c_block.eq(cfg.first_cb)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [kt.eq(0), lane_base.eq(0), fold_base.eq(cfg.weight_base)]
                    first_channel_tile()
                    first_fold()
                    m.next = "PASS"
            with m.State("PASS"):
                m.d.comb += [self.busy.eq(1), self.pass_start.eq(1)]
                m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(~self.units_busy):
                    m.next = "PASS"
                    with m.If(~last_strip):
                        m.d.sync += [strip.eq(strip + 1),
                                     pass_hh.eq(pass_hh + cfg.strip_rows),
                                     pass_addr.eq(pass_addr + cfg.strip_words),
                                     strip_out.eq(strip_out + cfg.strip_out)]
                    with m.Else():
                        # The next fold's weights follow this fold's.
                        m.d.sync += fold_base.eq(self.filter_end)
                        with m.If(~last_fold):
                            next_hh = fold_hh + cfg.fold_rows
                            next_addr = fold_addr + cfg.fold_words
                            m.d.sync += [fold.eq(fold + 1), fold_hh.eq(next_hh),
                                         fold_addr.eq(next_addr)]
                            first_strip(next_hh, next_addr)
                        with m.Elif(~last_ct):
                            lane_sum = c_lane + cfg.ct_lanes
                            wraps = lane_sum >= rows
                            m.d.sync += [ct.eq(ct + 1),
                                         c_lane.eq(Mux(wraps, lane_sum - rows, lane_sum)),
                                         c_block.eq(c_block + cfg.ct_blocks + wraps)]
                            first_fold()
                        with m.Elif(~last_kt):
                            m.d.sync += [kt.eq(kt + 1), lane_base.eq(lane_base + cfg.filter_tile)]
                            first_channel_tile()
                            first_fold()
                        with m.Else():
                            m.next = "IDLE"
        return m


RS_MAX_STRIDE = 7
"""The largest stride the diagonal tags cover (models.row_stationary.RS_MAX_STRIDE)."""
RS_OUTPUT_BITS = 12
"""Bits of a PE job's output count (models.row_stationary.RS_MAX_OUTPUTS)."""


class RowStationaryLoop(InnerLoop):
    """The row-stationary inner loop: its own `RowStationaryPEArray`, fed by the input and
    filter feeds, drained by the psum collector, every pass configured and started by the
    pass walk.

    A chunk is one block of `cols` filters over a chunk of channels of the tile's band of
    output rows (the mapper, models.row_stationary.map_layer): the pass walk's
    configuration, registered (the walk starts the cycle after `run`), is the descriptor's
    `rs_` fields and the chunk's bases (first window's word and row, first channel block,
    first output word, weight-buffer word), the last filter block's tiles and sets from their
    `_last_k` fields, the last channel chunk's from `_last_c`, the last tile's strips from
    `_last_tile`, the last output group's output steps from `_last`; the passes of a block's first chunk overwrite their outputs, the others
    add to them.  The collector's vectors go to the shared accumulator with their tags,
    so the passes that reduce into the same outputs add up in the output buffer.

    Ports (InnerLoop's but `x` and `gated`: the array is inside):
        y, tag: Out, the accumulator's vector and its tag (latency 0).
        rf_reads: Out, this cycle's register-file reads (filter, input and psum).
        array_events: Out, the array's `events` (RowStationaryPEArray), for the counters.
    `chunk_done` pulses when the chunk's last pass is over; `idle` while no chunk runs;
    `prefetch` pulses as the chunk's pass walk starts (the cycle after `run`): with the
    weight buffer in halves the sequencer then loads the next chunk's weights into the
    other half while this chunk's passes read theirs.
    Counts: busy cycles (input-bus words), MACs, gated MACs, register-file writes and
    reads (all three files), inter-PE transfers (psum hops up the columns).
    """

    @staticmethod
    def array_ports(spec, array, output_addr_bits):
        return {
            "rf_reads": Out(EVENT_BITS),
            "array_events": Out(array_events_layout(spec.rows, spec.cols)),
            "y": Out(data.StructLayout({
                "valid": 1, "values": data.ArrayLayout(signed(spec.acc_bits), spec.cols)})),
            "tag": Out(tag_layout(output_addr_bits)),
        }

    def __init__(self, spec, array, input_addr_bits, weight_addr_bits, output_addr_bits):
        """`array` is None: the loop builds its own."""
        self.input_addr_bits, self.weight_addr_bits = input_addr_bits, weight_addr_bits
        super().__init__(spec, None, input_addr_bits, weight_addr_bits, output_addr_bits)
        self.array = RowStationaryPEArray(
            spec.rows, spec.cols, spec.operand_bits, spec.acc_bits, spec.rs_filter_depth,
            spec.rs_input_depth, spec.rs_psum_depth, RS_MAX_STRIDE, RS_OUTPUT_BITS)

    def elaborate(self, platform):
        m = Module()
        spec, d, chunk = self.spec, self.descriptor, self.chunk
        rows, cols = spec.rows, spec.cols
        m.submodules.array = array = self.array
        m.submodules.input_feed = input_feed = RowStationaryInputFeed(
            rows, cols, spec.operand_bits, self.input_addr_bits, RS_MAX_STRIDE)
        m.submodules.filter_feed = filter_feed = RowStationaryFilterFeed(
            rows, cols, spec.operand_bits, self.weight_addr_bits, spec.rs_psum_depth,
            spec.rs_input_depth)
        m.submodules.collector = collector = RowStationaryPsumCollector(
            cols, spec.acc_bits, spec.rs_psum_depth, self.output_addr_bits)
        m.submodules.walk = walk = RowStationaryPassWalk(
            rows, cols, spec.rs_psum_depth, spec.rs_input_depth, spec.rs_filter_depth,
            self.output_addr_bits, RS_MAX_STRIDE, RS_OUTPUT_BITS)
        units = (input_feed, filter_feed, array, collector)

        cfg = walk.config
        last_k = chunk.last_k
        for name in ("folds", "filter_tile", "ct_lanes", "ct_blocks", "fold_rows", "fold_last",
                     "strip_cols", "vertical_sets", "channels", "horizontal_sets", "filters",
                     "fold_words", "strip_rows", "strip_words", "q_lanes",
                     "q_blocks", "step", "col_skip", "col_skip_words"):
            m.d.sync += getattr(cfg, name).eq(getattr(d, f"rs_{name}"))
        for name in ("stride", "line_words", "c_blocks", "row_step", "h", "w", "pad"):
            m.d.sync += getattr(cfg, name).eq(getattr(d, name))
        # The chunk's configuration, registered: the walk starts the cycle after `run`.  The
        # last tile of an image has its own strips, the last channel chunk its own tiles, the
        # last output group (fewer filter blocks a pixel) its own output steps.
        start = Signal()
        last_tile = chunk.tile_rows != d.tile_p
        last_c = chunk.last_cb + 1 == d.c_blocks
        last_group = chunk.out_step != d.k_group_blocks
        m.d.sync += [
            start.eq(self.run),
            cfg.strips.eq(Mux(last_tile, d.rs_strips_last_tile, d.rs_strips)),
            cfg.strip_last.eq(Mux(last_tile, d.rs_strip_last_tile, d.rs_strip_last)),
            cfg.c_tiles.eq(Mux(last_c, d.rs_c_tiles_last_c, d.rs_c_tiles)),
            cfg.vsets_last.eq(Mux(last_c, d.rs_vsets_last_c, d.rs_vsets_last)),
            cfg.channels_last.eq(Mux(last_c, d.rs_channels_last_c, d.rs_channels_last)),
            cfg.first_cb.eq(chunk.first_cb), cfg.first.eq(chunk.first),
            cfg.k_tiles.eq(Mux(last_k, d.rs_k_tiles_last, d.rs_k_tiles)),
            cfg.hsets_last.eq(Mux(last_k, d.rs_hsets_last_k, d.rs_hsets_last)),
            cfg.filters_last.eq(Mux(last_k, d.rs_filters_last_k, d.rs_filters_last)),
            cfg.outputs.eq(d.q), cfg.taps.eq(d.s),
            cfg.out_row_step.eq(Mux(last_group, d.rs_out_row_step_last, d.rs_out_row_step)),
            cfg.strip_out.eq(Mux(last_group, d.rs_strip_out_last, d.rs_strip_out)),
            cfg.row_addr.eq(chunk.window_base), cfg.row_hh.eq(chunk.h_start),
            cfg.out_base.eq(chunk.out_base), cfg.weight_base.eq(chunk.w_base),
            cfg.out_col_step.eq(chunk.out_step),
        ]
        m.d.comb += [
            walk.start.eq(start),
            walk.filter_end.eq(filter_feed.end),
            walk.units_busy.eq(Cat(unit.busy for unit in units).any()),
            array.config.eq(walk.array_config),
            input_feed.config.eq(walk.walk_config),
            filter_feed.config.eq(walk.filter_config),
            collector.config.eq(walk.collector_config),
            input_feed.pad_value.eq(d.pad_value[:spec.operand_bits]),
        ]
        for unit in units:
            m.d.comb += unit.start.eq(walk.pass_start)
        wiring.connect(m, wiring.flipped(self.input_read), input_feed.read)
        wiring.connect(m, wiring.flipped(self.weight_read), filter_feed.read)
        wiring.connect(m, input_feed.bus, array.input_in)
        for a in range(rows):
            wiring.connect(m, filter_feed.bus[a], array.filter_in[a])
        for b in range(cols):
            wiring.connect(m, array.psum_out[b], collector.column[b])
            m.d.comb += array.psum_in[b].valid.eq(0)
        m.d.comb += [self.y.eq(collector.y), self.tag.eq(collector.tag)]

        running = Signal()
        with m.If(self.run):
            m.d.sync += running.eq(1)
        with m.Elif(running & ~start & ~walk.busy):
            m.d.sync += running.eq(0)
            m.d.comb += self.chunk_done.eq(1)
        m.d.comb += [self.idle.eq(~running & ~self.run), self.prefetch.eq(start)]

        ev, e = array.events, self.events
        m.d.comb += [
            e.busy_cycles.eq(ev.input_bus_sends),
            e.macs.eq(ev.macs),
            e.macs_gated.eq(ev.gated_macs),
            e.rf_writes.eq(ev.filter_rf_writes + ev.input_rf_writes + ev.psum_rf_writes),
            e.array_transfers.eq(ev.psum_hops),
            self.rf_reads.eq(ev.filter_rf_reads + ev.input_rf_reads + ev.psum_rf_reads),
            self.array_events.eq(ev),
        ]
        return m
