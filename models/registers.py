"""The host-visible register map: control, status, the layer descriptor and the counters.

Registers are 32 bits wide and addressed by word index.  The hardware (pyhdl/csr.py) and the
host (testbench, flows) both take their addresses from here.

    0  CONTROL   write 1: clear counters and start the layer in the descriptor
    1  STATUS    bit 0 busy, bit 1 done (sticky until the next start)
    2… DESCRIPTOR_FIELDS, one register each, in order
    …  counters, two registers each (low word, then high word), in COUNTER_NAMES order

Each descriptor field has the width the hardware keeps (the register block stores that many
bits; a register reads back zero- or sign-extended).  The mapper computes every per-layer
product (tap counts, row and tile steps, chunk sizes, pixel counts) into the descriptor, so
the controller steps its addresses with adders and compares; `models.mapper` refuses a layer
whose values do not fit their fields.
"""

from dataclasses import dataclass

from .counters import COUNTER_BITS, COUNTER_NAMES
from .hardware import (ADDR_BITS, BURST_BITS, COUNT_BITS, EVENT_BITS, POST_FLAGS,
                       SHIFT_BITS)

CONTROL = 0
STATUS = 1
STATUS_BUSY = 1 << 0
STATUS_DONE = 1 << 1

WORDS_BITS = 24
"""Global-buffer word counts and offsets in the descriptor (buffers up to 16 M words)."""
SMALL_BITS = 8
"""Kernel columns, stride, padding, and the channels of a last block (up to the array size)."""


@dataclass(frozen=True)
class Field:
    """One descriptor register: its name, the bits the hardware keeps, signedness, meaning."""

    name: str
    bits: int
    signed: bool
    doc: str

    @property
    def low(self):
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def high(self):
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


def _u(name, bits, doc):
    return Field(name, bits, False, doc)


def _s(name, bits, doc):
    return Field(name, bits, True, doc)


def _rs_fields():
    """The row-stationary pass walk's fields (pyhdl.rs_loop.pass_walk_layout), `rs_` and
    the walk's name; products of the mapping the walk steps with adders."""
    c, small, w = COUNT_BITS, SMALL_BITS, WORDS_BITS
    return (
        _u("rs_k_tiles", c, "filter tiles of a filter block (every block but the last)"),
        _u("rs_k_tiles_last", c, "filter tiles of the last filter block"),
        _u("rs_c_tiles", c, "channel tiles (vertical sets x channels per PE each)"),
        _u("rs_c_tiles_last_c", c, "channel tiles of the last channel chunk"),
        _u("rs_folds", c, "folds of the filter rows onto the array rows"),
        _u("rs_strips", c, "strips of a tile's output rows onto the array columns"),
        _u("rs_strips_last_tile", c, "strips of the last tile of an image"),
        _u("rs_filter_tile", c, "filters of a filter tile (horizontal sets x filters)"),
        _u("rs_ct_lanes", small, "channel tile mod rows: lanes from one tile to the next"),
        _u("rs_ct_blocks", c, "channel tile div rows: words from one tile to the next"),
        _u("rs_fold_rows", small, "filter rows of a fold (the vertical replication period)"),
        _u("rs_fold_last", small, "filter rows of the last fold"),
        _u("rs_strip_cols", small, "output rows of a strip (the horizontal period)"),
        _u("rs_strip_last", small, "output rows of a tile's last strip"),
        _u("rs_strip_last_tile", small, "the same in the last tile of an image"),
        _u("rs_vertical_sets", small, "vertical sets of a channel tile (the last: below)"),
        _u("rs_vsets_last", small, "vertical sets of the last channel tile"),
        _u("rs_vsets_last_c", small, "the same in the last channel chunk"),
        _u("rs_channels", small, "channels per PE (q)"),
        _u("rs_channels_last", small, "channels of the last channel tile's last set"),
        _u("rs_channels_last_c", small, "the same in the last channel chunk"),
        _u("rs_horizontal_sets", small, "horizontal sets of a filter tile"),
        _u("rs_hsets_last", small, "horizontal sets of a filter block's last tile"),
        _u("rs_hsets_last_k", small, "the same in the last filter block"),
        _u("rs_filters", small, "filters per PE (p)"),
        _u("rs_filters_last", small, "filters of a filter block's last set"),
        _u("rs_filters_last_k", small, "the same in the last filter block"),
        _u("rs_fold_words", w, "fold_rows * line_words: input words from a fold to the next"),
        _u("rs_strip_rows", c, "strip_cols * stride: input rows from a strip to the next"),
        _u("rs_strip_words", w, "strip_rows * line_words"),
        _u("rs_strip_out", w, "strip_cols * q * k_group_blocks: output words from a strip to "
           "the next"),
        _u("rs_out_row_step", w, "q * k_group_blocks: output words from an output row to the "
           "next"),
        _u("rs_out_row_step_last", w, "the same in the last output group"),
        _u("rs_strip_out_last", w, "strip_cols * rs_out_row_step_last"),
        _u("rs_q_lanes", small, "channels mod rows"),
        _u("rs_q_blocks", c, "channels div rows"),
        _u("rs_step", small, "min(stride, s): new input words a PE takes per output"),
        _u("rs_col_skip", small, "max(stride - s, 0): columns no window reads between two"),
        _u("rs_col_skip_words", w, "col_skip * c_blocks"),
    )


C, A, B, W = COUNT_BITS, ADDR_BITS, BURST_BITS, WORDS_BITS
DESCRIPTOR_FIELDS = (
    # The layer's shape, as far as the loops compare against it.
    _u("n", C, "images, or tiles of whole images when a tile spans several (the outer loop)"),
    _u("h", C, "input rows"),
    _u("w", C, "input columns"),
    _u("c", C, "input channels (elements of an input row in DRAM)"),
    _u("k", C, "output channels (elements of the bias row)"),
    _u("q", C, "output columns"),
    _u("s", SMALL_BITS, "kernel columns"),
    _u("stride", SMALL_BITS, "convolution stride"),
    _u("pad", SMALL_BITS, "padding on every side"),
    _s("pad_value", 16, "the input value of padded positions (0, or a zero point)"),
    # Tiles of output rows: the input buffer holds each tile's input band.
    _u("tiles", C, "tiles of output rows per image (1 when a tile spans whole images)"),
    _u("tile_p", C, "output rows of a tile (every tile but an image's last)"),
    _u("last_tile_p", C, "output rows of an image's last tile"),
    _u("tile_pixels", C, "tile_p * q: output pixels of a tile"),
    _u("last_tile_pixels", C, "last_tile_p * q"),
    _u("tile_h_step", C, "tile_p * stride: input rows from one tile's band to the next"),
    _u("band_span_px", A, "((tile_p - 1) * stride + r) * w: input pixels a tile's windows span"),
    _u("last_band_span_px", A, "the same for an image's last tile"),
    _u("image_px", A, "h * w: input pixels of an image (of a tile's whole images)"),
    _u("pad_px", A, "pad * w: input pixels above the first band's first window"),
    _u("tile_px_step", A, "tile_p * stride * w"),
    # The reduction: taps x channel blocks, in chunks whose weights fit the weight buffer.
    _u("taps", C, "r * s: kernel taps"),
    _u("c_blocks", C, "ceil(c / array rows): input-buffer words per pixel"),
    _u("c_last", SMALL_BITS, "channels in the last channel block (1..rows)"),
    _u("c_chunk_blocks", C, "channel blocks per weight-buffer load (every tap of a filter block)"),
    _u("c_chunks", C, "ceil(c_blocks / c_chunk_blocks): weight-buffer loads per filter block"),
    _u("chunk_red", C, "taps * c_chunk_blocks: reduction blocks of a chunk"),
    _u("last_chunk_red", C, "reduction blocks of a filter block's last chunk"),
    _u("chunk_elems", C, "channels of a chunk (c_chunk_blocks * rows, at most c)"),
    _u("last_chunk_elems", C, "channels of a filter block's last chunk"),
    # Output channels: blocks of `cols` filters, grouped by what the output buffer holds.
    _u("k_blocks", C, "ceil(k / array cols): blocks of output channels"),
    _u("k_last", SMALL_BITS, "output channels in the last block (1..cols)"),
    _u("k_group_blocks", C, "filter blocks per output-buffer group (words per pixel)"),
    _u("macs_k_last", EVENT_BITS, "rows * k_last: MACs of a vector in the last filter block"),
    _u("macs_c_last", EVENT_BITS, "c_last * cols: MACs of a vector of the last channel block"),
    _u("macs_ck_last", EVENT_BITS, "c_last * k_last: MACs of a vector of both"),
    # 2:4 weights (models/sparsity.py): a 2:4 array covers an input word once (2:4 layer, or
    # a dense layer of at most `rows` channels), or twice (a wider dense layer: its halves).
    _u("word_blocks", 2, "weight blocks per input word: 1, or 2 for a dense layer of more "
                         "than rows channels on a 2:4 array"),
    _u("dense_lanes", 1, "a dense layer on a 2:4 array: each half of an input word feeds "
                         "array row r its channel r (lanes 0 and 1 of every group)"),
    _u("macs_h1_c_last", EVENT_BITS, "dense layer on a 2:4 array: active PEs of a vector of "
                                     "the last channel block's second half"),
    _u("macs_h1_ck_last", EVENT_BITS, "the same, in the last filter block"),
    # Input-buffer word steps of the window walk.
    _u("line_words", W, "w * c_blocks: input-buffer words per input row"),
    _u("row_step", W, "stride * line_words: words between output rows' windows"),
    _u("col_step", W, "stride * c_blocks: words between output columns' windows"),
    _u("pad_words", W, "pad * c_blocks: words left of a row's first window"),
    _u("pad_line_words", W, "pad * line_words: words above an image's first window"),
    _u("tile_words", W, "tile_h_step * line_words: a tile's step in words"),
    _u("image_rows", C, "p: output rows per image; a tile spanning whole images steps its "
                        "windows to the next image after each image's last row"),
    _s("image_step_words", W + 1, "(h - (p - 1) * stride) * line_words: words from an image's "
                                  "last output row's windows to the next image's first"),
    _u("w_half_words", W, "0, or the weight buffer's half: the next chunk is fetched into the "
                          "other"),
    _u("w_resident", 1, "the layer's weights stay in the weight buffer: the first tile loads "
                        "every filter block, each to its own region, and later tiles reuse them"),
    _u("w_block_words", W, "resident weights: weight-buffer words from one chunk's region "
                           "to the next (a filter block's: one chunk a block unless "
                           "w_stream_blocks; 0 otherwise)"),
    _u("w_stream_blocks", C, "resident weights: how many of the last filter blocks are not "
                             "resident but loaded again every tile, chunk by chunk, into the "
                             "region after the resident blocks' (0: every block resident)"),
    _u("y_half_words", W, "0, or the output buffer's half: a group of output channels "
                          "accumulates in one half while the previous one is written back"),
    _u("x_half_words", W, "0, or the input buffer's half: the next tile's band loads into one "
                          "half while the tile's blocks stream from the other"),
    # Inputs in DRAM: NHWC, one padded row of beats per pixel.
    _u("x_addr", A, "DRAM beat address of X"),
    _u("x_row_beats", B, "DRAM beats read per input pixel"),
    _u("x_pitch", B, "DRAM beats from one input pixel to the next (more for a channel slice)"),
    _u("x_line_beats", A, "w * x_pitch: DRAM beats per input row"),
    _u("x_image_beats", A, "h * x_line_beats: DRAM beats per input image (per tile of whole "
                           "images)"),
    _u("pad_line_beats", A, "pad * x_line_beats"),
    _u("tile_x_beats", A, "tile_h_step * x_line_beats"),
    _u("x_compressed", 1, "X read bitmask-compressed through its length table "
                          "(models/compression.py)"),
    _u("x_table_addr", A, "DRAM beat address of X's length table (one byte per input pixel)"),
    # Weights in DRAM (models.mapper.weight_rows): one load per chunk of a filter block,
    # `rows` DRAM rows of `slice` beats each, `pitch` w_row_beats apart.
    _u("w_addr", A, "DRAM beat address of W"),
    _u("w_row_beats", B, "DRAM beats per weight row (the pitch of a load)"),
    _u("w_block_beats", A, "DRAM beats from one filter block's weights to the next"),
    _u("w_chunk_step", A, "DRAM beats from one chunk's first row (or row slice) to the next"),
    _u("w_slice_beats", B, "DRAM beats read of each row in a chunk's load"),
    _u("w_last_slice_beats", B, "the same for a filter block's last chunk"),
    _u("w_row_elems", C, "operands per row of a chunk's load"),
    _u("w_last_row_elems", C, "the same for a filter block's last chunk"),
    _u("w_rows", C, "DRAM rows of a chunk's load"),
    _u("w_rows_last_chunk", C, "... of a filter block's last chunk"),
    _u("w_rows_last_k", C, "... of a chunk of the last filter block"),
    _u("w_rows_last_both", C, "... of the last filter block's last chunk"),
    _u("shift_first", C, "weight-stationary: (cols - 1) * chunk_red, the weight-buffer word "
                         "of column cols-1's first reduction block"),
    _u("last_shift_first", C, "weight-stationary: (cols - 1) * last_chunk_red"),
    # Outputs in DRAM: NPQK, one padded row of beats per output pixel.
    _u("y_addr", A, "DRAM beat address of Y"),
    _u("y_row_beats", B, "DRAM beats written per output pixel"),
    _u("y_pitch", B, "DRAM beats from one output pixel to the next"),
    _u("y_group_beats", B, "DRAM beats of an output row per group (its slice of each pixel)"),
    _u("tile_y_beats", A, "tile_pixels * y_pitch"),
    _u("last_tile_y_beats", A, "last_tile_pixels * y_pitch"),
    _u("y_word_elems", C, "output elements (of operand_bits) per full output-buffer word"),
    _u("y_last_elems", C, "output elements (of operand_bits) in a row's last word"),
    _u("y_compressed", 1, "Y written bitmask-compressed, with a length table "
                          "(models/compression.py)"),
    _u("y_table_addr", A, "DRAM beat address of Y's length tables (one per output group, "
                          "one byte per output pixel)"),
    _u("y_groups", C, "ceil(k_blocks / k_group_blocks): output groups (write jobs) of a tile"),
    _u("y_group_table_beats", A, "beats of each output group's length table"),
    # Post-processing on the way out.
    _u("post", len(POST_FLAGS), "flags, bit 0 first: " + ", ".join(POST_FLAGS)),
    _u("b_addr", A, "DRAM beat address of the bias (one padded row of k int32)"),
    _u("b_row_beats", B, "DRAM beats of the bias row"),
    _s("requant_mult", 32, "requantization multiplier"),
    _u("requant_shift", SHIFT_BITS, "requantization right shift, rounding half up"),
    _s("zero_point", 16, "output zero point (operand range)"),
    # Taps folded into the array rows (models/tap_fold.py): X packed, one DRAM row of w * c
    # elements per input row; a reduction block is a kernel row and `rows` elements of the
    # window's s * c run in it, taken from two input-buffer words at an element offset.
    _u("fold", 1, "the layer runs with its taps folded into the array rows"),
    _s("fold_first_word", 16, "floor(-pad * c / input lanes): a row's first window's word"),
    _u("fold_first_shift", SMALL_BITS, "-pad * c mod input lanes: its element within the word"),
    _s("fold_first_pos", 16, "-pad * c: its element within the input row"),
    _u("fold_step", SMALL_BITS, "stride * c (at most rows): elements between windows"),
    # A folded block of several kernel rows (fold_rows > 1): each row's words are read into the
    # loop's line buffer at the start of every output row; row j's run feeds lanes j * (rows //
    # fold_rows) on.
    _u("fold_rows", SMALL_BITS, "kernel rows of a folded block (1: one row, streamed)"),
    _u("fold_rows_last", SMALL_BITS, "kernel rows of the last folded block"),
    _u("fold_words", SMALL_BITS, "input words read per kernel row and output row (1 streamed)"),
    _u("fold_line_words", W, "input-buffer words of one packed input row"),
    _u("fold_macs_g_last", EVENT_BITS, "MACs of a vector of the last block of kernel rows"),
    _u("fold_macs_gk_last", EVENT_BITS, "... of the last filter block"),
    # Depthwise layers across the whole array (models/depthwise.py): column c takes channel
    # c of its filter block, the rows a kernel row's taps; each output row streams q + s - 1
    # input pixels (`q` above), one a cycle, and a window enters every cycle of its first q.
    _u("depthwise", 1, "the layer runs depthwise, a channel per column, the taps down the rows"),
    _u("dw_q", C, "depthwise: output columns (windows issued per output row)"),
    _u("dw_s", SMALL_BITS, "depthwise: the array rows holding taps (s; r * s with the line "
                            "buffer)"),
    # With the line buffer (dw_line), a block is all r * s taps of a filter block: the tile's
    # band streams an input row at a time, the r - 1 rows before delayed by the array's line
    # buffer (models/depthwise.py).
    _u("dw_line", 1, "depthwise: the r * s taps down the rows, the rows before from the line "
                     "buffer"),
    _u("dw_first_window", C, "line buffer: stream cycles before a block's first window, "
                             "(r - 1) (q - 1) stride"),
    _u("dw_row_gap", C, "line buffer: stream cycles from a row's last window to the next "
                        "row's first, less one: stride (positions - q + 1) - 1"),
    _u("dw_line_last", C, "line buffer: its ring's last word, (q - 1) stride - 2"),
    _u("dw_new_row", SMALL_BITS, "line buffer: the first array row fed the newest input row, "
                                 "(r - 1) s"),
    _u("dw_mid_row", SMALL_BITS, "line buffer: the first fed the row before it, (r - 2) s "
                                 "(0 for r = 2)"),
    _u("dw_band_extra", SMALL_BITS, "line buffer: input rows a tile streams beyond stride x "
                                    "its output rows, r - stride"),
    # Paired reduction blocks (models/paired_blocks.py, weight-stationary dense layers): a
    # chunk's blocks two by two, each pair's first `pair_alone` pixels streamed by each block
    # alone (while the other's weights load and the previous pair's slots drain), the rest
    # in pairs on consecutive cycles, added in the accumulator before one write-back.
    _u("paired", 1, "the chunk's reduction blocks stream in pairs (one write-back per pair)"),
    _u("pair_alone", C, "paired: pixels of a tile each block of a pair streams alone"),
    # Row-stationary passes (models/row_stationary.py, pyhdl/rs_loop.py): a chunk is one
    # block of `cols` filters over a chunk of channels of a tile's band, walked in passes.
    *_rs_fields(),
)
del C, A, B, W
DESCRIPTOR_NAMES = tuple(field.name for field in DESCRIPTOR_FIELDS)
DESCRIPTOR = {field.name: field for field in DESCRIPTOR_FIELDS}

DESCRIPTOR_BASE = 2
COUNTER_BASE = DESCRIPTOR_BASE + len(DESCRIPTOR_FIELDS)
COUNTER_WORDS = -(-COUNTER_BITS // 32)
REGISTER_COUNT = COUNTER_BASE + COUNTER_WORDS * len(COUNTER_NAMES)


def descriptor_address(name):
    return DESCRIPTOR_BASE + DESCRIPTOR_NAMES.index(name)


def register_value(name, value):
    """The 32-bit register word the host writes for descriptor field `name` = `value`."""
    return value & 0xFFFFFFFF


def counter_address(name):
    """Address of the counter's low word; the high word follows."""
    return COUNTER_BASE + COUNTER_WORDS * COUNTER_NAMES.index(name)
