"""Bitmask-compressed int8 activations in DRAM: the format, and what it costs, from the data.

An activation tensor keeps its dense layout (models/layout.py: one DRAM row of beats per
pixel, rows `pitch` beats apart), and each row's slot keeps its dense size, so every address
stays what it was.  What changes is how much of each slot is written and read:

    a row of R dense beats of B bytes is encoded beat by beat: for each dense beat, a mask of
    B bits (B/8 bytes, bit i set when byte i is not zero) followed by its non-zero bytes, in
    order.  The row's encoding is those pieces back to back, packed little-endian into beats,
    the last beat padded with zeros: L = ceil(sum over beats of (B/8 + non-zeros) / B) beats.
    When L < R the row is stored compressed (its first L beats); otherwise it is stored dense
    (all R beats), so no row ever takes more than its dense size.

A length table says how each row was stored: one byte per row, the row's stored beats (R
means dense), the entry of the tensor's row i at byte i of the table (which starts on a beat
after the tensor).  The hardware writer fills it as it writes the rows; the host places
compressed inputs the same way (`compress_rows`).  A layer whose output channels the mapper
splits into groups writes each group's slice of every pixel as a row of its own, with a table
of its own (`output_slices`; the tables follow one another).

The hardware (pyhdl/compress.py) encodes one dense beat a cycle, so the row decision needs the
whole row: the writer holds up to two rows of COMPRESSED_ROW_BYTES (models/spec.py).
"""

import numpy as np

from .hardware import COUNT_LIMIT
from .inventory import COMPRESSOR_DECISIONS
from .layout import pack_rows
from .spec import COMPRESSED_ROW_BYTES

TABLE_ENTRY_LIMIT = 255
"""Largest stored length a table entry (one byte) holds: rows of up to 255 beats."""


def mask_bytes(bus_bytes):
    """Bytes of one dense beat's mask: one bit per byte of the beat."""
    return bus_bytes // 8


def encoded_beat_bytes(beats):
    """Bytes of the encoding of each dense beat: its mask and its non-zero bytes.
    `beats` is ... x B uint8 (any leading shape); the result has the leading shape."""
    beats = np.asarray(beats, dtype=np.uint8)
    return mask_bytes(beats.shape[-1]) + np.count_nonzero(beats, axis=-1)


def stored_beats(rows, bus_bytes):
    """Beats each dense row of `rows` (rows x (R * B) uint8) takes in DRAM, and whether it is
    stored compressed: (beats, compressed), two arrays of one entry per row."""
    rows = np.asarray(rows, dtype=np.uint8)
    dense = rows.shape[1] // bus_bytes
    encoded = encoded_beat_bytes(rows.reshape(len(rows), dense, bus_bytes)).sum(axis=1)
    compressed_beats = -(-encoded // bus_bytes)
    compressed = compressed_beats < dense
    return np.where(compressed, compressed_beats, dense), compressed


def encode_beat(beat):
    """One dense beat (B uint8) -> its encoding: mask bytes, then the non-zero bytes."""
    beat = np.asarray(beat, dtype=np.uint8)
    bits = (beat != 0).astype(np.uint8)
    mask = np.packbits(bits, bitorder="little")
    return np.concatenate([mask, beat[beat != 0]])


def encode_row(row, bus_bytes):
    """A dense row (R * B uint8) -> the bytes stored for it (L or R beats' worth)."""
    row = np.asarray(row, dtype=np.uint8)
    dense = len(row) // bus_bytes
    pieces = [encode_beat(row[j * bus_bytes:(j + 1) * bus_bytes]) for j in range(dense)]
    encoded = np.concatenate(pieces)
    beats = -(-len(encoded) // bus_bytes)
    if beats >= dense:
        return row.copy()
    out = np.zeros(beats * bus_bytes, dtype=np.uint8)
    out[:len(encoded)] = encoded
    return out


def decode_row(stored, dense_beats, bus_bytes):
    """The bytes stored for a row (`len(stored)` a whole number of beats) -> the dense row."""
    stored = np.asarray(stored, dtype=np.uint8)
    if len(stored) == dense_beats * bus_bytes:
        return stored.copy()
    mask_len = mask_bytes(bus_bytes)
    out = np.zeros(dense_beats * bus_bytes, dtype=np.uint8)
    at = 0
    for j in range(dense_beats):
        bits = np.unpackbits(stored[at:at + mask_len], bitorder="little").astype(bool)
        at += mask_len
        nonzero = int(bits.sum())
        beat = np.zeros(bus_bytes, dtype=np.uint8)
        beat[bits] = stored[at:at + nonzero]
        at += nonzero
        out[j * bus_bytes:(j + 1) * bus_bytes] = beat
    return out


def table_beats(rows, bus_bytes):
    """Beats of the length table of a tensor of `rows` rows."""
    return -(-rows // bus_bytes)


def compress_rows(rows, bus_bytes, pitch_beats):
    """The DRAM image of a compressed tensor: rows x (R * B) dense bytes -> (slots, table).

    `slots` is rows * pitch_beats beats of bytes, each row's stored bytes at the start of its
    slot and zeros after them; `table` is `table_beats` beats, one length byte per row."""
    rows = np.asarray(rows, dtype=np.uint8)
    count = len(rows)
    slot = pitch_beats * bus_bytes
    slots = np.zeros(count * slot, dtype=np.uint8)
    table = np.zeros(table_beats(count, bus_bytes) * bus_bytes, dtype=np.uint8)
    for i, row in enumerate(rows):
        stored = encode_row(row, bus_bytes)
        slots[i * slot:i * slot + len(stored)] = stored
        table[i] = len(stored) // bus_bytes
    return slots, table


def decompress_rows(slots, table, count, dense_beats, bus_bytes, pitch_beats):
    """Read `count` rows of `dense_beats` back from a compressed DRAM image (what
    `compress_rows` wrote, or the hardware): count x (dense_beats * B) dense bytes.  A table
    entry out of range (0, or above the dense length) raises ValueError naming the row."""
    slots = np.asarray(slots, dtype=np.uint8)
    slot = pitch_beats * bus_bytes
    out = np.zeros((count, dense_beats * bus_bytes), dtype=np.uint8)
    for i in range(count):
        beats = int(table[i])
        if not 1 <= beats <= dense_beats:
            raise ValueError(f"length table: row {i} stored in {beats} beats, "
                             f"not 1 to {dense_beats}")
        out[i] = decode_row(slots[i * slot:i * slot + beats * bus_bytes], dense_beats,
                            bus_bytes)
    return out


def compressible(spec, row_beats, rows):
    """Whether a tensor of `rows` rows of `row_beats` dense beats can be written compressed on
    `spec`: the architecture compresses, a row fits the writer's buffer and a table entry, and
    the row count fits the writer's row counter."""
    return (spec.activation_compression != "none"
            and row_beats * spec.dram_bus_bytes <= COMPRESSED_ROW_BYTES
            and row_beats <= TABLE_ENTRY_LIMIT and rows <= COUNT_LIMIT)


def reads_compressed(spec, row_beats, rows):
    """Whether the host places a tensor of `rows` rows of `row_beats` dense beats compressed
    for a layer to read: it can be (`compressible`), and a row is more than one beat (a beat
    cannot get shorter, and its table entry would only add bytes)."""
    return row_beats > 1 and compressible(spec, row_beats, rows)


def activation_rows(outputs, bus_bytes):
    """int8 activations N x K x P x Q as their DRAM rows: one row of bytes per pixel."""
    outputs = np.asarray(outputs)
    pixels = outputs.size // outputs.shape[1]
    rows = pack_rows(outputs.transpose(0, 2, 3, 1).reshape(pixels, outputs.shape[1]), 8,
                     bus_bytes)
    return rows.reshape(pixels, -1)


def output_slices(spec, mapping):
    """The output groups of a compressed layer as (first channel, channels, first beat in a
    pixel's slot, dense beats): each group writes its slice of every pixel as a row of its own
    (models/mapper.py, pyhdl/sequencer.py)."""
    d, k = mapping.descriptor, mapping.shape.k
    step = d["k_group_blocks"] * spec.cols
    return [(first, min(step, k - first), g * d["y_group_beats"],
             d["y_group_beats"] if first + step < k else mapping.y_row_beats
             - g * d["y_group_beats"])
            for g, first in enumerate(range(0, k, step))]


def _tile_pixels(mapping):
    """The output pixels of each tile, in the order the writer writes them."""
    shape = mapping.shape
    return [min(mapping.tile_p, shape.p - p0) * shape.q
            for _ in range(shape.n) for p0 in range(0, shape.p, mapping.tile_p)]


def compressed_writes(spec, mapping, outputs=None):
    """The write-back counters of a layer whose outputs are compressed (zeros otherwise):
    compressor_beats, compressed_bytes_written and dram_bytes_written, exact from the layer's
    int8 `outputs` (N x K x P x Q), or without them the most it can write (every row dense).
    Each tile writes the table beats of its entries in every group's table."""
    d = mapping.descriptor
    if not d["y_compressed"]:
        return {"compressor_beats": 0, "compressed_bytes_written": 0}
    shape, bus = mapping.shape, spec.dram_bus_bytes
    pixels = shape.n * shape.p * shape.q
    if outputs is None:
        beats = pixels * mapping.y_row_beats
    else:
        outputs = np.asarray(outputs)
        beats = sum(int(stored_beats(activation_rows(outputs[:, first:first + count], bus),
                                     bus)[0].sum())
                    for first, count, _, _ in output_slices(spec, mapping))
    tables = d["y_groups"] * sum(table_beats(count, bus) for count in _tile_pixels(mapping))
    written = (beats + tables) * bus
    return {"compressor_beats": pixels * mapping.y_row_beats,
            "compressed_bytes_written": written, "dram_bytes_written": written}


def input_bands(mapping):
    """The input pixels each tile's band reads, in order: (first pixel of the tensor, pixels);
    a band is whole input rows of one image (pyhdl/sequencer.py)."""
    from .perf import tiles     # perf prices the writes with this module: import when used
    for tile in tiles(mapping):
        yield tile_band(mapping.shape, tile)


def tile_band(shape, tile):
    """A tile's input band as (first pixel of the tensor, pixels): whole input rows of one
    image, halo rows included."""
    first_row = max(0, tile.p0 * shape.stride - shape.pad)
    return (tile.image * shape.h + first_row) * shape.w, tile.band_rows * shape.w


def compressed_reads(spec, mapping, inputs=None):
    """The input-read counters of a layer that reads X compressed (zeros otherwise):
    decompressor_beats (every band's dense beats) and compressed_bytes_read (every band's
    stored rows and the length-table beats its entries span), exact from the layer's int8
    `inputs` (N x C x H x W), or without them the most it can read (every row dense)."""
    d = mapping.descriptor
    if not d["x_compressed"]:
        return {"decompressor_beats": 0, "compressed_bytes_read": 0}
    bus, dense = spec.dram_bus_bytes, mapping.x_row_beats
    beats = None if inputs is None else stored_beats(activation_rows(inputs, bus), bus)[0]
    stored = decoded = tables = 0
    for first, count in input_bands(mapping):
        tables += (first + count - 1) // bus - first // bus + 1
        decoded += count * dense
        stored += count * dense if beats is None else int(beats[first:first + count].sum())
    return {"decompressor_beats": decoded, "compressed_bytes_read": (stored + tables) * bus}


def dense_image(image, mapping, spec):
    """The DRAM image of a layer's Y as if written dense, from what the hardware wrote: Y's
    slots and, when Y is compressed, its length tables after them (`mapping.y_table_beats`)."""
    image = np.asarray(image, dtype=np.uint8)
    if not mapping.y_table_beats:
        return image
    bus, shape = spec.dram_bus_bytes, mapping.shape
    count = shape.n * shape.p * shape.q
    slots, tables = np.split(image, [mapping.y_beats * bus])
    out = np.zeros((count, mapping.y_pitch * bus), dtype=np.uint8)
    table_bytes = mapping.descriptor["y_group_table_beats"] * bus
    for g, (_, _, offset, beats) in enumerate(output_slices(spec, mapping)):
        out[:, offset * bus:(offset + beats) * bus] = decompress_rows(
            slots[offset * bus:], tables[g * table_bytes:], count, beats, bus,
            mapping.y_pitch)
    return out.reshape(-1)[:mapping.y_beats * bus]


# --- cycles: the compressing writer, cycle by cycle ----------------------------------------
# The compressor's timing depends on the data (each row's stored length, each beat's
# encoded length), so the model steps a mirror of pyhdl/compress.py RowCompressor, of the
# gearbox it shares with the DMA writer (pyhdl/gearbox.py RowGearbox), of amaranth's
# SyncFIFOBuffered and of the simulated DRAM's write queue (testbench/dram_model.sv, no stalls).

DRAM_WRITE_QUEUE = 32
"""Write commands the simulated DRAM queues (testbench/dram_model.sv QUEUE)."""


class _Gearbox:
    """pyhdl/gearbox.py RowGearbox, one cycle at a time: `out` elements leave a cycle."""

    def __init__(self, out):
        self.out, self.fill, self.row_end = out, 0, False

    @property
    def valid(self):
        return self.fill >= self.out or (self.row_end and self.fill != 0)

    @property
    def idle(self):
        return self.fill == 0 and not self.row_end

    def _after(self, ready):
        """The elements left once this cycle's output (taken when `ready`) has left."""
        if self.valid and ready:
            return self.fill - self.out if self.fill >= self.out else 0
        return self.fill

    def accepts(self, ready):
        """Whether the gearbox takes an input chunk this cycle, its output taken when `ready`."""
        after = self._after(ready)
        return (not self.row_end or after == 0) and after <= self.out

    def step(self, ready, chunk):
        """One cycle with output `ready` and input `chunk` ((count, last) or None); returns
        (emitted, input ready)."""
        emit = self.valid and ready
        after, in_ready = self._after(ready), self.accepts(ready)
        if chunk is not None and in_ready:
            self.fill, self.row_end = after + chunk[0], chunk[1]
        else:
            self.fill = after
            self.row_end = self.row_end and after != 0
        return emit, in_ready


class _Fifo:
    """amaranth SyncFIFOBuffered (depth >= 2): `depth - 1` entries and an output register;
    a write is readable two cycles later."""

    def __init__(self, depth):
        self.inner_depth, self.inner, self.head = depth - 1, [], None

    @property
    def w_rdy(self):
        return len(self.inner) != self.inner_depth

    def step(self, write, read):
        """One cycle: push `write` (None: nothing; the caller checked w_rdy) and, with `read`
        (r_en), take the head."""
        if self.inner and (self.head is None or read):
            self.head = self.inner.pop(0)
        elif read:
            self.head = None
        if write is not None:
            self.inner.append(write)


def dense_beat_cycles(word_counts, rows, bus_elems):
    """Cycles (from the first word offered) in which the DMA writer's gearbox passes each
    dense beat of `rows` rows of words of `word_counts` elements, one word offered a cycle
    and every beat taken at once."""
    gearbox = _Gearbox(bus_elems)
    stream = [(count, i == len(word_counts) - 1) for i, count in enumerate(word_counts)] * rows
    cycles, cycle, taken = [], 0, 0
    while taken < len(stream) or not gearbox.idle:
        offered = taken < len(stream)
        emit, ready = gearbox.step(True, stream[taken] if offered else None)
        taken += offered and ready
        if emit:
            cycles.append(cycle)
        cycle += 1
    return cycles


def _row_encodings(spec, mapping, outputs, tile, first_kb):
    """Per row of a tile's slice for the group from filter block `first_kb`: (stored beats,
    encoded, encoded bytes of each dense beat)."""
    bus = spec.dram_bus_bytes
    [(first, count, _, _)] = [s for s in output_slices(spec, mapping)
                              if s[0] == first_kb * spec.cols]
    block = np.asarray(outputs)[tile.image:tile.image + 1, first:first + count,
                                tile.p0:tile.p0 + tile.rows]
    rows = activation_rows(block, bus)
    beats, compressed = stored_beats(rows, bus)
    per_beat = encoded_beat_bytes(rows.reshape(len(rows), -1, bus))
    return list(zip(beats.tolist(), compressed.tolist(), per_beat.tolist()))


def compressed_write_end(spec, mapping, outputs, tile, first_kb, word_counts, accepted,
                         dense_free):
    """The first cycle the DMA writer is idle after the write-back it accepted in cycle
    `accepted` (the slice of `tile`'s pixels of the group from filter block `first_kb`), given
    `dense_free`, when it would be idle writing it dense (models/perf.py).  Unchanged for a
    layer written dense, or when `outputs` (the layer's int8 outputs, N x K x P x Q) are not
    given."""
    if outputs is None or not mapping.descriptor["y_compressed"]:
        return dense_free
    bus = spec.dram_bus_bytes
    rows = _row_encodings(spec, mapping, outputs, tile, first_kb)
    dense = len(rows[0][2])
    nominal = dense_beat_cycles(tuple(word_counts), len(rows), bus)
    first = dense_free - nominal[-1] - 1        # the cycle the first word is offered
    beats = [(row, j) for row in range(len(rows)) for j in range(dense)]
    index = 0

    def due(row_index, rows_left):
        return row_index % bus == bus - 1 or rows_left == 1

    buffer = _Fifo(2 * COMPRESSED_ROW_BYTES // bus)
    decisions = {side: _Fifo(COMPRESSOR_DECISIONS) for side in ("cmd", "data")}
    gearbox = _Gearbox(bus)
    cmd_rows = data_rows = len(rows)
    cmd_index = data_index = index
    table_cmd = table_beat = False
    queue, w_left = [], 0          # the DRAM's write commands (lengths) and the current one
    taken, delay = 0, 0
    cycle = accepted + 1
    while True:
        busy = (cmd_rows or data_rows or table_cmd or table_beat
                or buffer.head is not None or not gearbox.idle)
        if not busy and taken == len(beats):
            return cycle
        # In: the next dense beat, late by as much as the one before it was held.
        write = None
        if taken < len(beats) and first + nominal[taken] + delay <= cycle:
            row, j = beats[taken]
            last = j == dense - 1
            if buffer.w_rdy and (not last or all(q.w_rdy for q in decisions.values())):
                write = (row, j)
                delay = cycle - first - nominal[taken]
                taken += 1
        # Commands: a table beat's, else the next row's (the queue's r_en is DRAM's ready).
        cmd_ready = len(queue) != DRAM_WRITE_QUEUE
        cmd_read = not table_cmd and cmd_ready
        pushed = None
        if table_cmd:
            if cmd_ready:
                table_cmd, pushed = False, 1
        elif decisions["cmd"].head is not None and cmd_ready:
            pushed = rows[decisions["cmd"].head][0]
            table_cmd = due(cmd_index, cmd_rows)
            cmd_index, cmd_rows = cmd_index + 1, cmd_rows - 1
        # Data: a table beat, else the head row's next beat, through the gearbox to DRAM.
        data_head, beat = decisions["data"].head, buffer.head
        chunk = None
        if table_beat:
            chunk = (bus, True)
        elif data_head is not None and beat is not None:
            _, encoded, per_beat = rows[beat[0]]
            chunk = (per_beat[beat[1]] if encoded else bus, beat[1] == dense - 1)
        emitted, ready = gearbox.step(w_left != 0, chunk)
        buffer_read = not table_beat and data_head is not None and ready
        row_done = buffer_read and chunk is not None and chunk[1]
        if table_beat:
            table_beat = not ready
        elif row_done:
            table_beat = due(data_index, data_rows)
            data_index, data_rows = data_index + 1, data_rows - 1
        # The DRAM: the head command's beats, then the next command.
        if (w_left == 0 or (emitted and w_left == 1)) and queue:
            w_left = queue.pop(0)
        elif emitted:
            w_left -= 1
        if pushed is not None:
            queue.append(pushed)
        decided = write[0] if write is not None and write[1] == dense - 1 else None
        buffer.step(write, buffer_read)
        decisions["cmd"].step(decided, cmd_read)
        decisions["data"].step(decided, row_done)
        cycle += 1


# --- cycles: the decompressing reader, cycle by cycle --------------------------------------
# A compressed band's read time depends on every row's stored length and every dense beat's
# encoded length, so the model steps a mirror of pyhdl/compress.py CompressedRowFetcher (its
# table ring, command-kind FIFO and RowDecompressor), of the DMA reader's gearbox
# (pyhdl/dma.py DmaReader) and of the simulated DRAM's read queue (testbench/dram_model.sv,
# no gaps or stalls).

TABLE_RING = 4
"""Table beats the fetcher holds or fetches ahead (pyhdl/compress.py TABLE_RING)."""
READ_KINDS = 8
"""Commands whose data has not all arrived (pyhdl/compress.py CompressedRowFetcher.KINDS)."""


class _DramReads:
    """testbench/dram_model.sv's read side without gaps or stalls: commands queue up to
    DRAM_WRITE_QUEUE deep; the head's beats are offered one a cycle from `latency` + 1
    cycles after its command, right after the previous burst's last beat."""

    def __init__(self, latency):
        self.latency, self.queue, self.left = latency, [], 0

    @property
    def cmd_ready(self):
        return len(self.queue) != DRAM_WRITE_QUEUE

    @property
    def valid(self):
        return self.left != 0

    def step(self, cycle, taken, command):
        """End of `cycle`: a beat `taken`, a `command` (its length) pushed or None."""
        last = taken and self.left == 1
        pop = (self.left == 0 or last) and self.queue and cycle >= self.queue[0][0]
        if taken:
            self.left -= 1
        if pop:
            self.left = self.queue.pop(0)[1]
        if command is not None:
            self.queue.append((cycle + self.latency, command))


class _Decompressor:
    """pyhdl/compress.py RowDecompressor: a byte window filled a stored beat at a time, a
    dense beat out when the window holds its mask and non-zero bytes."""

    def __init__(self, bus):
        self.bus, self.mask, self.capacity = bus, mask_bytes(bus), 2 * bus + mask_bytes(bus)
        self.fill = self.produced = self.taken = 0

    def outputs(self, row, in_valid, out_ready):
        """This cycle's (out valid, in ready, row done) for `row` ((stored, dense, encoded
        bytes of each dense beat) or None: no row's kind at the head)."""
        if row is None:
            return False, False, False
        stored, dense, per_beat = row
        if stored >= dense:
            return in_valid, out_ready, None        # the row's end: its last beat taken
        used = per_beat[self.produced]
        valid = self.fill >= self.mask and self.fill >= used
        done = valid and out_ready and self.produced == dense - 1
        kept = self.fill - (used if valid and out_ready else 0)
        ready = self.taken != stored and kept + self.bus <= self.capacity and not done
        return valid, ready, done

    def step(self, row, emit, took, done):
        """End of the cycle: a dense beat `emit`ted, a stored beat `took`, the row `done`."""
        if done:
            self.fill = self.produced = self.taken = 0
            return
        if row is None or row[0] >= row[1]:
            return
        used = row[2][self.produced] if emit else 0
        self.fill = self.fill - used + (self.bus if took else 0)
        self.taken += took
        self.produced += emit


def band_rows(inputs, bus_bytes):
    """Per input pixel (the tensor's rows in order): (stored beats, dense beats, encoded bytes
    of each dense beat), from the layer's int8 `inputs` (N x C x H x W)."""
    rows = activation_rows(inputs, bus_bytes)
    beats, _ = stored_beats(rows, bus_bytes)
    per_beat = encoded_beat_bytes(rows.reshape(len(rows), -1, bus_bytes))
    dense = per_beat.shape[1]
    return [(int(b), dense, tuple(p)) for b, p in zip(beats.tolist(), per_beat.tolist())]


def compressed_read_cycles(spec, rows, first, row_elems, dram_latency):
    """Cycles from the DMA reader accepting a compressed read job of `rows` (`band_rows`'
    entries of the band's pixels, the first of them entry `first` of the length table; rows
    of `row_elems` int8 elements) to the first cycle it is idle again."""
    bus = spec.dram_bus_bytes
    shift = (bus - 1).bit_length()
    dram, kinds, decompressor = _DramReads(dram_latency), _Fifo(READ_KINDS), _Decompressor(bus)
    gearbox = _Gearbox(spec.input_lanes)
    count, dense = len(rows), rows[0][1]
    cmd_rows, entry = count, first
    table_left = ((first + count - 1) >> shift) - (first >> shift) + 1
    reserved, arrived, arrive = 0, set(), (first >> shift) % TABLE_RING
    stored_taken, data_row = 0, 0            # the fetcher's beat count, the row at the head
    data_rows, beats_left, elems_left = count, dense, row_elems
    cycle = 1
    while (data_rows or cmd_rows or table_left or kinds.head is not None or kinds.inner
           or not gearbox.idle):
        slot = (entry >> shift) % TABLE_RING
        # Commands: a table beat while there is a ring place, else the next row's burst.
        fetch_table = table_left != 0 and reserved != TABLE_RING
        issue_row = cmd_rows != 0 and slot in arrived
        pushed = command = None
        if kinds.w_rdy and (fetch_table or issue_row) and dram.cmd_ready:
            if fetch_table:
                pushed, command = True, 1
                table_left, reserved = table_left - 1, reserved + 1
            else:
                pushed, command = False, rows[entry - first][0]
                if entry % bus == bus - 1 or cmd_rows == 1:
                    reserved -= 1
                    arrived.discard(slot)
                cmd_rows, entry = cmd_rows - 1, entry + 1
        # Data: a table beat into the ring, else a row's beats through the decompressor into
        # the reader's gearbox.
        in_ready = data_rows != 0 and gearbox.accepts(True)
        table = kinds.head is True
        row = rows[data_row] if kinds.head is False else None
        out_valid, dec_ready, done = decompressor.outputs(row, dram.valid, in_ready)
        taken = dram.valid and (table or (row is not None and dec_ready))
        if row is not None and done is None:     # a row stored dense ends on its last beat
            done = taken and stored_taken == row[0] - 1
        emit = data_rows != 0 and out_valid and in_ready
        gearbox.step(True, (min(elems_left, bus), beats_left == 1) if emit else None)
        if table and taken:
            arrived.add(arrive)
            arrive = (arrive + 1) % TABLE_RING
        if row is not None and taken:
            stored_taken = 0 if stored_taken == row[0] - 1 else stored_taken + 1
        decompressor.step(row, emit, taken, done)
        data_row += bool(done)
        if emit and beats_left == 1:
            data_rows, beats_left, elems_left = data_rows - 1, dense, row_elems
        elif emit:
            beats_left, elems_left = beats_left - 1, elems_left - bus
        dram.step(cycle, taken, command)
        kinds.step(pushed, (table and taken) or bool(done))
        cycle += 1
    return cycle


def compressed_input_rows(spec, mapping, inputs):
    """`band_rows` of a layer that reads X compressed, from its int8 `inputs` (N x C x H x W);
    None for a layer reading X dense, or without inputs."""
    if inputs is None or not mapping.descriptor["x_compressed"]:
        return None
    return band_rows(inputs, spec.dram_bus_bytes)


def band_read_cycles(spec, mapping, x_rows, tile, dram_latency, dense):
    """The DMA reader's cycles for `tile`'s input band, from accepting the job to idle:
    `dense` (models/perf.py's, the band read dense) unless the layer reads X compressed and
    `x_rows` (`compressed_input_rows`) are given."""
    if x_rows is None:
        return dense
    first, count = tile_band(mapping.shape, tile)
    return compressed_read_cycles(spec, x_rows[first:first + count], first, mapping.shape.c,
                                  dram_latency)
