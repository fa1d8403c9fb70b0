"""Bitmask compression of int8 activation rows on their way to DRAM (models/compression.py).

`BitmaskEncoder` turns one dense bus beat into its encoding (mask, then the non-zero bytes);
`BitmaskDecoder` undoes it.  `RowCompressor` sits between the DMA writer's beats and the DRAM
write port: it holds each pixel row until it knows whether the row is shorter encoded, packs
the unit's pixels (encoded or dense) into one stream over the unit's slots, and writes the
length table.  `CompressedRowFetcher` reads them back in the DMA reader.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.hdl import Assert
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import ADDR_BITS, BURST_BITS, COUNT_BITS

from .gearbox import RowGearbox
from .interfaces import DramCommand


DENSE_ENTRY = 0
"""The table entry of a pixel stored dense (models/compression.py DENSE_ENTRY)."""


def _bytes(value, count):
    return [value[8 * i:8 * (i + 1)] for i in range(count)]


def _prefix_counts(m, bits, name):
    """(pos, total): signals pos[i] = how many of bits[:i] are set, and how many of all are,
    by a parallel prefix (log2 of the bits' count levels of adders: a beat's positions are
    on the encoder's and decoder's paths, its total on the decompressor's window loop)."""
    sums = list(bits)                      # sums[i]: how many of bits[:i + 1] are set
    step = 1
    while step < len(sums):
        sums = [total if i < step else total + sums[i - step] for i, total in enumerate(sums)]
        step *= 2
    counts = [Const(0, 1)]
    for i, running in enumerate(sums[:-1], start=1):
        pos = Signal(range(i + 1), name=f"{name}_{i}")
        m.d.comb += pos.eq(running)
        counts.append(pos)
    total = Signal(range(len(bits) + 1), name=f"{name}_total")
    m.d.comb += total.eq(sums[-1])
    return counts, total


class _BeatCodec(wiring.Component):
    """A combinational codec of one beat of B bytes; its signature is `ports(width)`, `width`
    the bytes of a beat's longest encoding (B + B/8)."""

    def __init__(self, bus_bytes):
        self.bus_bytes = bus_bytes
        self.mask_bytes = bus_bytes // 8
        super().__init__(self.ports(bus_bytes + self.mask_bytes))

    def ports(self, width):
        raise NotImplementedError


def _packed_job_ports(rows=True):
    """The ports that start a job of packed units (PackedBursts, RowCompressor,
    CompressedRowFetcher): `start` latches the job's first slot `addr`, the slots' `pitch`,
    its pixels (`rows`, unless the block counts none), their `row_beats` and `unit_rows`."""
    return {"start": In(1), "addr": In(ADDR_BITS), "pitch": In(BURST_BITS),
            **({"rows": In(COUNT_BITS)} if rows else {}),
            "row_beats": In(BURST_BITS), "unit_rows": In(COUNT_BITS)}


def _start_packed_bursts(m, bursts, job):
    """Wire a PackedBursts' job ports to the same ports of `job`'s block."""
    m.d.comb += [getattr(bursts, name).eq(getattr(job, name))
                 for name in _packed_job_ports(rows=False)]


class BitmaskEncoder(_BeatCodec):
    """One dense beat of B bytes -> its encoding: B/8 mask bytes (bit i: byte i is not zero),
    then the non-zero bytes in order, zeros after them.  Combinational.

    Ports:
        dense: In(8 * B).
        chunk: Out(8 * (B + B/8)), the encoding, mask first.
        count: Out, bytes of the encoding: B/8 + nonzero.
        nonzero: Out, non-zero bytes of the beat.
    Latency: none (combinational).  Counts nothing.
    """

    def ports(self, width):
        return {
            "dense": In(8 * self.bus_bytes),
            "chunk": Out(8 * width),
            "count": Out(range(width + 1)),
            "nonzero": Out(range(self.bus_bytes + 1)),
        }

    def elaborate(self, platform):
        m = Module()
        values = _bytes(self.dense, self.bus_bytes)
        mask = Cat(value.any() for value in values)
        positions, total = _prefix_counts(m, list(mask), "pos")
        packed = []
        for k in range(self.bus_bytes):
            # Byte i lands at position pos[i] <= i, so output k takes one of bytes k.. only.
            terms = [Mux(mask[i] & (positions[i] == k), values[i], 0)
                     for i in range(k, self.bus_bytes)]
            byte = Signal(8, name=f"packed_{k}")
            m.d.comb += byte.eq(_or_all(terms))
            packed.append(byte)
        m.d.comb += [
            self.chunk.eq(Cat(mask, *packed)),
            self.nonzero.eq(total),
            self.count.eq(self.mask_bytes + total),
        ]
        return m


def _or_all(terms):
    result = terms[0]
    for term in terms[1:]:
        result = result | term
    return result


class BitmaskDecoder(_BeatCodec):
    """The encoding of one beat at the head of `window` -> the dense beat.  Combinational.

    Ports:
        window: In(8 * (B + B/8)), encoded bytes, the beat's mask first.
        dense: Out(8 * B).
        used: Out, bytes of the window the beat's encoding takes: B/8 + its non-zeros.
    Latency: none (combinational).  Counts nothing.
    """

    def ports(self, width):
        return {
            "window": In(8 * width),
            "dense": Out(8 * self.bus_bytes),
            "used": Out(range(width + 1)),
        }

    def elaborate(self, platform):
        m = Module()
        mask = self.window[:self.bus_bytes]
        values = self.window[8 * self.mask_bytes:]
        positions, total = _prefix_counts(m, list(mask), "pos")
        m.d.comb += [
            self.dense.eq(Cat(Mux(mask[i], values.word_select(positions[i], 8), 0)
                              for i in range(self.bus_bytes))),
            self.used.eq(self.mask_bytes + total),
        ]
        return m


def dense_beat_layout(bus_bytes):
    """A dense beat of a row on its way to the compressor; `last` ends the row."""
    return data.StructLayout({"data": 8 * bus_bytes, "last": 1})


def pixel_layout():
    """How the decompressor restores a pixel: `dense` (stored dense) and `last` (its unit's)."""
    return data.StructLayout({"dense": 1, "last": 1})


class PackedBursts(wiring.Component):
    """The DRAM commands of packed units (models/compression.py), pixel by pixel.

    For each job (`start`): pixels in units of `unit_rows`, pixel j's slot at beat
    `addr + j * pitch`, `row_beats` dense beats each.  A unit's stream fills the beats of its
    slots in order; for each pixel (its stored bytes on `i`) the commands cover the stream
    beats it completes, and for a unit's last pixel every beat left, each command within one
    slot.  So a beat's command goes out as soon as its last byte is known, and the next pixel
    is taken in the cycle the last command of the one before goes out.

    Ports:
        start: In(1), latch `addr`, `pitch`, `row_beats`, `unit_rows` (when not busy).
        i: In(stream of a pixel's stored bytes); last: Out(1), the pixel on `i` ends its unit.
        cmd: Out(stream of DramCommand); unit_end: Out(1), the command ends its unit.
        busy: Out(1), commands of the pixel taken remain.
    Latency: a pixel's first command is offered the cycle after the pixel is taken.
    """

    def __init__(self, bus_bytes, max_row_beats):
        self.bus_bytes = bus_bytes
        self.max_row_beats = max_row_beats
        super().__init__({
            **_packed_job_ports(rows=False),
            "i": In(stream.Signature(range(max_row_beats * bus_bytes + 1))),
            "last": Out(1),
            "cmd": Out(stream.Signature(DramCommand)),
            "unit_end": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, shift = self.bus_bytes, (self.bus_bytes - 1).bit_length()
        row_beats, pitch, unit_rows = (Signal(BURST_BITS), Signal(BURST_BITS),
                                       Signal(COUNT_BITS))
        frac = Signal(range(bus))              # bytes of the unit's partial beat
        pending = Signal(range(self.max_row_beats + 2))
        end = Signal()                         # the pending beats end the unit
        unit_left = Signal(COUNT_BITS)
        pixel_addr = Signal(ADDR_BITS)         # the slot of the next pixel taken
        next_unit = Signal(ADDR_BITS)          # the slot after the unit's last pixel
        cmd_addr = Signal(ADDR_BITS)
        slot_addr = Signal(ADDR_BITS)          # the slot cmd_addr is in
        slot_left = Signal(BURST_BITS)
        with m.If(self.start):
            m.d.sync += [row_beats.eq(self.row_beats), pitch.eq(self.pitch),
                         unit_rows.eq(self.unit_rows), unit_left.eq(self.unit_rows),
                         frac.eq(0), pixel_addr.eq(self.addr), cmd_addr.eq(self.addr),
                         slot_addr.eq(self.addr), slot_left.eq(self.row_beats)]

        final = pending <= slot_left
        length = Mux(final, pending, slot_left)
        m.d.comb += [
            self.cmd.valid.eq(pending != 0),
            self.cmd.payload.addr.eq(cmd_addr),
            self.cmd.payload.length.eq(length),
            self.unit_end.eq(end & final),
            self.busy.eq(pending != 0),
            self.last.eq(unit_left == 1),
        ]
        fire = self.cmd.valid & self.cmd.ready
        m.d.comb += self.i.ready.eq((pending == 0) | (fire & final))
        with m.If(fire):
            m.d.sync += pending.eq(pending - length)
            with m.If(final & end):
                m.d.sync += [cmd_addr.eq(next_unit), slot_addr.eq(next_unit),
                             slot_left.eq(row_beats)]
            with m.Elif(~final | (length == slot_left)):
                m.d.sync += [cmd_addr.eq(slot_addr + pitch), slot_addr.eq(slot_addr + pitch),
                             slot_left.eq(row_beats)]
            with m.Else():
                m.d.sync += [cmd_addr.eq(cmd_addr + length), slot_left.eq(slot_left - length)]
        total = Signal(range(self.max_row_beats * bus + bus))
        m.d.comb += total.eq(frac + self.i.payload)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [pending.eq((total >> shift) + (self.last & (total[:shift] != 0))),
                         end.eq(self.last), pixel_addr.eq(pixel_addr + pitch),
                         frac.eq(Mux(self.last, 0, total[:shift])),
                         unit_left.eq(Mux(self.last, unit_rows, unit_left - 1))]
            with m.If(self.last):
                m.d.sync += next_unit.eq(pixel_addr + pitch)
        return m


class RowCompressor(wiring.Component):
    """Writes units of pixel rows to DRAM packed (models/compression.py), and their lengths.

    For each job (`start`): `rows` pixel rows of `row_beats` dense beats arrive on `i`, pixel
    j's slot at beat `addr + j * pitch`, in units of `unit_rows` pixels.  A pixel enters a
    buffer of `buffer_beats` beats (two rows of the longest) while its encoded length is
    summed; at its last beat its stored bytes are decided (the encoding if shorter than
    the dense row, else the row) and it leaves, encoded or as it came, through a gearbox
    that packs a unit's pixels into beats (padding only after the unit's last) to
    `dram_data`; PackedBursts gives the commands of the beats each pixel completes.

    A layer's jobs come tile by tile, each tile as `groups` jobs (one per group of output
    channels, each writing its slice of every pixel).  Each group has a length table of
    `group_table_beats` beats, one after the other from `table_addr`; pixel j of a job has its
    entry at byte j of the job's part of its group's table, which starts on a beat (the
    mapper makes every tile but the layer's last a whole number of beats of entries).  A table
    beat is written when its last entry is in, and at the end of the job: its command after
    that pixel's commands, its data straight to DRAM once the gearbox holds no whole beat
    (the unit's partial beat waits in the gearbox).

    Ports:
        i: In(stream of dense_beat_layout); stalled while the buffer or the decision queues
            are full.
        start: In(1), latch `addr`, `pitch`, `rows`, `row_beats`, `unit_rows` (when not busy).
        layer_start: In(1), the next job is the first tile's first group.
        table_addr, groups, group_table_beats: In, the tables (held during a layer).
        dram_cmd: Out(stream of DramCommand), issued as soon as a beat's bytes are decided
            (ahead of its data), and one per table beat written.
        dram_data: Out(stream of 8 * B bits); DRAM may stall it.
        busy: Out(1), rows of the job or beats remain.
        encoded: Out(1), a dense beat entered the encoder (the compressor's action).
    Latency: a pixel's first byte enters the staging register before the gearbox at the
    earliest two cycles after its last beat entered, the gearbox a cycle later, its commands
    at the earliest three cycles after.
    Assertions (checked in simulation): no row has more beats than `row_beats`.
    """

    DECISIONS = 4
    """Pixels whose stored bytes are decided but whose commands or data have not all left."""

    def __init__(self, bus_bytes, buffer_beats):
        self.bus_bytes = bus_bytes
        self.mask_bytes = bus_bytes // 8
        self.buffer_beats = buffer_beats
        super().__init__({
            **_packed_job_ports(),
            "i": In(stream.Signature(dense_beat_layout(bus_bytes))),
            "layer_start": In(1),
            "table_addr": In(ADDR_BITS),
            "groups": In(COUNT_BITS),
            "group_table_beats": In(ADDR_BITS),
            "dram_cmd": Out(stream.Signature(DramCommand)),
            "dram_data": Out(stream.Signature(8 * bus_bytes)),
            "busy": Out(1),
            "encoded": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, shift = self.bus_bytes, (self.bus_bytes - 1).bit_length()
        max_row_beats = self.buffer_beats // 2
        decision = data.StructLayout({"bytes": range(max_row_beats * bus + 1),
                                      "compressed": 1})
        beat_layout = dense_beat_layout(bus)
        m.submodules.buffer = buffer = fifo.SyncFIFOBuffered(width=beat_layout.size,
                                                             depth=self.buffer_beats)
        m.submodules.cmd_queue = cmd_queue = fifo.SyncFIFOBuffered(
            width=decision.size, depth=self.DECISIONS)
        m.submodules.data_queue = data_queue = fifo.SyncFIFOBuffered(
            width=decision.size, depth=self.DECISIONS)
        m.submodules.counter = counter = BitmaskEncoder(bus)
        m.submodules.encoder = encoder = BitmaskEncoder(bus)
        m.submodules.gearbox = gearbox = RowGearbox(8, bus + self.mask_bytes, bus)
        m.submodules.bursts = bursts = PackedBursts(bus, max_row_beats)

        row_beats = Signal(BURST_BITS)
        unit_rows = Signal(COUNT_BITS)
        with m.If(self.start):
            m.d.sync += [row_beats.eq(self.row_beats), unit_rows.eq(self.unit_rows)]
        _start_packed_bursts(m, bursts, self)

        # --- where each job's table entries go: its group's table, from its tile's beat ----
        group = Signal(COUNT_BITS)
        group_table = Signal(ADDR_BITS)        # group * group_table_beats
        tile_table = Signal(ADDR_BITS)         # beats of each table before this tile's
        job_table = Signal(ADDR_BITS)
        with m.If(self.layer_start):
            m.d.sync += [group.eq(0), group_table.eq(0), tile_table.eq(0)]
        with m.Elif(self.start):
            m.d.sync += job_table.eq(self.table_addr + group_table + tile_table)
            with m.If(group + 1 == self.groups):
                m.d.sync += [group.eq(0), group_table.eq(0),
                             tile_table.eq(tile_table + ((self.rows + bus - 1) >> shift))]
            with m.Else():
                m.d.sync += [group.eq(group + 1),
                             group_table.eq(group_table + self.group_table_beats)]

        # --- in: buffer the row, sum its encoded bytes, decide at its last beat ------------
        row_bytes = Signal(range(max_row_beats * (bus + self.mask_bytes) + 1))
        row_in_beats = Signal(range(max_row_beats + 1))
        total = Signal.like(row_bytes)
        dense_bytes = Signal(range(max_row_beats * bus + 1))
        decided = Signal(decision)
        incoming = Signal(beat_layout)
        m.d.comb += [
            incoming.eq(self.i.payload),
            counter.dense.eq(incoming.data),
            total.eq(row_bytes + counter.count),
            dense_bytes.eq(row_beats << shift),
            decided.compressed.eq(total < dense_bytes),
            decided.bytes.eq(Mux(decided.compressed, total, dense_bytes)),
            self.i.ready.eq(buffer.w_rdy & (~incoming.last | (cmd_queue.w_rdy
                                                              & data_queue.w_rdy))),
            buffer.w_data.eq(incoming),
            buffer.w_en.eq(self.i.valid & self.i.ready),
            cmd_queue.w_data.eq(decided),
            data_queue.w_data.eq(decided),
            cmd_queue.w_en.eq(buffer.w_en & incoming.last),
            data_queue.w_en.eq(buffer.w_en & incoming.last),
            self.encoded.eq(buffer.w_en),
        ]
        with m.If(buffer.w_en):
            m.d.sync += [row_bytes.eq(Mux(incoming.last, 0, total)),
                         row_in_beats.eq(Mux(incoming.last, 0, row_in_beats + 1))]
        m.d.sync += Assert(~buffer.w_en | (row_in_beats < row_beats),
                           "row compressor: a row longer than the job's rows")

        def table_due(index, rows_left):
            """After this pixel, a table beat is written: its last entry, or the job's last."""
            return (index[:shift] == bus - 1) | (rows_left == 1)

        # --- commands: the bursts' as pixels are decided, a table beat after its pixel's ---
        cmd_rows = Signal(COUNT_BITS)
        cmd_index = Signal(COUNT_BITS)
        table_wait = Signal()                  # a table beat's command follows the bursts'
        table_cmd_addr = Signal(ADDR_BITS)
        head = Signal(decision)
        table_now = table_wait & ~bursts.busy
        m.d.comb += [head.eq(cmd_queue.r_data), bursts.i.payload.eq(head.bytes)]
        with m.If(self.start):
            m.d.sync += [cmd_rows.eq(self.rows), cmd_index.eq(0)]
        with m.If(table_now):
            m.d.comb += [self.dram_cmd.valid.eq(1),
                         self.dram_cmd.payload.addr.eq(table_cmd_addr),
                         self.dram_cmd.payload.length.eq(1)]
            with m.If(self.dram_cmd.ready):
                m.d.sync += table_wait.eq(0)
        with m.Else():
            wiring.connect(m, bursts.cmd, wiring.flipped(self.dram_cmd))
        m.d.comb += [
            bursts.i.valid.eq(cmd_queue.r_rdy & (~table_wait
                                                 | (table_now & self.dram_cmd.ready))),
            cmd_queue.r_en.eq(bursts.i.valid & bursts.i.ready),
        ]
        with m.If(cmd_queue.r_en):
            m.d.sync += [cmd_rows.eq(cmd_rows - 1), cmd_index.eq(cmd_index + 1),
                         table_wait.eq(table_due(cmd_index, cmd_rows)),
                         table_cmd_addr.eq(job_table + (cmd_index >> shift))]

        # --- data: the pixels, encoded or dense, packed by the gearbox; table beats --------
        data_rows = Signal(COUNT_BITS)
        data_index = Signal(COUNT_BITS)
        data_unit_left = Signal(COUNT_BITS)
        entries = Signal(8 * bus)
        table_beat = Signal()     # the table beat goes next
        table_full = Signal()     # ... and it is complete: its entries start again after it
        row = Signal(decision)
        beat = Signal(beat_layout)
        m.d.comb += [row.eq(data_queue.r_data), beat.eq(buffer.r_data),
                     encoder.dense.eq(beat.data)]
        with m.If(self.start):
            m.d.sync += [data_rows.eq(self.rows), data_index.eq(0), entries.eq(0),
                         data_unit_left.eq(self.unit_rows)]
        # A beat's chunk (encoded or as it came) waits in a register before the gearbox, so
        # no path runs from the row buffer through the encoder into the gearbox.
        staged = Signal.like(gearbox.i.payload)
        staged_valid = Signal()
        load = Signal()
        m.d.comb += [
            load.eq(data_queue.r_rdy & buffer.r_rdy & ~table_beat
                    & (~staged_valid | gearbox.i.ready)),
            gearbox.i.valid.eq(staged_valid),
            gearbox.i.payload.eq(staged),
        ]
        with m.If(load):
            m.d.sync += [staged_valid.eq(1),
                         staged.data.eq(Mux(row.compressed, encoder.chunk, beat.data)),
                         staged.count.eq(Mux(row.compressed, encoder.count, bus)),
                         staged.last.eq(beat.last & (data_unit_left == 1))]
        with m.Elif(gearbox.i.ready):
            m.d.sync += staged_valid.eq(0)
        table_send = table_beat & ~staged_valid & ~gearbox.o.valid
        m.d.comb += [
            buffer.r_en.eq(load),
            data_queue.r_en.eq(load & beat.last),
            self.dram_data.valid.eq(gearbox.o.valid | table_send),
            self.dram_data.payload.eq(Mux(table_send, entries, gearbox.o.payload)),
            gearbox.o.ready.eq(self.dram_data.ready & ~table_send),
        ]
        with m.If(table_send & self.dram_data.ready):
            m.d.sync += table_beat.eq(0)
            with m.If(table_full):
                m.d.sync += entries.eq(0)
        with m.If(data_queue.r_en):
            slot = data_index[:shift]
            m.d.sync += [
                entries.word_select(slot, 8).eq(Mux(row.compressed, row.bytes, DENSE_ENTRY)),
                data_index.eq(data_index + 1), data_rows.eq(data_rows - 1),
                table_beat.eq(table_due(data_index, data_rows)),
                table_full.eq(slot == bus - 1),
                data_unit_left.eq(Mux(data_unit_left == 1, unit_rows, data_unit_left - 1)),
            ]

        m.d.comb += self.busy.eq((cmd_rows != 0) | (data_rows != 0) | table_wait | table_beat
                                 | bursts.busy | buffer.r_rdy | staged_valid
                                 | ~gearbox.idle)
        return m


class PackedDecompressor(wiring.Component):
    """Turns the stream beats of packed units back into dense beats (models/compression.py).

    The stream's beats (on `i`, `last` on a unit's last) fill a byte window; each pixel (on
    `pixels`, in order) leaves as `row_beats` dense beats on `o`: a dense pixel's beat takes B
    bytes of the window, an encoded pixel's its mask and non-zero bytes, through a
    BitmaskDecoder.  After the unit's last pixel the window's padding is dropped.

    Two stages, so that no path runs from the window through the decoder into the next
    block: the window restores a dense beat into an output register (when it is empty or its
    beat leaves); `o` is that register.  A stream beat is taken when the window has room for
    it before this cycle's beat leaves it, and enters at the window's fill before the shift;
    a dense beat is restored once the window holds B bytes (a dense pixel's beat), B + B/8
    (the longest encoding) or the unit's last beat, so that decision never waits for the
    beat's length (its mask's popcount), which only drives the one shift of the window.

    Ports:
        pixels: In(stream of pixel_layout), one per pixel; taken at its last dense beat.
        row_beats: In(BURST_BITS), the rows' dense beats, held while rows pass.
        i: In(stream of dense_beat_layout), a unit's stream beats; no beat of the next unit is
            taken before the unit's last pixel has left.
        o: Out(stream of dense_beat_layout), `last` on a pixel's last; `valid` does not wait
            for `ready`.
        decoded: Out(1), a dense beat left (the decompressor's action).
        busy: Out(1), a dense beat waits in the output register.
    Latency: a dense beat is offered on `o` two cycles after the stream beat completing it
    is taken.
    Assertions (checked in simulation): no beat is taken after the unit's last.
    """

    def __init__(self, bus_bytes):
        self.bus_bytes = bus_bytes
        self.mask_bytes = bus_bytes // 8
        super().__init__({
            "pixels": In(stream.Signature(pixel_layout())),
            "row_beats": In(BURST_BITS),
            "i": In(stream.Signature(dense_beat_layout(bus_bytes))),
            "o": Out(stream.Signature(dense_beat_layout(bus_bytes))),
            "decoded": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, mask = self.bus_bytes, self.mask_bytes
        capacity = 2 * bus + mask
        m.submodules.decoder = decoder = BitmaskDecoder(bus)
        window = Signal(8 * capacity)
        fill = Signal(range(capacity + 1))
        produced = Signal(BURST_BITS)          # dense beats of the head pixel so far
        taken_all = Signal()                   # the unit's last stream beat is in
        held = Signal()                        # the output register holds a beat
        out = Signal(dense_beat_layout(bus))
        pixel = self.pixels.payload
        last_dense = produced == self.row_beats - 1

        m.d.comb += decoder.window.eq(window[:8 * (bus + mask)])
        used = Signal.like(decoder.used)
        # The head beat's bytes are in: B of them for a dense pixel, at most B + B/8 for an
        # encoded one (its length need not be known), or every byte of the unit.
        enough = taken_all | (fill >= Mux(pixel.dense, bus, bus + mask))
        restore = Signal()                     # a dense beat into the output register
        took = self.i.valid & self.i.ready
        m.d.comb += [
            used.eq(Mux(pixel.dense, bus, decoder.used)),
            restore.eq(self.pixels.valid & enough & (~held | self.o.ready)),
            self.pixels.ready.eq(restore & last_dense),
            self.i.ready.eq(~taken_all & (fill + bus <= capacity)),
            self.o.valid.eq(held),
            self.o.payload.eq(out),
            self.decoded.eq(self.o.valid & self.o.ready),
            self.busy.eq(held),
        ]
        with m.If(restore):
            m.d.sync += [held.eq(1), produced.eq(Mux(last_dense, 0, produced + 1)),
                         out.data.eq(Mux(pixel.dense, window[:8 * bus], decoder.dense)),
                         out.last.eq(last_dense)]
        with m.Elif(self.o.ready):
            m.d.sync += held.eq(0)
        filled = window | Mux(took, self.i.payload.data << (fill * 8), 0)
        with m.If(restore & last_dense & pixel.last):
            m.d.sync += [window.eq(0), fill.eq(0), taken_all.eq(0)]
        with m.Else():
            m.d.sync += [window.eq(filled >> (Mux(restore, used, 0) * 8)),
                         fill.eq(fill + Mux(took, bus, 0) - Mux(restore, used, 0))]
            with m.If(took):
                m.d.sync += taken_all.eq(self.i.payload.last)
        m.d.sync += Assert(~took | ~taken_all,
                           "packed decompressor: a beat after the unit's last")
        return m


class CompressedRowFetcher(wiring.Component):
    """Reads packed units of pixel rows (models/compression.py) and restores their dense beats.

    For each job (`start`): `rows` pixels in units of `unit_rows`, pixel j's slot at beat
    `addr + j * pitch`, each of `row_beats` dense beats; pixel j's entry is entry
    `table_row + j` of the length table at beat `table_addr` (one byte per pixel).  The table
    beats the job needs are fetched ahead into a ring of `TABLE_RING` beats (a beat's place is
    reserved when its command goes out, so a table beat never waits behind a unit's data, and
    pixels never wait a round trip each); each pixel is taken as soon as its entry is in, and
    PackedBursts gives the commands of the stream beats it completes.  The kind of every
    command (a table beat, or stream beats and whether they end a unit) waits in a FIFO for
    its data, which DRAM returns in order, and each pixel's kind (dense, ends a unit) in a
    FIFO of `PIXELS` for the decompressor: table beats go to the ring, stream beats through a
    PackedDecompressor to `o`.

    Ports:
        start: In(1), latch `addr`, `pitch`, `rows`, `row_beats`, `table_row`, `unit_rows`
            (when not busy).
        table_addr: In, the table's first beat (held during a job).
        dram_cmd: Out(stream of DramCommand); dram_data: In(stream of 8 * B bits).
        o: Out(stream of dense_beat_layout), `row_beats` dense beats a pixel, `last` on a
            pixel's last; stalls the DRAM data when not taken.
        busy: Out(1), commands to issue or data to receive.
        decoded: Out(1), a dense beat left the decompressor (its action).
    Latency: a pixel is taken at the earliest the cycle after its table beat arrives, its
    first command the cycle after; its beats then pass as PackedDecompressor's latency says.
    """

    TABLE_RING = 4
    """Table beats fetched ahead or held: a beat of entries (B pixels) in use and three ahead."""
    KINDS = 8
    """Commands whose data has not all arrived."""
    PIXELS = 16
    """Pixels taken whose dense beats have not all left."""

    def __init__(self, bus_bytes, max_row_beats):
        self.bus_bytes = bus_bytes
        self.max_row_beats = max_row_beats
        super().__init__({
            **_packed_job_ports(),
            "table_row": In(ADDR_BITS),
            "table_addr": In(ADDR_BITS),
            "dram_cmd": Out(stream.Signature(DramCommand)),
            "dram_data": In(stream.Signature(8 * bus_bytes)),
            "o": Out(stream.Signature(dense_beat_layout(bus_bytes))),
            "busy": Out(1),
            "decoded": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, ring_beats = self.bus_bytes, self.TABLE_RING
        shift, ring_bits = (bus - 1).bit_length(), (ring_beats - 1).bit_length()
        kind = data.StructLayout({"table": 1, "beats": range(self.max_row_beats + 1),
                                  "unit_end": 1})
        m.submodules.kinds = kinds = fifo.SyncFIFOBuffered(width=kind.size, depth=self.KINDS)
        m.submodules.pixels = pixels = fifo.SyncFIFOBuffered(width=pixel_layout().size,
                                                             depth=self.PIXELS)
        m.submodules.bursts = bursts = PackedBursts(bus, self.max_row_beats)
        m.submodules.decompressor = decompressor = PackedDecompressor(bus)
        ring = [Signal(8 * bus, name=f"table_{i}") for i in range(ring_beats)]
        arrived = Signal(ring_beats)           # bit i: ring beat i holds its table beat

        row_beats = Signal(BURST_BITS)
        with m.If(self.start):
            m.d.sync += row_beats.eq(self.row_beats)
        m.d.comb += decompressor.row_beats.eq(row_beats)
        _start_packed_bursts(m, bursts, self)

        # --- commands: table beats ahead (a ring place each), else the bursts' -------------
        cmd_rows = Signal(COUNT_BITS)
        entry = Signal(ADDR_BITS)              # the next pixel's table entry
        table_next = Signal(ADDR_BITS)         # the next table beat to fetch
        table_end = Signal(ADDR_BITS)          # the table beat after the job's last
        reserved = Signal(range(ring_beats + 1))
        with m.If(self.start):
            first, last = self.table_row, self.table_row + self.rows - 1
            m.d.sync += [cmd_rows.eq(self.rows), entry.eq(first),
                         table_next.eq(first >> shift), table_end.eq((last >> shift) + 1)]
        slot = entry[shift:shift + ring_bits] if ring_bits else 0
        table_beat = Signal(8 * bus)
        m.d.comb += table_beat.eq(_select(ring, slot))
        length = table_beat.word_select(entry[:shift], 8)
        tables_left = table_next != table_end
        fetch_table = tables_left & (reserved != ring_beats)
        pushed = Signal(kind)
        m.d.comb += kinds.w_data.eq(pushed)
        fetched = Signal()
        with m.If(fetch_table):
            m.d.comb += [self.dram_cmd.valid.eq(kinds.w_rdy),
                         self.dram_cmd.payload.addr.eq(self.table_addr + table_next),
                         self.dram_cmd.payload.length.eq(1),
                         pushed.table.eq(1),
                         fetched.eq(kinds.w_rdy & self.dram_cmd.ready)]
            with m.If(fetched):
                m.d.sync += table_next.eq(table_next + 1)
        with m.Else():
            m.d.comb += [self.dram_cmd.valid.eq(kinds.w_rdy & bursts.cmd.valid),
                         self.dram_cmd.payload.eq(bursts.cmd.payload),
                         bursts.cmd.ready.eq(kinds.w_rdy & self.dram_cmd.ready),
                         pushed.beats.eq(bursts.cmd.payload.length),
                         pushed.unit_end.eq(bursts.unit_end)]
        m.d.comb += kinds.w_en.eq(self.dram_cmd.valid & self.dram_cmd.ready)

        # --- pixels: taken as their entries arrive ------------------------------------------
        dense_bytes = Signal(range(self.max_row_beats * bus + 1))
        stored_dense = length == DENSE_ENTRY
        m.d.comb += [
            dense_bytes.eq(row_beats << shift),
            bursts.i.valid.eq((cmd_rows != 0) & _select(list(arrived), slot) & pixels.w_rdy),
            bursts.i.payload.eq(Mux(stored_dense, dense_bytes, length)),
            pixels.w_en.eq(bursts.i.valid & bursts.i.ready),
            pixels.w_data.eq(Cat(stored_dense, bursts.last)),
        ]
        consumed = Signal()                    # a table beat's last entry is used
        with m.If(pixels.w_en):
            m.d.comb += consumed.eq((entry[:shift] == bus - 1) | (cmd_rows == 1))
            m.d.sync += [cmd_rows.eq(cmd_rows - 1), entry.eq(entry + 1)]
        m.d.sync += reserved.eq(reserved + fetched - consumed)

        # --- data: table beats into the ring, stream beats through the decompressor -------
        head = Signal(kind)
        arrive = Signal(ring_bits or 1)        # the ring place of the next table beat
        stored_taken = Signal(range(self.max_row_beats + 1))
        m.d.comb += head.eq(kinds.r_data)
        landed = Signal(ring_beats)
        with m.If(kinds.r_rdy & head.table):
            m.d.comb += self.dram_data.ready.eq(1)
            with m.If(self.dram_data.valid):
                m.d.comb += [kinds.r_en.eq(1), landed.eq(1 << arrive)]
                for i, beat in enumerate(ring):
                    with m.If(arrive == i):
                        m.d.sync += beat.eq(self.dram_data.payload)
                m.d.sync += arrive.eq(arrive + 1 if ring_bits else 0)
        with m.Else():
            stream_beats = kinds.r_rdy & ~head.table
            last_of_cmd = stored_taken == head.beats - 1
            took = decompressor.i.valid & decompressor.i.ready
            m.d.comb += [
                decompressor.i.valid.eq(stream_beats & self.dram_data.valid),
                decompressor.i.payload.data.eq(self.dram_data.payload),
                decompressor.i.payload.last.eq(head.unit_end & last_of_cmd),
                self.dram_data.ready.eq(stream_beats & decompressor.i.ready),
                kinds.r_en.eq(took & last_of_cmd),
            ]
            with m.If(took):
                m.d.sync += stored_taken.eq(Mux(last_of_cmd, 0, stored_taken + 1))
        with m.If(self.start):
            m.d.sync += arrive.eq(self.table_row[shift:shift + ring_bits] if ring_bits else 0)
        freed = Signal(ring_beats)
        m.d.comb += freed.eq(Mux(consumed, 1 << slot, 0))
        m.d.sync += arrived.eq((arrived & ~freed) | landed)
        m.d.comb += [
            decompressor.pixels.valid.eq(pixels.r_rdy),
            decompressor.pixels.payload.eq(pixels.r_data),
            pixels.r_en.eq(decompressor.pixels.ready),
        ]
        wiring.connect(m, decompressor.o, wiring.flipped(self.o))
        m.d.comb += [
            self.decoded.eq(self.o.valid & self.o.ready),
            self.busy.eq((cmd_rows != 0) | tables_left | (kinds.level != 0)
                         | bursts.busy | (pixels.level != 0) | decompressor.busy),
        ]
        return m


def _select(values, index):
    """values[index] for a run-time index, as a multiplexer chain."""
    result = values[0]
    for i, value in enumerate(values[1:], start=1):
        result = Mux(index == i, value, result)
    return result
