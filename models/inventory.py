"""What the generated hardware holds, block by block: the one inventory both cost models read.

    for item in inventory(spec):         # Item(block, component, kind, role, count, bits, ...)
        ...
    block_totals(spec)                   # {block: {"flop_bits", "multipliers", "sram_bits"}}
    geometry(spec)                       # buffer words, widths, banks and address widths

Every item is one kind of hardware in one block of pyhdl/: `count` flip-flop registers of
`bits` bits ("register"), a PE's multiply-accumulate ("mac"), multipliers of `bits` x `bits2`
("multiplier"), adders, comparators or shifters of `bits` bits, or SRAM banks of `depth`
words of `bits` bits ("sram").  `block` names
the RTL module(s) the item lies in (BLOCK_MODULES: tests/test_inventory.py holds the totals
against Yosys on the exported Verilog); `component` is the cost-model component it is priced
under (models/area.py, models/energy.py).  Pure Python from the spec: pyhdl/ cannot be
imported here, so the facts of pyhdl/ the inventory needs are named below with their source.

Counting rules, as the exported netlist has them:
- Registers are counted where Amaranth keeps them: a register whose output nothing reads is
  left out (the last column's input registers, the output-stationary last row's weights), as
  Amaranth's netlist prunes it.  Assertion-only state that the design keeps is counted.
- Each SRAM bank's synchronous read port holds its word in a register (`read_register_bits`);
  in a compiled macro that latch is inside the macro, so the cost models price it with the
  SRAM (CACTI), and only the Yosys check adds it to the block's flip-flops.
- A pipeline register with a reset valid bit (pyhdl/pipeline.py token_register, and the
  same split in the PEs and stages) keeps its whole payload, the payload's own copy of the
  valid bit (and of `last`) included, beside the reset bits.
- Registers that load the same value with the same reset are one register, as Yosys's
  `opt_merge` (and any synthesis) merges them: the weight load's shift, commit and slot that
  every row of the array registers are one copy, and so are the valid bits of the rows'
  input skews (one chain of rows - 1).
- A small FIFO is registers (as a synthesized design builds it); Yosys keeps its storage as a
  memory, which the check adds to the flip-flops.
- The controller's (sequencer's and inner loop's) registers are a formula with named sources
  and a tolerance in the check; it has no multiplier (the mapper computes every per-layer
  product into the descriptor), and the check holds it to none.
"""

import functools
from dataclasses import dataclass

from .counters import COUNTER_BITS, COUNTER_NAMES
from .hardware import (ADDR_BITS, BURST_BITS, COORD_BITS, COUNT_BITS, DMA_WRITE_FIFO_SLACK,
                       EVENT_BITS, OFFSET_BITS, POSTPROCESS_LATENCY, POSTPROCESS_MULT_BITS,
                       POSTPROCESS_WIDE_BITS, SHIFT_BITS)
from .registers import DESCRIPTOR_FIELDS
from .rs_inventory import row_stationary_controller
from .sparsity import GROUP
from .spec import (COMPRESSED_ROW_BYTES, DRAM_WORD_BITS, FOLD_LINE_WORDS, INDEX_BITS,
                   ROW_STATIONARY, check_built)

# --- facts of pyhdl/ the inventory needs (models/ cannot import pyhdl) ---------------------
GLB_READ_LATENCY = 1      # pyhdl/buffer.py GlobalBuffer.READ_LATENCY
REGISTER_BITS = 32        # pyhdl/csr.py: the bus's read data is 32 bits
DMA_WRITE_READ_LATENCY = GLB_READ_LATENCY + POSTPROCESS_LATENCY
"""pyhdl/top.py: the DMA writer's words come back through the buffer's read and the
post-processor (DmaWriter read_latency)."""
DMA_WRITE_FIFO_DEPTH = DMA_WRITE_READ_LATENCY + DMA_WRITE_FIFO_SLACK
"""pyhdl/dma.py DmaWriter.fifo_depth: the words in flight and the slack."""
BOUND_BITS = 18           # pyhdl/postprocess.py BOUND_BITS: the clamp's compares
COMPRESSOR_DECISIONS = 4    # pyhdl/compress.py RowCompressor.DECISIONS
FETCHER_TABLE_RING = 4      # pyhdl/compress.py CompressedRowFetcher.TABLE_RING
FETCHER_KINDS = 8           # pyhdl/compress.py CompressedRowFetcher.KINDS
FETCHER_PIXELS = 16         # pyhdl/compress.py CompressedRowFetcher.PIXELS
FOLD_WALK_BYTE_REGISTERS = 5   # pyhdl/tap_fold_loop.py _FoldWalk: block_rows, prime_row,
                               # prime_word, write_row, write_word (8 bits each)
POS_BITS = 17             # pyhdl/tap_fold_loop.py POS: an element position in a packed row
RS_OUTPUT_BITS = 12         # pyhdl/rs_pe.py RowStationaryPE(output_bits): a job's outputs F
RS_MAX_STRIDE = 7           # pyhdl/rs_array.py RowStationaryPEArray(max_stride): the input
                            # bus's diagonal tag spans rows + (cols - 1) * max_stride
RS_PE_STATES = 6            # pyhdl/rs_pe.py RowStationaryPE's FSM: IDLE, LOAD, FILL,
                            # COMPUTE, EMPTY, DRAIN
RS_PE_EVENT_COUNT = 9       # pyhdl/rs_pe.py: len(RS_PE_EVENTS), one strobe each a PE
TOP_FLAGS = 2             # pyhdl/top.py: which output half the accumulator and the writer
                          # read (acc_half, writer_half)
# pyhdl/sequencer.py LayerSequencer and the dataflow's inner loop (pyhdl/inner_loop.py,
# ws_loop.py, os_loop.py): their registers, as a formula from their Signal declarations,
# held against Yosys within CONTROLLER_TOLERANCE while they change.  The sequencer's and each
# inner loop's registers of one kind, by dataflow (counted from the declarations of the
# sequencer with resident weights and images spanning tiles).
CONTROLLER_LOOP_REGISTERS = {"ws": 24 + 9 + 4, "os": 24 + 12}
"""COUNT_BITS loop counts: the sequencer's 24 (image, tile, block, chunk, group, and the
registered layer constants), the inner loop's (taps, channel block, output row, column and
image row of each pixel walk, activity counts; weight-stationary: a pair's taps, pixels
alone and B's MACs)."""
CONTROLLER_ADDRESS_REGISTERS = 14   # ADDR_BITS DRAM addresses, band and pixel spans, the
                                    # resident weight block's base, X's table row
CONTROLLER_OFFSET_REGISTERS = {"ws": 5 + 3, "os": 7}
"""OFFSET_BITS input-buffer word offsets of the reduction walk and the pixel walks
(weight-stationary: and a pair's A offset, B's difference and B's word)."""
CONTROLLER_COORD_REGISTERS = {"ws": 3 + 2, "os": 5}
"""COORD_BITS pixel coordinates: each pixel walk's two and the tile's first input row
(weight-stationary: and B's tap differences)."""
CONTROLLER_STATE_BITS = 16          # FSM states and single-bit flags (halves, prefetch, ...)
CONTROLLER_TOLERANCE = 0.15
"""Relative tolerance of the controller's flip-flop count against Yosys (a formula, not a
netlist: see above)."""

KINDS = ("register", "mac", "multiplier", "adder", "comparator", "shifter", "sram")

BLOCK_MODULES = {
    # block: the exported modules it covers, as paths below the top ("*" any suffix)
    "pe_array": ("array.pe_*", "inner_loop.array.pe_*"),
    "array_edges": ("array", "inner_loop.array"),
    "accumulator": ("accumulator",),
    "input_buffer": ("input_buffer",),
    "weight_buffer": ("weight_buffer",),
    "output_buffer": ("output_buffer_0", "output_buffer_1"),
    "bias_buffer": ("bias_buffer",),
    "dma": ("reader", "reader.*", "weight_reader", "weight_reader.*", "bias_reader",
            "bias_reader.*", "writer", "writer.*"),
    "postprocess": ("post",),
    "controller": ("sequencer", "sequencer.*", "inner_loop", "inner_loop.*"),
    "control": ("registers", "counters", "counters$*", ""),
}
"""Which RTL modules each block's items lie in ("" is the top module's own logic); where a
module matches several patterns, the longest decides (the row-stationary array sits in its
inner loop)."""


@dataclass(frozen=True)
class Item:
    """`count` pieces of one kind of hardware in one block.

    register: `bits` flip-flops each.  mac: a `bits` x `bits` multiplier and a `bits2`-bit
    adder.  multiplier: `bits` x `bits2`.  adder, comparator, shifter: `bits` wide.  sram: a
    bank of `depth` words of `bits` bits.
    """

    block: str
    component: str
    kind: str
    role: str
    count: int
    bits: int
    bits2: int = 0
    depth: int = 0
    source: str = ""

    @property
    def total_bits(self):
        """Flip-flop bits (registers) or storage bits (SRAM) of all `count` of them."""
        return self.count * self.bits * (self.depth if self.kind == "sram" else 1)


def bits_for(n):
    """Bits of an unsigned value up to n (at least 1)."""
    return max(int(n).bit_length(), 1)


@dataclass(frozen=True)
class Geometry:
    """Widths and sizes of the generated hardware that more than one model needs."""

    pes: int
    slot_bits: int
    token_bits: int         # weight-stationary x token: value, valid, slot
    tag_bits: int           # the output-stationary array's tags: valid, output word, first
                            # (their `hold`, never set there, is optimized away)
    os_element_bits: int    # output-stationary x element: value, valid, last
    os_weight_bits: int     # output-stationary weight: value, active
    input_word_bits: int
    weight_word_bits: int
    output_word_bits: int
    bias_word_bits: int
    input_addr_bits: int
    weight_addr_bits: int
    output_addr_bits: int
    bias_addr_bits: int
    output_half_words: int
    array_latency: int      # weight-stationary: tag delay beside the array; os, rs: 0

    def as_dict(self):
        return dict(self.__dict__)


def geometry(spec):
    """The geometry of `spec`'s hardware (pyhdl/top.py builds exactly these buffers)."""
    ob = spec.operand_bits
    slot_bits = bits_for(spec.rf_depth - 1)
    output_addr_bits = bits_for(spec.output_words - 1)
    return Geometry(
        pes=spec.rows * spec.cols,
        slot_bits=slot_bits,
        token_bits=(GROUP if spec.skips_weights else 1) * ob + 1 + slot_bits,
        tag_bits=output_addr_bits + 2,
        os_element_bits=(GROUP if spec.skips_weights else 1) * ob + 2,
        os_weight_bits=ob + 1 + (INDEX_BITS if spec.skips_weights else 0),
        input_word_bits=spec.input_lanes * ob,
        weight_word_bits=spec.weight_lanes * ob,
        output_word_bits=spec.cols * DRAM_WORD_BITS,
        bias_word_bits=spec.cols * DRAM_WORD_BITS,
        input_addr_bits=bits_for(spec.input_words - 1),
        weight_addr_bits=bits_for(spec.weight_words - 1),
        output_addr_bits=output_addr_bits,
        bias_addr_bits=bits_for(spec.bias_words - 1),
        output_half_words=spec.output_words // 2,
        array_latency=(0 if spec.dataflow in ("os", ROW_STATIONARY)
                       else spec.rows + spec.cols - 1),
    )


class _Items(list):
    def add(self, block, component, kind, role, count, bits, bits2=0, depth=0, source=""):
        if kind not in KINDS or block not in BLOCK_MODULES:
            raise ValueError(f"inventory: unknown kind {kind!r} or block {block!r}")
        if count > 0 and bits > 0:
            self.append(Item(block, component, kind, role, int(count), int(bits), int(bits2),
                             int(depth), source))


@functools.lru_cache(maxsize=64)
def inventory(spec):
    """Every item of `spec`'s generated hardware (a tuple of Item), block by block."""
    g = geometry(spec)
    items = _Items()
    if spec.dataflow == ROW_STATIONARY:
        row_stationary_array(items, spec)
    else:
        check_built(spec)
        if spec.dataflow == "os":
            _output_stationary_array(items, spec, g)
        else:
            _weight_stationary_array(items, spec, g)
    _accumulator(items, spec, g)
    _buffers(items, spec, g)
    _dma(items, spec, g)
    _postprocess(items, spec)
    if spec.dataflow != ROW_STATIONARY:
        _controller(items, spec, g)
    else:
        row_stationary_controller(items, spec, g.output_addr_bits,
                                  spec.rows + (spec.cols - 1) * RS_MAX_STRIDE)
    _control(items, spec)
    return tuple(items)


def row_stationary_array(items, spec):
    """pyhdl/rs_pe.py RowStationaryPE and pyhdl/rs_array.py RowStationaryPEArray as the
    accelerator builds them inside its inner loop (held against Yosys on the exported
    accelerator, tests/test_inventory.py; the loop's own registers are the controller's,
    models/rs_inventory.py).  The buses are wires: no item (cell area only)."""
    ob, ab, pes = spec.operand_bits, spec.acc_bits, spec.rows * spec.cols
    fd, idp, pd = spec.rs_filter_depth, spec.rs_input_depth, spec.rs_psum_depth
    taps, filters = bits_for(min(fd, idp)), bits_for(pd)
    src = "pyhdl/rs_pe.py"
    items.add("pe_array", "rf", "sram", "filter scratchpad", pes, ob, depth=fd,
              source=f"{src}: filter_rf, a Memory of rs_filter_depth operands (its read "
                     f"port's data register is the MAC's weight operand)")
    items.add("pe_array", "rf", "register", "input window", pes * idp, ob,
              source=f"{src}: window, rs_input_depth operands (circular per channel)")
    items.add("pe_array", "rf", "register", "psum file", pes * pd, ab,
              source=f"{src}: psums, rs_psum_depth accumulators")
    items.add("pe_array", "mac", "mac", "multiply-accumulate", pes, ob, ab,
              source=f"{src}: product = x * weight, then psum + product")
    items.add("pe_array", "mac", "comparator", "zero detect", pes, ob,
              source=f"{src}: s1_x == 0 gates the multiplier")
    items.add("pe_array", "mac", "register", "MAC pipeline", pes,
              ob + 2 * ob + 2 * filters + 5,
              source=f"{src}: the input operand (x_hold and s1_x load the same value and are "
                     f"one register), product, s1_k, s2_k and five stage flags (valid, first "
                     f"of both stages, gated)")
    items.add("pe_array", "control", "register", "PE job sequencing", pes,
              bits_for(fd) + RS_OUTPUT_BITS + 4 * taps + 2 * bits_for(idp) + 2 * filters
              + bits_for(RS_PE_STATES - 1),
              source=f"{src}: filter_addr, output, head, pos, fill, issue s (taps), base, "
                     f"issue c, issue k, drain, the FSM's state")
    rows, cols = spec.rows, spec.cols
    diagonals = rows + (cols - 1) * RS_MAX_STRIDE
    items.add("array_edges", "control", "register", "placement stage", 1,
              _placed_bits(rows, bits_for(idp), bits_for(rows - 1))
              + _placed_bits(cols, filters, bits_for(diagonals - 1)),
              source="pyhdl/rs_array.py _Placed: each PE row's and column's activity, job "
                     "count, set and diagonal offset (the start's register is the passes "
                     "strobe's)")
    items.add("array_edges", "control", "register", "array event strobes", 1,
              (RS_PE_EVENT_COUNT + 4) * pes + 2 + rows,
              source="pyhdl/rs_array.py: every event strobe registered before its count: each "
                     "PE's, its start, filter and input deliveries and psum hop (none in the "
                     "bottom row), the pass start, the input bus's and each "
                     "filter bus's send, each column's psum out (its psum in is never valid "
                     "in the accelerator: pyhdl/rs_loop.py)")


def _placed_bits(count, job_bits, offset_bits):
    """pyhdl/rs_array.py _Placed over `count` PE rows (columns): each one's active flag and
    job count, and from the second on its set and diagonal offset (the first's are zero; the
    second's set is one wrap added to zero, one bit)."""
    if count == 1:
        return 1 + job_bits
    set_bits = bits_for(count - 1)
    return count * (1 + job_bits) + (count - 1) * (set_bits + offset_bits) - (set_bits - 1)


def _weight_stationary_array(items, spec, g):
    """pyhdl/pe.py ProcessingElement and pyhdl/array.py SystolicArray."""
    if spec.skips_weights:
        _sparse_array(items, spec, g)
        return
    rows, cols, ob = spec.rows, spec.cols, spec.operand_bits
    pes = g.pes
    src = "pyhdl/pe.py"
    items.add("pe_array", "rf", "register", "weight register file", pes * spec.rf_depth, ob,
              source=f"{src}: rf_depth entries per PE")
    items.add("pe_array", "rf", "register", "weight chain", pes, ob,
              source=f"{src}: the weight shift chain register")
    items.add("pe_array", "array", "register", "input token", rows * (cols - 1), g.token_bits,
              source=f"{src}: x_out (value, valid, slot); the last column's is unread")
    items.add("pe_array", "array", "register", "partial sum", pes, spec.psum_bits,
              source=f"{src}: psum_out, at psum_bits (models/hardware.py column_sum_bits)")
    items.add("pe_array", "mac", "mac", "multiply-accumulate", pes, ob, spec.psum_bits,
              source=f"{src}: psum_in + x * weight (multiply_accumulate), its adder at psum_bits")
    items.add("pe_array", "mac", "comparator", "zero detect", 2 * pes, ob,
              source=f"{src}: x == 0, weight == 0")
    src = "pyhdl/array.py"
    items.add("array_edges", "array", "register", "input skew", rows * (rows - 1) // 2,
              g.token_bits, source=f"{src}: row r delayed r cycles (pyhdl/pipeline.py "
                                   f"delayed_token: the payload, its valid field included)")
    items.add("array_edges", "array", "register", "input skew valid", 1, rows - 1,
              source=f"{src}: the skew stages' reset valid bits, alike in every row, so one "
                     f"chain of rows - 1")
    items.add("array_edges", "array", "register", "output deskew", cols * (cols - 1) // 2,
              spec.psum_bits, source=f"{src}: column c delayed cols-1-c cycles, at psum_bits")
    items.add("array_edges", "array", "register", "output deskew valid", 1, cols - 1,
              source=f"{src}: column 0's valid bit")
    count_bits = bits_for(cols)
    items.add("array_edges", "array", "register", "zero-weight counts", rows * spec.rf_depth,
              count_bits, source=f"{src} _count_gated: per row and register-file slot")
    items.add("array_edges", "array", "register", "row gated counts", rows, count_bits,
              source=f"{src} _count_gated: each row's count of an input vector, registered "
                     f"before the rows' sum")
    items.add("array_edges", "array", "adder", "gated count", rows * (cols - 1), count_bits,
              source=f"{src} _count_gated: a row's zero-weight popcount")
    items.add("array_edges", "array", "adder", "gated count", rows - 1, bits_for(g.pes),
              source=f"{src} _count_gated: the rows' sum")
    if spec.depthwise_columns:
        _depthwise_array(items, spec, g)


def _depthwise_array(items, spec, g):
    """pyhdl/depthwise_array.py DepthwiseSystolicArray: the depthwise mode's lane select and
    gated-product count."""
    rows, cols = spec.rows, spec.cols
    src = "pyhdl/depthwise_array.py"
    items.add("array_edges", "array", "register", "depthwise lane delays",
              cols * (cols + 1) // 2, spec.operand_bits,
              source=f"{src}: column c's lane delayed c + 1 cycles")
    items.add("array_edges", "array", "register", "depthwise row and column masks",
              rows + cols * spec.rf_depth, 1,
              source=f"{src}: rows holding taps; columns holding filters per slot")
    items.add("array_edges", "array", "register", "depthwise gated counts", cols,
              bits_for(rows), source=f"{src}: each column's count of a cycle")
    items.add("array_edges", "array", "register", "depthwise gated total", 1,
              bits_for(g.pes), source=f"{src}: the columns' sum, registered")
    items.add("array_edges", "array", "adder", "depthwise gated count", cols * (rows - 1),
              bits_for(rows), source=f"{src}: a column's popcount of gated products")
    items.add("array_edges", "array", "adder", "depthwise gated count", cols - 1,
              bits_for(g.pes), source=f"{src}: the columns' sum")
    if spec.depthwise_line_rows:
        _depthwise_line_buffer(items, spec)


def _depthwise_line_buffer(items, spec):
    """pyhdl/depthwise_array.py's line buffer: a ring memory beside the array, its address,
    and each row's choice of source (layer constants)."""
    src = "pyhdl/depthwise_array.py"
    words = spec.depthwise_line_words
    items.add("array_edges", "array", "sram", "depthwise line buffer", 1,
              spec.depthwise_line_bits, depth=words,
              source=f"{src}: {words} words of the R - 1 delayed rows' `cols` operands")
    items.add("array_edges", "array", "register", "depthwise line address", 1,
              bits_for(words - 1), source=f"{src}: the ring's word")
    items.add("array_edges", "array", "register", "depthwise row sources", spec.rows, 2,
              source=f"{src}: each row's newest-row and middle-row flags")


def _sparse_array(items, spec, g):
    """pyhdl/sparse_pe.py SparseProcessingElement and pyhdl/sparse_array.py
    SparseSystolicArray: weights with their 2:4 index, group tokens of four operands, a 4:1
    selection per PE, gated counts per row, slot and index."""
    rows, cols, ob = spec.rows, spec.cols, spec.operand_bits
    pes, wb = g.pes, spec.operand_bits + INDEX_BITS
    src = "pyhdl/sparse_pe.py"
    items.add("pe_array", "rf", "register", "weight register file", pes * spec.rf_depth, wb,
              source=f"{src}: rf_depth entries per PE, value and index")
    items.add("pe_array", "rf", "register", "weight chain", pes, wb,
              source=f"{src}: the weight shift chain register, value and index")
    items.add("pe_array", "array", "register", "input token", rows * (cols - 1), g.token_bits,
              source=f"{src}: x_out (four values, valid, slot); the last column's is unread")
    items.add("pe_array", "array", "register", "partial sum", pes, spec.psum_bits,
              source=f"{src}: psum_out, at psum_bits (models/hardware.py column_sum_bits)")
    items.add("pe_array", "mac", "mac", "multiply-accumulate", pes, ob, spec.psum_bits,
              source=f"{src}: pyhdl/pe.py multiply_accumulate, its adder at psum_bits")
    items.add("pe_array", "mac", "comparator", "index selection", 3 * pes, ob,
              source=f"{src}: the 4:1 selection of the group's input by the weight's index "
                     f"(three 2:1 selects of an operand)")
    items.add("pe_array", "mac", "comparator", "zero detect", 2 * pes, ob,
              source=f"{src}: selected x == 0, weight == 0")
    src = "pyhdl/sparse_array.py"
    items.add("array_edges", "array", "register", "input skew", rows * rows // 4,
              g.token_bits, source=f"{src}: row r's group token delayed r cycles; rows 2g and "
                                   f"2g + 1 delay the same token, so their first 2g stages "
                                   f"are one register (2g + 1 a group)")
    items.add("array_edges", "array", "register", "input skew valid", 1, rows - 1,
              source=f"{src}: the skew stages' valid bits, one chain of rows - 1")
    items.add("array_edges", "array", "register", "output deskew", cols * (cols - 1) // 2,
              spec.psum_bits, source="pyhdl/array.py deskew: column c delayed cols-1-c cycles, "
                                     "at psum_bits")
    items.add("array_edges", "array", "register", "output deskew valid", 1, cols - 1,
              source="pyhdl/array.py deskew: column 0's valid bit")
    count_bits = bits_for(cols)
    items.add("array_edges", "array", "register", "zero-weight counts",
              rows * spec.rf_depth * GROUP, count_bits,
              source=f"{src} _count_gated: non-zero weights per row, slot and index")
    items.add("array_edges", "array", "register", "row gated counts", rows, count_bits,
              source=f"{src} _count_gated: each row's count of an input vector")
    items.add("array_edges", "array", "comparator", "input zero detect", rows * GROUP, ob,
              source=f"{src} _count_gated: the group's four inputs == 0, per row")
    items.add("array_edges", "array", "adder", "gated count", rows * GROUP * (cols - 1),
              count_bits, source=f"{src} _count_gated: per-index popcounts at a commit")
    items.add("array_edges", "array", "adder", "gated count", rows * GROUP, count_bits,
              source=f"{src} _count_gated: a row's four selected counts and cols less them")
    items.add("array_edges", "array", "adder", "gated count", rows - 1, bits_for(g.pes),
              source=f"{src} _count_gated: the rows' sum")
    items.add("array_edges", "array", "comparator", "dense-lane selection", 2 * rows, ob,
              source="pyhdl/sparse_loop.py dense_lane_vector: per row, its operand from half "
                     "0 or 1 of the word or the group's own lane (two 2:1 selects)")


def _output_stationary_array(items, spec, g):
    """pyhdl/os_array.py OutputStationaryPE and OutputStationaryArray."""
    rows, cols, ob, ab = spec.rows, spec.cols, spec.operand_bits, spec.acc_bits
    pes = g.pes
    src = "pyhdl/os_array.py OutputStationaryPE"
    items.add("pe_array", "rf", "register", "accumulator", pes, ab,
              source=f"{src}: the output's sum, stationary")
    items.add("pe_array", "array", "register", "input element", rows * (cols - 1),
              g.os_element_bits + 2,
              source=f"{src}: x_out (value, valid, last) and the reset valid and last; the "
                     f"last column's is unread")
    items.add("pe_array", "array", "register", "weight", (rows - 1) * cols,
              g.os_weight_bits + 1,
              source=f"{src}: w_out (value, active) and the reset active; the last row's is "
                     f"unread")
    items.add("pe_array", "array", "register", "drain chain", pes, ab,
              source=f"{src}: chain_out, finished sums climbing out")
    items.add("pe_array", "mac", "mac", "multiply-accumulate", pes, ob, ab,
              source=f"{src}: acc + x * w (pyhdl/pe.py multiply_accumulate)")
    items.add("pe_array", "mac", "comparator", "zero detect", 2 * pes, ob,
              source=f"{src}: x == 0, w == 0")
    if spec.skips_weights:
        items.add("pe_array", "mac", "comparator", "index selection", 3 * pes, ob,
                  source="pyhdl/sparse_os_array.py SparseOutputStationaryPE: the 4:1 "
                         "selection of the group's input by the weight's index (three 2:1 "
                         "selects of an operand)")
        items.add("array_edges", "array", "comparator", "dense-lane selection", 2 * rows, ob,
                  source="pyhdl/sparse_os_loop.py array_vector (sparse_loop.py "
                         "dense_lane_vector): per row, its operand from half 0 or 1 of the "
                         "word or the group's own lane (two 2:1 selects)")
    src = "pyhdl/os_array.py OutputStationaryArray"
    items.add("array_edges", "array", "register", "row gated counts", rows, bits_for(cols),
              source=f"{src}: each row's count of skipped products, registered before the "
                     f"rows' sum")
    src = "pyhdl/os_array.py OutputStationaryArray"
    row_bits = bits_for(rows)
    items.add("array_edges", "array", "register", "row serializer", rows,
              spec.input_lanes * ob + 2 * row_bits + 1 + g.tag_bits + 1,
              source=f"{src}._serialize_rows: word, index, active count, last, tag (a "
                     f"token_register: payload and reset valid)")
    items.add("array_edges", "array", "register", "weight skew", cols * (cols + 1) // 2,
              g.os_weight_bits, source=f"{src}._skew_weights: column c delayed c + 1 cycles")
    items.add("array_edges", "array", "register", "tag chain", rows + cols - 1,
              g.tag_bits + 1, source=f"{src}._drain: beside column 0, then its deskew "
                                     f"(token_registers: payload and reset valid)")
    items.add("array_edges", "array", "register", "output deskew", cols * (cols - 1) // 2, ab,
              source=f"{src}._drain: column c delayed cols-1-c cycles")
    items.add("array_edges", "array", "adder", "gated count", pes - 1, bits_for(pes),
              source=f"{src}: the sum of the PEs' gated flags")


def _accumulator(items, spec, g):
    """The accumulator: its tag input has `hold` in every dataflow (a port, so its stage
    keeps the bit whether or not the loop drives it); the pair register where the spec
    pairs blocks (weight-stationary)."""
    src = "pyhdl/accumulator.py"
    tag_bits = g.output_addr_bits + 3       # valid, output word, first, hold
    items.add("accumulator", "accumulate", "register", "tag delay", g.array_latency,
              tag_bits + 1, source=f"{src}: the tag waits beside the array "
                                   f"(delayed_token: payload and reset valid)")
    items.add("accumulator", "accumulate", "register", "stage", 1,
              tag_bits + spec.cols * spec.pair_sum_bits + 1,
              source=f"{src}: tag and the partial sums (pair_sum_bits: a pair's where the "
                     f"spec pairs blocks, else the array's psum_bits), and the reset "
                     f"stage_valid")
    items.add("accumulator", "accumulate", "adder", "accumulate", spec.cols, spec.acc_bits,
              source=f"{src}: old word + partial sums, one per column")
    if spec.pairs_blocks:
        items.add("accumulator", "accumulate", "register", "pair", 1,
                  spec.cols * spec.psum_bits + 1,
                  source=f"{src}: a held vector's partial sums, and the reset pair_held")
        items.add("accumulator", "accumulate", "adder", "pair", spec.cols, spec.pair_sum_bits,
                  source=f"{src}: partial sums + the held pair, one per column")


def _buffer(items, block, component, width, words, banks, role):
    """pyhdl/buffer.py GlobalBuffer: `banks` SRAM banks and the read port's bank select."""
    items.add(block, component, "sram", role, banks, width, depth=words // banks,
              source=f"pyhdl/buffer.py GlobalBuffer({width}, {words}, {banks})")
    items.add(block, component, "register", "read bank select", 1, banks if banks > 1 else 0,
              source="pyhdl/buffer.py: the bank a read came from, one-hot")


def _buffers(items, spec, g):
    banks = spec.glb_banks
    _buffer(items, "input_buffer", "glb_input", g.input_word_bits, spec.input_words, banks,
            "input banks")
    _buffer(items, "weight_buffer", "glb_weight", g.weight_word_bits, spec.weight_words,
            banks, "weight banks")
    for half in range(2):   # pyhdl/top.py: two halves with a read port each
        _buffer(items, "output_buffer", "glb_output", g.output_word_bits, g.output_half_words,
                banks, f"output half {half} banks")
    _buffer(items, "bias_buffer", "glb_bias", g.bias_word_bits, spec.bias_words, 1,
            "bias bank")


def read_register_bits(item):
    """Flip-flops Yosys shows for an SRAM item: each bank's read-data register."""
    return item.count * item.bits if item.kind == "sram" else 0


def _gearbox(items, name, elem_bits, in_elems, out_elems, output_stalls):
    """pyhdl/gearbox.py RowGearbox: a buffer of in + out elements, its fill and row end."""
    capacity = in_elems + out_elems
    items.add("dma", "dma", "register", f"{name} gearbox buffer", 1, capacity * elem_bits,
              source=f"pyhdl/gearbox.py RowGearbox({elem_bits}, {in_elems}, {out_elems})")
    items.add("dma", "dma", "register", f"{name} gearbox fill", 1,
              bits_for(capacity) + 1 + int(output_stalls),
              source="pyhdl/gearbox.py: fill, row end, and (output that may stall) the "
                     "assertion's `offered` flag")
    items.add("dma", "dma", "shifter", f"{name} gearbox", 2, capacity * elem_bits,
              source="pyhdl/gearbox.py: shift out, shift in at the fill")


def _bursts(items, name):
    bits = COUNT_BITS + ADDR_BITS + 2 * BURST_BITS
    items.add("dma", "dma", "register", f"{name} burst issuer", 1, bits,
              source="pyhdl/dma.py RowBursts: rows left, address, length, pitch")
    items.add("dma", "dma", "adder", f"{name} burst address", 1, ADDR_BITS,
              source="pyhdl/dma.py RowBursts: addr + pitch")
    items.add("dma", "dma", "adder", f"{name} burst rows", 1, COUNT_BITS,
              source="pyhdl/dma.py RowBursts: rows_left - 1")


READ_JOB_BITS = 3 * COUNT_BITS + ADDR_BITS + 2 * BURST_BITS
"""pyhdl/dma.py ReadJob: base, addr, rows, row_beats, pitch, row_elems."""
WRITE_JOB_BITS = 5 * COUNT_BITS + ADDR_BITS + 2 * BURST_BITS
"""pyhdl/dma.py WriteJob: base, addr, rows, row_words, row_beats, pitch, word_elems,
last_elems."""


def _reader(items, spec, name, elem_bits, word_elems, addr_bits):
    """pyhdl/dma.py DmaReader: job, row/beat/element counts, buffer address, gearbox."""
    bus_bits = 8 * spec.dram_bus_bytes
    state = READ_JOB_BITS + COUNT_BITS + BURST_BITS + COUNT_BITS + addr_bits
    items.add("dma", "dma", "register", f"{name} state", 1, state,
              source="pyhdl/dma.py DmaReader: job, data_rows, beats_left, elems_left, "
                     "write_addr")
    items.add("dma", "dma", "adder", f"{name} counts", 3, COUNT_BITS,
              source="pyhdl/dma.py DmaReader: rows, beats and elements left")
    items.add("dma", "dma", "adder", f"{name} address", 1, addr_bits,
              source="pyhdl/dma.py DmaReader: write_addr + 1")
    _bursts(items, name)
    _gearbox(items, name, elem_bits, bus_bits // elem_bits, word_elems, output_stalls=False)


def _dma(items, spec, g):
    ob = spec.operand_bits
    # Output-stationary and 2:4 arrays read weights through a reader of their own
    # (pyhdl/top.py), words of `weight_lanes`.
    separate = spec.dataflow == "os" or spec.skips_weights
    load_addr = g.input_addr_bits if separate else max(g.input_addr_bits, g.weight_addr_bits)
    _reader(items, spec, "reader", ob, spec.input_lanes, load_addr)
    if spec.activation_compression != "none":
        _decompressor(items, spec)
    if separate:
        _reader(items, spec, "weight reader", ob, spec.weight_lanes, g.weight_addr_bits)
    _reader(items, spec, "bias reader", DRAM_WORD_BITS, spec.cols, g.bias_addr_bits)

    # pyhdl/dma.py DmaWriter: elements of operand_bits, `cols * 32 / operand_bits` a word.
    word_elems = g.output_word_bits // ob
    count_bits = bits_for(word_elems)
    latency = DMA_WRITE_READ_LATENCY
    state = WRITE_JOB_BITS + 3 * COUNT_BITS + BURST_BITS + g.output_addr_bits + latency
    items.add("dma", "dma", "register", "writer state", 1, state,
              source="pyhdl/dma.py DmaWriter: job, read_rows, words_left, read_addr, "
                     "beat_rows, row_beats_left, in_flight (one bit a cycle of read latency)")
    items.add("dma", "dma", "register", "writer tags", latency, count_bits + 1,
              source="pyhdl/dma.py DmaWriter: a word's count and last beside it in flight, "
                     "one register a cycle of read latency")
    items.add("dma", "dma", "adder", "writer counts", 4, COUNT_BITS,
              source="pyhdl/dma.py DmaWriter: rows and words left, row_word, beat_rows")
    items.add("dma", "dma", "adder", "writer beats", 1, BURST_BITS,
              source="pyhdl/dma.py DmaWriter: row_beats_left - 1")
    items.add("dma", "dma", "adder", "writer address", 1, g.output_addr_bits,
              source="pyhdl/dma.py DmaWriter: read_addr + 1")
    items.add("dma", "dma", "adder", "writer room", 1, bits_for(DMA_WRITE_FIFO_DEPTH),
              source="pyhdl/dma.py DmaWriter: FIFO level + words in flight")
    chunk_bits = g.output_word_bits + count_bits + 1
    depth = DMA_WRITE_FIFO_DEPTH
    items.add("dma", "dma", "register", "writer FIFO", depth, chunk_bits,
              source="pyhdl/dma.py DmaWriter.fifo_depth words with count and last "
                     "(amaranth SyncFIFOBuffered: depth - 1 entries and an output register)")
    entries = depth - 1
    items.add("dma", "dma", "register", "writer FIFO pointers", 1,
              2 * bits_for(entries - 1) + bits_for(entries) + 1,
              source="amaranth SyncFIFOBuffered: read and write pointers below depth - 1, "
                     "level up to depth - 1, output valid")
    _bursts(items, "writer")
    _gearbox(items, "writer", ob, word_elems, 8 * spec.dram_bus_bytes // ob,
             output_stalls=True)
    if spec.activation_compression != "none":
        _compressor(items, spec)


def _fifo(items, role, depth, width, source):
    """amaranth SyncFIFOBuffered(width, depth): depth - 1 entries and an output register,
    read and write pointers below depth - 1, its level and the output's valid."""
    items.add("dma", "dma", "register", role, depth, width, source=source)
    entries = depth - 1
    items.add("dma", "dma", "register", f"{role} pointers", 1,
              2 * bits_for(entries - 1) + bits_for(entries) + 1,
              source="amaranth SyncFIFOBuffered: read and write pointers, level, output valid")


def _compressor(items, spec):
    """pyhdl/compress.py RowCompressor in the DMA writer: the row buffer (two of the longest
    rows), the decision queues, the command and data sides' counts, the length-table beat, the
    output gearbox, and two BitmaskEncoders (the row's length at entry, the encoding at
    exit)."""
    bus = spec.dram_bus_bytes
    mask = bus // 8
    depth = 2 * COMPRESSED_ROW_BYTES // bus
    longest = depth // 2
    _fifo(items, "compressor row buffer", depth, 8 * bus + 1,
          "pyhdl/compress.py RowCompressor: dense beats and their row end")
    for side in ("command", "data"):
        _fifo(items, f"compressor {side} decisions", COMPRESSOR_DECISIONS,
              bits_for(longest * bus) + 1,
              "pyhdl/compress.py RowCompressor: each pixel's stored bytes and encoded flag")
    state = (BURST_BITS + COUNT_BITS + bits_for(longest * (bus + mask)) + bits_for(longest)
             + COUNT_BITS + 3 * ADDR_BITS
             + 2 * COUNT_BITS + ADDR_BITS + 1
             + 3 * COUNT_BITS + 8 * bus + 2
             + 8 * (bus + mask) + bits_for(bus + mask) + 2)
    items.add("dma", "dma", "register", "compressor state", 1, state,
              source="pyhdl/compress.py RowCompressor: row_beats, unit_rows, row_bytes, "
                     "row_in_beats; group, group_table, tile_table, job_table; "
                     "cmd_rows, cmd_index, table_cmd_addr, table_wait; "
                     "data_rows, data_index, data_unit_left, entries (a table beat), "
                     "table_beat, table_full; the staged chunk (data, count, last) and "
                     "its valid")
    _packed_bursts(items, "compressor", bus, longest)
    items.add("dma", "dma", "adder", "compressor counts", 8, COUNT_BITS,
              source="pyhdl/compress.py RowCompressor: rows and indices of both sides, "
                     "row bytes and beats, the group, the data side's unit")
    items.add("dma", "dma", "adder", "compressor addresses", 5, ADDR_BITS,
              source="pyhdl/compress.py RowCompressor: the table beat, "
                     "the job's table (two adds), the group's and the tile's table steps")
    items.add("dma", "dma", "adder", "bitmask prefix counts", 2 * bitmask_prefix_adders(bus),
              bits_for(bus),
              source="pyhdl/compress.py BitmaskEncoder: pos[i] and the total by a parallel "
                     "prefix, two encoders")
    items.add("dma", "dma", "comparator", "bitmask zero detects", 2 * bus, 8,
              source="pyhdl/compress.py BitmaskEncoder: a byte's mask bit, two encoders")
    items.add("dma", "dma", "comparator", "bitmask compaction selects", bus * (bus + 1) // 2,
              bits_for(bus),
              source="pyhdl/compress.py BitmaskEncoder: pos[i] == k for output byte k <= i")
    _gearbox(items, "compressor", 8, bus + mask, bus, output_stalls=True)


def bitmask_prefix_adders(bus):
    """Adders of one BitmaskEncoder's or BitmaskDecoder's parallel prefix count over a beat's
    B mask bits (pyhdl/compress.py _prefix_counts): B - 2**d of them at level d."""
    return sum(bus - (1 << level) for level in range(bits_for(bus - 1)))


def _packed_bursts(items, name, bus, longest):
    """pyhdl/compress.py PackedBursts: the job's constants, the unit's partial beat, the
    pending beats, the unit's count and the four addresses (pixel, next unit, command, slot)."""
    state = (3 * BURST_BITS + 2 * COUNT_BITS + 4 * ADDR_BITS + bits_for(bus - 1)
             + bits_for(longest + 1) + 1)
    items.add("dma", "dma", "register", f"{name} packed bursts", 1, state,
              source="pyhdl/compress.py PackedBursts: row_beats, pitch, slot_left, unit_rows, "
                     "unit_left, pixel_addr, next_unit, cmd_addr, slot_addr, frac, pending, end")
    items.add("dma", "dma", "adder", f"{name} packed bursts", 5, ADDR_BITS,
              source="pyhdl/compress.py PackedBursts: pixel_addr + pitch, slot_addr + pitch, "
                     "cmd_addr + length, the pixel's bytes and beats")


def _decompressor(items, spec):
    """pyhdl/compress.py CompressedRowFetcher in the input DmaReader: the ring of length-table
    beats, the command side's counts, the queue of command kinds, and a PackedDecompressor (its
    byte window and counts, one BitmaskDecoder)."""
    bus = spec.dram_bus_bytes
    mask = bus // 8
    longest = COMPRESSED_ROW_BYTES // bus
    ring, ring_bits = FETCHER_TABLE_RING, bits_for(FETCHER_TABLE_RING - 1)
    items.add("dma", "dma", "register", "decompressor table ring", ring, 8 * bus,
              source="pyhdl/compress.py CompressedRowFetcher: TABLE_RING table beats")
    _fifo(items, "decompressor command kinds", FETCHER_KINDS, 2 + bits_for(longest),
          "pyhdl/compress.py CompressedRowFetcher: each command's kind (table beat or stream "
          "beats), its stream beats and whether they end a unit")
    _fifo(items, "decompressor pixel kinds", FETCHER_PIXELS, 2,
          "pyhdl/compress.py CompressedRowFetcher: each pixel's kind (dense, ends its unit)")
    window = 2 * bus + mask
    state = (ring + BURST_BITS + COUNT_BITS + 3 * ADDR_BITS
             + bits_for(ring) + ring_bits + bits_for(longest)
             + 8 * window + bits_for(window) + BURST_BITS + 1 + 1
             + 8 * bus + 2)
    items.add("dma", "dma", "register", "decompressor state", 1, state,
              source="pyhdl/compress.py CompressedRowFetcher: arrived, row_beats, cmd_rows, "
                     "table_end, entry, table_next, reserved, arrive, stored_taken; "
                     "PackedDecompressor: window, fill, produced, taken_all, the output "
                     "register (a dense beat, its last) and held; "
                     "pyhdl/dma.py DmaReader: the job's compressed flag")
    _packed_bursts(items, "decompressor", bus, longest)
    items.add("dma", "dma", "adder", "decompressor counts", 4, COUNT_BITS,
              source="pyhdl/compress.py CompressedRowFetcher: rows left, stored beats taken; "
                     "PackedDecompressor: beats produced; the entry's stored bytes")
    items.add("dma", "dma", "adder", "decompressor addresses", 5, ADDR_BITS,
              source="pyhdl/compress.py CompressedRowFetcher: entry + 1, "
                     "the table beat and its address, the job's first and last beat")
    items.add("dma", "dma", "adder", "bitmask decoder prefix counts",
              bitmask_prefix_adders(bus), bits_for(bus),
              source="pyhdl/compress.py BitmaskDecoder: pos[i] and the total by a parallel "
                     "prefix")
    items.add("dma", "dma", "shifter", "decompressor window", 2, 8 * window,
              source="pyhdl/compress.py PackedDecompressor: shift out the used bytes, shift in "
                     "at the fill")


def _postprocess(items, spec):
    """pyhdl/postprocess.py PostProcessor: per column, bias add, the requantizing multiply as
    two partial products (value times each half of `mult`), their sum with the rounding
    half, shift, zero point and clamps, a reset-less register after each of the
    POSTPROCESS_STAGES; and the layer's constants it derives from its configuration,
    registered once."""
    cols, src = spec.cols, "pyhdl/postprocess.py"
    wide, ob = POSTPROCESS_WIDE_BITS, spec.operand_bits
    mult_half = POSTPROCESS_MULT_BITS // 2
    items.add("postprocess", "postprocess", "multiplier", "requantize", 2 * cols,
              DRAM_WORD_BITS, mult_half,
              source=f"{src}: value * mult as two partial products, value * each "
                     f"{mult_half}-bit half of mult")
    items.add("postprocess", "postprocess", "adder", "bias", cols, DRAM_WORD_BITS,
              source=f"{src}: acc + bias")
    items.add("postprocess", "postprocess", "adder", "product sum", 2 * cols, wide,
              source=f"{src}: the partial products plus the rounding half (a carry-save row "
                     f"and a carry-propagate adder)")
    items.add("postprocess", "postprocess", "adder", "zero point", cols, ob,
              source=f"{src}: + zero_point (its low operand_bits)")
    items.add("postprocess", "postprocess", "shifter", "requantize shift", cols, wide,
              source=f"{src}: >> shift")
    items.add("postprocess", "postprocess", "comparator", "clamp", 2 * cols, BOUND_BITS,
              source=f"{src}: below the floor, above the operand range (_less: "
                     f"{BOUND_BITS}-bit compares)")
    items.add("postprocess", "postprocess", "comparator", "ReLU", cols, DRAM_WORD_BITS,
              source=f"{src}: value < 0")
    items.add("postprocess", "postprocess", "register", "bias add stage", cols, DRAM_WORD_BITS,
              source=f"{src}: value_c")
    items.add("postprocess", "postprocess", "register", "partial product stage", cols,
              2 * DRAM_WORD_BITS + POSTPROCESS_MULT_BITS + 1,
              source=f"{src}: product_low_c (value times mult's unsigned low half) and "
                     f"product_high_c")
    items.add("postprocess", "postprocess", "register", "product sum stage", cols, wide,
              source=f"{src}: rounded_c")
    items.add("postprocess", "postprocess", "register", "shift stage", cols, wide,
              source=f"{src}: shifted_c")
    items.add("postprocess", "postprocess", "register", "int32 delay",
              (POSTPROCESS_LATENCY - 2) * cols, DRAM_WORD_BITS,
              source=f"{src}: value_c_1.. : the int32 result beside the requantization "
                     f"stages, to the last")
    items.add("postprocess", "postprocess", "register", "zero point and clamp stage", 1,
              cols * DRAM_WORD_BITS, source=f"{src}: out, the word chosen after the clamps")
    items.add("postprocess", "postprocess", "register", "layer constants", 1,
              3 + SHIFT_BITS + POSTPROCESS_MULT_BITS + wide - 1 + 2 * ob + 2 * BOUND_BITS,
              source=f"{src} _layer_constants: flags, shift, mult, the rounding half (its "
                     f"top bit is never set), zero point, floor and the clamp bounds")


def _controller(items, spec, g):
    """pyhdl/sequencer.py and the inner loop, as a formula (see CONTROLLER_*)."""
    src = "pyhdl/sequencer.py, inner_loop.py, ws_loop.py, os_loop.py"
    loops = CONTROLLER_LOOP_REGISTERS[spec.dataflow]
    offsets = CONTROLLER_OFFSET_REGISTERS[spec.dataflow]
    coords = CONTROLLER_COORD_REGISTERS[spec.dataflow]
    items.add("controller", "control", "register", "loop counters", loops,
              COUNT_BITS, source=f"{src}: loop counts")
    items.add("controller", "control", "register", "DRAM addresses",
              CONTROLLER_ADDRESS_REGISTERS, ADDR_BITS,
              source=f"{src}: X, W, Y addresses and their offsets")
    items.add("controller", "control", "register", "window offsets",
              offsets, OFFSET_BITS,
              source=f"{src}: input-buffer word offsets stepped by adders")
    items.add("controller", "control", "register", "pixel coordinates",
              coords, COORD_BITS, source=f"{src}: signed coordinates")
    items.add("controller", "control", "register", "buffer addresses", 1,
              g.input_addr_bits + g.weight_addr_bits + 2 * g.output_addr_bits,
              source=f"{src}: input, weight and output-buffer addresses")
    if spec.dataflow == "ws":
        items.add("controller", "control", "register", "slot timers", spec.rf_depth,
                  bits_for(g.array_latency + 1),
                  source="pyhdl/ws_loop.py: when a register-file slot is free again")
        items.add("controller", "control", "register", "fold block walk", 1,
                  COUNT_BITS + FOLD_WALK_BYTE_REGISTERS * 8 + 2 + POS_BITS
                  + len(spec.fold_lane_groups) + spec.input_lanes,
                  source="pyhdl/tap_fold_loop.py: the block's first kernel row, its rows, the "
                         "row and word primed and written, the write and multirow flags, the "
                         "row skip, a flag per choice of kernel rows and the fed element "
                         "shift, one-hot")
        if spec.fold_line_rows > 1:
            items.add("controller", "control", "register", "fold line buffer",
                      spec.fold_line_rows * FOLD_LINE_WORDS,
                      spec.input_lanes * spec.operand_bits,
                      source="pyhdl/tap_fold_loop.py: input words of a folded block's rows")
    items.add("controller", "control", "register", "state", 1, CONTROLLER_STATE_BITS,
              source=f"{src}: FSM state and flags")
    if spec.depthwise_columns:
        lane_bits = bits_for(spec.input_lanes // spec.cols - 1)
        items.add("controller", "control", "register", "depthwise loop", 1,
                  7 * COUNT_BITS + 1 + 2 * COORD_BITS + 8 + 2 * lane_bits
                  + 2 * g.output_addr_bits + EVENT_BITS + bits_for(spec.rf_depth - 1) + 6,
                  source="pyhdl/depthwise_loop.py: channel block and lane group, the "
                         "stream's column, phase, window, rows and coordinates, the window's "
                         "tag, slot and MACs")
        if spec.depthwise_line_rows:
            items.add("controller", "control", "register", "depthwise line windows", 1,
                      4 * COUNT_BITS + 2 + bits_for(spec.cols),
                      source="pyhdl/depthwise_loop.py: the band's rows, the window countdown, "
                             "column and rows, the line-buffer flag, the presented pixel and "
                             "the steps' tail")
    steps = loops + coords
    items.add("controller", "control", "adder", "loop steps", steps, COUNT_BITS,
              source=f"{src}: each loop register steps with an adder")
    items.add("controller", "control", "adder", "address steps",
              CONTROLLER_ADDRESS_REGISTERS + offsets, ADDR_BITS,
              source=f"{src}: each address or offset steps with an adder")
    items.add("controller", "control", "comparator", "loop ends", steps, COUNT_BITS,
              source=f"{src}: each loop ends on a comparison")


def _control(items, spec):
    """The activity counters, the host register block and the top's own flags."""
    n = len(COUNTER_NAMES)
    items.add("control", "control", "register", "activity counters", n, COUNTER_BITS,
              source="pyhdl/counters.py: one per models/counters.py row")
    items.add("control", "control", "register", "activity events", n - 1, EVENT_BITS,
              source="pyhdl/counters.py: each counter's events registered (`cycles` counts "
                     "itself)")
    items.add("control", "control", "adder", "activity counters", n, COUNTER_BITS,
              source="pyhdl/counters.py: value + increment")
    items.add("control", "control", "register", "descriptor", 1,
              sum(field.bits for field in DESCRIPTOR_FIELDS),
              source="pyhdl/csr.py: every models/registers.py field at its own width")
    items.add("control", "control", "register", "read data and done", 1, REGISTER_BITS + 1,
              source="pyhdl/csr.py: bus read data, sticky done")
    items.add("control", "control", "register", "top flags", 1, TOP_FLAGS,
              source="pyhdl/top.py: done, output halves being read")


def block_totals(spec):
    """{block: {"flop_bits", "multipliers", "sram_bits"}}: what the Yosys check compares.

    flop_bits counts what Yosys shows as flip-flops: the registers, the SRAM banks' read-data
    registers, and a FIFO's storage (which Yosys keeps as a memory: the check adds memory
    bits of non-SRAM blocks to the flip-flops)."""
    totals = {block: {"flop_bits": 0, "multipliers": 0, "sram_bits": 0}
              for block in BLOCK_MODULES}
    for item in inventory(spec):
        t = totals[item.block]
        if item.kind == "register":
            t["flop_bits"] += item.total_bits
        elif item.kind == "sram":
            t["flop_bits"] += read_register_bits(item)
            t["sram_bits"] += item.total_bits
        elif item.kind in ("mac", "multiplier"):
            t["multipliers"] += item.count
    return totals


def item_bits(spec, role):
    """Width of one register of `role` (e.g. "input token"); KeyError if there is none."""
    for item in inventory(spec):
        if item.kind == "register" and item.role == role:
            return item.bits
    raise KeyError(role)


def fingerprint(spec):
    """Everything of `spec`'s hardware that its costs can depend on: the technology node, the
    geometry and every inventory item (a cache key and the identity of a priced table)."""
    return {
        "tech_nm": spec.tech_nm,
        "geometry": geometry(spec).as_dict(),
        "items": [[i.block, i.component, i.kind, i.role, i.count, i.bits, i.bits2, i.depth]
                  for i in inventory(spec)],
    }
