"""How tensors sit in DRAM: row-major, each row padded to whole bus beats.

A row of `n` operands of `bits` bits is packed little-endian (element i starts at bit i*bits
of the row, so 4-bit values pair up low nibble first) and padded with zeros to a multiple of
the bus width; the next row starts on the next beat.  Outputs are int32 rows laid out the same
way.  Both the hardware's DMA and the host use these functions' conventions.
"""

import numpy as np


def row_beats(elements, bits, bus_bytes):
    """Beats one row of `elements` values of `bits` bits takes on a `bus_bytes` bus."""
    return -(-elements * bits // (8 * bus_bytes))


def pack_rows(matrix, bits, bus_bytes):
    """Pack a 2-D signed integer matrix into bytes, one padded row after another."""
    matrix = np.asarray(matrix, dtype=np.int64)
    rows, cols = matrix.shape
    pitch = row_beats(cols, bits, bus_bytes) * bus_bytes
    # C order whatever the caller's layout: a transposed view keeps its order through the
    # mask, and viewing 16- or 32-bit values as bytes needs contiguous rows.
    unsigned = np.ascontiguousarray((matrix & ((1 << bits) - 1)).astype(np.uint64))
    if bits == 4:
        padded = np.zeros((rows, cols + cols % 2), dtype=np.uint64)
        padded[:, :cols] = unsigned
        row_bytes = (padded[:, 0::2] | (padded[:, 1::2] << np.uint64(4))).astype(np.uint8)
    else:
        dtype = {8: "<u1", 16: "<u2", 32: "<u4"}[bits]
        row_bytes = unsigned.astype(dtype).view(np.uint8).reshape(rows, -1)
    out = np.zeros((rows, pitch), dtype=np.uint8)
    out[:, :row_bytes.shape[1]] = row_bytes
    return out.reshape(-1)


def unpack_rows(data, rows, cols, bits, bus_bytes):
    """Read back `rows` x `cols` signed `bits`-bit values from padded rows of bytes."""
    pitch = row_beats(cols, bits, bus_bytes) * bus_bytes
    data = np.asarray(data, dtype=np.uint8)[:rows * pitch].reshape(rows, pitch)
    if bits == 4:
        nibbles = np.stack([data & 0xF, data >> 4], axis=-1).reshape(rows, -1)[:, :cols]
        values = nibbles.astype(np.int32)
    else:
        dtype = {8: "<u1", 16: "<u2", 32: "<u4"}[bits]
        values = data[:, :cols * bits // 8].copy().view(dtype).astype(np.int64)
    half = 1 << (bits - 1)
    return (((values.astype(np.int64) + half) & ((1 << bits) - 1)) - half).astype(np.int32)


def pixel_rows(x):
    """NCHW `x` as its DRAM rows in the pixel layout: one row of C channels per pixel (NHWC)."""
    return np.asarray(x).transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def packed_rows(x):
    """NCHW `x` as its DRAM rows in the packed layout of a few-channel tensor: one row per
    image row, pixel w's C channels at elements w*C to w*C + C - 1 (models/tap_fold.py)."""
    n, c, h, w = x.shape
    return np.asarray(x).transpose(0, 2, 3, 1).reshape(n * h, w * c)
