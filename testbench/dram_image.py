"""DRAM images as the simulated DRAM reads and writes them: binary files (dram_model.sv).

A load image is a sequence of regions, each a header of two big-endian 32-bit words (its
first beat, its number of beats) followed by its beats, most significant byte first, as
$fread fills a memory.  A dump is the beats of one range, least significant byte first, as
$fwrite's %u writes them: the DRAM's own byte order, so it reads back without reordering.
"""

import numpy as np

HEADER = np.dtype(">u4")


def region_beats(payload, bus_bytes):
    """`payload` (bytes) as beats of `bus_bytes`, the last one padded with zeros."""
    payload = np.asarray(payload, dtype=np.uint8).reshape(-1)
    pad = -len(payload) % bus_bytes
    if pad:
        payload = np.concatenate([payload, np.zeros(pad, dtype=np.uint8)])
    return payload.reshape(-1, bus_bytes)


def write_image(path, regions, bus_bytes):
    """Write `regions` [(first_beat, bytes)] as a load image."""
    with open(path, "wb") as out:
        for first_beat, payload in regions:
            beats = region_beats(payload, bus_bytes)
            out.write(np.array([first_beat, len(beats)], dtype=HEADER).tobytes())
            out.write(beats[:, ::-1].tobytes())


def read_image(path):
    """A dump's bytes (little-endian beats, in address order)."""
    return np.fromfile(path, dtype=np.uint8)
