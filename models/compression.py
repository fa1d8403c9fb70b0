"""Bitmask-compressed int8 activations in DRAM: the format, and what it costs, from the data.

An activation tensor keeps its dense layout (models/layout.py: one DRAM row of R beats of B
bytes per pixel, rows `pitch` beats apart), so every unit of it starts where it did dense.
Its pixels are grouped into *units* of consecutive rows: an image row (W pixels) of one
output group's slice, the largest unit both the writer (a tile is whole output rows) and the
reader (a band is whole input rows) handle whole (docs/sparsity.md says why).  Each unit is
stored as one packed byte stream:

    each pixel row is encoded beat by beat: for each dense beat, a mask of B bits (B/8 bytes,
    bit i set when byte i is not zero) followed by its non-zero bytes, in order.  When that
    encoding is shorter than the row's R x B dense bytes, the pixel's stored bytes are the
    encoding; otherwise they are its dense bytes (the fall-back, decided pixel by pixel, so
    no unit is ever longer than dense).  A unit's pixels' stored bytes follow one another,
    packed little-endian into beats, the last beat padded with zeros: S = ceil(sum / B) beats,
    at most the unit's dense beats.  Stream beat k lands where the unit's k-th dense beat
    was: pixel slot k // R of the unit, beat k % R of the slot.

A length table says how each pixel was stored: one byte per pixel, its stored bytes when
encoded and 0 when stored dense; entry i of the tensor's pixel i at byte i of the table
(which starts on a beat after the tensor).  The hardware writer fills it as it writes the
units; the host places compressed inputs the same way (`compress_rows`).  A layer whose
output channels the mapper splits into groups writes each group's slice of every pixel as a
row of its own, with a table of its own (`output_slices`; the tables follow one another).

The hardware (pyhdl/compress.py) encodes one dense beat a cycle, so the pixel's decision
needs its whole row: the writer holds up to two rows of COMPRESSED_ROW_BYTES (models/spec.py).
"""

import numpy as np

from .hardware import COUNT_LIMIT
from .inventory import COMPRESSOR_DECISIONS, FETCHER_PIXELS
from .layout import pack_rows
from .spec import COMPRESSED_ROW_BYTES

DENSE_ENTRY = 0
"""The table entry of a pixel stored dense (an encoded pixel stores at least its masks)."""


def mask_bytes(bus_bytes):
    """Bytes of one dense beat's mask: one bit per byte of the beat."""
    return bus_bytes // 8


def encoded_beat_bytes(beats):
    """Bytes of the encoding of each dense beat: its mask and its non-zero bytes.
    `beats` is ... x B uint8 (any leading shape); the result has the leading shape."""
    beats = np.asarray(beats, dtype=np.uint8)
    return mask_bytes(beats.shape[-1]) + np.count_nonzero(beats, axis=-1)


def stored_bytes(rows, bus_bytes):
    """Bytes each dense pixel row of `rows` (rows x (R * B) uint8) takes in its unit's
    stream, and whether it is stored encoded: (bytes, encoded), one entry per row."""
    rows = np.asarray(rows, dtype=np.uint8)
    dense = rows.shape[1]
    encoded = encoded_beat_bytes(rows.reshape(len(rows), -1, bus_bytes)).sum(axis=1)
    compressed = encoded < dense
    return np.where(compressed, encoded, dense), compressed


def unit_beats(stored, unit, bus_bytes):
    """Stored beats of each unit of `unit` consecutive pixels whose stored bytes are `stored`
    (a whole number of units)."""
    stored = np.asarray(stored, dtype=np.int64).reshape(-1, unit)
    return -(-stored.sum(axis=1) // bus_bytes)


def packing_saves_beats(rows, unit, bus_bytes):
    """Whether packing `rows` in units of `unit` pixels takes fewer beats than storing each
    pixel in whole beats (pixels share a beat somewhere)."""
    stored, _ = stored_bytes(rows, bus_bytes)
    return bool(unit_beats(stored, unit, bus_bytes).sum() < (-(-stored // bus_bytes)).sum())


def encode_beat(beat):
    """One dense beat (B uint8) -> its encoding: mask bytes, then the non-zero bytes."""
    beat = np.asarray(beat, dtype=np.uint8)
    bits = (beat != 0).astype(np.uint8)
    mask = np.packbits(bits, bitorder="little")
    return np.concatenate([mask, beat[beat != 0]])


def encode_row(row, bus_bytes):
    """A dense pixel row (R * B uint8) -> its stored bytes: the encoding when shorter, else
    the row itself."""
    row = np.asarray(row, dtype=np.uint8)
    encoded = np.concatenate([encode_beat(row[j:j + bus_bytes])
                              for j in range(0, len(row), bus_bytes)])
    return encoded if len(encoded) < len(row) else row.copy()


def encode_unit(rows, bus_bytes):
    """A unit's dense pixel rows (U x (R * B) uint8) -> its stream: the pixels' stored bytes
    back to back, padded to whole beats."""
    stream = np.concatenate([encode_row(row, bus_bytes) for row in rows])
    out = np.zeros(-(-len(stream) // bus_bytes) * bus_bytes, dtype=np.uint8)
    out[:len(stream)] = stream
    return out


def decode_unit(stream, entries, dense_beats, bus_bytes):
    """A unit's stream and its pixels' table entries -> its dense rows (U x (R * B))."""
    stream = np.asarray(stream, dtype=np.uint8)
    row_bytes, mask_len = dense_beats * bus_bytes, mask_bytes(bus_bytes)
    out = np.zeros((len(entries), row_bytes), dtype=np.uint8)
    at = 0
    for i, entry in enumerate(entries):
        if entry == DENSE_ENTRY:
            out[i] = stream[at:at + row_bytes]
            at += row_bytes
            continue
        for j in range(dense_beats):
            bits = np.unpackbits(stream[at:at + mask_len], bitorder="little").astype(bool)
            at += mask_len
            nonzero = int(bits.sum())
            out[i, j * bus_bytes:(j + 1) * bus_bytes][bits] = stream[at:at + nonzero]
            at += nonzero
    return out


def table_beats(rows, bus_bytes):
    """Beats of the length table of a tensor of `rows` pixel rows."""
    return -(-rows // bus_bytes)


def _stream_beat_offsets(beats, dense_beats, pitch_beats):
    """Beat offsets, from the unit's first slot, where a unit's stream beats 0..beats-1 go."""
    k = np.arange(beats)
    return (k // dense_beats) * pitch_beats + k % dense_beats


def compress_rows(rows, bus_bytes, pitch_beats, unit):
    """The DRAM image of a compressed tensor: rows x (R * B) dense bytes, in units of `unit`
    rows -> (slots, table).

    `slots` is rows * pitch_beats beats of bytes, each unit's stream in the beats of its
    slots (zeros elsewhere); `table` is `table_beats` beats, one entry per row."""
    rows = np.asarray(rows, dtype=np.uint8)
    count, dense = len(rows), rows.shape[1] // bus_bytes
    stored, compressed = stored_bytes(rows, bus_bytes)
    slots = np.zeros((count * pitch_beats, bus_bytes), dtype=np.uint8)
    table = np.zeros(table_beats(count, bus_bytes) * bus_bytes, dtype=np.uint8)
    table[:count] = np.where(compressed, stored, DENSE_ENTRY)
    for first in range(0, count, unit):
        stream = encode_unit(rows[first:first + unit], bus_bytes).reshape(-1, bus_bytes)
        at = first * pitch_beats + _stream_beat_offsets(len(stream), dense, pitch_beats)
        slots[at] = stream
    return slots.reshape(-1), table


def decompress_rows(slots, table, count, dense_beats, bus_bytes, pitch_beats, unit):
    """Read `count` rows of `dense_beats` back from a compressed DRAM image (what
    `compress_rows` wrote, or the hardware): count x (dense_beats * B) dense bytes.  A table
    entry out of range (longer than the dense row) raises ValueError naming the row."""
    slots = np.asarray(slots, dtype=np.uint8).reshape(-1, bus_bytes)
    table = np.asarray(table[:count], dtype=np.int64)
    row_bytes = dense_beats * bus_bytes
    bad = np.flatnonzero(table >= row_bytes)
    if len(bad):
        raise ValueError(f"length table: row {bad[0]} stored in {table[bad[0]]} bytes, "
                         f"not fewer than {row_bytes}")
    stored = np.where(table == DENSE_ENTRY, row_bytes, table)
    out = np.zeros((count, row_bytes), dtype=np.uint8)
    for first in range(0, count, unit):
        entries = table[first:first + unit]
        beats = -(-int(stored[first:first + unit].sum()) // bus_bytes)
        at = first * pitch_beats + _stream_beat_offsets(beats, dense_beats, pitch_beats)
        out[first:first + unit] = decode_unit(slots[at].reshape(-1), entries, dense_beats,
                                              bus_bytes)
    return out


def compressible(spec, row_beats, rows):
    """Whether a tensor of `rows` rows of `row_beats` dense beats can be written compressed on
    `spec`: the architecture compresses, a row fits the writer's buffer, and the row count
    fits the writer's row counter."""
    return (spec.activation_compression != "none"
            and row_beats * spec.dram_bus_bytes <= COMPRESSED_ROW_BYTES and rows <= COUNT_LIMIT)


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
    int8 `outputs` (N x K x P x Q), or without them the most it can write (every unit dense).
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
        beats = sum(int(unit_beats(stored_bytes(activation_rows(
            outputs[:, first:first + count], bus), bus)[0], shape.q, bus).sum())
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
    units' stored beats and the length-table beats its entries span), exact from the layer's
    int8 `inputs` (N x C x H x W), or without them the most it can read (every unit dense)."""
    d = mapping.descriptor
    if not d["x_compressed"]:
        return {"decompressor_beats": 0, "compressed_bytes_read": 0}
    bus, dense, unit = spec.dram_bus_bytes, mapping.x_row_beats, mapping.shape.w
    units = None if inputs is None else unit_beats(
        stored_bytes(activation_rows(inputs, bus), bus)[0], unit, bus)
    stored = decoded = tables = 0
    for first, count in input_bands(mapping):
        tables += (first + count - 1) // bus - first // bus + 1
        decoded += count * dense
        stored += count * dense if units is None else int(
            units[first // unit:(first + count) // unit].sum())
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
    slots = np.concatenate([slots, np.zeros(mapping.y_pitch * bus, np.uint8)])
    out = np.zeros((count, mapping.y_pitch * bus), dtype=np.uint8)
    table_bytes = mapping.descriptor["y_group_table_beats"] * bus
    for g, (_, _, offset, beats) in enumerate(output_slices(spec, mapping)):
        out[:, offset * bus:(offset + beats) * bus] = decompress_rows(
            slots[offset * bus:], tables[g * table_bytes:], count, beats, bus,
            mapping.y_pitch, shape.q)
    return out.reshape(-1)[:mapping.y_beats * bus]


# --- cycles: the compressing writer, cycle by cycle ----------------------------------------
# The compressor's timing depends on the data (each pixel's stored bytes, each beat's encoded
# length), so the model steps a mirror of pyhdl/compress.py RowCompressor (its PackedBursts),
# of the gearbox it shares with the DMA writer (pyhdl/gearbox.py RowGearbox), of amaranth's
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

    @property
    def empty(self):
        return self.head is None and not self.inner

    def step(self, write, read):
        """One cycle: push `write` (None: nothing; the caller checked w_rdy) and, with `read`
        (r_en), take the head."""
        if self.inner and (self.head is None or read):
            self.head = self.inner.pop(0)
        elif read:
            self.head = None
        if write is not None:
            self.inner.append(write)


class _PackedBursts:
    """pyhdl/compress.py PackedBursts: per pixel, the commands of the stream beats it
    completes (the unit's last pixel: all the rest), split where a pixel slot ends."""

    def __init__(self, bus, dense_beats, unit):
        self.bus, self.dense, self.unit = bus, dense_beats, unit
        self.frac = self.pending = 0
        self.end, self.slot_left, self.unit_left = False, dense_beats, unit

    @property
    def last(self):
        """The next pixel accepted ends its unit."""
        return self.unit_left == 1

    def command(self):
        """This cycle's command as (beats, ends the unit), or None."""
        if not self.pending:
            return None
        final = self.pending <= self.slot_left
        return min(self.pending, self.slot_left), self.end and final

    def ready(self, cmd_ready):
        """Whether a pixel is accepted this cycle, the command (if any) taken on `cmd_ready`."""
        return self.pending == 0 or (cmd_ready and self.pending <= self.slot_left)

    def step(self, fired, accepted):
        """End of a cycle: the command `fired`, a pixel of `accepted` stored bytes (or None)."""
        if fired:
            length = min(self.pending, self.slot_left)
            final = self.pending <= self.slot_left
            if (final and self.end) or length == self.slot_left:
                self.slot_left = self.dense
            else:
                self.slot_left -= length
            self.pending -= length
        if accepted is not None:
            last = self.last
            total = self.frac + accepted
            self.pending = total // self.bus + (last and total % self.bus != 0)
            self.frac = 0 if last else total % self.bus
            self.end = last
            self.unit_left = self.unit if last else self.unit_left - 1


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


def _pixel_encodings(spec, mapping, outputs, tile, first_kb):
    """Per pixel of a tile's slice for the group from filter block `first_kb`: (stored
    bytes, encoded, encoded bytes of each dense beat)."""
    bus = spec.dram_bus_bytes
    [(first, count, _, _)] = [s for s in output_slices(spec, mapping)
                              if s[0] == first_kb * spec.cols]
    block = np.asarray(outputs)[tile.image:tile.image + 1, first:first + count,
                                tile.p0:tile.p0 + tile.rows]
    rows = activation_rows(block, bus)
    stored, compressed = stored_bytes(rows, bus)
    per_beat = encoded_beat_bytes(rows.reshape(len(rows), -1, bus))
    return list(zip(stored.tolist(), compressed.tolist(), per_beat.tolist()))


def _table_due(index, rows_left, bus):
    """Whether a table beat follows pixel `index` of a job with `rows_left` pixels left."""
    return index % bus == bus - 1 or rows_left == 1


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
    pixels = _pixel_encodings(spec, mapping, outputs, tile, first_kb)
    dense = len(pixels[0][2])
    nominal = dense_beat_cycles(tuple(word_counts), len(pixels), bus)
    first = dense_free - nominal[-1] - 1        # the cycle the first word is offered
    beats = [(row, j) for row in range(len(pixels)) for j in range(dense)]
    unit = mapping.shape.q

    buffer = _Fifo(2 * COMPRESSED_ROW_BYTES // bus)
    decisions = {side: _Fifo(COMPRESSOR_DECISIONS) for side in ("cmd", "data")}
    gearbox = _Gearbox(bus)
    bursts = _PackedBursts(bus, dense, unit)
    cmd_rows = data_rows = len(pixels)
    cmd_index = data_index = 0
    data_unit_left = unit
    table_wait = table_beat = False
    staged = None                  # the chunk in the register before the gearbox
    queue, w_left = [], 0          # the DRAM's write commands (lengths) and the current one
    taken, delay = 0, 0
    cycle = accepted + 1
    while True:
        busy = (cmd_rows or data_rows or table_wait or table_beat or bursts.pending
                or buffer.head is not None or staged is not None or not gearbox.idle)
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
        # Commands: a table beat once its pixel's commands are out, else the bursts'.
        cmd_ready = len(queue) != DRAM_WRITE_QUEUE
        table_now = table_wait and bursts.pending == 0
        command = None if table_now else bursts.command()
        fired = command is not None and cmd_ready
        pushed = 1 if table_now and cmd_ready else command[0] if fired else None
        head = decisions["cmd"].head
        offered = head is not None and (not table_wait or (table_now and cmd_ready))
        accept = offered and bursts.ready(cmd_ready and not table_now)
        if table_now and cmd_ready:
            table_wait = False
        bursts.step(fired, pixels[head][0] if accept else None)
        if accept:
            table_wait = _table_due(cmd_index, cmd_rows, bus)
            cmd_index, cmd_rows = cmd_index + 1, cmd_rows - 1
        # Data: the head pixel's next beat into the staging register, the register's chunk
        # into the gearbox, a table beat straight to DRAM once neither holds a whole beat.
        data_head, beat = decisions["data"].head, buffer.head
        chunk = None
        if not table_beat and data_head is not None and beat is not None:
            _, encoded, per_beat = pixels[beat[0]]
            chunk = (per_beat[beat[1]] if encoded else bus,
                     beat[1] == dense - 1 and data_unit_left == 1)
        table_send = table_beat and staged is None and not gearbox.valid
        emitted, ready = gearbox.step(w_left != 0 and not table_send, staged)
        buffer_read = chunk is not None and (staged is None or ready)
        row_done = buffer_read and beat[1] == dense - 1
        staged = chunk if buffer_read else None if ready else staged
        sent = emitted or (table_send and w_left != 0)
        if table_beat:
            table_beat = not (table_send and w_left != 0)
        elif row_done:
            table_beat = _table_due(data_index, data_rows, bus)
            data_index, data_rows = data_index + 1, data_rows - 1
            data_unit_left = unit if data_unit_left == 1 else data_unit_left - 1
        # The DRAM: the head command's beats, then the next command.
        if (w_left == 0 or (sent and w_left == 1)) and queue:
            w_left = queue.pop(0)
        elif sent:
            w_left -= 1
        if pushed is not None:
            queue.append(pushed)
        decided = write[0] if write is not None and write[1] == dense - 1 else None
        buffer.step(write, buffer_read)
        decisions["cmd"].step(decided, accept)
        decisions["data"].step(decided, row_done)
        cycle += 1


# --- cycles: the decompressing reader, cycle by cycle --------------------------------------
# A compressed band's read time depends on every pixel's stored bytes and every dense beat's
# encoded length, so the model steps a mirror of pyhdl/compress.py CompressedRowFetcher (its
# table ring, PackedBursts, command-kind and pixel FIFOs and PackedDecompressor), of the DMA
# reader's gearbox (pyhdl/dma.py DmaReader) and of the simulated DRAM's read queue
# (testbench/dram_model.sv, no gaps or stalls).

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
    """pyhdl/compress.py PackedDecompressor: a byte window filled a stored beat at a time
    (when it has room before this cycle's beat leaves) until the unit's last; a dense beat
    restored into the output register when the window surely holds its bytes (a dense
    pixel's beat: B bytes; an encoded one's: B + B/8, the longest encoding; or the unit's
    last beat is in) and the register is empty or its beat leaves."""

    def __init__(self, bus, dense_beats):
        self.bus, self.dense, self.mask = bus, dense_beats, mask_bytes(bus)
        self.capacity = 2 * bus + self.mask
        self.fill = self.produced = 0
        self.taken_all = self.held = False

    def _used(self, pixel):
        return pixel[2][self.produced] if pixel[0] else self.bus

    def outputs(self, pixel, out_ready):
        """This cycle's (register's beat leaves, beat restored, pixel done, in ready) for the
        head `pixel` ((encoded, ends its unit, encoded bytes of each dense beat) or None), the
        next stage taking a beat when `out_ready`."""
        leave = self.held and out_ready
        valid = pixel is not None and (self.taken_all or self.fill >= (
            self.bus + self.mask if pixel[0] else self.bus))
        restore = valid and (not self.held or out_ready)
        done = restore and self.produced == self.dense - 1
        return leave, restore, done, (not self.taken_all
                                      and self.fill + self.bus <= self.capacity)

    def step(self, pixel, restore, leave, took, last):
        """End of the cycle: a dense beat `restore`d, the register's `leave`s, a stored beat
        `took` (`last`: the unit's)."""
        self.held = restore or (self.held and not leave)
        if restore and self.produced == self.dense - 1 and pixel[1]:
            self.fill = self.produced = 0
            self.taken_all = False
            return
        used = self._used(pixel) if restore else 0
        self.fill = self.fill - used + (self.bus if took else 0)
        if took:
            self.taken_all = last
        if restore:
            self.produced = 0 if self.produced == self.dense - 1 else self.produced + 1


def band_rows(inputs, bus_bytes):
    """Per input pixel (the tensor's rows in order): (stored bytes, encoded, encoded bytes of
    each dense beat), from the layer's int8 `inputs` (N x C x H x W)."""
    rows = activation_rows(inputs, bus_bytes)
    stored, compressed = stored_bytes(rows, bus_bytes)
    per_beat = encoded_beat_bytes(rows.reshape(len(rows), -1, bus_bytes))
    return [(int(s), bool(c), tuple(p))
            for s, c, p in zip(stored.tolist(), compressed.tolist(), per_beat.tolist())]


def compressed_read_cycles(spec, rows, first, row_elems, dram_latency, unit):
    """Cycles from the DMA reader accepting a compressed read job of `rows` (`band_rows`'
    entries of the band's pixels, the first of them entry `first` of the length table; units
    of `unit` pixels; rows of `row_elems` int8 elements) to the first cycle it is idle again."""
    bus = spec.dram_bus_bytes
    shift = (bus - 1).bit_length()
    dense = -(-row_elems // bus)
    dram, kinds, pixels = _DramReads(dram_latency), _Fifo(READ_KINDS), _Fifo(FETCHER_PIXELS)
    decompressor, bursts = _Decompressor(bus, dense), _PackedBursts(bus, dense, unit)
    gearbox = _Gearbox(spec.input_lanes)
    count = len(rows)
    cmd_rows, entry = count, first
    table_left = ((first + count - 1) >> shift) - (first >> shift) + 1
    reserved, arrived, arrive = 0, set(), (first >> shift) % TABLE_RING
    stored_taken = 0                         # beats of the head command taken
    data_rows, beats_left, elems_left = count, dense, row_elems
    cycle = 1
    while (data_rows or cmd_rows or table_left or bursts.pending or not kinds.empty
           or not pixels.empty or not gearbox.idle):
        slot = (entry >> shift) % TABLE_RING
        # Commands: a table beat while there is a ring place, else the bursts' next.
        fetch_table = table_left != 0 and reserved != TABLE_RING
        command = bursts.command()
        cmd_ready = kinds.w_rdy and dram.cmd_ready
        pushed = issued = None
        fired = False
        if fetch_table:
            if cmd_ready:
                pushed, issued, table_left = ("table",), 1, table_left - 1
        elif command is not None and cmd_ready:
            fired, pushed, issued = True, ("row",) + command, command[0]
        offered = cmd_rows != 0 and slot in arrived and pixels.w_rdy
        accept = offered and bursts.ready(cmd_ready and not fetch_table)
        pixel_in = None
        if accept:
            row = rows[entry - first]
            pixel_in = (row[1], bursts.last, row[2])
        consumed = accept and (entry % bus == bus - 1 or cmd_rows == 1)
        reserved += (pushed == ("table",)) - consumed
        if consumed:
            arrived.discard(slot)
        bursts.step(fired, rows[entry - first][0] if accept else None)
        if accept:
            cmd_rows, entry = cmd_rows - 1, entry + 1
        # Data: a table beat into the ring, else a row command's beats into the window.
        head = kinds.head
        in_ready = data_rows != 0 and gearbox.accepts(True)
        emit, restore, done, dec_ready = decompressor.outputs(pixels.head, in_ready)
        table = head is not None and head[0] == "table"
        row_cmd = head is not None and head[0] == "row"
        taken = dram.valid and (table or (row_cmd and dec_ready))
        last_of_cmd = row_cmd and stored_taken == head[1] - 1
        gearbox.step(True, (min(elems_left, bus), beats_left == 1) if emit else None)
        if table and taken:
            arrived.add(arrive)
            arrive = (arrive + 1) % TABLE_RING
        took = row_cmd and taken
        decompressor.step(pixels.head, restore, emit, took, took and last_of_cmd and head[2])
        if took:
            stored_taken = 0 if last_of_cmd else stored_taken + 1
        if emit and beats_left == 1:
            data_rows, beats_left, elems_left = data_rows - 1, dense, row_elems
        elif emit:
            beats_left, elems_left = beats_left - 1, elems_left - bus
        dram.step(cycle, taken, issued)
        kinds.step(pushed, (table and taken) or (took and last_of_cmd))
        pixels.step(pixel_in, done)
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
                                  dram_latency, mapping.shape.w)
