"""The mapper: turns a layer and an architecture into a DRAM layout and a layer descriptor.

Every layer runs as a convolution: X is NHWC with one padded DRAM row per pixel, Y is NPQK
with one padded row per output pixel (models/layout.py).  W is laid out for the dataflow
(`weight_rows`): KRSC with one padded row per (k, r, s) for weight-stationary, and for
output-stationary one row of `cols` filters per (r, s, c), blocked by filter block and
channel chunk in the order the controller loads them (on a 2:4 array a chunk's steps are one
row: models/sparse_os.py).  A fully-connected layer X[m, c] . W[k, c]^T is a 1x1 convolution over a
one-image, m-row, one-column input, so the same hardware loops serve both.
"""

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from .compression import compressible, table_beats
from .golden import conv_output_size, operand_range
from .layout import row_beats
from .os_groups import even_group_tile_rows
from .hardware import COUNT_LIMIT, post_flags
from .perf import predict_counters, predict_cycles, weight_dram_rows
from .registers import DESCRIPTOR_FIELDS, register_value
from .spec import DRAM_WORD_BITS, MAX_BIAS_CHANNELS, ROW_STATIONARY
from . import band_prefetch, depthwise, paired_blocks, tap_fold
from .sparsity import (active_rows, block_elems, dense_lanes, pack_folded_weight_rows,
                       pack_weight_rows, runs_sparse, word_blocks)
from . import sparse_os
TRAFFIC_SLACK = 1.2
"""How much DRAM traffic above the least the mapper accepts for fewer cycles: splitting the
output buffer into halves hides the write-back behind the next group's compute but halves
the tiles, so each tile fetches the weights again."""


COMPRESSED_SLACK = 1.05
"""How much DRAM traffic above the least the mapper accepts, counting every row dense, for a
mapping whose outputs it can write compressed (models/compression.py): about the length
tables and the rounding of tile rows to whole table beats, not a worse tiling."""


class MappingError(ValueError):
    """The layer cannot run on this architecture (it does not fit a buffer or a counter)."""


def _ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class ConvShape:
    """A convolution layer's shape: N images of C x H x W, K filters of C x R x S."""

    n: int
    c: int
    h: int
    w: int
    k: int
    r: int = 1
    s: int = 1
    stride: int = 1
    pad: int = 0
    pad_value: int = 0
    """The input value of padded positions: 0, or the input's zero point."""

    @property
    def p(self):
        return conv_output_size(self.h, self.r, self.stride, self.pad)

    @property
    def q(self):
        return conv_output_size(self.w, self.s, self.stride, self.pad)

    @property
    def macs(self):
        return self.n * self.k * self.p * self.q * self.c * self.r * self.s


@dataclass(frozen=True)
class DepthwiseShape(ConvShape):
    """A depthwise layer's shape (K = C filters of 1 x R x S) as the depthwise mode runs it
    (models/depthwise.py): a ConvShape whose MACs are the depthwise ones."""

    @property
    def macs(self):
        return self.n * self.k * self.p * self.q * self.r * self.s


@dataclass(frozen=True)
class PostProcess:
    """What the post-processor does to a layer's outputs: add a bias (an int32 per output
    channel), requantize with (multiplier, shift, zero point), clamp with ReLU."""

    bias: bool = False
    requant: tuple | None = None
    relu: bool = False

    @property
    def flags(self):
        return post_flags(self.bias, self.requant is not None, self.relu)


def _check_post(spec, shape, post):
    if post.bias and shape.k > MAX_BIAS_CHANNELS:
        raise MappingError(f"a bias for k={shape.k} output channels does not fit the bias "
                           f"buffer ({MAX_BIAS_CHANNELS})")
    if post.requant is not None:
        mult, shift, zero_point = post.requant
        low, high = operand_range(spec.operand_bits)
        if not -(1 << 31) <= mult < (1 << 31):
            raise MappingError(f"requantization multiplier must fit int32, not {mult!r}")
        if not 0 <= shift <= 63:
            raise MappingError(f"requantization shift must be from 0 to 63, not {shift!r}")
        if not low <= zero_point <= high:
            raise MappingError(f"zero point must be from {low} to {high}, not {zero_point!r}")


def fc_shape(m, c, k):
    """The convolution that computes a fully-connected layer of m rows."""
    return ConvShape(n=1, c=c, h=m, w=1, k=k)


@dataclass(frozen=True)
class Placement:
    """Where a layer's tensors start in DRAM (beat addresses) and the distance in beats from
    one input pixel (`x_pitch`) or output pixel (`y_pitch`) to the next; None: contiguous.
    With `x_table_addr`, X is stored compressed (models/compression.py) with its length table
    (one table, one byte per pixel) at that beat, and the layer reads it compressed."""

    x_addr: int
    w_addr: int
    b_addr: int
    y_addr: int
    x_pitch: int | None = None
    y_pitch: int | None = None
    x_table_addr: int | None = None


@dataclass(frozen=True)
class Mapping:
    """Where a layer's tensors live in DRAM (beat addresses) and how it is tiled.

    `descriptor` holds the values of models.registers.DESCRIPTOR_FIELDS.
    """

    shape: ConvShape
    post: PostProcess
    x_addr: int
    w_addr: int
    b_addr: int
    y_addr: int
    x_row_beats: int
    w_row_beats: int
    y_row_beats: int
    x_pitch: int
    y_pitch: int
    tile_p: int
    descriptor: dict
    y_table_beats: int = 0
    """Beats of Y's length tables (one per output group), right after Y (0: Y is written
    dense)."""
    tile_images: int = 1
    """Whole images per tile (more than 1: tile_p is p, and each tile spans that many)."""

    @property
    def tiles(self):
        """Tiles of output rows over all images."""
        return self.shape.n // self.tile_images * _ceil_div(self.shape.p, self.tile_p)

    @property
    def red_blocks(self):
        """Reduction blocks per output pixel and block of filters: taps x channel blocks (x 2
        for a dense layer on a 2:4 array, models/sparsity.py)."""
        return self.descriptor["taps"] * self.descriptor["c_blocks"] \
            * self.descriptor["word_blocks"]

    @property
    def y_beats(self):
        """Beats from the first output pixel to the end of the last."""
        return (self.shape.n * self.shape.p * self.shape.q - 1) * self.y_pitch + self.y_row_beats

    @property
    def dram_beats(self):
        """Beats of DRAM the layer's tensors occupy, from beat 0."""
        return self.y_addr + self.y_beats + self.y_table_beats


def _chunk_blocks(spec, shape, c_blocks, words, sparse):
    """Channel blocks per weight-buffer load of `words` words: all of them if the weights of
    `cols` filters fit, else the most that fit (weight-stationary: and start every chunk on a
    DRAM beat, as each load reads a slice of every weight row)."""
    per_block = (spec.rows if spec.dataflow == "os" else spec.cols) * shape.r * shape.s \
        * word_blocks(spec, sparse, shape.c)
    fitting = words // per_block
    if fitting >= c_blocks:
        return c_blocks
    beat = 8 * spec.dram_bus_bytes
    elems = block_elems(spec, word_blocks(spec, sparse, shape.c))
    for blocks in range(fitting, 0, -1):
        if spec.dataflow == "os" or blocks * elems * spec.operand_bits % beat == 0:
            return blocks
    raise MappingError(
        f"the weights of {spec.cols} {shape.r}x{shape.s} filters need {per_block} "
        f"weight-buffer words per block of {spec.rows} channels, and no beat-aligned number "
        f"of blocks fits glb_weight_bytes={spec.glb_weight_bytes} ({words} words)")


def _weight_buffering(spec, shape, c_blocks, k_blocks, sparse):
    """(channel blocks per chunk, half size or 0): the weight buffer works as two halves, one
    filling while the other streams, whenever a tile needs more than one load and a chunk
    still fits half of it."""
    single = _chunk_blocks(spec, shape, c_blocks, spec.weight_words, sparse)
    if k_blocks == 1 and single == c_blocks:
        return single, 0
    half = spec.weight_words // 2
    try:
        return _balanced(spec, sparse, shape.c, c_blocks,
                         _chunk_blocks(spec, shape, c_blocks, half, sparse)), half
    except MappingError:
        return single, 0


def _balanced(spec, sparse, c, c_blocks, most):
    """The fewest channel blocks per chunk (beat-aligned, as `_chunk_blocks`) that keep the
    chunks of `most` blocks as few: with halves, a chunk's load overlaps the chunk before it,
    so a short last chunk would leave the next filter block's first load exposed."""
    chunks = _ceil_div(c_blocks, most)
    beat = 8 * spec.dram_bus_bytes
    elems = block_elems(spec, word_blocks(spec, sparse, c))
    return next(blocks for blocks in range(_ceil_div(c_blocks, chunks), most + 1)
                if blocks == most or spec.dataflow == "os"
                or blocks * elems * spec.operand_bits % beat == 0)


def resident_block_words(spec, shape, c_blocks, k_blocks, sparse=False):
    """Weight-buffer words of one filter block's weights when every block stays resident (a
    region each, for all tiles of all images), or 0 if the layer's weights do not all fit."""
    words = (spec.cols * c_blocks * word_blocks(spec, sparse, shape.c) if spec.dataflow != "os"
             else sparse_os.weight_steps(spec, shape.c, sparse)) * shape.r * shape.s
    return words if k_blocks * words <= spec.weight_words else 0


def partly_resident_options(spec, shape, c_blocks, k_blocks, sparse=False):
    """Weight options (channel blocks per chunk, no halves, chunk region words, streamed
    blocks) keeping the first filter blocks resident when not all of them fit: a region per
    chunk for those, one chunk's region after them for the last blocks, loaded again every
    tile.  The most resident blocks, then the fewest chunks; none on output-stationary or
    2:4 arrays, or when not even one block and a chunk fit."""
    if spec.dataflow != "ws" or spec.skips_weights or k_blocks < 2:
        return []
    beat = 8 * spec.dram_bus_bytes
    elems = block_elems(spec, word_blocks(spec, sparse, shape.c))
    best = None
    for chunk_blocks in range(c_blocks, 0, -1):
        if chunk_blocks < c_blocks and chunk_blocks * elems * spec.operand_bits % beat:
            continue
        words = spec.cols * shape.r * shape.s * chunk_blocks * word_blocks(spec, sparse, shape.c)
        resident = min(k_blocks - 1,
                       (spec.weight_words - words) // (_ceil_div(c_blocks, chunk_blocks) * words))
        if resident >= 1 and (best is None or resident > best[3]):
            best = (chunk_blocks, 0, words, resident)
    return [] if best is None else [best[:3] + (k_blocks - best[3],)]


def _streamed_blocks(weights):
    """The filter blocks a weight option loads every tile (its fourth entry), or 0."""
    return weights[3] if len(weights) > 3 else 0


def weight_row_elems(spec, shape, sparse=False):
    """Operands per DRAM row of W: the channels of one (k, r, s) for weight-stationary (on a
    2:4 array, its packed weight blocks: models/sparsity.py), one filter block's `cols`
    filters (zero-padded) of one (r, s, c) for output-stationary (on a 2:4 array, one step's
    kept weights and their indices: models/sparse_os.py)."""
    if spec.dataflow == "os":
        return spec.weight_lanes
    if spec.dataflow == ROW_STATIONARY:
        return spec.rows
    if spec.skips_weights:
        blocks = word_blocks(spec, sparse, shape.c)
        return _ceil_div(shape.c, spec.input_lanes) * block_elems(spec, blocks)
    return shape.c


def weight_beats(spec, shape, sparse=False, rs_choice=None, c_chunk_blocks=None):
    """DRAM beats W takes in the dataflow's layout (row-stationary: `rs_choice`'s, or the
    layer's own; on an output-stationary 2:4 array, with chunks of `c_chunk_blocks` input
    words, or without them the most any chunking takes: a row per step)."""
    if spec.dataflow == "os" and spec.skips_weights and c_chunk_blocks:
        return _ceil_div(shape.k, spec.cols) * sparse_os.block_beats(
            spec, shape.r * shape.s, shape.c, c_chunk_blocks, sparse)
    return weight_dram_rows(spec, shape, sparse, rs_choice) * row_beats(
        weight_row_elems(spec, shape, sparse), spec.operand_bits, spec.dram_bus_bytes)


def weight_rows(spec, mapping, weights):
    """W (K x C x R x S) as the matrix of DRAM rows the mapping reads, one row per line."""
    if spec.skips_weights and spec.dataflow == "os":
        return sparse_os.weight_rows(spec, mapping.descriptor, weights)
    if spec.skips_weights:
        if mapping.descriptor["fold"]:
            folded = tap_fold.weight_rows(weights, spec, tap_fold.plan_of(spec, mapping))
            return pack_folded_weight_rows(spec, folded, not mapping.descriptor["dense_lanes"])
        return pack_weight_rows(spec, weights, not mapping.descriptor["dense_lanes"])
    if spec.dataflow == ROW_STATIONARY:
        from .row_stationary import choice_of, weight_dram_rows
        return weight_dram_rows(spec, mapping.shape, weights, choice_of(spec, mapping))
    if mapping.descriptor["fold"]:
        return tap_fold.weight_rows(weights, spec, tap_fold.plan_of(spec, mapping))
    if mapping.descriptor["depthwise"]:
        return depthwise.weight_rows(weights, mapping.descriptor["dw_line"])
    if spec.dataflow != "os":
        return weights.transpose(0, 2, 3, 1).reshape(-1, weights.shape[1])
    d = mapping.descriptor
    k, c, r, s = weights.shape
    blocks = np.zeros((d["k_blocks"] * spec.cols, c, r, s), dtype=weights.dtype)
    blocks[:k] = weights
    rows = []
    for kb in range(d["k_blocks"]):
        block = blocks[kb * spec.cols:(kb + 1) * spec.cols]          # cols x C x R x S
        for first in range(0, c, d["c_chunk_blocks"] * spec.rows):
            chunk = block[:, first:first + d["c_chunk_blocks"] * spec.rows]
            rows.append(chunk.transpose(2, 3, 1, 0).reshape(-1, spec.cols))
    return np.concatenate(rows)


def band_rows(shape, tile_p):
    """Input rows the input buffer must hold for a tile of `tile_p` output rows."""
    return min(shape.h, (tile_p - 1) * shape.stride + shape.r)


def map_conv(spec, shape, post=PostProcess(), placement=None, weights=None):
    """Tile `shape` for `spec`, or raise MappingError naming what does not fit.  On a 2:4
    architecture, `weights` (K x C x R x S) that are 2:4 run as such (models/sparsity.py);
    without them, or with other weights, the layer runs dense."""
    return _map_conv(spec, shape, post, placement, runs_sparse(spec, weights))


@functools.lru_cache(maxsize=4096)
def _map_conv(spec, shape, post, placement, sparse):
    """map_conv, cached, once the weights are known to be 2:4 (`sparse`) or not.

    The input buffer holds the input band of `tile_p` output rows (all channels), the output
    buffer those rows' outputs for a group of output-channel blocks, the weight buffer a chunk
    of the weights of one block of `cols` filters, or of every block when they all fit
    (resident: fetched once for the layer, not once per tile).  Weights are fetched once per
    tile otherwise, so the choice of tile rows and groups is the one with the least DRAM
    traffic.
    """
    for name in ("n", "c", "h", "w", "k", "r", "s", "stride"):
        value = getattr(shape, name)
        if not 1 <= value <= COUNT_LIMIT:
            raise MappingError(f"{name} must be from 1 to {COUNT_LIMIT}, not {value!r}")
    if not 0 <= shape.pad < min(shape.r, shape.s):
        raise MappingError(f"pad must be from 0 to kernel size - 1 ({min(shape.r, shape.s) - 1}),"
                           f" not {shape.pad!r}")
    low, high = operand_range(spec.operand_bits)
    if not low <= shape.pad_value <= high:
        raise MappingError(f"pad value must be from {low} to {high}, not {shape.pad_value!r}")
    if shape.stride > 255 or shape.pad > 255:
        raise MappingError(f"stride and pad must be below 256, not {shape.stride}, {shape.pad}")
    p, q = shape.p, shape.q
    _check_post(spec, shape, post)
    if p < 1 or q < 1:
        raise MappingError(f"a {shape.r}x{shape.s} kernel with stride {shape.stride} and pad "
                           f"{shape.pad} leaves no output of a {shape.h}x{shape.w} input")
    if spec.dataflow == ROW_STATIONARY:
        from .row_stationary import map_layer   # it builds on this module's mappings
        return map_layer(spec, shape, post, placement)
    c_blocks = _ceil_div(shape.c, spec.input_lanes)
    k_blocks = _ceil_div(shape.k, spec.cols)
    c_chunk_blocks, w_half = _weight_buffering(spec, shape, c_blocks, k_blocks, sparse)
    block_words = resident_block_words(spec, shape, c_blocks, k_blocks, sparse)
    # Weight buffering: chunks fetched for each tile (halves when they fit), or every block
    # resident for the whole layer (fetched once, by the first tile).
    blocks = word_blocks(spec, sparse, shape.c)
    resident_rows = shape.r * shape.s * (c_blocks * spec.rows * blocks
                                         if spec.dataflow == "os" else spec.cols)
    weight_options = [(c_chunk_blocks, w_half, 0)] + (
        [(c_blocks, 0, block_words)] if block_words and resident_rows <= COUNT_LIMIT else []) \
        + ([] if block_words else
           partly_resident_options(spec, shape, c_blocks, k_blocks, sparse))
    transfer_rows = shape.r * shape.s * (c_chunk_blocks * spec.rows * blocks
                                         if spec.dataflow == "os" else spec.cols)
    if transfer_rows > COUNT_LIMIT:
        raise MappingError(f"a {shape.r}x{shape.s} kernel is too large for one weight transfer")

    out_bits = spec.operand_bits if post.requant is not None else DRAM_WORD_BITS
    beat = 8 * spec.dram_bus_bytes

    dense_row_words = shape.w * c_blocks

    def band_fits(tile_p, row_words=dense_row_words, words=spec.input_words):
        rows_of_band = band_rows(shape, tile_p)
        return (rows_of_band * row_words <= words
                and rows_of_band * shape.w <= COUNT_LIMIT)

    def outputs_fit(tile_p, group, halves=1):
        return tile_p * q * group * halves <= spec.output_words and tile_p * q <= COUNT_LIMIT

    # Output-channel groups: all blocks, or fewer whose slice of a pixel starts on a beat.
    groups = [g for g in range(k_blocks, 0, -1)
              if g == k_blocks or g * spec.cols * out_bits % beat == 0]
    groups = [g for g in groups if outputs_fit(1, g)]
    if not band_fits(1) or not groups:
        raise MappingError(
            f"one output row needs {band_rows(shape, 1) * shape.w * c_blocks} input-buffer "
            f"and {q * min(k_blocks, 1 if not groups else groups[-1])} output-buffer words; "
            f"glb_input_bytes={spec.glb_input_bytes} holds {spec.input_words}, "
            f"glb_output_bytes={spec.glb_output_bytes} holds {spec.output_words}")

    def images_fit(images, group, halves, row_words):
        pixels = images * shape.h * shape.w
        return (images * shape.h * row_words <= spec.input_words and pixels <= COUNT_LIMIT
                and outputs_fit(images * p, group, halves))

    def build(group, halves, weights, row_words=dense_row_words, x_halves=1):
        """The mapping with the tallest tiles, the one writing compressed outputs (its
        tiles a whole number of table beats) when there is one, and when a whole image fits
        a tile, the one whose tiles span the most whole images that divide the batch; with
        `x_halves` 2, the tallest tiles whose bands fit half the input buffer, which load
        ahead (models/band_prefetch.py)."""
        words = spec.input_words // x_halves
        tile_p = 1
        while tile_p < p and band_fits(tile_p + 1, row_words, words) \
                and outputs_fit(tile_p + 1, group, halves):
            tile_p += 1
        streamed = _streamed_blocks(weights)
        if x_halves == 2:
            # Bands ahead with weights streamed every tile: not built together.
            reads_compressed = placement is not None and placement.x_table_addr is not None
            return [] if tile_p == p or reads_compressed or streamed \
                or not band_fits(tile_p, row_words, words) \
                else [_mapping(spec, shape, post, placement, tile_p, c_blocks, k_blocks, group,
                               *weights, spec.output_words // 2 if halves == 2 else 0,
                               sparse=sparse, x_half=band_prefetch.half_words(spec, x_halves))]
        compressed_p = _compressed_tile_rows(spec, shape, post, placement, group, tile_p)
        even_p = even_group_tile_rows(p, q, tile_p, spec.rows) if spec.dataflow == "os" else None
        y_half = spec.output_words // 2 if halves == 2 else 0
        spanned = [] if tile_p < p else [
            images for images in range(shape.n, 1, -1)
            if shape.n % images == 0 and images_fit(images, group, halves, row_words)][:1]
        return [_mapping(spec, shape, post, placement, rows, c_blocks, k_blocks, group,
                         *weights[:3], y_half, compress, sparse=sparse,
                         w_stream_blocks=streamed)
                for rows, compress in ((tile_p, False), (compressed_p, True), (even_p, False))
                if rows] + [
            _mapping(spec, shape, post, placement, p, c_blocks, k_blocks, group, *weights[:3],
                     y_half, tile_images=images, sparse=sparse, w_stream_blocks=streamed)
            for images in spanned]

    def build_folded(group, halves, weights, fold_rows, x_halves):
        """The mappings of `build` with the taps folded into the array rows, `fold_rows`
        kernel rows a block (their bands packed, so taller tiles fit)."""
        if placement is not None:
            return []
        return [_folded(spec, shape, m, fold_rows)
                for m in build(group, halves, weights, tap_fold.line_words(spec, shape),
                               x_halves)
                if not m.descriptor["y_compressed"]]

    # Fewer groups and a whole output buffer let the output rows of a tile grow, so fewer
    # tiles fetch the weights again; halves hide the write-back.  Among the mappings within
    # TRAFFIC_SLACK of the least DRAM traffic, pick the fewest cycles, then the least traffic;
    # but first one that writes its outputs compressed, if one moves at most COMPRESSED_SLACK
    # of the least traffic with every row written dense (the most it can write).
    def traffic(mapping):
        predicted = predict_counters(spec, mapping)
        return predicted["dram_bytes_read"] + predicted["dram_bytes_written"]

    candidates = [(traffic(m), m) for weights in weight_options for group in groups
                  for halves in (1, 2) if outputs_fit(1, group, halves)
                  for x_halves in band_prefetch.input_halves(spec)
                  for m in build(group, halves, weights, x_halves=x_halves)] + [
        (traffic(m), m) for fold_rows in tap_fold.row_options(spec, shape, sparse)
        for weights in tap_fold.weight_options(spec, shape, k_blocks,
                                               tap_fold.plan(spec, shape, fold_rows, sparse))
        for group in groups for halves in (1, 2) if outputs_fit(1, group, halves)
        for x_halves in band_prefetch.input_halves(spec)
        for m in build_folded(group, halves, weights, fold_rows, x_halves)]
    least = min(bytes_moved for bytes_moved, _ in candidates)
    def dense_first(bytes_moved, mapping):
        return not (mapping.descriptor["y_compressed"]
                    and bytes_moved <= COMPRESSED_SLACK * least)

    return with_paired_blocks(spec, min(
        ((dense_first(bytes_moved, m), predict_cycles(spec, m), bytes_moved, m)
         for bytes_moved, m in candidates if bytes_moved <= TRAFFIC_SLACK * least),
        key=lambda c: c[:3])[3])


def with_paired_blocks(spec, mapping):
    """`mapping` with its reduction blocks paired (models/paired_blocks.py) where that is
    allowed and pays.  Objective: the paired schedule always saves output-buffer reads and
    writes (energy), so take it when its cycles are within paired_blocks.CYCLE_SLACK of the
    unpaired schedule's (the same DRAM traffic)."""
    if not paired_blocks.pairable(spec, mapping):
        return mapping
    candidate = paired_blocks.paired(spec, mapping)
    if predict_cycles(spec, candidate) <= paired_blocks.CYCLE_SLACK * predict_cycles(spec, mapping):
        return candidate
    return mapping


def rs_mapping(spec, shape, post, placement, choice):
    """A row-stationary layer's mapping as `choice` (models.row_stationary.LayerChoice) says:
    tiles of `tile_p` output rows, output groups of `k_group_blocks` filter blocks, a chunk
    per filter block and channel chunk, the weight buffer in halves if `choice.halves`; every
    block's weights resident if `choice.resident`."""
    from .row_stationary import chunk_words
    k_blocks = _ceil_div(shape.k, spec.cols)
    resident = chunk_words(spec, shape, choice)[(False, False)] if choice.resident else 0
    return _mapping(spec, shape, post, placement, choice.tile_p,
                    _ceil_div(shape.c, spec.input_lanes), k_blocks, choice.k_group_blocks,
                    choice.c_chunk_blocks, spec.weight_words // 2 if choice.halves else 0,
                    resident, 0, rs_choice=choice)


def _rs_fields(spec, shape, w_row, choice, last_tile_p):
    """The descriptor's row-stationary fields (zero for the other dataflows)."""
    if spec.dataflow != ROW_STATIONARY:
        return {field.name: 0 for field in DESCRIPTOR_FIELDS if field.name.startswith("rs_")}
    from .row_stationary import descriptor_fields
    return descriptor_fields(spec, shape, w_row, choice, last_tile_p)


def _compressed_tile_rows(spec, shape, post, placement, group, tile_p):
    """The output rows of a tile when the outputs can be written compressed with `group`
    filter blocks a group (models/compression.py), at most `tile_p`; else None.

    Requantized outputs of a layer writing whole pixels (not a grouped layer's channel slice)
    compress when each group's slice of a pixel is more than one beat (a beat cannot get
    shorter) and fits the writer's buffer, and every tile but the layer's last starts a beat
    of length-table entries (one byte per pixel)."""
    bus = spec.dram_bus_bytes
    p, q = shape.p, shape.q
    slice_beats = row_beats(min(group * spec.cols, shape.k), spec.operand_bits, bus)
    # A placed layer (a network's, whose output the next layer reads compressed, one length
    # table for every pixel's whole row) compresses only when it writes one output group.
    placed = placement is not None and (placement.y_pitch is not None
                                        or group * spec.cols < shape.k)
    if (post.requant is None or placed or slice_beats < 2
            or not compressible(spec, slice_beats, shape.n * p * q)
            or (shape.n > 1 and p * q % bus)):
        return None
    for rows in range(tile_p, 0, -1):
        if rows == p or rows * q % bus == 0:
            return rows
    return None


def _weight_loads(spec, w_row, taps, d, sparse):
    """The descriptor's weight-load fields: what one chunk's load reads (models.registers).

    Weight-stationary: a chunk is a slice of every (k, r, s) row of a block of `cols`
    filters (the last block has k_last of them), the slices of one row `w_chunk_beats`
    apart.  Output-stationary: a chunk is whole rows of `cols` filters, one per (r, s, c)
    of its channels (on a 2:4 array one row of its steps: models/sparse_os.py `chunk_loads`),
    the chunks of a filter block one after the other.
    """
    rows, cols, k_last = spec.rows, spec.cols, d["k_last"]
    last_chunk_blocks = d["c_blocks"] - (d["c_chunks"] - 1) * d["c_chunk_blocks"]
    first_cols = cols - 1
    if spec.dataflow == "os":
        full, last = sparse_os.chunk_loads(spec, taps, d["c"], d["c_chunk_blocks"], sparse)
        return {
            "w_block_beats": (d["c_chunks"] - 1) * full.beats + last.beats,
            "w_chunk_step": full.beats, "w_row_beats": full.row_beats,
            "w_slice_beats": full.row_beats, "w_last_slice_beats": last.row_beats,
            "w_row_elems": full.row_elems, "w_last_row_elems": last.row_elems,
            "w_rows": full.rows, "w_rows_last_chunk": last.rows,
            "w_rows_last_k": full.rows, "w_rows_last_both": last.rows,
            "shift_first": 0, "last_shift_first": 0,
        }
    elems = block_elems(spec, d["word_blocks"])
    slice_beats = (d["c_chunk_blocks"] * elems * spec.operand_bits // (8 * spec.dram_bus_bytes)
                   if d["c_chunks"] > 1 else w_row)
    row_elems, last_row_elems = d["chunk_elems"], d["last_chunk_elems"]
    if spec.skips_weights:
        row_elems, last_row_elems = d["c_chunk_blocks"] * elems, last_chunk_blocks * elems
    return {
        "w_block_beats": cols * taps * w_row,
        "w_chunk_step": slice_beats,
        "w_slice_beats": slice_beats,
        "w_last_slice_beats": w_row - (d["c_chunks"] - 1) * slice_beats,
        "w_row_elems": row_elems, "w_last_row_elems": last_row_elems,
        "w_rows": cols * taps, "w_rows_last_chunk": cols * taps,
        "w_rows_last_k": k_last * taps, "w_rows_last_both": k_last * taps,
        "shift_first": first_cols * d["chunk_red"],
        "last_shift_first": first_cols * d["last_chunk_red"],
    }


def _mapping(spec, shape, post, placement, tile_p, c_blocks, k_blocks, group, c_chunk_blocks,
             w_half, w_block_words, y_half, compress=False, tile_images=1, sparse=False,
             rs_choice=None, x_half=0, w_stream_blocks=0):
    """The DRAM layout and descriptor of one choice of tile rows and output groups; with
    `tile_images` > 1 (which divides n, tile_p being p) each tile is that many whole images,
    which the sequencer walks as one image of `tile_images` images (models.registers)."""
    p, q = shape.p, shape.q
    bus = spec.dram_bus_bytes
    x_row = row_beats(shape.c, spec.operand_bits, bus)
    w_row = row_beats(weight_row_elems(spec, shape, sparse), spec.operand_bits, bus)
    out_bits = spec.operand_bits if post.requant is not None else DRAM_WORD_BITS
    y_row = row_beats(shape.k, out_bits, bus)
    b_row = row_beats(shape.k, DRAM_WORD_BITS, bus)
    if placement is None:
        w_addr = shape.n * shape.h * shape.w * x_row
        b_addr = w_addr + weight_beats(spec, shape, sparse, rs_choice, c_chunk_blocks)
        placement = Placement(0, w_addr, b_addr, b_addr + (b_row if post.bias else 0))
    x_addr, w_addr, b_addr, y_addr = (placement.x_addr, placement.w_addr, placement.b_addr,
                                      placement.y_addr)
    x_pitch = placement.x_pitch or x_row
    x_table = placement.x_table_addr
    if x_table is not None and not compressible(spec, x_row, shape.n * shape.h * shape.w):
        raise MappingError(f"X cannot be read compressed on {spec.name!r}: "
                           f"activation_compression={spec.activation_compression!r}, "
                           f"{x_row}-beat pixel rows")
    y_pitch = placement.y_pitch or y_row
    pad_value = shape.pad_value
    per_value_elems = DRAM_WORD_BITS // spec.operand_bits if post.requant is None else 1
    mult, shift, zero_point = post.requant or (0, 0, 0)
    rows, cols, lanes = spec.rows, spec.cols, spec.input_lanes
    blocks = word_blocks(spec, sparse, shape.c)
    tiles = _ceil_div(p, tile_p)
    last_tile_p = p - (tiles - 1) * tile_p
    taps = shape.r * shape.s
    c_chunks = _ceil_div(c_blocks, c_chunk_blocks)
    last_chunk_blocks = c_blocks - (c_chunks - 1) * c_chunk_blocks
    chunk_elems = min(shape.c, c_chunk_blocks * lanes)
    last_chunk_elems = shape.c - (c_chunks - 1) * c_chunk_blocks * lanes
    c_last = shape.c - (c_blocks - 1) * lanes
    rows_last, rows_last_h1 = active_rows(spec, c_last, sparse)
    k_last = shape.k - (k_blocks - 1) * cols
    line_words = shape.w * c_blocks
    x_line_beats = shape.w * x_pitch
    out_pixels = shape.n * p * q
    y_groups = _ceil_div(k_blocks, group)
    group_table = table_beats(out_pixels, bus) if compress else 0

    def band_span(rows_of_tile):
        return ((rows_of_tile - 1) * shape.stride + shape.r) * shape.w

    descriptor = {
        "n": shape.n, "h": shape.h, "w": shape.w, "c": shape.c, "k": shape.k, "q": q,
        "s": shape.s, "stride": shape.stride, "pad": shape.pad, "pad_value": pad_value,
        "tiles": tiles, "tile_p": tile_p, "last_tile_p": last_tile_p,
        "tile_pixels": tile_p * q, "last_tile_pixels": last_tile_p * q,
        "tile_h_step": tile_p * shape.stride,
        "band_span_px": band_span(tile_p), "last_band_span_px": band_span(last_tile_p),
        "image_px": shape.h * shape.w, "pad_px": shape.pad * shape.w,
        "tile_px_step": tile_p * shape.stride * shape.w,
        "taps": taps, "c_blocks": c_blocks, "c_last": c_last,
        "c_chunk_blocks": c_chunk_blocks, "c_chunks": c_chunks,
        "chunk_red": taps * c_chunk_blocks * blocks,
        "last_chunk_red": taps * last_chunk_blocks * blocks,
        "chunk_elems": chunk_elems, "last_chunk_elems": last_chunk_elems,
        "k_blocks": k_blocks, "k_last": k_last, "k_group_blocks": group,
        "macs_k_last": rows * k_last, "macs_c_last": rows_last * cols,
        "macs_ck_last": rows_last * k_last, "word_blocks": blocks,
        "dense_lanes": int(dense_lanes(spec, sparse)),
        "macs_h1_c_last": rows_last_h1 * cols, "macs_h1_ck_last": rows_last_h1 * k_last,
        "line_words": line_words, "row_step": shape.stride * line_words,
        "col_step": shape.stride * c_blocks, "pad_words": shape.pad * c_blocks,
        "pad_line_words": shape.pad * line_words,
        "tile_words": tile_p * shape.stride * line_words,
        "w_half_words": w_half, "y_half_words": y_half, "x_half_words": x_half,
        "w_resident": int(w_block_words != 0), "w_block_words": w_block_words,
        "w_stream_blocks": w_stream_blocks,
        "x_addr": x_addr, "x_row_beats": x_row, "x_pitch": x_pitch,
        "x_line_beats": x_line_beats, "x_image_beats": shape.h * x_line_beats,
        "pad_line_beats": shape.pad * x_line_beats,
        "tile_x_beats": tile_p * shape.stride * x_line_beats,
        "x_compressed": int(x_table is not None),
        "x_table_addr": x_table or 0,
        "w_addr": w_addr, "w_row_beats": w_row,
        "y_addr": y_addr, "y_row_beats": y_row, "y_pitch": y_pitch,
        "y_group_beats": group * cols * out_bits // (8 * bus) if group < k_blocks else y_row,
        "tile_y_beats": tile_p * q * y_pitch, "last_tile_y_beats": last_tile_p * q * y_pitch,
        "y_word_elems": cols * per_value_elems, "y_last_elems": k_last * per_value_elems,
        "y_compressed": int(compress),
        "y_table_addr": y_addr + (out_pixels - 1) * y_pitch + y_row if compress else 0,
        "y_groups": y_groups, "y_group_table_beats": group_table,
        "post": post.flags, "b_addr": b_addr, "b_row_beats": b_row,
        "requant_mult": mult, "requant_shift": shift, "zero_point": zero_point,
        "image_rows": p, "image_step_words": (shape.h - (p - 1) * shape.stride) * line_words,
        "fold": 0, "fold_first_word": 0, "fold_first_shift": 0, "fold_first_pos": 0,
        "fold_step": 0, "fold_rows": 1, "fold_rows_last": 1, "fold_words": 1,
        "fold_line_words": 0, "fold_macs_g_last": 0, "fold_macs_gk_last": 0,
        "depthwise": 0, "dw_q": 0, "dw_s": 0, "dw_line": 0, "dw_first_window": 0,
        "dw_row_gap": 0, "dw_line_last": 0, "dw_new_row": 0, "dw_mid_row": 0,
        "dw_band_extra": 0, "paired": 0, "pair_alone": 0,
    }
    if tile_images > 1:
        descriptor.update(_image_tiles(shape, tile_images, descriptor))
    descriptor.update(_weight_loads(spec, w_row, taps, descriptor, sparse))
    descriptor.update(_rs_fields(spec, shape, w_row, rs_choice, last_tile_p))
    descriptor = _checked(descriptor)
    return Mapping(shape, post, x_addr, w_addr, b_addr, y_addr, x_row, descriptor["w_row_beats"],
                   y_row, x_pitch, y_pitch, tile_p, descriptor, y_groups * group_table,
                   tile_images)


def _folded(spec, shape, dense, fold_rows):
    """`dense`'s tiling with the layer's taps folded into the array rows, `fold_rows` kernel
    rows a block (models/tap_fold.py): X packed by input rows, W one row per (k, block)."""
    d = {field.name: _signed(field, dense.descriptor[field.name])
         for field in DESCRIPTOR_FIELDS}
    d.update(tap_fold.descriptor_fields(spec, shape, d, dense.tile_images, fold_rows))
    fold = tap_fold.plan_for(spec, shape, d)
    x_row, w_row = tap_fold.x_row_beats(spec, shape), tap_fold.w_row_beats(spec, fold)
    if spec.skips_weights:
        w_row = row_beats(d["c_blocks"] * block_elems(spec, 1), spec.operand_bits,
                          spec.dram_bus_bytes)
    w_addr = shape.n * shape.h * x_row
    b_addr = w_addr + shape.k * fold.blocks * w_row
    y_addr = b_addr + (d["b_row_beats"] if dense.post.bias else 0)
    d.update(x_addr=0, w_addr=w_addr, b_addr=b_addr, y_addr=y_addr, w_row_beats=w_row,
             w_block_words=tap_fold.weight_words(spec, fold) if d["w_resident"] else 0)
    d.update(_weight_loads(spec, w_row, fold.blocks, d, False))
    return Mapping(dense.shape, dense.post, 0, w_addr, b_addr, y_addr, x_row, w_row,
                   dense.y_row_beats, x_row, dense.y_pitch, dense.tile_p,
                   _checked(d), dense.y_table_beats, dense.tile_images)


def _depthwise(spec, shape, post, placement=None):
    """A depthwise layer across the whole array (models/depthwise.py), placed at `placement`
    (None: the layer's own), or None when it does not fit: of the tilings (output groups,
    halves, tallest tiles, whole images a tile) within TRAFFIC_SLACK of the least DRAM
    traffic, the one of fewest cycles."""
    dense = ConvShape(*dataclass_fields(shape))
    c_blocks, k_blocks = _ceil_div(shape.c, spec.input_lanes), _ceil_div(shape.k, spec.cols)
    out_bits = spec.operand_bits if post.requant is not None else DRAM_WORD_BITS
    beat = 8 * spec.dram_bus_bytes
    p, q = shape.p, shape.q
    line = depthwise.line_eligible(spec, shape)
    candidates = []
    for group in range(k_blocks, 0, -1):
        if group < k_blocks and group * spec.cols * out_bits % beat:
            continue
        for halves, x_halves in itertools.product((1, 2), band_prefetch.input_halves(spec)):
            def fits(rows, images=1):
                return (images * band_rows(shape, rows) * shape.w * c_blocks
                        <= spec.input_words // x_halves
                        and images * band_rows(shape, rows) * shape.w <= COUNT_LIMIT
                        and images * rows * q * group * halves <= spec.output_words
                        and images * rows * q <= COUNT_LIMIT)
            rows = max((t for t in range(1, p + 1) if fits(t)), default=0)
            spans = [i for i in range(shape.n, 1, -1) if rows == p and shape.n % i == 0
                     and fits(p, i) and x_halves == 1][:1] or [1]
            if x_halves == 2 and rows == p:
                continue
            for images in ([1] if rows else []) + [i for i in spans if i > 1]:
                lines = (False, True) if images == 1 and line else (False,)
                try:
                    tiling = _mapping(
                        spec, dense, post, placement, rows, c_blocks, k_blocks, group, c_blocks,
                        0, 0, spec.output_words // 2 if halves == 2 else 0,
                        tile_images=images, x_half=band_prefetch.half_words(spec, x_halves))
                    candidates += [_depthwise_mapping(spec, shape, post, tiling, with_line,
                                                      placement)
                                   for with_line in lines]
                except MappingError:
                    continue
    if not candidates:
        return None

    def traffic(mapping):
        counters = predict_counters(spec, mapping)
        return counters["dram_bytes_read"] + counters["dram_bytes_written"]

    moved = [(traffic(m), m) for m in candidates]
    least = min(b for b, _ in moved)
    return min(((predict_cycles(spec, m), b, m) for b, m in moved
                if b <= TRAFFIC_SLACK * least), key=lambda c: c[:2])[2]


def _depthwise_mapping(spec, shape, post, dense, line=False, placement=None):
    """`dense`'s tiling of the layer run depthwise (models/depthwise.py), with the line
    buffer or without; its bias and Y at `placement`'s, or right after its weights."""
    d = {field.name: _signed(field, dense.descriptor[field.name])
         for field in DESCRIPTOR_FIELDS}
    d.update(depthwise.descriptor_fields(spec, shape, d, line))
    w_half, w_block = depthwise.weight_buffering(spec, shape, d["k_blocks"], line)
    w_row = depthwise.w_row_beats(spec, shape, line)
    filter_rows = depthwise.filter_rows(shape, line)
    b_addr = dense.w_addr + shape.k * filter_rows * w_row
    y_addr = b_addr + (d["b_row_beats"] if post.bias else 0)
    if placement is not None:
        b_addr, y_addr = placement.b_addr, placement.y_addr
    d.update(w_row_beats=w_row, b_addr=b_addr, y_addr=y_addr, w_half_words=w_half,
             w_resident=int(w_block != 0), w_block_words=w_block)
    d.update(_weight_loads(spec, w_row, filter_rows, d, False))
    return Mapping(shape, post, dense.x_addr, dense.w_addr, b_addr, y_addr, dense.x_row_beats,
                   w_row, dense.y_row_beats, dense.x_pitch, dense.y_pitch, dense.tile_p,
                   _checked(d), dense.y_table_beats, dense.tile_images)


def _signed(field, value):
    """A descriptor field's value from its register word."""
    return value - (1 << 32) if field.signed and value >= 1 << 31 else value


def _checked(descriptor):
    """The descriptor's register values, or MappingError naming a field it overflows."""
    for field in DESCRIPTOR_FIELDS:
        value = descriptor[field.name]
        if not field.low <= value <= field.high:
            raise MappingError(f"{field.name}={value} does not fit the descriptor's "
                               f"{field.bits}-bit field ({field.doc})")
    return {name: register_value(name, value) for name, value in descriptor.items()}


def _image_tiles(shape, images, d):
    """The descriptor fields that make the sequencer's image loop walk tiles of `images`
    whole images: each one a single tile of `images` x p output rows over a band of `images`
    x h input rows (the padding rows between images come from the inner loop's window walk,
    not from the buffer)."""
    p, q = shape.p, shape.q
    rows, pixels = images * p, images * p * q
    band_px = images * shape.h * shape.w
    return {
        "n": shape.n // images, "tiles": 1,
        "tile_p": rows, "last_tile_p": rows, "tile_pixels": pixels, "last_tile_pixels": pixels,
        "band_span_px": band_px + d["pad_px"], "last_band_span_px": band_px + d["pad_px"],
        "image_px": band_px, "x_image_beats": images * d["x_image_beats"],
        "tile_y_beats": pixels * d["y_pitch"], "last_tile_y_beats": pixels * d["y_pitch"],
    }


def map_fc(spec, m, c, k, post=PostProcess(), weights=None):
    """Tile an (m x c) . (k x c)^T fully-connected layer for `spec` (`weights`: k x c)."""
    return map_conv(spec, fc_shape(m, c, k), post,
                    weights=None if weights is None else weights.reshape(k, c, 1, 1))


@dataclass(frozen=True)
class Part:
    """One hardware run of a grouped layer: output channels [k0, k0 + shape.k) from input
    channels [c0, c0 + shape.c), with block-diagonal weights (zero across groups)."""

    mapping: Mapping
    c0: int
    k0: int


def group_slice(spec, shape, groups, post):
    """Groups per hardware run: the fewest whose input and output channels start on a DRAM
    beat, so each run reads and writes an aligned channel slice of every pixel."""
    cg, kg = shape.c // groups, shape.k // groups
    out_bits = spec.operand_bits if post.requant is not None else DRAM_WORD_BITS
    beat = 8 * spec.dram_bus_bytes
    n = 1
    while (n * cg * spec.operand_bits) % beat or (n * kg * out_bits) % beat \
            or (n * kg * DRAM_WORD_BITS) % beat:
        n += 1
        if n >= groups:
            return groups
    return n


def map_grouped_conv(spec, shape, groups, post=PostProcess(), weights=None):
    """Map a grouped convolution (groups=1: an ordinary one; groups=C=K: depthwise) as runs
    over aligned channel slices, each an ordinary convolution with block-diagonal weights.

    X, the bias and Y are laid out for the whole layer (one padded DRAM row per pixel); each
    run reads its slice of every input pixel and writes its slice of every output pixel, so
    no tensor is copied or reordered.  The weights of each run follow one another.  On a
    2:4 architecture an ungrouped layer whose `weights` are 2:4 runs as such; grouped ones
    run dense.
    """
    if groups < 1 or shape.c % groups or shape.k % groups:
        raise MappingError(f"groups={groups} must divide c={shape.c} and k={shape.k}")
    if groups == 1:
        return [Part(map_conv(spec, shape, post, weights=weights), 0, 0)]
    if depthwise.eligible(spec, shape, groups):
        return _fastest(spec, _grouped_runs(spec, shape, groups, post),
                        _depthwise_options(spec, DepthwiseShape(*dataclass_fields(shape)), post))
    return _grouped_runs(spec, shape, groups, post)


def _fastest(spec, parts, options):
    """The block-diagonal runs `parts`, or the depthwise runs of `options` (lists of Parts,
    fewest runs first), taking the fewest cycles within TRAFFIC_SLACK of the DRAM traffic of
    the runs that move the least (ties: block-diagonal, then the fewest runs)."""
    def cost(runs):
        counters = [predict_counters(spec, part.mapping) for part in runs]
        return (sum(predict_cycles(spec, part.mapping) for part in runs),
                sum(c["dram_bytes_read"] + c["dram_bytes_written"] for c in counters))

    costed = [(cost(runs), runs) for runs in [parts] + options]
    least = min(traffic for (_, traffic), _ in costed)
    return min(((cycles, index, runs) for index, ((cycles, traffic), runs) in enumerate(costed)
                if traffic <= TRAFFIC_SLACK * least), key=lambda c: c[:2])[2]


def _depthwise_options(spec, shape, post):
    """A depthwise layer's runs in the array's depthwise mode: one run over every channel,
    and runs over aligned slices of channels (each a multiple of the columns: bands a slice
    of every pixel, so taller tiles fit the input buffer), one option per slice width that
    fits, the widest first."""
    whole = _depthwise(spec, shape, post)
    widths = depthwise.slice_widths(spec, shape, group_slice(spec, shape, shape.c, post))
    return [runs for runs in [[Part(whole, 0, 0)] if whole else None]
            + [_depthwise_slices(spec, shape, post, width) for width in widths] if runs]


def _depthwise_slices(spec, shape, post, width):
    """The depthwise runs of `shape` over channel slices of `width` (the last one the rest),
    each reading and writing its slice of every pixel (like `_grouped_runs`), or None when
    one does not fit.  Each run's weights follow the previous run's, in the region of the
    most the layer's weights take in either depthwise layout."""
    layer = _LayerPlacement(spec, shape, post, depthwise.weight_region_beats(spec, shape))
    w_addr = layer.w_addr
    parts = []
    for c0 in range(0, shape.c, width):
        sub = DepthwiseShape(shape.n, min(width, shape.c - c0), shape.h, shape.w,
                             min(width, shape.c - c0), shape.r, shape.s, shape.stride,
                             shape.pad, shape.pad_value)
        mapping = _depthwise(spec, sub, post, layer.of_slice(c0, c0, w_addr))
        if mapping is None:
            return None
        parts.append(Part(mapping, c0, c0))
        w_addr += sub.k * depthwise.filter_rows(sub, mapping.descriptor["dw_line"]) \
            * mapping.w_row_beats
    return parts


def dataclass_fields(shape):
    """A shape's fields, in order (to build another shape class of the same fields)."""
    return tuple(getattr(shape, name) for name in ConvShape.__match_args__)


def _grouped_runs(spec, shape, groups, post):
    """The block-diagonal runs of a grouped layer (see map_grouped_conv)."""
    cg, kg = shape.c // groups, shape.k // groups
    per_run = group_slice(spec, shape, groups, post)
    runs = []
    for first in range(0, groups, per_run):
        count = min(per_run, groups - first)
        runs.append((first * cg, first * kg, ConvShape(shape.n, count * cg, shape.h, shape.w,
                                                       count * kg, shape.r, shape.s,
                                                       shape.stride, shape.pad,
                                                       shape.pad_value)))
    run_beats = [weight_beats(spec, sub) for _, _, sub in runs]
    layer = _LayerPlacement(spec, shape, post, sum(run_beats))
    w_addr = layer.w_addr
    parts = []
    for (c0, k0, sub), beats in zip(runs, run_beats):
        parts.append(Part(map_conv(spec, sub, post, layer.of_slice(c0, k0, w_addr)), c0, k0))
        w_addr += beats
    return parts


class _LayerPlacement:
    """The DRAM layout of a layer run as several runs over channel slices: X (one padded row
    per pixel) from beat 0, the runs' weights in a region of `weight_beats` after it, then
    the bias and Y (one padded row per output pixel)."""

    def __init__(self, spec, shape, post, weight_beats):
        self.spec, self.bus = spec, spec.dram_bus_bytes
        self.out_bits = spec.operand_bits if post.requant is not None else DRAM_WORD_BITS
        self.x_pitch = row_beats(shape.c, spec.operand_bits, self.bus)
        self.y_pitch = row_beats(shape.k, self.out_bits, self.bus)
        self.w_addr = shape.n * shape.h * shape.w * self.x_pitch
        self.b_addr = self.w_addr + weight_beats
        self.y_addr = self.b_addr + (row_beats(shape.k, DRAM_WORD_BITS, self.bus)
                                     if post.bias else 0)

    def of_slice(self, c0, k0, w_addr):
        """The Placement of the run reading input channels from `c0` and writing output
        channels from `k0` (each on a DRAM beat), its weights at `w_addr`."""
        beat = 8 * self.bus
        return Placement(
            x_addr=c0 * self.spec.operand_bits // beat, w_addr=w_addr,
            b_addr=self.b_addr + k0 * DRAM_WORD_BITS // beat,
            y_addr=self.y_addr + k0 * self.out_bits // beat,
            x_pitch=self.x_pitch, y_pitch=self.y_pitch)


def block_diagonal_weights(weights, groups, part):
    """The dense weights of one run of a grouped layer: W[k, c] where k and c share a group,
    zero elsewhere.  `weights` is K x (C/groups) x R x S."""
    k_all, cg, r, s = weights.shape
    kg = k_all // groups
    shape = part.mapping.shape
    dense = np.zeros((shape.k, shape.c, r, s), dtype=weights.dtype)
    for kk in range(shape.k):
        group = (part.k0 + kk) // kg
        first = group * cg - part.c0
        dense[kk, first:first + cg] = weights[part.k0 + kk]
    return dense
