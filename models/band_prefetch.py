"""Input bands loaded ahead (weight-stationary arrays; descriptor `x_half_words`).

With the input buffer split in two halves, the sequencer (pyhdl/sequencer.py) loads the next
tile's band (of the same image) into one half while the tile's blocks stream from the other,
once the tile's weights no longer need the shared DMA reader: at once when they are resident,
else when its last chunk runs.  Each tile's band must then fit half the buffer: shorter
tiles, whose rows above and below are read again, so the mapper weighs it (fewer cycles
within its DRAM traffic slack) like any other tiling.
"""

PREFETCH_STEPS = 2
"""Cycles from the first cycle of the run that lets the next band load to the reader taking
its job: the tile registers step, then the band's fields are registered."""


def input_halves(spec):
    """The input-buffer splits the mapper tries: 1 (one band at a time), and 2 where the
    sequencer can load a band ahead (weight-stationary arrays, which share one reader)."""
    return (1, 2) if spec.dataflow == "ws" else (1,)


def half_words(spec, halves):
    """The descriptor's `x_half_words` for a split of the input buffer in `halves`."""
    return spec.input_words // 2 if halves == 2 else 0


def loads_ahead(mapping, tile, next_tile):
    """Whether `next_tile`'s band loads while `tile` streams (same image, halves on)."""
    return (bool(mapping.descriptor["x_half_words"]) and next_tile is not None
            and next_tile.image == tile.image)


def trigger_chunk(mapping, first_tile):
    """(block, chunk) of the run whose first cycle lets the next band load: the tile's first
    when its weights are resident (every tile after the first), else its last."""
    d = mapping.descriptor
    if d["w_resident"] and not first_tile:
        return 0, 0
    return d["k_blocks"] - 1, d["c_chunks"] - 1
