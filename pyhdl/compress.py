"""Bitmask compression of int8 activation rows on their way to DRAM (models/compression.py).

`BitmaskEncoder` turns one dense bus beat into its encoding (mask, then the non-zero bytes);
`BitmaskDecoder` undoes it.  `RowCompressor` sits between the DMA writer's beats and the DRAM
write port: it holds each pixel row until it knows whether the row is shorter encoded, writes
it encoded or dense into the row's dense-sized slot, and writes the length table.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.hdl import Assert
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import ADDR_BITS, BURST_BITS, COUNT_BITS

from .gearbox import RowGearbox
from .interfaces import DramCommand


def _bytes(value, count):
    return [value[8 * i:8 * (i + 1)] for i in range(count)]


def _prefix_counts(m, bits, name):
    """Signals pos[i] = how many of bits[:i] are set (a chain of adders)."""
    counts = [Const(0, 1)]
    running = bits[0]
    for i, bit in enumerate(bits[1:], start=1):
        pos = Signal(range(i + 1), name=f"{name}_{i}")
        m.d.comb += pos.eq(running)
        counts.append(pos)
        running = pos + bit
    total = Signal(range(len(bits) + 1), name=f"{name}_total")
    m.d.comb += total.eq(running)
    return counts, total


class BitmaskEncoder(wiring.Component):
    """One dense beat of B bytes -> its encoding: B/8 mask bytes (bit i: byte i is not zero),
    then the non-zero bytes in order, zeros after them.  Combinational.

    Ports:
        dense: In(8 * B).
        chunk: Out(8 * (B + B/8)), the encoding, mask first.
        count: Out, bytes of the encoding: B/8 + nonzero.
        nonzero: Out, non-zero bytes of the beat.
    Latency: none (combinational).  Counts nothing.
    """

    def __init__(self, bus_bytes):
        self.bus_bytes = bus_bytes
        self.mask_bytes = bus_bytes // 8
        width = bus_bytes + self.mask_bytes
        super().__init__({
            "dense": In(8 * bus_bytes),
            "chunk": Out(8 * width),
            "count": Out(range(width + 1)),
            "nonzero": Out(range(bus_bytes + 1)),
        })

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


class BitmaskDecoder(wiring.Component):
    """The encoding of one beat at the head of `window` -> the dense beat.  Combinational.

    Ports:
        window: In(8 * (B + B/8)), encoded bytes, the beat's mask first.
        dense: Out(8 * B).
        used: Out, bytes of the window the beat's encoding takes: B/8 + its non-zeros.
    Latency: none (combinational).  Counts nothing.
    """

    def __init__(self, bus_bytes):
        self.bus_bytes = bus_bytes
        self.mask_bytes = bus_bytes // 8
        width = bus_bytes + self.mask_bytes
        super().__init__({
            "window": In(8 * width),
            "dense": Out(8 * bus_bytes),
            "used": Out(range(width + 1)),
        })

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


class RowCompressor(wiring.Component):
    """Writes pixel rows to DRAM bitmask-encoded where that is shorter, and their lengths.

    For each job (`start`): `rows` rows of `row_beats` dense beats arrive on `i`, and row j
    goes to the slot at beat `addr + j * pitch`.  A row enters a buffer of `buffer_beats`
    beats (two rows of the longest) while its encoded length is summed; at its last beat the
    row's stored length is decided (encoded beats if fewer than `row_beats`, else
    `row_beats`, models/compression.py) and the row leaves, encoded or as it came, through a
    gearbox to `dram_data`, after its write command.

    A layer's jobs come tile by tile, each tile as `groups` jobs (one per group of output
    channels, each writing its slice of every pixel).  Each group has a length table of
    `group_table_beats` beats, one after the other from `table_addr`; row j of a job has its
    entry at byte j of the job's part of its group's table, which starts on a beat (the
    mapper makes every tile but the layer's last a whole number of beats of entries).  A table
    beat is written when its last entry is in, and at the end of the job.

    Ports:
        i: In(stream of dense_beat_layout); stalled while the buffer or the decision queues
            are full.
        start: In(1), latch `addr`, `pitch`, `rows`, `row_beats` (when not busy).
        layer_start: In(1), the next job is the first tile's first group.
        table_addr, groups, group_table_beats: In, the tables (held during a layer).
        dram_cmd: Out(stream of DramCommand), one per row, and one per table beat written;
            issued as soon as the row's length is known (ahead of its data).
        dram_data: Out(stream of 8 * B bits); DRAM may stall it.
        busy: Out(1), rows of the job or beats remain.
        encoded: Out(1), a dense beat entered the encoder (the compressor's action).
    Latency: a row's first beat leaves at the earliest two cycles after its last beat entered.
    Assertions (checked in simulation): no row has more beats than `row_beats`.
    """

    DECISIONS = 4
    """Rows whose length is decided but whose command or data has not all left."""

    def __init__(self, bus_bytes, buffer_beats):
        self.bus_bytes = bus_bytes
        self.mask_bytes = bus_bytes // 8
        self.buffer_beats = buffer_beats
        super().__init__({
            "i": In(stream.Signature(dense_beat_layout(bus_bytes))),
            "start": In(1),
            "addr": In(ADDR_BITS),
            "pitch": In(BURST_BITS),
            "rows": In(COUNT_BITS),
            "row_beats": In(BURST_BITS),
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
        decision = data.StructLayout({"beats": range(max_row_beats + 1), "compressed": 1})
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

        row_beats = Signal(BURST_BITS)
        with m.If(self.start):
            m.d.sync += row_beats.eq(self.row_beats)

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
        encoded_beats = Signal(range(2 * max_row_beats + 2))
        decided = Signal(decision)
        incoming = Signal(beat_layout)
        m.d.comb += [
            incoming.eq(self.i.payload),
            counter.dense.eq(incoming.data),
            total.eq(row_bytes + counter.count),
            encoded_beats.eq((total + bus - 1) >> shift),
            decided.compressed.eq(encoded_beats < row_beats),
            decided.beats.eq(Mux(decided.compressed, encoded_beats, row_beats)),
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
            """After this row, a table beat is written: its last entry, or the job's last."""
            return (index[:shift] == bus - 1) | (rows_left == 1)

        # --- commands: one per row as soon as its length is known, then table beats -------
        cmd_rows = Signal(COUNT_BITS)
        cmd_addr = Signal(ADDR_BITS)
        pitch = Signal(BURST_BITS)
        cmd_index = Signal(COUNT_BITS)
        table_cmd = Signal()
        table_cmd_addr = Signal(ADDR_BITS)
        head = Signal(decision)
        m.d.comb += head.eq(cmd_queue.r_data)
        with m.If(self.start):
            m.d.sync += [cmd_rows.eq(self.rows), cmd_addr.eq(self.addr), pitch.eq(self.pitch),
                         cmd_index.eq(0)]
        with m.If(table_cmd):
            m.d.comb += [self.dram_cmd.valid.eq(1),
                         self.dram_cmd.payload.addr.eq(table_cmd_addr),
                         self.dram_cmd.payload.length.eq(1)]
            with m.If(self.dram_cmd.ready):
                m.d.sync += table_cmd.eq(0)
        with m.Else():
            m.d.comb += [self.dram_cmd.valid.eq(cmd_queue.r_rdy),
                         self.dram_cmd.payload.addr.eq(cmd_addr),
                         self.dram_cmd.payload.length.eq(head.beats),
                         cmd_queue.r_en.eq(self.dram_cmd.ready)]
            with m.If(cmd_queue.r_rdy & self.dram_cmd.ready):
                m.d.sync += [cmd_addr.eq(cmd_addr + pitch), cmd_rows.eq(cmd_rows - 1),
                             cmd_index.eq(cmd_index + 1),
                             table_cmd.eq(table_due(cmd_index, cmd_rows)),
                             table_cmd_addr.eq(job_table + (cmd_index >> shift))]

        # --- data: the rows, encoded or dense, then table beats, through the gearbox -------
        data_rows = Signal(COUNT_BITS)
        data_index = Signal(COUNT_BITS)
        entries = Signal(8 * bus)
        table_beat = Signal()     # the table beat goes next
        table_full = Signal()     # ... and it is complete: its entries start again after it
        row = Signal(decision)
        beat = Signal(beat_layout)
        m.d.comb += [row.eq(data_queue.r_data), beat.eq(buffer.r_data),
                     encoder.dense.eq(beat.data)]
        with m.If(self.start):
            m.d.sync += [data_rows.eq(self.rows), data_index.eq(0), entries.eq(0)]
        with m.If(table_beat):
            m.d.comb += [gearbox.i.valid.eq(1), gearbox.i.payload.data.eq(entries),
                         gearbox.i.payload.count.eq(bus), gearbox.i.payload.last.eq(1)]
            with m.If(gearbox.i.ready):
                m.d.sync += table_beat.eq(0)
                with m.If(table_full):
                    m.d.sync += entries.eq(0)
        with m.Else():
            p = gearbox.i.payload
            m.d.comb += [
                gearbox.i.valid.eq(data_queue.r_rdy & buffer.r_rdy),
                p.data.eq(Mux(row.compressed, encoder.chunk, beat.data)),
                p.count.eq(Mux(row.compressed, encoder.count, bus)),
                p.last.eq(beat.last),
                buffer.r_en.eq(data_queue.r_rdy & gearbox.i.ready),
                data_queue.r_en.eq(data_queue.r_rdy & buffer.r_rdy & gearbox.i.ready
                                   & beat.last),
            ]
            with m.If(data_queue.r_en):
                slot = data_index[:shift]
                m.d.sync += [
                    entries.word_select(slot, 8).eq(row.beats),
                    data_index.eq(data_index + 1), data_rows.eq(data_rows - 1),
                    table_beat.eq(table_due(data_index, data_rows)),
                    table_full.eq(slot == bus - 1),
                ]
        wiring.connect(m, gearbox.o, wiring.flipped(self.dram_data))

        m.d.comb += self.busy.eq((cmd_rows != 0) | (data_rows != 0) | table_cmd | table_beat
                                 | buffer.r_rdy | ~gearbox.idle)
        return m


class RowDecompressor(wiring.Component):
    """Turns the stored beats of pixel rows back into dense beats (models/compression.py).

    For each row, `length` gives its stored beats: fewer than `row_beats` means encoded (the
    row's beats pass a byte window and a BitmaskDecoder, one dense beat a cycle), otherwise
    dense (its beats pass through).  Either way `row_beats` dense beats leave on `o`, the last
    with `last`; an encoded row's padding after its last beat's encoding is dropped.

    Ports:
        length: In(stream of the row's stored beats), one per row; taken at the row's end.
        row_beats: In(BURST_BITS), the rows' dense beats, held while rows pass.
        i: In(stream of dense_beat_layout): the stored beats, `last` on a row's last.
        o: Out(stream of dense_beat_layout); `valid` does not wait for `ready`.
        decoded: Out(1), a dense beat of an encoded row left (the decompressor's action).
    Latency: a dense row's beat passes combinationally; an encoded row's first dense beat
    leaves the cycle after the beat holding its encoding is taken.
    Assertions (checked in simulation): an encoded row never asks for more than its beats.
    """

    def __init__(self, bus_bytes, max_row_beats):
        self.bus_bytes = bus_bytes
        self.mask_bytes = bus_bytes // 8
        self.max_row_beats = max_row_beats
        super().__init__({
            "length": In(stream.Signature(range(max_row_beats + 1))),
            "row_beats": In(BURST_BITS),
            "i": In(stream.Signature(dense_beat_layout(bus_bytes))),
            "o": Out(stream.Signature(dense_beat_layout(bus_bytes))),
            "decoded": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, mask = self.bus_bytes, self.mask_bytes
        capacity = 2 * bus + mask
        m.submodules.decoder = decoder = BitmaskDecoder(bus)
        window = Signal(8 * capacity)
        fill = Signal(range(capacity + 1))
        produced = Signal(BURST_BITS)          # dense beats of the encoded row so far
        taken = Signal(BURST_BITS)             # its stored beats taken so far
        encoded = self.length.valid & (self.length.payload < self.row_beats)
        last_dense = produced == self.row_beats - 1

        m.d.comb += decoder.window.eq(window[:8 * (bus + mask)])
        with m.If(~encoded):
            # A dense row (or no row yet): its beats pass through.
            m.d.comb += [
                self.o.valid.eq(self.length.valid & self.i.valid),
                self.o.payload.eq(self.i.payload),
                self.i.ready.eq(self.length.valid & self.o.ready),
                self.length.ready.eq(self.i.valid & self.o.ready & self.i.payload.last),
            ]
        with m.Else():
            enough = (fill >= mask) & (fill >= decoder.used)
            emit = Signal()
            m.d.comb += [
                self.o.valid.eq(enough),
                self.o.payload.data.eq(decoder.dense),
                self.o.payload.last.eq(last_dense),
                emit.eq(self.o.valid & self.o.ready),
                self.decoded.eq(emit),
                self.length.ready.eq(emit & last_dense),
            ]
            used = Signal.like(decoder.used)
            kept = Signal.like(fill)
            m.d.comb += [used.eq(Mux(emit, decoder.used, 0)), kept.eq(fill - used)]
            more = taken != self.length.payload
            m.d.comb += self.i.ready.eq(more & (kept + bus <= capacity) & ~(emit & last_dense))
            shifted = window >> (used * 8)
            with m.If(emit & last_dense):
                m.d.sync += [window.eq(0), fill.eq(0), produced.eq(0), taken.eq(0)]
            with m.Elif(self.i.valid & self.i.ready):
                m.d.sync += [window.eq(shifted | (self.i.payload.data << (kept * 8))),
                             fill.eq(kept + bus), taken.eq(taken + 1)]
                with m.If(emit):
                    m.d.sync += produced.eq(produced + 1)
            with m.Elif(emit):
                m.d.sync += [window.eq(shifted), fill.eq(kept), produced.eq(produced + 1)]
            m.d.sync += Assert(~(self.i.valid & self.i.ready) | (taken < self.length.payload),
                               "row decompressor: more beats than the row's length")
        return m


class CompressedRowFetcher(wiring.Component):
    """Reads pixel rows stored compressed (models/compression.py) and restores their dense beats.

    For each job (`start`): `rows` rows, row j in the slot at beat `addr + j * pitch`, each of
    `row_beats` dense beats; row j's stored length is entry `table_row + j` of the length
    table at beat `table_addr` (one byte per row).  The table beats the job needs are fetched
    ahead into a ring of `TABLE_RING` beats (a beat's place is reserved when its command goes
    out, so a table beat never waits behind a row's data, and rows never wait a round trip
    each); each row's command asks for its stored beats as soon as its entry is in.  The kind
    of every command (a table beat, or a row and its length) waits in a FIFO for its data,
    which DRAM returns in order: table beats go to the ring, row beats through a
    RowDecompressor to `o`.

    Ports:
        start: In(1), latch `addr`, `pitch`, `rows`, `row_beats`, `table_row` (when not busy).
        table_addr: In, the table's first beat (held during a job).
        dram_cmd: Out(stream of DramCommand); dram_data: In(stream of 8 * B bits).
        o: Out(stream of dense_beat_layout), `row_beats` dense beats a row, `last` on a row's
            last; stalls the DRAM data when not taken.
        busy: Out(1), commands to issue or data to receive.
        decoded: Out(1), a dense beat left the decompressor (its action).
    Latency: a row's command goes out at the earliest the cycle after its table beat arrives;
    its beats then pass as RowDecompressor's latency says.
    """

    TABLE_RING = 4
    """Table beats fetched ahead or held: a beat of entries (B rows) in use and three ahead."""
    KINDS = 8
    """Commands whose data has not all arrived."""

    def __init__(self, bus_bytes, max_row_beats):
        self.bus_bytes = bus_bytes
        self.max_row_beats = max_row_beats
        super().__init__({
            "start": In(1),
            "addr": In(ADDR_BITS),
            "pitch": In(BURST_BITS),
            "rows": In(COUNT_BITS),
            "row_beats": In(BURST_BITS),
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
        kind = data.StructLayout({"table": 1, "beats": range(self.max_row_beats + 1)})
        m.submodules.kinds = kinds = fifo.SyncFIFOBuffered(width=kind.size, depth=self.KINDS)
        m.submodules.decompressor = decompressor = RowDecompressor(bus, self.max_row_beats)
        ring = [Signal(8 * bus, name=f"table_{i}") for i in range(ring_beats)]
        arrived = Signal(ring_beats)           # bit i: ring beat i holds its table beat

        row_beats = Signal(BURST_BITS)
        with m.If(self.start):
            m.d.sync += row_beats.eq(self.row_beats)
        m.d.comb += decompressor.row_beats.eq(row_beats)

        # --- commands: table beats ahead (a ring place each), rows as their entries arrive --
        cmd_rows = Signal(COUNT_BITS)
        cmd_addr = Signal(ADDR_BITS)
        pitch = Signal(BURST_BITS)
        entry = Signal(ADDR_BITS)              # the next row's table entry
        table_next = Signal(ADDR_BITS)         # the next table beat to fetch
        table_left = Signal(COUNT_BITS)        # table beats still to fetch
        reserved = Signal(range(ring_beats + 1))
        with m.If(self.start):
            first, last = self.table_row, self.table_row + self.rows - 1
            m.d.sync += [cmd_rows.eq(self.rows), cmd_addr.eq(self.addr), pitch.eq(self.pitch),
                         entry.eq(first), table_next.eq(first >> shift),
                         table_left.eq((last >> shift) - (first >> shift) + 1)]
        slot = entry[shift:shift + ring_bits] if ring_bits else 0
        table_beat = Signal(8 * bus)
        m.d.comb += table_beat.eq(_select(ring, slot))
        length = table_beat.word_select(entry[:shift], 8)
        fetch_table = (table_left != 0) & (reserved != ring_beats)
        issue_row = (cmd_rows != 0) & _select(list(arrived), slot)
        pushed = Signal(kind)
        m.d.comb += [
            kinds.w_data.eq(pushed),
            self.dram_cmd.valid.eq(kinds.w_rdy & (fetch_table | issue_row)),
        ]
        issued = self.dram_cmd.valid & self.dram_cmd.ready
        consumed = Signal()                    # a table beat's last entry is used
        with m.If(fetch_table):
            m.d.comb += [self.dram_cmd.payload.addr.eq(self.table_addr + table_next),
                         self.dram_cmd.payload.length.eq(1),
                         pushed.table.eq(1)]
            with m.If(issued):
                m.d.sync += [table_next.eq(table_next + 1), table_left.eq(table_left - 1),
                             reserved.eq(reserved + 1)]
        with m.Else():
            m.d.comb += [self.dram_cmd.payload.addr.eq(cmd_addr),
                         self.dram_cmd.payload.length.eq(length),
                         pushed.beats.eq(length)]
            with m.If(issued):
                m.d.comb += consumed.eq((entry[:shift] == bus - 1) | (cmd_rows == 1))
                m.d.sync += [cmd_addr.eq(cmd_addr + pitch), cmd_rows.eq(cmd_rows - 1),
                             entry.eq(entry + 1)]
                with m.If(consumed):
                    m.d.sync += reserved.eq(reserved - 1)
        m.d.comb += kinds.w_en.eq(issued)

        # --- data: table beats into the ring, row beats through the decompressor ----------
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
            row = kinds.r_rdy & ~head.table
            m.d.comb += [
                decompressor.length.valid.eq(row),
                decompressor.length.payload.eq(head.beats),
                decompressor.i.valid.eq(row & self.dram_data.valid),
                decompressor.i.payload.data.eq(self.dram_data.payload),
                decompressor.i.payload.last.eq(stored_taken == head.beats - 1),
                self.dram_data.ready.eq(row & decompressor.i.ready),
                kinds.r_en.eq(decompressor.length.valid & decompressor.length.ready),
            ]
            with m.If(decompressor.i.valid & decompressor.i.ready):
                m.d.sync += stored_taken.eq(Mux(decompressor.i.payload.last, 0,
                                                stored_taken + 1))
        with m.If(self.start):
            m.d.sync += arrive.eq(self.table_row[shift:shift + ring_bits] if ring_bits else 0)
        freed = Signal(ring_beats)
        m.d.comb += freed.eq(Mux(consumed, 1 << slot, 0))
        m.d.sync += arrived.eq((arrived & ~freed) | landed)
        wiring.connect(m, decompressor.o, wiring.flipped(self.o))
        m.d.comb += [
            self.decoded.eq(self.o.valid & self.o.ready),
            self.busy.eq((cmd_rows != 0) | (table_left != 0) | (kinds.level != 0)),
        ]
        return m


def _select(values, index):
    """values[index] for a run-time index, as a multiplexer chain."""
    result = values[0]
    for i, value in enumerate(values[1:], start=1):
        result = Mux(index == i, value, result)
    return result
