"""The architecture spec: one frozen, validated description of a generated accelerator.

Every generator parameter and every cost-model input lives here and nowhere else.  A spec is
loaded from YAML (`load_spec`) or built in Python (`ArchSpec(...)`); either way each field is
checked and a bad value is refused with a `SpecError` naming the field and the value.
"""

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from .hardware import WS_PE_PRODUCTS, column_sum_bits

DATAFLOWS = ("ws", "os")
"""The dataflows the accelerator (pyhdl/top.py), the mapper and the performance model run."""
ROW_STATIONARY = "rs"
"""Row-stationary (Eyeriss): models/row_stationary.py maps it and runs it in NumPy, the
accelerator runs it with its own inner loop and array (pyhdl/rs_loop.py) and models/rs_perf.py
predicts it (issue 14); not among DATAFLOWS, the sweeps' and benchmarks' choices, yet."""
RS_MAX_INPUT_DEPTH = 32
"""Most entries of a row-stationary PE's input window and psum file: both are registers read
through a multiplexer of that many entries in the PE's MAC cycle (pyhdl/rs_pe.py)."""
RS_MAX_FILTER_DEPTH = 1024
"""Most entries of a row-stationary PE's filter scratchpad (a memory, pyhdl/rs_pe.py)."""
OPERAND_BITS = (4, 8, 16)
DRAM_KINDS = ("LPDDR4", "DDR3", "HBM2")
DRAM_WORD_BITS = 32
"""Width of one output element in DRAM: accumulators are sign-extended to int32 there."""
MAX_BIAS_CHANNELS = 4096
"""Output channels the bias buffer holds (one int32 each)."""
ACTIVATION_COMPRESSION = ("none", "bitmask")
"""Formats of int8 activations in DRAM (models/compression.py, docs/sparsity.md)."""
WEIGHT_SPARSITY = ("none", "2:4")
"""Weight patterns the array can skip (models/sparsity.py, docs/sparsity.md)."""
INDEX_BITS = 2
"""Bits of a 2:4 weight's index: which of its group's four inputs it multiplies."""
COMPRESSED_ROW_BYTES = 256
"""Longest activation row (one pixel's channels, in DRAM bytes) the compressing writer holds
while it decides how to store it; a layer with longer rows is written dense."""
FOLD_LINE_WORDS = 2
"""Words the folded loop's line buffer holds of each input row (models/tap_fold.py)."""


class SpecError(ValueError):
    """An architecture field has a value the generator cannot build."""


def _is_pow2(value):
    return value > 0 and value & (value - 1) == 0


def check_built(spec):
    """Refuse, in one line, a spec whose dataflow the generated accelerator does not run
    (every dataflow a spec accepts runs since the row-stationary loop, issue 14)."""
    if spec.dataflow not in DATAFLOWS + (ROW_STATIONARY,):
        raise SpecError(f"dataflow: the accelerator is built for {', '.join(DATAFLOWS)}, "
                        f"not {spec.dataflow!r} (issue 14)")


@dataclass(frozen=True)
class ArchSpec:
    """Parameters of one accelerator instance.

    Array
        rows, cols: PE array shape (rows feed the reduction dimension, cols the outputs).
        dataflow: "ws" (weight-stationary: each PE holds weights, partial sums flow down the
            columns), "os" (output-stationary: each PE holds one output's sum while inputs
            flow along the rows and weights down the columns) or "rs" (row-stationary,
            Eyeriss: each PE convolves filter rows with input rows, models/row_stationary.py,
            see ROW_STATIONARY).
        operand_bits: width of inputs and weights (signed), 4, 8 or 16.
        acc_bits: width of the PE accumulators (signed, wraps on overflow), up to 32.
        rf_depth: entries in each PE's weight register file (weight-stationary only; the
            output-stationary PE holds one sum, the row-stationary PE has the three files
            below, so both ignore it).
        rs_filter_depth, rs_input_depth, rs_psum_depth: entries of each row-stationary PE's
            filter scratchpad, input window and partial-sum file (Eyeriss v1: 224 / 12 / 24;
            `dataflow: rs` only, the other dataflows' PEs have no such files and ignore them).
            A PE runs q channels of p filters of an S-tap filter row when q*S fits the window,
            p*q*S the scratchpad and p the psum file; the scratchpad is at least as deep as
            the window, so every window the input file can hold has its weights.
    Buffers
        glb_input_bytes, glb_weight_bytes, glb_output_bytes: global-buffer partitions.
        glb_banks: banks per partition (power of two).
    Off-chip
        dram_bus_bytes: DRAM port width in bytes per beat (power of two, 4 to 64).
        dram_kind: interface type for the energy model.
    Cost-model inputs
        clock_mhz, tech_nm.
    Sparsity
        activation_compression: "none", or "bitmask": int8 activations (requantized layer
            outputs) are written to DRAM with a bitmask of their non-zero bytes
            (models/compression.py); needs operand_bits 8 and dram_bus_bytes of 8 or more.
        weight_sparsity: "none", or "2:4": each PE holds, per group of four weights along the
            reduction, one of the two kept values and its index, and selects its input among
            the group's four, so an input word holds two channels per array row
            (models/sparsity.py; output-stationary: each PE selects among the group its row
            streams, models/sparse_os.py); needs dataflow ws or os, operand_bits 8 and an even
            row count.
    """

    name: str = "default"
    rows: int = 16
    cols: int = 16
    dataflow: str = "ws"
    operand_bits: int = 8
    acc_bits: int = 32
    rf_depth: int = 2
    rs_filter_depth: int = 224
    rs_input_depth: int = 12
    rs_psum_depth: int = 24
    glb_input_bytes: int = 64 * 1024
    glb_weight_bytes: int = 32 * 1024
    glb_output_bytes: int = 32 * 1024
    glb_banks: int = 4
    dram_bus_bytes: int = 16
    dram_kind: str = "LPDDR4"
    clock_mhz: float = 500.0
    tech_nm: int = 45
    activation_compression: str = "none"
    weight_sparsity: str = "none"

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            expected = float if f.type is float else f.type
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                continue
            if not isinstance(value, expected) or isinstance(value, bool):
                raise SpecError(f"{f.name}: expected {expected.__name__}, not {value!r}")
        self._check_range("rows", 1, 64)
        self._check_range("cols", 1, 64)
        self._check_choice("dataflow", DATAFLOWS + (ROW_STATIONARY,))
        self._check_choice("operand_bits", OPERAND_BITS)
        self._check_range("acc_bits", 2 * self.operand_bits, DRAM_WORD_BITS)
        self._check_range("rf_depth", 1, 64)
        self._check_range("rs_input_depth", 1, RS_MAX_INPUT_DEPTH)
        self._check_range("rs_psum_depth", 1, RS_MAX_INPUT_DEPTH)
        self._check_range("rs_filter_depth", self.rs_input_depth, RS_MAX_FILTER_DEPTH)
        self._check_choice("dram_kind", DRAM_KINDS)
        self._check_range("clock_mhz", 1, 10_000)
        self._check_range("tech_nm", 5, 180)
        self._check_choice("activation_compression", ACTIVATION_COMPRESSION)
        if not (_is_pow2(self.dram_bus_bytes) and 4 <= self.dram_bus_bytes <= 64):
            raise SpecError(f"dram_bus_bytes: must be a power of two from 4 to 64, "
                            f"not {self.dram_bus_bytes!r}")
        if self.activation_compression != "none" and (self.operand_bits != 8
                                                       or self.dram_bus_bytes < 8):
            raise SpecError(f"activation_compression: {self.activation_compression!r} needs "
                            f"operand_bits 8 and dram_bus_bytes 8 or more, not "
                            f"{self.operand_bits} and {self.dram_bus_bytes}")
        if self.weight_sparsity not in WEIGHT_SPARSITY:
            raise SpecError(f"weight_sparsity: must be one of {', '.join(WEIGHT_SPARSITY)}, "
                            f"not {self.weight_sparsity!r}")
        if self.skips_weights and (self.dataflow not in DATAFLOWS or self.operand_bits != 8
                                   or self.rows % 2):
            raise SpecError(f"weight_sparsity: {self.weight_sparsity!r} needs dataflow ws or os, "
                            f"operand_bits 8 and an even number of rows, not "
                            f"{self.dataflow}, {self.operand_bits} and {self.rows}")
        if not (_is_pow2(self.glb_banks) and self.glb_banks <= 16):
            raise SpecError(f"glb_banks: must be a power of two up to 16, not {self.glb_banks!r}")
        for name, word, per_bank in (("glb_input_bytes", self.input_word_bytes, "bank"),
                                     ("glb_weight_bytes", self.weight_word_bytes, "bank"),
                                     ("glb_output_bytes", self.output_word_bytes,
                                      "bank of each half")):
            value = getattr(self, name)
            minimum = word * self.glb_banks * (4 if name == "glb_output_bytes" else 2)
            if value < minimum or value > 16 * 1024 * 1024:
                raise SpecError(f"{name}: must be from {minimum} (two words per {per_bank}) "
                                f"to 16 MiB, not {value!r}")

    def _check_range(self, name, low, high):
        value = getattr(self, name)
        if not low <= value <= high:
            raise SpecError(f"{name}: must be from {low} to {high}, not {value!r}")

    def _check_choice(self, name, choices):
        value = getattr(self, name)
        if value not in choices:
            raise SpecError(f"{name}: must be one of {', '.join(map(str, choices))}, "
                            f"not {value!r}")

    @property
    def skips_weights(self):
        """The array skips the zeros of 2:4 weights (`weight_sparsity` is not none)."""
        return self.weight_sparsity != "none"

    @property
    def psum_bits(self):
        """Width of the partial sums the array hands to the accumulator: a weight-stationary
        column adds at most `rows` x WS_PE_PRODUCTS products to zero on their way down, so
        they travel at `column_sum_bits` (20 bits for int8 on 16 rows) and the accumulator
        sign-extends them to acc_bits; output- and row-stationary PEs hold a whole reduction,
        at acc_bits."""
        if self.dataflow != "ws":
            return self.acc_bits
        return column_sum_bits(self.operand_bits, self.rows * WS_PE_PRODUCTS, self.acc_bits)

    @property
    def input_lanes(self):
        """Operands in one input buffer word: one per array row, or two with 2:4 weights
        (each pair of rows selects from the four channels of its group)."""
        return 2 * self.rows if self.skips_weights else self.rows

    @property
    def depthwise_columns(self):
        """Whether the array has the depthwise mode (models/depthwise.py): a dense
        weight-stationary array whose columns divide its input word's lanes, so a filter
        block's `cols` channels are lanes of one word; 0 if not, else the columns."""
        dense_ws = self.dataflow == "ws" and not self.skips_weights
        return self.cols if dense_ws and self.input_lanes % self.cols == 0 else 0

    @property
    def fold_line_rows(self):
        """Input rows the folded loop's line buffer holds (pyhdl/tap_fold_loop.py), so a
        folded block may take that many kernel rows (models/tap_fold.py): a third of the array
        rows (a kernel row's run is at least 3 elements), none below 6 rows; FOLD_LINE_WORDS
        input words each (weight-stationary arrays, dense or 2:4)."""
        return self.rows // 3 if self.rows >= 6 and self.dataflow == "ws" else 1

    @property
    def fold_lane_groups(self):
        """The line buffer's choices of kernel rows a folded block, as (kernel rows R', 2:4
        layer, input lanes from one kernel row's run to the next): every R' from 2 to
        `fold_line_rows` for a dense layer, `rows // R'` (on a 2:4 array in its dense lanes,
        the word's first `rows` elements), and on a 2:4 array for a 2:4 layer `input_lanes //
        R'` rounded down to whole groups of four (2 ** INDEX_BITS), where two groups fit."""
        rows = range(2, self.fold_line_rows + 1)
        group = 2 ** INDEX_BITS
        sparse = [(n, True, self.input_lanes // n // group * group) for n in rows
                  if self.skips_weights and self.input_lanes // n >= 2 * group]
        return tuple((n, False, self.rows // n) for n in rows) + tuple(sparse)

    @property
    def index_lanes(self):
        """Operands of a weight buffer word holding the 2:4 indices (INDEX_BITS per kept
        weight: one per row, or output-stationary one per column)."""
        kept = self.cols if self.dataflow == "os" else self.rows
        return -(-kept * INDEX_BITS // self.operand_bits) if self.skips_weights else 0

    @property
    def input_word_bytes(self):
        """Bytes of one input buffer word: `input_lanes` operands."""
        return -(-self.input_lanes * self.operand_bits // 8)

    @property
    def weight_lanes(self):
        """Operands in one weight buffer word: one per array row (weight-stationary: a column
        of the filter block shifted in) or one per array column (output-stationary: one
        channel, or 2:4 kept weight, of `cols` filters a cycle), plus their 2:4 indices."""
        return (self.cols if self.dataflow == "os" else self.rows) + self.index_lanes

    @property
    def weight_word_bytes(self):
        """Bytes of one weight buffer word."""
        return -(-self.weight_lanes * self.operand_bits // 8)

    @property
    def output_word_bytes(self):
        """Bytes of one output buffer word: one int32 accumulator per array column."""
        return self.cols * DRAM_WORD_BITS // 8

    def _words(self, size_bytes, word_bytes, multiple=1):
        words = size_bytes // word_bytes
        return words - words % (self.glb_banks * multiple)

    @property
    def input_words(self):
        """Words in the input buffer (whole words, a multiple of the bank count)."""
        return self._words(self.glb_input_bytes, self.input_word_bytes)

    @property
    def weight_words(self):
        """Words in the weight buffer (whole words, a multiple of the bank count)."""
        return self._words(self.glb_weight_bytes, self.weight_word_bytes)

    @property
    def output_words(self):
        """Words in the output buffer (whole words, a multiple of twice the bank count: it
        works as two halves of whole bank rows)."""
        return self._words(self.glb_output_bytes, self.output_word_bytes, 2)

    @property
    def bias_words(self):
        """Words of the bias buffer: MAX_BIAS_CHANNELS int32 values, `cols` per word."""
        return -(-MAX_BIAS_CHANNELS // self.cols)

    @property
    def peak_macs_per_cycle(self):
        return self.rows * self.cols

    @property
    def pe_rf_bits(self):
        """Bits of one PE's register files: rf_depth weights (weight- and output-stationary,
        as the inventory counts them), or the row-stationary PE's filter scratchpad and input
        window of operands and its psum file of accumulators."""
        if self.dataflow == ROW_STATIONARY:
            return ((self.rs_filter_depth + self.rs_input_depth) * self.operand_bits
                    + self.rs_psum_depth * self.acc_bits)
        return self.rf_depth * self.operand_bits

    @property
    def onchip_bytes(self):
        """Global buffer, bias buffer and every PE register file."""
        rf = self.rows * self.cols * self.pe_rf_bits // 8
        bias = self.bias_words * self.cols * DRAM_WORD_BITS // 8
        return self.glb_input_bytes + self.glb_weight_bytes + self.glb_output_bytes + rf + bias

    def to_dict(self):
        return asdict(self)


def os_drain_spacing_ok(distance, rows):
    """Whether two reductions of the output-stationary array whose last steps start
    `distance` cycles apart drain without collision: a finished sum climbing a column one PE
    a cycle would meet a PE capturing the next sum when the distance is even and shorter than
    `2 * rows` (pyhdl/os_array.py)."""
    return distance % 2 == 1 or distance >= 2 * rows


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice (it would keep the last silently)."""


def _unique_mapping(loader, node):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise SpecError(f"field {key!r} given twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_spec(path):
    """Read and validate an architecture YAML file; unknown or repeated keys are refused."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SpecError(f"{path}: cannot read architecture file ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise SpecError(f"{path}: not a UTF-8 text file (byte {error.start})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML ({error.problem or error})") from None
    except SpecError as error:
        raise SpecError(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of architecture fields, not {data!r}")
    known = {f.name for f in fields(ArchSpec)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{path}: unknown field {unknown[0]!r} "
                        f"(known: {', '.join(sorted(known))})")
    try:
        return ArchSpec(**data)
    except SpecError as error:
        raise SpecError(f"{path}: {error}") from None
