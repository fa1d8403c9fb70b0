"""The host-visible register map: control, status, the layer descriptor and the counters.

Registers are 32 bits wide and addressed by word index.  The hardware (pyhdl/csr.py) and the
host (testbench, flows) both take their addresses from here.

    0  CONTROL   write 1: clear counters and start the layer in the descriptor
    1  STATUS    bit 0 busy, bit 1 done (sticky until the next start)
    2… DESCRIPTOR_FIELDS, one register each, in order
    …  counters, two registers each (low word, then high word), in COUNTER_NAMES order
"""

from .counters import COUNTER_BITS, COUNTER_NAMES

CONTROL = 0
STATUS = 1
STATUS_BUSY = 1 << 0
STATUS_DONE = 1 << 1

DESCRIPTOR_FIELDS = (
    ("m", "rows of X (the batch of a GEMM)"),
    ("c", "reduction length"),
    ("k", "output columns"),
    ("m_tile", "rows of X held in the input buffer at once"),
    ("c_blocks", "ceil(c / array rows): input/weight-buffer words per row"),
    ("k_blocks", "ceil(k / array cols): output-buffer words per row"),
    ("c_last", "reduction elements in the last c block (1..rows)"),
    ("k_last", "output columns in the last k block (1..cols)"),
    ("x_addr", "DRAM beat address of X"),
    ("w_addr", "DRAM beat address of W"),
    ("y_addr", "DRAM beat address of Y"),
    ("x_row_beats", "DRAM beats per row of X"),
    ("w_row_beats", "DRAM beats per row of W"),
    ("y_row_beats", "DRAM beats per row of Y"),
    ("x_tile_beats", "m_tile * x_row_beats: DRAM distance between input tiles"),
    ("y_tile_beats", "m_tile * y_row_beats: DRAM distance between output tiles"),
    ("w_block_beats", "cols * w_row_beats: DRAM distance between weight blocks"),
    ("w_shift_start", "(cols - 1) * c_blocks: weight-buffer word of the last column's first block"),
)
DESCRIPTOR_NAMES = tuple(name for name, _ in DESCRIPTOR_FIELDS)

DESCRIPTOR_BASE = 2
COUNTER_BASE = DESCRIPTOR_BASE + len(DESCRIPTOR_FIELDS)
COUNTER_WORDS = -(-COUNTER_BITS // 32)
REGISTER_COUNT = COUNTER_BASE + COUNTER_WORDS * len(COUNTER_NAMES)


def descriptor_address(name):
    return DESCRIPTOR_BASE + DESCRIPTOR_NAMES.index(name)


def counter_address(name):
    """Address of the counter's low word; the high word follows."""
    return COUNTER_BASE + COUNTER_WORDS * COUNTER_NAMES.index(name)
