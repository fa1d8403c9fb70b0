"""Facts the generated hardware owns, in one place.

The RTL (pyhdl/), the mapper, the cost models and the SystemVerilog testbench read these
instead of writing the numbers again.  Pure Python: no Amaranth here.
"""

COUNT_BITS = 16
"""Width of every loop and DMA count: images, rows, pixels, channel blocks, rows of a job."""
COUNT_LIMIT = (1 << COUNT_BITS) - 1
"""Largest value a count holds; the mapper refuses layers that need more."""

ADDR_BITS = 32
"""DRAM beat addresses (a burst's start, a tensor's base)."""
BURST_BITS = 16
"""Beats per DRAM burst (one tensor row) and the pitch from one row to the next."""
DRAM_COMMAND_BITS = ADDR_BITS + BURST_BITS
"""A DRAM command's payload: address, then length (pyhdl.interfaces.DramCommand; the
SystemVerilog DRAM model takes it as a parameter)."""

COORD_BITS = 18
"""Signed pixel coordinates, padding included (inputs up to 65535 rows or columns)."""
OFFSET_BITS = 33
"""Signed input-buffer word offsets of a window (an address, or a negative pad offset)."""
EVENT_BITS = 16
"""Width of one cycle's increment of any counter (rows x cols x 2 fits for arrays to 64x64)."""

SHIFT_BITS = 6
"""Requantization right shift, 0 to 63."""
POST_FLAGS = ("bias", "requant", "relu")
"""The descriptor's `post` field, bit 0 first: add the bias, requantize, apply ReLU."""


def post_flags(bias=False, requant=False, relu=False):
    """The `post` field's value for these post-processing steps."""
    chosen = {"bias": bias, "requant": requant, "relu": relu}
    return sum(1 << bit for bit, name in enumerate(POST_FLAGS) if chosen[name])

POSTPROCESS_STAGES = ("bias add", "partial products", "product sum with the rounding half",
                      "shift", "zero point and clamp")
"""The post-processor's pipeline (pyhdl/postprocess.py PostProcessor): one register after
each stage, no reset, one word a cycle."""
POSTPROCESS_LATENCY = len(POSTPROCESS_STAGES)
"""Cycles from a word entering the post-processor to its result (PostProcessor.latency)."""
POSTPROCESS_MULT_BITS = 32
"""The requantization multiplier `mult`, signed."""
POSTPROCESS_WIDE_BITS = 64
"""Width of the rounded and shifted product (wrapping as the golden model's int64 does)."""

DMA_WRITE_FIFO_SLACK = 3
"""The DMA writer's FIFO places beyond its words in flight (pyhdl/dma.py DmaWriter: the FIFO
is `read_latency` + DMA_WRITE_FIFO_SLACK words deep)."""

COUNTER_EVENT_LATENCY = 2
"""Cycles from an activity counter's `events` to its value (pyhdl/counters.py: the event
register, then the counter)."""

WS_PE_PRODUCTS = 1
"""Products a weight-stationary PE adds to the partial sum passing down its column per input
token: one in every mode (pyhdl/pe.py; the 2:4 PE multiplies the one input of its group its
index selects, pyhdl/sparse_pe.py; the depthwise and tap-fold modes give each PE one operand
of the token, pyhdl/depthwise_array.py, pyhdl/tap_fold_loop.py)."""


def column_sum_bits(operand_bits, products, acc_bits):
    """Bits of a signed sum of at most `products` products of two signed `operand_bits`-bit
    operands, starting from zero: the smallest width in which no such sum overflows, or
    `acc_bits` where that is narrower (the sum then wraps at acc_bits, as the golden model's
    accumulators do, so the narrower width changes no result).

    Proof, with b = operand_bits, n = products and P = 2**(2b - 2).  A product x * w of
    x, w in [-2**(b-1), 2**(b-1) - 1] lies in [-P + 2**(b-1), P]: the largest is
    (-2**(b-1))**2 = P, the smallest -2**(b-1) * (2**(b-1) - 1).  So a sum of at most n of
    them lies in [-n*P, n*P].  A signed W-bit register holds [-2**(W-1), 2**(W-1) - 1],
    which contains [-n*P, n*P] exactly when n*P < 2**(W-1), i.e. W - 1 >= L with
    L = (n*P).bit_length().  W = L + 1 is therefore enough, and W = L is not: n products of
    (-2**(b-1)) * (-2**(b-1)) sum to n*P >= 2**(L-1), above the largest L-bit value.
    int8 on 16 rows: n*P = 16 * 2**14 = 2**18, L = 19, W = 20 (19 bits end at 2**18 - 1).
    """
    if products < 1:
        raise ValueError(f"column_sum_bits: products must be at least 1, not {products!r}")
    return min((products << (2 * operand_bits - 2)).bit_length() + 1, acc_bits)
