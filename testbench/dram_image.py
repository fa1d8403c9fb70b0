"""DRAM images as the simulated DRAM reads and writes them: $readmemh / $writememh text."""

import numpy as np


def write_hex(path, regions, bus_bytes):
    """Write `regions` [(first_beat, bytes)] as a sparse $readmemh file, one beat a line."""
    with open(path, "w") as out:
        for first_beat, payload in regions:
            payload = np.asarray(payload, dtype=np.uint8)
            pad = -len(payload) % bus_bytes
            if pad:
                payload = np.concatenate([payload, np.zeros(pad, dtype=np.uint8)])
            beats = payload.reshape(-1, bus_bytes)[:, ::-1]
            text = beats.tobytes().hex()
            width = 2 * bus_bytes
            out.write(f"@{first_beat:x}\n")
            out.write("\n".join(text[i:i + width] for i in range(0, len(text), width)))
            out.write("\n")


def read_hex(path, bus_bytes):
    """Read a $writememh file back into bytes (little-endian beats, in file order)."""
    lines = [line.strip() for line in open(path)]
    words = [line for line in lines if line and not line.startswith(("//", "@"))]
    text = "".join(word.rjust(2 * bus_bytes, "0") for word in words)
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8).reshape(-1, bus_bytes)[:, ::-1] \
        .reshape(-1).copy()
