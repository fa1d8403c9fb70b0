"""The mapper: turns a layer and an architecture into a DRAM layout and a layer descriptor."""

from dataclasses import dataclass

from .layout import row_beats
from .spec import DRAM_WORD_BITS

COUNT_LIMIT = (1 << 16) - 1
"""Largest row count or row length the descriptor's 16-bit loop counters hold."""


class MappingError(ValueError):
    """The layer cannot run on this architecture (it does not fit a buffer or a counter)."""


def _ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class FcMapping:
    """Where a fully-connected layer Y[m, k] = X[m, c] . W[k, c] lives and how it is tiled.

    All addresses and lengths are in DRAM beats of `bus_bytes`; `descriptor` holds the values
    of models.registers.DESCRIPTOR_FIELDS.
    """

    m: int
    c: int
    k: int
    bus_bytes: int
    x_addr: int
    w_addr: int
    y_addr: int
    x_row_beats: int
    w_row_beats: int
    y_row_beats: int
    m_tile: int
    descriptor: dict

    @property
    def m_tiles(self):
        return _ceil_div(self.m, self.m_tile)

    @property
    def dram_beats(self):
        """Beats of DRAM the layer's three tensors occupy."""
        return self.y_addr + self.m * self.y_row_beats


def map_fc(spec, m, c, k):
    """Tile an (m x c) . (k x c)^T layer for `spec`; raise MappingError if it cannot fit.

    The input buffer holds m_tile whole rows of X, the output buffer their m_tile rows of Y,
    and the weight buffer one block of `cols` rows of W: m_tile is the largest that fits both.
    """
    for name, value in (("m", m), ("c", c), ("k", k)):
        if not 1 <= value <= COUNT_LIMIT:
            raise MappingError(f"fc: {name} must be from 1 to {COUNT_LIMIT}, not {value!r}")
    c_blocks = _ceil_div(c, spec.rows)
    k_blocks = _ceil_div(k, spec.cols)
    weight_words = spec.cols * c_blocks
    if weight_words > spec.weight_words:
        raise MappingError(
            f"fc: c={c} needs {weight_words} weight-buffer words ({spec.cols} columns x "
            f"{c_blocks} blocks) but glb_weight_bytes={spec.glb_weight_bytes} holds "
            f"{spec.weight_words}")
    m_tile = min(m, spec.input_words // c_blocks, spec.output_words // k_blocks, COUNT_LIMIT)
    if m_tile < 1:
        raise MappingError(
            f"fc: one row needs {c_blocks} input-buffer and {k_blocks} output-buffer words; "
            f"the buffers hold {spec.input_words} and {spec.output_words}")
    bus = spec.dram_bus_bytes
    x_row = row_beats(c, spec.operand_bits, bus)
    w_row = row_beats(c, spec.operand_bits, bus)
    y_row = row_beats(k, DRAM_WORD_BITS, bus)
    x_addr = 0
    w_addr = x_addr + m * x_row
    y_addr = w_addr + k * w_row
    descriptor = {
        "m": m, "c": c, "k": k, "m_tile": m_tile,
        "c_blocks": c_blocks, "k_blocks": k_blocks,
        "c_last": c - (c_blocks - 1) * spec.rows,
        "k_last": k - (k_blocks - 1) * spec.cols,
        "x_addr": x_addr, "w_addr": w_addr, "y_addr": y_addr,
        "x_row_beats": x_row, "w_row_beats": w_row, "y_row_beats": y_row,
        "x_tile_beats": m_tile * x_row, "y_tile_beats": m_tile * y_row,
        "w_block_beats": spec.cols * w_row,
        "w_shift_start": (spec.cols - 1) * c_blocks,
    }
    return FcMapping(m, c, k, bus, x_addr, w_addr, y_addr, x_row, w_row, y_row, m_tile,
                     descriptor)
