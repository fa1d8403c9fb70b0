"""The weight-stationary inner loop: one reduction block's weights in the array at a time,
every output pixel of the tile streamed past them."""

from amaranth import Module, Mux, Signal
from amaranth.lib.wiring import Out

from models.hardware import COUNT_BITS, EVENT_BITS

from .inner_loop import COORD, OFFSET, InnerLoop, PixelWalk, ReductionWalk
from .interfaces import tag_layout


class WeightStationaryLoop(InnerLoop):
    """Feeds a `SystolicArray` one chunk: for each reduction block (tap, block of `rows`
    channels), commit its weights, then stream the input word of every output pixel of the
    tile (the window's word at that tap, or `pad_value` where it hangs over the padding), one
    a cycle, tagged with the output word its partial sums go to.

    The next block's weights shift into the array's chain while the current block streams
    (one word a cycle from the weight buffer, column cols-1's first); its commit waits for
    the shift and for the register-file slot it takes to be free of vectors in flight.  At
    the commit of a chunk's last block (a pair's B, or a block alone), if the sequencer has
    the next chunk's weights in (`next_chunk.ready`), that chunk's first block starts to
    shift in, so its `run` finds it loaded or loading (one-block chunks then stream back to
    back).

    Ports (besides InnerLoop's):
        w_data, w_shift, w_commit, w_slot: Out, the array's weight load.
        tag: Out, where the partial sums of the vector entering the array go.
    With descriptor `paired` (dense layers, models/paired_blocks.py) the chunk's blocks go
    two by two, A in a slot and B in the next: A streams its first `pair_alone` pixels alone
    (HEAD, while B's weights shift in and B's slot drains), B commits, then each remaining
    pixel's A word (tag `hold`) and B word on consecutive cycles (BODY; the accumulator adds
    the pair before one write-back), then B streams the first `pair_alone` pixels alone
    (TAIL, while A's slot drains and the next block's weights shift in).  B's word of a pixel
    is A's plus the blocks' offset difference, inside the image by the taps' difference (both
    registered at B's commit).  An odd chunk's last block streams alone (STREAM).

    Latency: `run` to the first vector: the first block's load (cols + 2 cycles, less what
    it shifted early) and its commit; each block then takes one cycle per pixel, plus its
    commit when its load or its slot is not ready.
    Counts: busy cycles, MACs, gated MACs (the array's count less the inactive PEs),
    register-file writes (every PE at a commit), inter-PE transfers (operands and partial
    sums per vector, weights per shift).
    """

    @staticmethod
    def array_ports(spec, array, output_addr_bits):
        return {
            "w_data": Out(array.w_data.shape()),
            "w_shift": Out(1),
            "w_commit": Out(1),
            "w_slot": Out(array.slot_bits),
            "tag": Out(tag_layout(output_addr_bits)),
        }

    def reduction_walk(self, m, descriptor, chunk):
        """The walk over the chunk's reduction blocks."""
        return ReductionWalk(m, descriptor, chunk, "red")

    def block_macs(self, walk):
        """Active PEs (rows x columns holding the layer's weights) of a vector of the block
        `walk` is at."""
        return self.vector_macs(walk.last_cb)

    def tap_fold(self, m, walk, pixel):
        """The walk of folded layers' input words (pyhdl/tap_fold_loop.py), or None: this
        loop runs dense layers only."""
        return None

    def array_vector(self, m, walk, vector):
        """The array's input for the input `vector` the loop feeds this cycle (of the block
        `walk` was at a cycle before): the vector itself."""
        return vector

    def mac_events(self, feeding, active_macs):
        """The MAC counts of a cycle that feeds (`feeding`) a vector of `active_macs`."""
        return [self.events.macs.eq(Mux(feeding, active_macs, 0))]

    def elaborate(self, platform):
        m = Module()
        spec, d, chunk = self.spec, self.descriptor, self.chunk
        rows, cols = spec.rows, spec.cols
        m.d.comb += [self.input_read.en.eq(0), self.weight_read.en.eq(0)]

        walk = self.reduction_walk(m, d, chunk)
        pixel = PixelWalk(m, d, chunk, self.output_addr_bits, "pixel")
        fold = self.tap_fold(m, walk, pixel)
        block_hh = Signal.like(pixel.hh)
        block_ww = Signal.like(pixel.ww)
        block_row = walk.tap_r if fold is None else fold.block_row()
        m.d.comb += [block_hh.eq(chunk.h_start + block_row), block_ww.eq(walk.tap_s - d.pad)]
        pair = _PairRegisters(m, walk, pixel)
        # A paired layer's pixel walk steps the block it was loaded for (`pair.tap_*`).
        step_hh = Mux(d.paired, chunk.h_start + pair.tap_r, block_hh)
        step_ww = Mux(d.paired, pair.tap_s - d.pad, block_ww)

        # --- the weight loader: shifts one reduction block into the array's chain ---------
        load_step = Signal(range(cols + 2))
        loading = Signal()
        loaded = Signal()             # the chain holds the next block, uncommitted
        shift_addr = Signal.like(self.weight_read.addr)
        shift_active = Signal()
        start_load = Signal()
        start_addr = Signal.like(shift_addr)   # the word of the block to load, column cols-1
        start_red = Signal.like(chunk.red)     # its chunk's reduction blocks
        start_last_k = Signal()                # its chunk's filter block is the last
        load_red = Signal.like(chunk.red)
        load_last_k = Signal()
        cols_active = Mux(load_last_k, d.k_last, cols)
        m.d.comb += [start_red.eq(chunk.red), start_last_k.eq(chunk.last_k)]   # but early
        shift_base = Signal.like(shift_addr, reset_less=True)   # block 0's, from `run` on
        m.d.sync += shift_base.eq(chunk.w_base + chunk.shift_first)
        with m.If(start_load):
            m.d.sync += [loading.eq(1), loaded.eq(0), load_step.eq(0), shift_addr.eq(start_addr),
                         load_red.eq(start_red), load_last_k.eq(start_last_k)]
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
                shift_addr.eq(shift_addr - load_red),
                shift_active.eq(cols - 1 - load_step < cols_active),
            ]
            with m.If(load_step == cols):
                m.d.sync += [loading.eq(0), loaded.eq(1)]

        # --- register-file slots: free once the last vector that read them left the array --
        depth, latency = spec.rf_depth, self.array.latency
        slot = Signal(self.array.slot_bits)
        slot_free = Signal()
        next_slot = Mux(slot == depth - 1, 0, slot + 1) if depth > 1 else slot
        next_free = Signal()          # the slot after `slot` (a pair's B) is free
        for s in range(depth):
            timer = Signal(range(latency + 2), name=f"slot_timer_{s}")
            with m.If(self.x.valid & (self.x.slot == s)):
                m.d.sync += timer.eq(latency + 1)
            with m.Elif(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.If(slot == s):
                m.d.comb += slot_free.eq(timer == 0)
            with m.If(next_slot == s):
                m.d.comb += next_free.eq(timer == 0)
        after_pair = Mux(next_slot == depth - 1, 0, next_slot + 1) if depth > 1 else slot

        # --- feeding the array: the input buffer answers a cycle after the read -------------
        inside = pixel.inside()
        last_pixel = pixel.last_col & (pixel.row_in == chunk.tile_rows - 1)
        feeding = Signal()
        feed_slot = Signal.like(slot)
        feed_pad = Signal()
        feed_tag = Signal.like(self.tag)
        feed_b = Signal()             # the vector is a pair's B's (its MACs: macs_b)
        macs_a = Signal(EVENT_BITS)
        macs_b = Signal(EVENT_BITS)
        active_macs = Mux(feed_b, macs_b, macs_a)
        # The array counts a vector's gated products `gated_latency` cycles after it.
        counted, counted_inactive = feeding, rows * cols - active_macs
        for i in range(self.array.gated_latency):
            later = Signal(name=f"counted_{i}")
            later_inactive = Signal(EVENT_BITS, name=f"counted_inactive_{i}")
            m.d.sync += [later.eq(counted), later_inactive.eq(counted_inactive)]
            counted, counted_inactive = later, later_inactive
        m.d.sync += [feeding.eq(0), feed_tag.valid.eq(0)]

        def issue(addr, inside, slot, b=0, hold=0, first=1):
            """Read the input word `addr` (unless outside the image) and feed it next cycle
            with register-file `slot`, tagged with the pixel's output word."""
            m.d.comb += [self.input_read.en.eq(inside),
                         self.input_read.addr.eq(addr[:len(self.input_read.addr)])]
            m.d.sync += [
                feeding.eq(1), feed_slot.eq(slot), feed_pad.eq(~inside), feed_b.eq(b),
                feed_tag.valid.eq(1), feed_tag.addr.eq(pixel.out), feed_tag.hold.eq(hold),
                feed_tag.first.eq(chunk.first & pair.first & first),
            ]
        e = self.events
        m.d.comb += [
            self.idle.eq(~feeding),
            self.x.valid.eq(feeding),
            self.x.slot.eq(feed_slot),
            self.x.values.eq(self.array_vector(
                m, walk, Mux(feed_pad, self.pad_vector(), self.input_read.data)
                if fold is None else fold.vector(feed_pad))),
            self.tag.eq(feed_tag),
            e.busy_cycles.eq(feeding),
            *self.mac_events(feeding, active_macs),
            e.macs_gated.eq(Mux(counted, self.gated - counted_inactive, 0)),
            e.rf_writes.eq(Mux(self.w_commit, rows * cols, 0)),
            e.array_transfers.eq(Mux(feeding, 2 * rows * cols, 0)
                                 + Mux(self.w_shift, rows * cols, 0)),
        ]

        def early_shift():
            """At the commit of the chunk's last block: the next chunk's first block starts
            to shift in if its weights are in."""
            nc = self.next_chunk
            m.d.comb += [start_load.eq(nc.ready), start_addr.eq(nc.w_start),
                         start_red.eq(nc.red), start_last_k.eq(nc.last_k)]

        with m.FSM():
            with m.State("IDLE"):
                # The walk restarts in every idle cycle (from a stable chunk in the `run` one),
                # so `run` drives only the loader and the state.
                walk.restart()
                if fold is not None:
                    fold.restart()
                with m.If(self.run):
                    # Unless its first block is already shifting in or in (early).
                    m.d.comb += [start_load.eq(~loading & ~loaded),
                                 start_addr.eq(chunk.w_base + chunk.shift_first)]
                    m.next = "COMMIT"
            with m.State("COMMIT"):
                with m.If(loaded & slot_free):
                    m.d.comb += [self.w_commit.eq(1), self.w_slot.eq(slot)]
                    m.d.sync += [loaded.eq(0), macs_a.eq(self.block_macs(walk))]
                    pixel.load(block_hh, block_ww, chunk.window_base + walk.offset,
                               chunk.out_base)
                    pair.start_a()
                    with m.If(~walk.last_block):
                        m.d.comb += [start_load.eq(1),
                                     start_addr.eq(shift_base + walk.block + 1)]
                    with m.Else():
                        early_shift()
                    m.d.comb += self.prefetch.eq(walk.block == 0)
                    with m.If(d.paired & ~walk.last_block):
                        walk.step()
                        m.next = "HEAD"
                    with m.Else():
                        m.next = "STREAM"
                    if fold is not None:
                        fold.start_block()
            with m.State("STREAM"):
                issue(pixel.addr, inside, slot)
                pixel.next_to(pixel, step_ww, step_hh)
                with m.If(last_pixel):
                    m.d.sync += slot.eq(next_slot)
                    walk.step()
                    with m.If(~walk.last_block):
                        m.next = "COMMIT"
                    with m.Else():
                        m.d.comb += self.chunk_done.eq(1)
                        m.next = "IDLE"
                if fold is not None:
                    fold.issue(feeding, last_pixel)
            with m.State("HEAD"):
                issue(pixel.addr, inside, slot)
                pixel.next_to(pixel, step_ww, step_hh)
                pair.count()
                with m.If(pair.alone_done):
                    m.next = "COMMIT_B"
            with m.State("COMMIT_B"):
                with m.If(loaded & next_free):
                    m.d.comb += [self.w_commit.eq(1), self.w_slot.eq(next_slot)]
                    m.d.sync += [loaded.eq(0), macs_b.eq(self.block_macs(walk))]
                    pair.start_b()
                    with m.If(~walk.last_block):
                        m.d.comb += [start_load.eq(1),
                                     start_addr.eq(shift_base + walk.block + 1)]
                    with m.Else():
                        early_shift()
                    m.next = "BODY"
            with m.State("BODY"):
                with m.If(~pair.phase_b):
                    issue(pixel.addr, inside, slot, hold=1)
                    pair.prepare_b()
                with m.Else():
                    issue(pair.b_addr, pair.b_inside, next_slot, b=1)
                    pixel.next_to(pixel, step_ww, step_hh)
                    with m.If(last_pixel):
                        pixel.load(block_hh, block_ww, chunk.window_base + walk.offset,
                                   chunk.out_base)
                        pair.start_tail()
                        m.next = "TAIL"
                m.d.sync += pair.phase_b.eq(~pair.phase_b)
            with m.State("TAIL"):
                issue(pixel.addr, inside, next_slot, b=1, first=0)
                pixel.next_to(pixel, step_ww, step_hh)
                pair.count()
                with m.If(pair.alone_done):
                    m.d.sync += slot.eq(after_pair)
                    walk.step()
                    with m.If(~walk.last_block):
                        m.next = "COMMIT"
                    with m.Else():
                        m.d.comb += self.chunk_done.eq(1)
                        m.next = "IDLE"
            if fold is not None:
                with m.State("PRIME"):
                    fold.prime()
        return m


class _PairRegisters:
    """The paired schedule's registers in a WeightStationaryLoop's module `m`: the taps of
    the block the pixel walk steps, the pixels left to stream alone, and B's offsets from A
    (taps and input word), with B's word and inside flag registered in A's cycle."""

    def __init__(self, m, walk, pixel):
        self.m, self.walk, self.pixel, self.d = m, walk, pixel, walk.d
        self.tap_r = Signal.like(walk.tap_r, name="pair_tap_r")
        self.tap_s = Signal.like(walk.tap_s, name="pair_tap_s")
        self.offset = Signal.like(walk.offset, name="pair_offset")     # A's
        self.first = Signal(name="pair_first")            # A is the chunk's first block
        self.alone = Signal(COUNT_BITS, name="pair_alone_left")
        self.alone_done = self.alone == 0
        self.phase_b = Signal(name="pair_phase_b")
        self.b_dr = Signal(COORD, name="pair_b_dr")
        self.b_ds = Signal(COORD, name="pair_b_ds")
        self.b_delta = Signal(OFFSET, name="pair_b_delta")
        self.b_addr = Signal(OFFSET, name="pair_b_addr")
        self.b_inside = Signal(name="pair_b_inside")

    def start_a(self):
        """At a block's commit (walk at it): it is A, or a block streaming alone."""
        walk = self.walk
        self.m.d.sync += [self.tap_r.eq(walk.tap_r), self.tap_s.eq(walk.tap_s),
                          self.offset.eq(walk.offset), self.first.eq(walk.block == 0),
                          self.alone.eq(self.d.pair_alone - 1), self.phase_b.eq(0)]

    def start_b(self):
        """At B's commit (walk at B)."""
        walk = self.walk
        self.m.d.sync += [self.b_dr.eq(walk.tap_r - self.tap_r),
                          self.b_ds.eq(walk.tap_s - self.tap_s),
                          self.b_delta.eq(walk.offset - self.offset)]

    def prepare_b(self):
        """In A's cycle of a pixel: B's word of the same pixel, and whether it is inside."""
        self.m.d.sync += [self.b_addr.eq(self.pixel.addr + self.b_delta),
                          self.b_inside.eq(self.pixel.inside(self.b_dr, self.b_ds))]

    def start_tail(self):
        """After the body's last pixel: the pixel walk restarts for B (walk at B)."""
        walk = self.walk
        self.m.d.sync += [self.tap_r.eq(walk.tap_r), self.tap_s.eq(walk.tap_s),
                          self.alone.eq(self.d.pair_alone - 1)]

    def count(self):
        """A pixel streamed alone."""
        self.m.d.sync += self.alone.eq(self.alone - 1)
