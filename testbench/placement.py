"""Where the host places a single layer's tensors in DRAM when the layer reads its inputs
compressed (models/compression.py): X's slots from beat 0, its length table right after
them, then the weights, the bias and Y, as the mapper's default placement would put them."""

from models.compression import reads_compressed, table_beats
from models.layout import row_beats
from models.mapper import Part, Placement, map_conv, map_grouped_conv, weight_beats
from models.spec import DRAM_WORD_BITS


def compressed_input_placement(spec, shape, post):
    """The Placement of a layer reading X compressed, or None when X cannot be
    (models.compression.reads_compressed: rows of one beat, or no compression)."""
    bus = spec.dram_bus_bytes
    x_pitch = row_beats(shape.c, spec.operand_bits, bus)
    pixels = shape.n * shape.h * shape.w
    if not reads_compressed(spec, x_pitch, pixels):
        return None
    table = pixels * x_pitch
    w_addr = table + table_beats(pixels, bus)
    b_addr = w_addr + weight_beats(spec, shape)
    y_addr = b_addr + (row_beats(shape.k, DRAM_WORD_BITS, bus) if post.bias else 0)
    return Placement(0, w_addr, b_addr, y_addr, x_pitch, x_table_addr=table)


def layer_parts(spec, shape, groups, post, weights=None, x_compressed=False):
    """The hardware runs of a layer (models.mapper.map_grouped_conv); with `x_compressed`,
    an ungrouped layer whose X can be read compressed is placed to read it so."""
    placement = compressed_input_placement(spec, shape, post) \
        if x_compressed and groups == 1 else None
    if placement is None:
        return map_grouped_conv(spec, shape, groups, post, weights=weights)
    return [Part(map_conv(spec, shape, post, placement, weights=weights), 0, 0)]
