"""DMA engines between the DRAM port and the global buffer, one row-strided job at a time."""

from amaranth import Module, Mux, Signal
from amaranth.hdl import Assert
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import COUNT_BITS, DMA_WRITE_FIFO_SLACK

from .compress import CompressedRowFetcher, RowCompressor
from .gearbox import RowGearbox, chunk_layout
from .interfaces import ADDR_BITS, BURST_BITS, DramCommand


class ReadJob(data.Struct):
    """Copy `rows` rows of `row_elems` elements, each `row_beats` beats long, the first at DRAM
    beat `addr` and each `pitch` beats after the last, into consecutive buffer words from
    word `base`."""

    base: COUNT_BITS
    addr: ADDR_BITS
    rows: COUNT_BITS
    row_beats: BURST_BITS
    pitch: BURST_BITS
    row_elems: COUNT_BITS


class WriteJob(data.Struct):
    """Copy `rows` rows of `row_words` consecutive buffer words from word `base` to DRAM rows of
    `row_beats` beats, the first at beat `addr` and each `pitch` beats after the last; a word
    holds `word_elems` elements, the last word of a row `last_elems`."""

    base: COUNT_BITS
    addr: ADDR_BITS
    rows: COUNT_BITS
    row_words: COUNT_BITS
    row_beats: BURST_BITS
    pitch: BURST_BITS
    word_elems: COUNT_BITS
    last_elems: COUNT_BITS


class RowBursts(wiring.Component):
    """Issues one DRAM burst command per row: `rows` bursts of `row_beats` beats from `addr`,
    each starting `pitch` beats after the previous one.

    Ports:
        start: In(1), latch `addr`, `rows`, `row_beats`, `pitch` and begin (when not busy).
        cmd: Out(stream of DramCommand), one per row, as fast as DRAM accepts them.
        busy: Out(1), commands remain to be issued.
    """

    start: In(1)
    addr: In(ADDR_BITS)
    rows: In(COUNT_BITS)
    row_beats: In(BURST_BITS)
    pitch: In(BURST_BITS)
    cmd: Out(stream.Signature(DramCommand))
    busy: Out(1)

    def elaborate(self, platform):
        m = Module()
        rows_left = Signal(COUNT_BITS)
        addr = Signal(ADDR_BITS)
        length = Signal(BURST_BITS)
        pitch = Signal(BURST_BITS)
        m.d.comb += [
            self.busy.eq(rows_left != 0),
            self.cmd.valid.eq(self.busy),
            self.cmd.payload.addr.eq(addr),
            self.cmd.payload.length.eq(length),
        ]
        with m.If(self.start):
            m.d.sync += [rows_left.eq(self.rows), addr.eq(self.addr),
                         length.eq(self.row_beats), pitch.eq(self.pitch)]
        with m.Elif(self.cmd.valid & self.cmd.ready):
            m.d.sync += [rows_left.eq(rows_left - 1), addr.eq(addr + pitch)]
        return m


def _start_bursts(m, bursts, job, dram_cmd=None, enable=1):
    """Wire a RowBursts (or a block with the same start, addr, rows, row_beats and pitch
    inputs) to a job stream's payload (taking the jobs accepted while `enable`) and, if
    given, to the DRAM command stream."""
    m.d.comb += [
        bursts.start.eq(job.valid & job.ready & enable),
        bursts.addr.eq(job.payload.addr),
        bursts.rows.eq(job.payload.rows),
        bursts.row_beats.eq(job.payload.row_beats),
        bursts.pitch.eq(job.payload.pitch),
    ]
    if dram_cmd is not None:
        wiring.connect(m, bursts.cmd, wiring.flipped(dram_cmd))


class DmaReader(wiring.Component):
    """DRAM -> global buffer: one burst per row, beats repacked into buffer words.

    Row requests are issued as fast as DRAM accepts them, independently of returning data.
    Ports:
        job: In(stream of ReadJob); accepted only when idle.
        dram_cmd: Out(stream of DramCommand), dram_data: In(stream of bus words).
        buffer: In(WritePort.Signature), one word per `elems_per_word` elements of a row.
        busy: Out(1); stalled: Out(1), waiting for read data; beat: Out(1), a beat arrived.
    With `decompress_row_beats` (an architecture with activation compression), a job accepted
    while `decompress` is high reads its rows compressed through a CompressedRowFetcher
    (pyhdl/compress.py), rows of up to that many dense beats:
        decompress: In(1), table_row: In, sampled when a job is accepted: whether it is read
            compressed, and its first row's entry in the length table.
        unit_rows: In, the pixels of a packed unit (an image row of X; held during a layer).
        table_addr: In, the length table of the rows read (held during a layer).
        decompressing: Out(1), the job being read is compressed.
        decoded: Out(1), a dense beat left the decompressor.
    """

    def __init__(self, bus_bytes, elem_bits, elems_per_word, buffer_addr_bits,
                 decompress_row_beats=0):
        self.bus_bytes = bus_bytes
        self.elem_bits = elem_bits
        self.elems_per_beat = 8 * bus_bytes // elem_bits
        self.elems_per_word = elems_per_word
        self.decompress_row_beats = decompress_row_beats
        decompression = {"decompress": In(1), "table_row": In(ADDR_BITS),
                         "unit_rows": In(COUNT_BITS),
                         "table_addr": In(ADDR_BITS),
                         "decompressing": Out(1), "decoded": Out(1)} \
            if decompress_row_beats else {}
        super().__init__({
            **decompression,
            "job": In(stream.Signature(ReadJob)),
            "dram_cmd": Out(stream.Signature(DramCommand)),
            "dram_data": In(stream.Signature(8 * bus_bytes)),
            "buffer": In(memory.WritePort.Signature(addr_width=buffer_addr_bits,
                                                     shape=elem_bits * elems_per_word)),
            "busy": Out(1),
            "stalled": Out(1),
            "beat": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.gearbox = gearbox = RowGearbox(self.elem_bits, self.elems_per_beat,
                                                    self.elems_per_word)
        m.submodules.bursts = bursts = RowBursts()
        job = Signal(ReadJob)
        data_rows = Signal(COUNT_BITS)
        beats_left = Signal(BURST_BITS)
        elems_left = Signal(COUNT_BITS)
        write_addr = Signal.like(self.buffer.addr)
        receiving = data_rows != 0

        # The rows' dense beats: straight from DRAM, or restored by the fetcher.
        dense_valid = Signal()
        dense_data = Signal(8 * self.bus_bytes)
        dense_ready = receiving & gearbox.i.ready
        if self.decompress_row_beats:
            fetcher_busy = self._decompress(m, bursts, dense_valid, dense_data, dense_ready)
        else:
            _start_bursts(m, bursts, self.job, self.dram_cmd)
            m.d.comb += [dense_valid.eq(self.dram_data.valid),
                         dense_data.eq(self.dram_data.payload),
                         self.dram_data.ready.eq(dense_ready)]
            fetcher_busy = 0

        m.d.comb += [
            self.busy.eq(bursts.busy | receiving | ~gearbox.idle | fetcher_busy),
            self.job.ready.eq(~self.busy),
        ]
        with m.If(self.job.valid & self.job.ready):
            m.d.sync += [
                job.eq(self.job.payload),
                data_rows.eq(self.job.payload.rows),
                beats_left.eq(self.job.payload.row_beats),
                elems_left.eq(self.job.payload.row_elems),
                write_addr.eq(self.job.payload.base),
            ]

        last_beat = beats_left == 1
        dense_beat = receiving & dense_valid & gearbox.i.ready
        m.d.comb += [
            gearbox.i.valid.eq(receiving & dense_valid),
            gearbox.i.payload.data.eq(dense_data),
            gearbox.i.payload.count.eq(Mux(elems_left >= self.elems_per_beat,
                                           self.elems_per_beat, elems_left)),
            gearbox.i.payload.last.eq(last_beat),
            self.beat.eq(self.dram_data.valid & self.dram_data.ready),
            self.stalled.eq(receiving & ~dense_valid),
        ]
        with m.If(dense_beat):
            with m.If(last_beat):
                m.d.sync += [
                    data_rows.eq(data_rows - 1),
                    beats_left.eq(job.row_beats),
                    elems_left.eq(job.row_elems),
                ]
            with m.Else():
                m.d.sync += [
                    beats_left.eq(beats_left - 1),
                    elems_left.eq(elems_left - self.elems_per_beat),
                ]

        m.d.comb += [
            gearbox.o.ready.eq(1),
            self.buffer.en.eq(gearbox.o.valid),
            self.buffer.addr.eq(write_addr),
            self.buffer.data.eq(gearbox.o.payload),
        ]
        with m.If(gearbox.o.valid):
            m.d.sync += write_addr.eq(write_addr + 1)
        return m

    def _decompress(self, m, bursts, dense_valid, dense_data, dense_ready):
        """Take the rows of jobs accepted while `decompress` is high from a
        CompressedRowFetcher, the others straight from DRAM after RowBursts' commands; drive
        the dense beats (`dense_valid`, `dense_data`, taken on `dense_ready`) and return the
        fetcher's busy."""
        m.submodules.fetcher = fetcher = CompressedRowFetcher(self.bus_bytes,
                                                              self.decompress_row_beats)
        on = Signal()
        job = self.job
        accepted = job.valid & job.ready
        with m.If(accepted):
            m.d.sync += on.eq(self.decompress)
        _start_bursts(m, bursts, job, enable=~self.decompress)
        _start_bursts(m, fetcher, job, enable=self.decompress)
        m.d.comb += [
            fetcher.table_row.eq(self.table_row),
            fetcher.unit_rows.eq(self.unit_rows),
            fetcher.table_addr.eq(self.table_addr),
            self.decoded.eq(fetcher.decoded),
            self.decompressing.eq(on),
        ]
        with m.If(on):
            wiring.connect(m, fetcher.dram_cmd, wiring.flipped(self.dram_cmd))
            wiring.connect(m, wiring.flipped(self.dram_data), fetcher.dram_data)
            m.d.comb += [dense_valid.eq(fetcher.o.valid), dense_data.eq(fetcher.o.payload.data),
                         fetcher.o.ready.eq(dense_ready)]
        with m.Else():
            wiring.connect(m, bursts.cmd, wiring.flipped(self.dram_cmd))
            m.d.comb += [dense_valid.eq(self.dram_data.valid),
                         dense_data.eq(self.dram_data.payload),
                         self.dram_data.ready.eq(dense_ready)]
        return fetcher.busy


class DmaWriter(wiring.Component):
    """Global buffer -> DRAM: buffer words repacked into beats, one burst per row.

    What the buffer returns may pass a pipeline on the way (the post-processor), so a word
    comes back `read_latency` cycles after its read.  A shift register of valid bits follows
    the words in flight, and a word is read only when the FIFO will have room for it and for
    every word ahead of it, so DRAM backpressure never loses a word; the FIFO is
    `fifo_depth` deep, enough for a write-back at one word a cycle not to wait on it.
    Assertions (checked in simulation): a word is never pushed into a full FIFO, and no more
    beats leave than the job's rows hold.
    Ports:
        job: In(stream of WriteJob); accepted only when idle; a job of rows has beats in each.
        buffer: In(ReadPort.Signature), words read in order from `base`; `data` is the word
            read `read_latency` cycles earlier.
        row_word: Out, the index within its row of the word being read.
        dram_cmd: Out(stream of DramCommand), dram_data: Out(stream of bus words).
        busy: Out(1); stalled: Out(1), write data refused; beat: Out(1), a beat was taken.
    With `compress_buffer_beats` (an architecture with activation compression), the rows'
    beats pass a RowCompressor (pyhdl/compress.py) while `compress` is high:
        compress: In(1), the layer's output is written compressed (held during a layer).
        layer_start: In(1); table_addr, groups, group_table_beats: In, the compressor's
            length tables (pyhdl/compress.py RowCompressor).
        unit_rows: In, the pixels of a packed unit (an image row of Y; held during a layer).
        encoded: Out(1), a dense beat entered the compressor.
    """

    FIFO_SLACK = DMA_WRITE_FIFO_SLACK
    """FIFO places beyond the words in flight.  A word holds its place from the cycle after
    its read for `read_latency` cycles in flight and at least two more in the FIFO (its
    write, then its output register until the gearbox takes it); reading a word every cycle
    needs one place more than that (tests/test_dma.py: full rate at any read latency, not
    with one place less)."""

    def __init__(self, bus_bytes, elem_bits, elems_per_word, buffer_addr_bits, read_latency=1,
                 compress_buffer_beats=0):
        if read_latency < 1:
            raise ValueError(f"DmaWriter read latency must be at least 1, not {read_latency!r}")
        self.bus_bytes = bus_bytes
        self.elem_bits = elem_bits
        self.elems_per_word = elems_per_word
        self.elems_per_beat = 8 * bus_bytes // elem_bits
        self.read_latency = read_latency
        self.compress_buffer_beats = compress_buffer_beats
        compression = {"compress": In(1), "layer_start": In(1), "table_addr": In(ADDR_BITS),
                       "unit_rows": In(COUNT_BITS),
                       "groups": In(COUNT_BITS), "group_table_beats": In(ADDR_BITS),
                       "encoded": Out(1)} if compress_buffer_beats else {}
        super().__init__({
            **compression,
            "job": In(stream.Signature(WriteJob)),
            "buffer": In(memory.ReadPort.Signature(addr_width=buffer_addr_bits,
                                                    shape=elem_bits * elems_per_word)),
            "dram_cmd": Out(stream.Signature(DramCommand)),
            "dram_data": Out(stream.Signature(8 * bus_bytes)),
            "row_word": Out(COUNT_BITS),
            "busy": Out(1),
            "stalled": Out(1),
            "beat": Out(1),
        })

    @property
    def fifo_depth(self):
        """FIFO words: `read_latency` + FIFO_SLACK (the words in flight plus the slack)."""
        return self.read_latency + self.FIFO_SLACK

    def elaborate(self, platform):
        m = Module()
        chunk = chunk_layout(self.elem_bits, self.elems_per_word)
        m.submodules.gearbox = gearbox = RowGearbox(self.elem_bits, self.elems_per_word,
                                                    self.elems_per_beat)
        m.submodules.fifo = queue = fifo.SyncFIFOBuffered(width=chunk.size,
                                                          depth=self.fifo_depth)
        m.submodules.bursts = bursts = RowBursts()
        job = Signal(WriteJob)
        read_rows = Signal(COUNT_BITS)
        words_left = Signal(COUNT_BITS)
        read_addr = Signal.like(self.buffer.addr)
        beat_rows = Signal(COUNT_BITS)          # rows whose beats have not all left
        row_beats_left = Signal(BURST_BITS)     # beats left of the current one

        tag_shape = data.StructLayout({"count": chunk["count"].shape, "last": 1})
        in_flight = Signal(self.read_latency)   # bit i: a word read i + 1 cycles ago
        tags = [Signal(tag_shape, name=f"tag_{i}", reset_less=True)
                for i in range(self.read_latency)]
        in_flight_count = Signal(range(self.read_latency + 1))
        m.d.comb += in_flight_count.eq(sum(in_flight, start=0))

        # The rows' dense beats leave the gearbox; with compression they may pass the
        # compressor on their way to DRAM.
        dense = gearbox.o
        dense_beat = dense.valid & dense.ready
        if self.compress_buffer_beats:
            compressor_busy = self._compress(m, bursts, dense, row_beats_left == 1)
        else:
            _start_bursts(m, bursts, self.job, self.dram_cmd)
            wiring.connect(m, wiring.flipped(self.dram_data), dense)
            compressor_busy = 0

        reading = read_rows != 0
        m.d.comb += [
            self.busy.eq(bursts.busy | reading | in_flight.any() | queue.r_rdy | ~gearbox.idle
                         | (beat_rows != 0) | compressor_busy),
            self.job.ready.eq(~self.busy),
        ]
        with m.If(self.job.valid & self.job.ready):
            m.d.sync += [
                job.eq(self.job.payload),
                read_rows.eq(self.job.payload.rows),
                words_left.eq(self.job.payload.row_words),
                read_addr.eq(self.job.payload.base),
                beat_rows.eq(self.job.payload.rows),
                row_beats_left.eq(self.job.payload.row_beats),
            ]

        # Read a word only when the FIFO is sure to have room for it when it arrives.
        room = queue.level + in_flight_count < self.fifo_depth
        read = reading & room
        last_word = words_left == 1
        m.d.comb += [self.buffer.en.eq(read), self.buffer.addr.eq(read_addr),
                     self.row_word.eq(job.row_words - words_left)]
        m.d.sync += [in_flight.eq((in_flight << 1) | read),
                     tags[0].count.eq(Mux(last_word, job.last_elems, job.word_elems)),
                     tags[0].last.eq(last_word)]
        m.d.sync += [later.eq(earlier) for earlier, later in zip(tags, tags[1:])]
        with m.If(read):
            m.d.sync += read_addr.eq(read_addr + 1)
            with m.If(last_word):
                m.d.sync += [read_rows.eq(read_rows - 1), words_left.eq(job.row_words)]
            with m.Else():
                m.d.sync += words_left.eq(words_left - 1)

        arriving = tags[-1]
        queued = Signal(chunk)
        m.d.comb += [
            queued.data.eq(self.buffer.data),
            queued.count.eq(arriving.count),
            queued.last.eq(arriving.last),
            queue.w_en.eq(in_flight[-1]),
            queue.w_data.eq(queued),
            gearbox.i.valid.eq(queue.r_rdy),
            gearbox.i.payload.eq(queue.r_data),
            queue.r_en.eq(gearbox.i.ready),
        ]

        m.d.comb += [
            self.beat.eq(self.dram_data.valid & self.dram_data.ready),
            self.stalled.eq(self.dram_data.valid & ~self.dram_data.ready),
        ]
        with m.If(dense_beat):
            with m.If(row_beats_left == 1):
                m.d.sync += [beat_rows.eq(beat_rows - 1), row_beats_left.eq(job.row_beats)]
            with m.Else():
                m.d.sync += row_beats_left.eq(row_beats_left - 1)
        m.d.sync += [
            Assert(~queue.w_en | queue.w_rdy, "DMA writer: FIFO overflow"),
            Assert(~dense_beat | (beat_rows != 0), "DMA writer: more beats than the job"),
        ]
        return m

    def _compress(self, m, bursts, dense, row_end):
        """Route the rows' beats (`dense`, `row_end` on a row's last) through a RowCompressor
        while `compress` is high, else straight to DRAM after RowBursts' commands; return
        the compressor's busy."""
        m.submodules.compressor = compressor = RowCompressor(self.bus_bytes,
                                                             self.compress_buffer_beats)
        on = self.compress
        job = self.job
        _start_bursts(m, bursts, job, enable=~on)
        _start_bursts(m, compressor, job, enable=on)
        m.d.comb += [
            compressor.layer_start.eq(self.layer_start),
            compressor.table_addr.eq(self.table_addr),
            compressor.groups.eq(self.groups),
            compressor.group_table_beats.eq(self.group_table_beats),
            compressor.unit_rows.eq(self.unit_rows),
            compressor.i.valid.eq(dense.valid & on),
            compressor.i.payload.data.eq(dense.payload),
            compressor.i.payload.last.eq(row_end),
            self.encoded.eq(compressor.encoded),
        ]
        with m.If(on):
            wiring.connect(m, compressor.dram_cmd, wiring.flipped(self.dram_cmd))
            wiring.connect(m, compressor.dram_data, wiring.flipped(self.dram_data))
            m.d.comb += dense.ready.eq(compressor.i.ready)
        with m.Else():
            wiring.connect(m, bursts.cmd, wiring.flipped(self.dram_cmd))
            wiring.connect(m, dense, wiring.flipped(self.dram_data))
        return compressor.busy
