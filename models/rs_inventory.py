"""The row-stationary accelerator's controller registers for models/inventory.py: the layer
sequencer as the RS inner loop uses it, and the loop's units (pyhdl/rs_loop.py), each a
formula from its Signal declarations (tests/test_inventory.py holds them against Yosys on
the exported accelerator).

Field widths follow Amaranth's shapes: `range(n)` takes (n - 1).bit_length() bits,
`range(1, n + 1)` n.bit_length().
"""

from .hardware import ADDR_BITS, COORD_BITS, COUNT_BITS, OFFSET_BITS
from .registers import WORDS_BITS

RS_TAPS_BITS = 8
"""pyhdl/rs_loop.py input_walk_layout(taps_bits): taps, step, stride, col_skip and pad."""
SEQUENCER_STEP_BITS = ADDR_BITS + 2
"""pyhdl/sequencer.py STEP: a signed pixel or beat count of the band walk."""
RS_SEQUENCER_REGISTERS = (
    ("loop counts and layer constants", 24, COUNT_BITS,
     "image, tile, kb, chunk, the output group's (first, end, offset, kb in it, blocks left), "
     "the band's first and end pixel, the chunk's last channel block, the registered layer "
     "constants (tiles, n, k_blocks, c_chunks, c_blocks, each less one; k_blocks and "
     "c_chunks less two, for the prefetched chunk's last flags; the first streamed filter "
     "block), the chunk's first channel block, tile rows and pixels, and the written block's "
     "word base"),
    ("DRAM addresses", 6, ADDR_BITS,
     "x_image, y_addr, band_addr, chunk_addr, next_chunk_addr, next_block_addr"),
    ("band steps", 4, SEQUENCER_STEP_BITS, "start_px, end_px, last_end_px, start_beats"),
    ("window offsets", 2, OFFSET_BITS, "start_words and the chunk's window_base"),
    ("tile coordinates", 2, COORD_BITS, "h_start, and tile_h_start (the running tile's)"),
    ("resident block base", 1, WORDS_BITS, "w_block_base"),
    ("next chunk", 1, WORDS_BITS + COUNT_BITS + 2,
     "next_chunk's registered w_start, red and last_k, and next_resident (the RS loop does "
     "not read them, but they drive the sequencer's output port)"),
    ("state and flags", 1, 4 + 8 + 5,
     "the FSM's state; last_tile, band_beyond, last_group, y_half, w_half, weights_in, "
     "prefetched, load_weights; x_load_half, x_run_half, ahead and band_ahead (2 bits) of "
     "the bands loaded ahead"),
)
"""pyhdl/sequencer.py LayerSequencer's registers the row-stationary accelerator keeps: (role,
count, bits, which).  Those of compressed input tables (X's table row) are never used by the
RS loop, and Yosys removes them."""


def row_stationary_controller(items, spec, output_addr_bits, diagonals):
    """Add the sequencer's (RS_SEQUENCER_REGISTERS) and the RS inner loop's registers to
    `items` (models.inventory._Items), block "controller".  `diagonals`: the input bus's
    diagonal tags, rows + (cols - 1) * max_stride."""
    for role, count, bits, which in RS_SEQUENCER_REGISTERS:
        items.add("controller", "control", "register", f"sequencer {role}", count, bits,
                  source=f"pyhdl/sequencer.py: {which}")
    src = "pyhdl/rs_loop.py"
    row, col = (spec.rows - 1).bit_length(), (spec.cols - 1).bit_length()
    rows, cols = spec.rows.bit_length(), spec.cols.bit_length()
    channels, filters = spec.rs_input_depth.bit_length(), spec.rs_psum_depth.bit_length()
    diagonal = (diagonals - 1).bit_length()
    for role, bits, which in (
        ("pass walk configuration",
         14 * COUNT_BITS + 8 * WORDS_BITS + 5 * RS_TAPS_BITS + OFFSET_BITS + COORD_BITS
         + output_addr_bits + 2 * row + 4 * rows + 4 * cols + 2 * channels + 2 * filters + 3,
         "RowStationaryLoop: pass_walk_layout registered from the descriptor and the chunk "
         "(14 counts, 8 word counts, 5 tap-sized fields, the first row's word and coordinate, "
         "the output base, lane and set sizes), first, the walk's start and running"),
        ("pass walk",
         5 * COUNT_BITS + col + row + 2 * COORD_BITS + 2 * OFFSET_BITS + output_addr_bits
         + WORDS_BITS + 2,
         "RowStationaryPassWalk: kt, ct, fold, strip, c_block, lane_base, c_lane, fold_hh, "
         "pass_hh, fold_addr, pass_addr, strip_out, fold_base and its FSM (3 states)"),
        ("input walk",
         4 * COUNT_BITS + RS_TAPS_BITS + 3 * row + col + rows + 2 * diagonal + 4 * COORD_BITS
         + 4 * OFFSET_BITS + 1,
         "RowStationaryInputWalk: f, cc, block, set_block, t, v, lane, set_lane, j, i, y, "
         "base_y, hh, ww, f_ww, base_hh, row_words, col_words, f_col_words, base_row_words "
         "and its FSM (2 states)"),
        ("input feed", 2 + 2 * row + diagonal,
         "RowStationaryInputFeed: the bus word held (valid, vset, diagonal, lane, pad)"),
        ("filter feed",
         2 * col + 2 * channels + filters + WORDS_BITS + 2 + spec.rows,
         "RowStationaryFilterFeed: h, the word's (channel, tap, filter) count, addr, walking, "
         "held, hset and each row's lane valid"),
        ("psum collector",
         COUNT_BITS + 5 * col + filters + 3 * output_addr_bits + 2 * spec.cols * spec.acc_bits
         + 3,
         "RowStationaryPsumCollector: f, j, h, column, lane, set_lane, k, pixel, f_pixel, the "
         "tag's address, the vector being gathered and the one handed over, collecting, "
         "valid (y's and the tag's: one register) and the tag's first"),
    ):
        items.add("controller", "control", "register", f"RS loop {role}", 1, bits,
                  source=f"{src} {which}")
