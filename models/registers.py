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
    ("n", "images"),
    ("h", "input rows"),
    ("w", "input columns"),
    ("c", "input channels (the reduction per kernel tap)"),
    ("k", "output channels"),
    ("p", "output rows"),
    ("q", "output columns"),
    ("r", "kernel rows"),
    ("s", "kernel columns"),
    ("stride", "convolution stride"),
    ("pad", "zero padding on every side"),
    ("tile_p", "output rows per tile (the input buffer holds their input band)"),
    ("c_blocks", "ceil(c / array rows): input-buffer words per pixel"),
    ("c_chunk_blocks", "channel blocks per weight-buffer load (every tap of `cols` filters)"),
    ("c_chunks", "ceil(c_blocks / c_chunk_blocks): weight-buffer loads per block of filters"),
    ("w_chunk_beats", "weight-stationary: DRAM beats of a weight row per chunk "
                      "(c_chunk_blocks * rows channels); output-stationary: 0"),
    ("w_half_words", "0, or the weight buffer's half: the next chunk is fetched into the other"),
    ("y_half_words", "0, or the output buffer's half: a group of output channels accumulates in "
                     "one half while the previous group is written back from the other"),
    ("k_blocks", "ceil(k / array cols): blocks of output channels"),
    ("k_group_blocks", "blocks of output channels per output-buffer group (words per pixel)"),
    ("y_group_beats", "DRAM beats of an output row per group (its slice of each pixel)"),
    ("c_last", "channels in the last c block (1..rows)"),
    ("k_last", "output channels in the last k block (1..cols)"),
    ("line_words", "w * c_blocks: input-buffer words per input row"),
    ("x_addr", "DRAM beat address of X (NHWC, one padded row of beats per pixel)"),
    ("w_addr", "DRAM beat address of W (models.mapper.weight_rows: KRSC rows per k, r, s "
                "for weight-stationary, rows of cols filters per r, s, c for output-stationary)"),
    ("y_addr", "DRAM beat address of Y (NPQK, one padded row of beats per pixel)"),
    ("x_row_beats", "DRAM beats read per input pixel"),
    ("x_pitch", "DRAM beats from one input pixel to the next (more when reading a channel slice)"),
    ("w_row_beats", "DRAM beats per weight row"),
    ("y_row_beats", "DRAM beats written per output pixel"),
    ("y_pitch", "DRAM beats from one output pixel to the next"),
    ("x_line_beats", "w * x_pitch: DRAM beats per input row"),
    ("x_image_beats", "h * x_line_beats: DRAM beats per input image"),
    ("w_block_beats", "weight-stationary: cols * r * s * w_row_beats, the DRAM distance "
                      "between weight blocks; output-stationary: 0"),
    ("post", "post-processing flags: bit 0 bias, bit 1 requantize, bit 2 ReLU"),
    ("b_addr", "DRAM beat address of the bias (one padded row of k int32)"),
    ("b_row_beats", "DRAM beats of the bias row"),
    ("requant_mult", "requantization multiplier (signed 32-bit)"),
    ("requant_shift", "requantization right shift (0..63), rounding half up"),
    ("zero_point", "output zero point (signed, operand range)"),
    ("y_word_elems", "output elements (of operand_bits) per full output-buffer word in DRAM"),
    ("y_last_elems", "output elements (of operand_bits) in a row's last output-buffer word"),
    ("pad_value", "the value of every padded input position (signed, operand range): 0, or "
                  "the input's zero point"),
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
