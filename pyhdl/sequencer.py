"""The layer sequencer: the loops of a layer that every dataflow shares, and their DMA jobs."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import ADDR_BITS, COORD_BITS, COUNT_BITS, OFFSET_BITS
from models.registers import WORDS_BITS

from .arith import carry_select_add
from .csr import descriptor_layout
from .dma import ReadJob, WriteJob
from .inner_loop import chunk_layout, next_chunk_layout

STEP = signed(ADDR_BITS + 2)
"""Signed DRAM-beat and pixel positions of a tile's band (negative inside the top padding)."""


def _max0(a):
    return Mux(a < 0, 0, a)


class LayerSequencer(wiring.Component):
    """Walks a layer's outer loops and runs its DMA jobs; the inner loop does the rest.

    Loop nest (outermost first), with the buffer each level fills:
        once, if the layer adds a bias:  DMA the bias row to the bias buffer
        for each image, each tile of output rows:
                                  DMA the tile's input band (all channels) to the input buffer
          for each group of filter blocks whose outputs fit the output buffer,
           each block of `cols` filters in it,
            each chunk of channels whose weights fit the weight buffer:
                                  DMA its weights (descriptor `w_*` fields) to the weight
                                  buffer, then `run` the inner loop on it
           when the group is done:  DMA its outputs (a slice of every output pixel) to DRAM
    A tile may span several whole images: the mapper then describes each run of images as
    one image of one tile (descriptor `n`, `image_px`, `x_image_beats` and the tile fields
    count whole runs), and the inner loop's window walk steps from image to image.
    With `w_resident` set the layer's weights all fit the weight buffer: the first tile
    loads each filter block to its own region (`w_block_words` apart) and later tiles, of
    every image, run on them without a weight load, so each weight crosses DRAM once.  With
    `w_stream_blocks` set too, only the blocks before the last `w_stream_blocks` stay
    resident (a region per chunk); the last ones load every tile, chunk by chunk, into the
    region after them.
    With `w_half_words` set the weight buffer is two halves: when the inner loop says
    (`prefetch`), the next chunk's weights are fetched into the other half.  With
    `y_half_words` set the output buffer is two halves: a group accumulates in one while the
    previous group is written back from the other; otherwise the next tile's band and weights
    still load during a write-back, and only the inner loop waits for it.  With `x_half_words`
    set the input buffer is two halves: once the tile's weights no longer need the DMA reader
    (they are resident, or its last chunk is running), the next tile's band (of the same
    image) loads into the other half while the tile's blocks stream; the reader, shared with
    the weights, takes the band only when no weight load is offered, and the next tile's
    first weight load waits for the band.  Every address and count steps by adders from
    descriptor fields (the mapper computes the products).

    Ports:
        descriptor: In, the layer.  start: In(1), a pulse.  busy: Out(1).
        done: Out(1), a pulse in the layer's last cycle.
        input_job, weight_job, bias_job, write_job: Out(stream), the DMA jobs; never more
            than one of input_job and weight_job offered at once.
        input_busy, weight_busy, bias_busy, writer_busy: In(1), their engines at work.
        load_weights: Out(1), the reader of a shared read port fills the weight buffer.
        loading_bias: Out(1), the DRAM read port is the bias reader's.
        run: Out(1), chunk: Out(chunk_layout), chunk_done, prefetch, drained: In(1), the
            inner loop (see pyhdl/inner_loop.py); `drained`: its results are all in the
            output buffer.
        next_chunk: Out(next_chunk_layout), the chunk after the running one: `ready` while
            it follows in the same tile and its weights are in (resident, or prefetched and
            the reader done), so the inner loop may shift its first block in early.
        k_word_base: Out, the first filter block of the group being written back.
        x_table_row: Out, the input band's first pixel in X (its length-table entry), valid
            with input_job.
    Latency: `start` to the bias or band job: one cycle (two with a bias).
    Counts nothing.
    """

    def __init__(self, output_addr_bits):
        self.output_addr_bits = output_addr_bits
        super().__init__({
            "descriptor": In(descriptor_layout()),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "input_job": Out(stream.Signature(ReadJob)),
            "input_busy": In(1),
            "weight_job": Out(stream.Signature(ReadJob)),
            "weight_busy": In(1),
            "load_weights": Out(1),
            "bias_job": Out(stream.Signature(ReadJob)),
            "bias_busy": In(1),
            "loading_bias": Out(1),
            "write_job": Out(stream.Signature(WriteJob)),
            "writer_busy": In(1),
            "run": Out(1),
            "chunk": Out(chunk_layout(output_addr_bits)),
            "next_chunk": Out(next_chunk_layout()),
            "chunk_done": In(1),
            "prefetch": In(1),
            "drained": In(1),
            "k_word_base": Out(COUNT_BITS),
            "x_table_row": Out(ADDR_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.descriptor

        def layer_constant(name, shape, value):
            """A value of the descriptor alone, registered (read from the cycle after
            `start` on: the descriptor is written before it)."""
            reg = Signal(shape, name=name, reset_less=True)
            m.d.sync += reg.eq(value)
            return reg

        tiles_m1 = layer_constant("tiles_m1", COUNT_BITS, d.tiles - 1)
        n_m1 = layer_constant("n_m1", COUNT_BITS, d.n - 1)
        k_blocks_m1 = layer_constant("k_blocks_m1", COUNT_BITS, d.k_blocks - 1)
        k_blocks_m2 = layer_constant("k_blocks_m2", COUNT_BITS, d.k_blocks - 2)
        c_chunks_m1 = layer_constant("c_chunks_m1", COUNT_BITS, d.c_chunks - 1)
        c_chunks_m2 = layer_constant("c_chunks_m2", COUNT_BITS, d.c_chunks - 2)
        c_blocks_m1 = layer_constant("c_blocks_m1", COUNT_BITS, d.c_blocks - 1)
        first_stream_kb = layer_constant("first_stream_kb", COUNT_BITS,
                                         d.k_blocks - d.w_stream_blocks)

        # --- images and tiles of output rows ----------------------------------------------
        image = Signal(COUNT_BITS)
        tile = Signal(COUNT_BITS)
        last_tile = Signal()                   # tile == tiles - 1
        h_start = Signal(signed(COORD_BITS))   # input row of the tile's first window
        start_px = Signal(STEP)                # h_start * w
        end_px = Signal(STEP)                  # start_px + band_span_px
        last_end_px = Signal(STEP)             # start_px + last_band_span_px
        start_words = Signal(signed(OFFSET_BITS))   # h_start * line_words
        start_beats = Signal(STEP)             # h_start * x_line_beats
        x_image = Signal(ADDR_BITS)
        x_image_px = Signal(ADDR_BITS)         # image * image_px: the image's first pixel
        y_addr = Signal(ADDR_BITS)
        band_addr = Signal(ADDR_BITS)          # DRAM beat of the band
        band_end = Signal(COUNT_BITS)          # the band's end pixel, low bits
        band_beyond = Signal()                 # the band's span ends past the image
        band_first = Signal(COUNT_BITS)        # the band's first pixel, low bits
        window_base = Signal(signed(OFFSET_BITS))
        tile_h_start = Signal(signed(COORD_BITS))   # h_start of the tile that runs
        x_halves = d.x_half_words != 0
        x_load_half = Signal()                 # the input-buffer half the next band fills
        x_run_half = Signal()                  # the half the running tile's band is in
        ahead = Signal()                       # the tile registers are the next tile's
        m.d.comb += self.x_table_row.eq(x_image_px + band_first)
        tile_rows = Signal(COUNT_BITS)
        tile_pixels = Signal(COUNT_BITS)

        def first_tile():
            m.d.sync += [tile.eq(0), last_tile.eq(d.tiles == 1), h_start.eq(-d.pad),
                         start_px.eq(-d.pad_px), end_px.eq(d.band_span_px - d.pad_px),
                         last_end_px.eq(d.last_band_span_px - d.pad_px),
                         start_words.eq(-d.pad_line_words), start_beats.eq(-d.pad_line_beats)]

        def next_tile():
            m.d.sync += [tile.eq(tile + 1), last_tile.eq(tile + 1 == tiles_m1),
                         h_start.eq(h_start + d.tile_h_step),
                         start_px.eq(start_px + d.tile_px_step),
                         end_px.eq(end_px + d.tile_px_step),
                         last_end_px.eq(last_end_px + d.tile_px_step),
                         start_words.eq(start_words + d.tile_words),
                         start_beats.eq(start_beats + d.tile_x_beats)]

        # --- groups of filter blocks, blocks, chunks ---------------------------------------
        kb = Signal(COUNT_BITS)
        last_kb = kb == k_blocks_m1
        kb_in_group = Signal(COUNT_BITS)       # kb - group_first_kb
        group_first_kb = Signal(COUNT_BITS)
        group_end_kb = Signal(COUNT_BITS)      # group_first_kb + k_group_blocks - 1
        blocks_left = Signal(COUNT_BITS)       # k_blocks - group_first_kb
        last_group = Signal()                  # blocks_left <= k_group_blocks
        group_offset = Signal(COUNT_BITS)      # beats into an output row where it starts
        group_blocks = Mux(last_group, blocks_left, d.k_group_blocks)
        last_kb_in_group = kb == Mux(last_group, k_blocks_m1, group_end_kb)
        y_half = Signal()
        y_base = Mux(y_half, d.y_half_words, 0)
        halves = d.y_half_words != 0
        write_k_base = Signal(COUNT_BITS)

        chunk = Signal(COUNT_BITS)
        chunk_first_cb = Signal(COUNT_BITS)
        chunk_last_cb = Signal(COUNT_BITS)     # chunk_first_cb + c_chunk_blocks - 1
        last_chunk = chunk == c_chunks_m1
        chunk_addr = Signal(ADDR_BITS)         # DRAM beat of this chunk's weights
        next_chunk_addr = Signal(ADDR_BITS)    # ... of the next chunk of this block
        next_block_addr = Signal(ADDR_BITS)    # ... of the next block's first chunk
        w_half = Signal()                      # the weight-buffer half of this chunk
        w_block_base = Signal(WORDS_BITS)      # a resident chunk's region, or the streamed one
        weights_in = Signal()                  # every block's weights are resident
        prefetched = Signal()                  # the next chunk is in (or on its way to) it
        has_next = ~last_chunk | ~last_kb
        streams = kb >= first_stream_kb        # this block loads every tile
        next_streams = Mux(last_chunk, kb + 1, kb) >= first_stream_kb

        c = self.chunk
        m.d.comb += [
            c.first.eq(chunk == 0),
            c.first_cb.eq(chunk_first_cb),
            c.last_cb.eq(Mux(last_chunk, c_blocks_m1, chunk_last_cb)),
            c.red.eq(Mux(last_chunk, d.last_chunk_red, d.chunk_red)),
            c.last_k.eq(last_kb),
            c.w_base.eq(Mux(w_half, d.w_half_words, w_block_base)),
            c.shift_first.eq(Mux(last_chunk, d.last_shift_first, d.shift_first)),
            c.out_base.eq(kb_in_group + y_base),
            c.out_step.eq(group_blocks),
            c.tile_rows.eq(tile_rows),
            c.tile_pixels.eq(tile_pixels),
            c.h_start.eq(tile_h_start),
            c.window_base.eq(window_base),
            self.k_word_base.eq(write_k_base),
        ]

        def weight_load(job, addr, is_last_kb, is_last_chunk, half):
            """Offer the weight load of a chunk at DRAM `addr` into weight-buffer `half`."""
            p = job.payload
            m.d.comb += [
                job.valid.eq(1),
                p.base.eq(Mux(half, d.w_half_words, w_block_base)),
                p.addr.eq(addr),
                p.rows.eq(Mux(is_last_kb, Mux(is_last_chunk, d.w_rows_last_both, d.w_rows_last_k),
                              Mux(is_last_chunk, d.w_rows_last_chunk, d.w_rows))),
                p.row_beats.eq(Mux(is_last_chunk, d.w_last_slice_beats, d.w_slice_beats)),
                p.pitch.eq(d.w_row_beats),
                p.row_elems.eq(Mux(is_last_chunk, d.w_last_row_elems, d.w_row_elems)),
            ]

        def prefetch():
            """Offer the next chunk's load; it is prefetched if the reader takes it."""
            job = self.weight_job
            weight_load(job,
                        Mux(last_chunk, next_block_addr, next_chunk_addr),
                        Mux(last_chunk, kb == k_blocks_m2, last_kb),
                        Mux(last_chunk, c_chunks_m1 == 0, chunk == c_chunks_m2),
                        ~w_half)
            m.d.sync += [prefetched.eq(job.ready), self.load_weights.eq(1)]

        def first_chunk(addr):
            """The first chunk of the filter block whose weights start at DRAM `addr`."""
            m.d.sync += [chunk.eq(0), chunk_first_cb.eq(0),
                         chunk_last_cb.eq(d.c_chunk_blocks - 1), chunk_addr.eq(addr),
                         next_chunk_addr.eq(addr + d.w_chunk_step),
                         next_block_addr.eq(addr + d.w_block_beats)]

        def next_chunk():
            """The next chunk of this filter block, or the first of the next block."""
            m.d.sync += w_block_base.eq(w_block_base + Mux(streams, 0, d.w_block_words))
            with m.If(~last_chunk):
                m.d.sync += [chunk.eq(chunk + 1),
                             chunk_first_cb.eq(chunk_first_cb + d.c_chunk_blocks),
                             chunk_last_cb.eq(chunk_last_cb + d.c_chunk_blocks),
                             chunk_addr.eq(next_chunk_addr),
                             next_chunk_addr.eq(next_chunk_addr + d.w_chunk_step)]
            with m.Else():
                m.d.sync += [kb.eq(kb + 1), kb_in_group.eq(kb_in_group + 1)]
                first_chunk(next_block_addr)

        def to_next_chunk():
            """Go on to the next chunk: straight to its run if it was prefetched."""
            with m.If(prefetched):
                m.d.sync += [w_half.eq(~w_half), prefetched.eq(0)]
                m.next = "WAIT_W"
            with m.Elif(weights_in & ~next_streams):
                m.next = "WAIT_W"
            with m.Else():
                m.next = "LOAD_W"

        def band_fields():
            """The band of the tile the tile registers describe: input rows max(h_start, 0)
            to min(h_start + span, h), in pixels (its pixel count is their difference)."""
            end = Mux(last_tile, last_end_px, end_px)
            m.d.sync += [
                band_addr.eq(x_image + _max0(start_beats)),
                band_end.eq(end[:COUNT_BITS]),
                band_beyond.eq(end > d.image_px),
                band_first.eq(Mux(start_px < 0, 0, start_px[:COUNT_BITS])),
            ]

        # The next tile's band, loaded ahead (x_half_words): NONE, or the tile registers
        # stepped (FIELDS), its job offered (OFFER), taken by the reader (TAKEN).
        band_ahead = Signal(range(4))
        NONE, FIELDS, OFFER, TAKEN = range(4)
        band_offer = Signal()
        p = self.input_job.payload
        m.d.comb += [
            self.input_job.valid.eq(band_offer & ~self.weight_job.valid),
            p.base.eq(Mux(x_load_half, d.x_half_words, 0)), p.addr.eq(band_addr),
            p.rows.eq(Mux(band_beyond, d.image_px[:COUNT_BITS], band_end) - band_first),
            p.row_beats.eq(d.x_row_beats), p.pitch.eq(d.x_pitch), p.row_elems.eq(d.c),
        ]
        band_taken = self.input_job.valid & self.input_job.ready
        with m.If(band_taken):
            m.d.sync += [x_load_half.eq(x_load_half ^ x_halves), self.load_weights.eq(0)]
        with m.Switch(band_ahead):
            with m.Case(FIELDS):
                band_fields()
                m.d.sync += band_ahead.eq(OFFER)
            with m.Case(OFFER):
                m.d.comb += band_offer.eq(1)
                with m.If(band_taken):
                    m.d.sync += band_ahead.eq(TAKEN)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    first_tile()
                    m.d.sync += [image.eq(0), x_image.eq(d.x_addr), x_image_px.eq(0),
                                 y_addr.eq(d.y_addr), y_half.eq(0), weights_in.eq(0),
                                 x_load_half.eq(0), x_run_half.eq(0), ahead.eq(0),
                                 band_ahead.eq(NONE)]
                    with m.If(d.post.bias):
                        m.next = "LOAD_BIAS"
                    with m.Else():
                        m.next = "BAND"
            with m.State("LOAD_BIAS"):
                p = self.bias_job.payload
                m.d.comb += [
                    self.loading_bias.eq(1),
                    self.bias_job.valid.eq(1),
                    p.base.eq(0), p.addr.eq(d.b_addr), p.rows.eq(1),
                    p.row_beats.eq(d.b_row_beats), p.pitch.eq(d.b_row_beats),
                    p.row_elems.eq(d.k),
                ]
                with m.If(self.bias_job.ready):
                    m.next = "WAIT_BIAS"
            with m.State("WAIT_BIAS"):
                m.d.comb += self.loading_bias.eq(1)
                with m.If(~self.bias_busy):
                    m.next = "BAND"
            with m.State("BAND"):
                # The tile the tile registers describe starts: its band (unless it was
                # loaded ahead) and where it lies in the input buffer.
                band_fields()
                m.d.sync += [
                    window_base.eq(Mux(h_start < 0, start_words, 0) - d.pad_words
                                   + Mux(x_run_half, d.x_half_words, 0)),
                    tile_h_start.eq(h_start),
                    tile_rows.eq(Mux(last_tile, d.last_tile_p, d.tile_p)),
                    tile_pixels.eq(Mux(last_tile, d.last_tile_pixels, d.tile_pixels)),
                ]
                m.next = "LOAD_X"
            with m.State("LOAD_X"):
                m.d.comb += band_offer.eq(band_ahead == NONE)
                with m.If((band_ahead == TAKEN) | band_taken):
                    m.d.sync += [band_ahead.eq(NONE), x_run_half.eq(x_run_half ^ x_halves)]
                    m.d.sync += [kb.eq(0), kb_in_group.eq(0), group_first_kb.eq(0),
                                 group_end_kb.eq(d.k_group_blocks - 1),
                                 blocks_left.eq(d.k_blocks),
                                 last_group.eq(d.k_blocks <= d.k_group_blocks),
                                 group_offset.eq(0), w_half.eq(0), w_block_base.eq(0),
                                 prefetched.eq(0)]
                    first_chunk(d.w_addr)
                    with m.If(weights_in & (first_stream_kb != 0)):
                        m.next = "WAIT_W"
                    with m.Else():
                        m.next = "LOAD_W"
            with m.State("LOAD_W"):
                weight_load(self.weight_job, chunk_addr, last_kb, last_chunk, w_half)
                m.d.comb += self.weight_job.valid.eq(~self.weight_busy)
                with m.If(self.weight_job.valid & self.weight_job.ready):
                    m.d.sync += self.load_weights.eq(1)
                    m.next = "WAIT_W"
            with m.State("WAIT_W"):
                # A band the reader loads ahead is the next tile's: no chunk of this one waits.
                with m.If((~self.weight_busy | (band_ahead == TAKEN))
                          & (halves | ~self.writer_busy)):
                    m.d.comb += self.run.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(self.prefetch & has_next & (d.w_half_words != 0)):
                    prefetch()
                with m.If(x_halves & (band_ahead == NONE) & ~last_tile & ~self.weight_busy
                          & (weights_in | (last_chunk & last_kb))):
                    # No weight load comes before the next tile's: its band may load.
                    next_tile()
                    m.d.sync += [ahead.eq(1), band_ahead.eq(FIELDS)]
                with m.If(self.chunk_done):
                    with m.If(~last_chunk | ~last_kb_in_group):
                        next_chunk()
                        to_next_chunk()
                    with m.Else():
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(self.drained):
                    m.next = "STORE_Y"
            with m.State("STORE_Y"):
                p = self.write_job.payload
                m.d.comb += [
                    self.write_job.valid.eq(1),
                    p.base.eq(y_base),
                    p.addr.eq(y_addr + group_offset),
                    p.rows.eq(tile_pixels),
                    p.row_words.eq(group_blocks),
                    p.row_beats.eq(Mux(last_group, d.y_row_beats - group_offset,
                                       d.y_group_beats)),
                    p.pitch.eq(d.y_pitch),
                    p.word_elems.eq(d.y_word_elems),
                    p.last_elems.eq(Mux(last_group, d.y_last_elems, d.y_word_elems)),
                ]
                with m.If(self.write_job.ready):
                    m.d.sync += [write_k_base.eq(group_first_kb), y_half.eq(y_half ^ halves)]
                    m.next = "WAIT_Y"
            with m.State("WAIT_Y"):
                # The write-back runs on while the next group or tile starts; only the end
                # of the layer waits for it.
                with m.If(~last_group):
                    m.d.sync += [group_first_kb.eq(group_first_kb + d.k_group_blocks),
                                 group_end_kb.eq(group_end_kb + d.k_group_blocks),
                                 blocks_left.eq(blocks_left - d.k_group_blocks),
                                 last_group.eq(blocks_left - d.k_group_blocks
                                               <= d.k_group_blocks),
                                 group_offset.eq(group_offset + d.y_group_beats)]
                    next_chunk()
                    m.d.sync += kb_in_group.eq(0)
                    to_next_chunk()
                with m.Elif(ahead):
                    # The tile registers already step to the next tile (of this image).
                    m.d.sync += [weights_in.eq(d.w_resident), ahead.eq(0),
                                 y_addr.eq(carry_select_add(y_addr, d.tile_y_beats))]
                    m.next = "BAND"
                with m.Elif(~(last_tile & (image == n_m1))):
                    m.d.sync += weights_in.eq(d.w_resident)
                    m.d.sync += y_addr.eq(carry_select_add(
                        y_addr, Mux(last_tile, d.last_tile_y_beats, d.tile_y_beats)))
                    with m.If(last_tile):
                        first_tile()
                        m.d.sync += [image.eq(image + 1), x_image.eq(x_image + d.x_image_beats),
                                     x_image_px.eq(x_image_px + d.image_px)]
                    with m.Else():
                        next_tile()
                    m.next = "BAND"
                with m.Elif(~self.writer_busy):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))

        # The next chunk, as `next_chunk` and `to_next_chunk` will make it: registered from
        # the running chunk's registers (stable while it runs; a prefetch taken flips the
        # half a cycle before its reader reports done).
        nc = self.next_chunk
        next_last_chunk = Mux(last_chunk, c_chunks_m1 == 0, chunk == c_chunks_m2)
        next_block_base = w_block_base + Mux(streams, 0, d.w_block_words)
        next_resident = Signal()
        m.d.sync += [
            nc.w_start.eq(Mux(w_half ^ prefetched, d.w_half_words, next_block_base)
                          + Mux(next_last_chunk, d.last_shift_first, d.shift_first)),
            nc.red.eq(Mux(next_last_chunk, d.last_chunk_red, d.chunk_red)),
            nc.last_k.eq(Mux(last_chunk, kb == k_blocks_m2, last_kb)),
            next_resident.eq(has_next & weights_in & ~next_streams),
        ]
        m.d.comb += nc.ready.eq(Mux(prefetched, ~self.weight_busy, next_resident))
        return m
