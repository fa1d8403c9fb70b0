"""Constrained-random architectures and layers for the regression, each from its own seed.

`random_arch(arch_seed)` draws an architecture (array 2..32 by 2..32, any dataflow of
models.spec.DATAFLOWS, 4/8/16-bit operands, accumulators from 2 x operand bits to 32, small or
large buffers, 4- to 64-byte DRAM bus).  `random_case(spec, arch_seed, index)` draws layer
`index` for it: conv, depthwise, grouped or fully connected, with strides, padding, batch,
post-processing, a value distribution, DRAM timing and sometimes a reset mid-layer (and on
output-stationary arrays, sometimes a height whose tiles hold whole pixel groups).  Every
draw uses `numpy.random.default_rng((arch_seed, index))`, so one case is reproduced alone
from its two numbers.  Layers the mapper refuses are drawn again and counted; so are layers
whose predicted run time exceeds `MAX_CYCLES` (they would slow the regression, not test more).
"""

from dataclasses import dataclass, replace

import numpy as np

from models.golden import operand_range
from models.mapper import ConvShape, MappingError, PostProcess, group_slice, map_grouped_conv
from models.os_groups import evenly_grouped
from models.perf import predict_cycles
from models.sparsity import GROUP
from models.spec import DATAFLOWS, OPERAND_BITS, ROW_STATIONARY, ArchSpec

from .jobs import Job
from .placement import layer_parts
from .tb import DramTiming

MAX_CYCLES = 40_000
"""Largest predicted run time of a drawn layer, in cycles."""
MAX_DRAWS = 50
"""Draws before giving up on finding a layer the mapper accepts."""
DISTRIBUTIONS = ("uniform", "sparse", "all_zero", "extremes", "narrow")
OPS = ("fc", "conv", "dwconv", "grouped")


class GeneratorError(RuntimeError):
    """No acceptable layer within MAX_DRAWS draws."""


def arch_seeds(seed, count):
    """The seeds of a regression's `count` architectures, derived from the run's `seed`."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count, np.uint32)]


def _pick(rng, choices, weights=None):
    weights = None if weights is None else np.asarray(weights, dtype=float) / sum(weights)
    return choices[int(rng.choice(len(choices), p=weights))]


def random_arch(arch_seed):
    """An architecture drawn from `arch_seed` and named after it (`r<seed>`)."""
    rng = np.random.default_rng((arch_seed,))
    rows, cols = (int(2 ** rng.uniform(1, 5 + 1e-9)) for _ in range(2))
    if rng.random() < 0.25:
        cols = rows
    bits = _pick(rng, OPERAND_BITS, (1, 2, 1))
    acc_bits = 32 if rng.random() < 0.6 else int(rng.integers(2 * bits, 33))
    banks = _pick(rng, (1, 2, 4, 8))
    large = rng.random() < 0.5
    # The spec knows its buffer words' sizes (they depend on the dataflow): ask a roomy one.
    shape = ArchSpec(name=f"r{arch_seed}", rows=rows, cols=cols, dataflow=_pick(rng, DATAFLOWS),
                     operand_bits=bits, acc_bits=acc_bits, rf_depth=int(rng.integers(1, 5)),
                     glb_input_bytes=1 << 24, glb_weight_bytes=1 << 24,
                     glb_output_bytes=1 << 24, glb_banks=banks,
                     dram_bus_bytes=_pick(rng, (4, 8, 16, 32, 64)))

    def partition(word, small_words, large_words):
        low, high = large_words if large else small_words
        return max(int(rng.integers(low, high + 1)), 4 * banks) * word

    return _with_row_stationary(arch_seed, _with_weight_sparsity(arch_seed, _with_compression(
        arch_seed, replace(
        shape,
        glb_input_bytes=partition(shape.input_word_bytes, (48, 400), (2048, 16384)),
        glb_weight_bytes=partition(shape.weight_word_bytes, (48, 400), (2048, 16384)),
        glb_output_bytes=partition(shape.output_word_bytes, (16, 160), (1024, 4096))))))


ROW_STATIONARY_SHARE = 1 / 3
"""Share of the architectures drawn row-stationary (issue 14)."""
RS_MAX_DIM = 6
"""Rows and columns of a row-stationary architecture at most (its PEs are large to build)."""


def _with_row_stationary(arch_seed, spec):
    """`spec` turned row-stationary with ROW_STATIONARY_SHARE (at most RS_MAX_DIM rows and
    columns, register files drawn small enough to fold, tile and replicate; no compression
    or 2:4), drawn from a stream of its own so the other fields' draws stay what they were.
    Half of them keep the buffers drawn (layers then run in bands of output rows and chunks
    of channels), the others get buffers that hold a whole image."""
    rng = np.random.default_rng((arch_seed, 0, 3))
    if rng.random() >= ROW_STATIONARY_SHARE:
        return spec
    input_depth = int(rng.integers(3, 13))
    spec = replace(spec, dataflow=ROW_STATIONARY, rows=min(spec.rows, RS_MAX_DIM),
                   cols=min(spec.cols, RS_MAX_DIM), rs_input_depth=input_depth,
                   rs_filter_depth=int(rng.integers(input_depth, 4 * input_depth + 1)),
                   rs_psum_depth=int(rng.integers(1, 9)), activation_compression="none",
                   weight_sparsity="none")
    if rng.random() < RS_DRAWN_BUFFERS_SHARE:
        return spec
    return replace(spec, glb_input_bytes=max(spec.glb_input_bytes, 8192),
                   glb_output_bytes=max(spec.glb_output_bytes, 16384))


RS_DRAWN_BUFFERS_SHARE = 1 / 2
"""Share of the row-stationary architectures that keep their drawn (often small) buffers."""
RS_TALLER_SHARE = 1 / 3
"""Share of the convolutions on a row-stationary architecture drawn taller than its input
buffer holds (`_taller_than_rs_buffers`)."""


def _taller_than_rs_buffers(spec, arch_seed, index, shape, groups, post):
    """On a row-stationary architecture, RS_TALLER_SHARE of the convolutions are drawn taller:
    8 to 40 input rows more, so that an image often takes several bands of output rows,
    if the layer still maps.  From a stream of its own."""
    rng = np.random.default_rng((arch_seed, index, 5))
    if spec.dataflow != ROW_STATIONARY or shape.w == 1 or rng.random() >= RS_TALLER_SHARE:
        return shape
    taller = replace(shape, h=shape.h + int(rng.integers(8, 41)))
    try:
        map_grouped_conv(spec, taller, groups, post)
    except MappingError:
        return shape
    return taller


COMPRESSION_SHARE = 0.5
"""Share of the architectures that can compress (int8, 8-byte bus or wider) drawn with
`activation_compression: bitmask`."""


def _with_compression(arch_seed, spec):
    """`spec`, compressing activations one time in two when it can, drawn from a stream of
    its own so the other fields' draws stay what they were."""
    rng = np.random.default_rng((arch_seed, 0, 1))
    if spec.operand_bits == 8 and spec.dram_bus_bytes >= 8 and rng.random() < COMPRESSION_SHARE:
        return replace(spec, activation_compression="bitmask")
    return spec


WEIGHT_SPARSITY_SHARE = 0.4
"""Share of the architectures that can skip 2:4 weights (weight- or output-stationary, int8,
even rows) drawn with `weight_sparsity: 2:4`."""
PRUNED_SHARE = 0.5
"""Share of the ungrouped layers on a 2:4 architecture drawn with 2:4 weights."""


def _with_weight_sparsity(arch_seed, spec):
    """`spec`, skipping 2:4 weights with WEIGHT_SPARSITY_SHARE when it can, drawn from a
    stream of its own so the other fields' draws stay what they were."""
    rng = np.random.default_rng((arch_seed, 0, 2))
    if spec.dataflow in DATAFLOWS and spec.operand_bits == 8 and spec.rows % 2 == 0 \
            and rng.random() < WEIGHT_SPARSITY_SHARE:
        return replace(spec, weight_sparsity="2:4")
    return spec


def _pruning(spec, arch_seed, index, shape, groups):
    """(shape, rng or None): on a 2:4 architecture, PRUNED_SHARE of the ungrouped layers get
    whole groups of four channels and (through the rng returned) 2:4 weights; drawn from a
    stream of its own."""
    rng = np.random.default_rng((arch_seed, index, 2))
    if not spec.skips_weights or groups > 1 or rng.random() >= PRUNED_SHARE:
        return shape, None
    return replace(shape, c=-(-shape.c // GROUP) * GROUP), rng


def _prune_2to4(rng, weights):
    """`weights` with two, three or four zeros in every group of four channels."""
    k, c, r, s = weights.shape
    groups = weights.transpose(0, 2, 3, 1).reshape(-1, GROUP).copy()
    for group in groups:
        group[rng.choice(GROUP, int(rng.integers(2, GROUP + 1)), replace=False)] = 0
    return groups.reshape(k, r, s, c).transpose(0, 3, 1, 2)


@dataclass
class Case:
    """One drawn layer: the job, how its values were drawn, and the draws refused on the
    way (by the mapper, and as too slow)."""

    job: Job
    distribution: str
    refused: int
    too_slow: int
    predicted_cycles: int


def _values(rng, distribution, shape, bits):
    low, high = operand_range(bits)
    if distribution == "all_zero":
        return np.zeros(shape, dtype=np.int64)
    if distribution == "extremes":
        return rng.choice(np.array([low, high]), shape) if rng.random() < 0.5 \
            else np.full(shape, _pick(rng, (low, high)), dtype=np.int64)
    if distribution == "narrow":
        return rng.integers(-2, 3, shape)
    values = rng.integers(low, high + 1, shape)
    if distribution == "sparse":
        values = np.where(rng.random(shape) < rng.uniform(0.3, 0.95), 0, values)
    return values


def _shape(rng, spec, op):
    """(ConvShape, groups) of a drawn layer; fc is a 1x1 conv over an M x 1 image."""
    rows, cols = spec.rows, spec.cols
    if op == "fc":
        return ConvShape(1, int(rng.integers(1, 3 * rows + 3)), int(rng.integers(1, 40)), 1,
                         int(rng.integers(1, 3 * cols + 3))), 1
    r = _pick(rng, (1, 2, 3, 3, 5, 7))
    s = r if rng.random() < 0.8 else _pick(rng, (1, 2, 3, 5))
    n = 1 if rng.random() < 0.7 else int(rng.integers(2, 7))
    h, w = (int(rng.integers(max(1, k - 2), k + 10)) for k in (r, s))
    stride = _pick(rng, (1, 1, 2, 3, 4))
    pad = int(rng.integers(0, min(r, s))) if rng.random() < 0.6 else 0
    low, high = operand_range(spec.operand_bits)
    pad_value = int(rng.integers(low, high + 1)) if pad and rng.random() < 0.3 else 0
    if op == "dwconv":
        c = int(rng.integers(1, 2 * cols + 4))
        return ConvShape(n, c, h, w, c, r, s, stride, pad, pad_value), c
    groups = int(rng.integers(2, 5)) if op == "grouped" else 1
    c = groups * int(rng.integers(1, 2 * rows // groups + 3))
    if groups == 1 and rng.random() < 0.25:
        c = int(rng.integers(1, 5))     # few channels: a first layer, folded where it can
        if rng.random() < 0.5:          # narrow: its blocks may take several kernel rows
            w = int(rng.integers(max(1, s - 2), s + 3))

    k = groups * int(rng.integers(1, 2 * cols // groups + 3))
    return ConvShape(n, c, h, w, k, r, s, stride, pad, pad_value), groups


def _post(rng, spec, shape, groups):
    """Random post-processing as the mapper takes it: whether a bias (its values come with
    the final shape, `_bias`), requantization and ReLU; the requantization scale spreads the
    outputs over the operand range (or, one time in eight, saturates them)."""
    low, high = operand_range(spec.operand_bits)
    reduction = shape.c // groups * shape.r * shape.s
    bias = bool(rng.random() < 0.3)
    requant = None
    if rng.random() < 0.35:
        scale = max(1, high * high * reduction)
        shift = 14 + scale.bit_length() - (spec.operand_bits - 1)
        if rng.random() < 0.125:
            shift = int(rng.integers(0, 4))
        requant = (int(rng.integers(1 << 14, 1 << 15)), shift,
                   int(rng.integers(low // 2, high // 2 + 1)))
    return PostProcess(bias, requant, bool(rng.random() < 0.3))


def _bias(rng, post, k):
    """The bias of a layer of `k` output channels whose post-processing `post` adds one."""
    return rng.integers(-(1 << 20), 1 << 20, k) if post.bias else None


def _timing(rng):
    """The DRAM's default timing half the time, else random latency, bandwidth and stalls."""
    if rng.random() < 0.5:
        return DramTiming()
    return DramTiming(latency=int(rng.integers(1, 120)),
                      gap=_pick(rng, (0, 0, 1, 2, 3)),
                      stall=_pick(rng, (0, 32, 96, 160, 224)),
                      seed=int(rng.integers(1, 1 << 31)))


def _compressing(spec, arch_seed, index, shape, groups, post):
    """(shape, post): on a compressing architecture, one ungrouped layer in two is drawn to
    write compressed outputs (models/mapper.py says when): output columns a multiple of the
    bus bytes (every tile then starts a beat of length-table entries), at least two beats of
    output channels, requantized with ReLU at zero point 0 (about half the outputs zero).
    Drawn from a stream of its own, so the other draws stay what they were."""
    rng = np.random.default_rng((arch_seed, index, 1))
    if spec.activation_compression == "none" or groups > 1 or rng.random() < 0.5:
        return shape, post
    bus = spec.dram_bus_bytes
    if shape.w > 1:        # a convolution (fc is one column: any tile rows will do)
        columns = bus * int(rng.integers(1, 3))
        shape = replace(shape, w=(columns - 1) * shape.stride + shape.s - 2 * shape.pad)
    shape = replace(shape, k=max(shape.k, 2 * bus + int(rng.integers(0, bus))))
    falls_back = _falls_back(arch_seed, index, 5)
    if falls_back:
        shape = replace(shape, k=-(-shape.k // bus) * bus)
    post = _post(rng, spec, shape, groups)
    while post.requant is None:
        post = _post(rng, spec, shape, groups)
    return shape, replace(post, requant=post.requant[:2] + (int(falls_back),), relu=True)


FALL_BACK_SHARE = 1 / 3
"""Share of the layers written or read compressed drawn with pixels longer encoded than
dense (stored dense, models/compression.py): channels a whole number of beats (no padding
byte to spare) and pixels without a zero (outputs: ReLU at zero point 1, every pixel;
inputs: half the pixels)."""


def _falls_back(arch_seed, index, stream):
    """Whether layer `index` is drawn with pixels longer encoded than dense, from a stream of
    its own (5: its outputs, 6: its inputs)."""
    return bool(np.random.default_rng((arch_seed, index, stream)).random() < FALL_BACK_SHARE)


def _reading_compressed(spec, arch_seed, index, shape, groups):
    """(shape, x_compressed): on a compressing architecture, one ungrouped layer in two is
    drawn to read its inputs placed compressed (testbench/placement.py), with more than a
    beat of input channels (a beat cannot get shorter).  Drawn from a stream of its own."""
    rng = np.random.default_rng((arch_seed, index, 3))
    if spec.activation_compression == "none" or groups > 1 or rng.random() < 0.5:
        return shape, False
    bus = spec.dram_bus_bytes
    c = max(shape.c, bus + int(rng.integers(1, 2 * bus)))
    if _falls_back(arch_seed, index, 6):
        c = -(-c // bus) * bus
    return replace(shape, c=c), True


MAX_INPUT_ZEROS = 0.95
"""The most zeros drawn into the inputs of a layer reading them compressed."""


def _sparsified(arch_seed, index, x):
    """`x` with a share of zeros drawn from 0 to MAX_INPUT_ZEROS (rows of every length,
    all-zero ones among them at the top), from a stream of its own; for a layer drawn to fall
    back (`_falls_back`), half its pixels without a zero."""
    rng = np.random.default_rng((arch_seed, index, 4))
    sparse = np.where(rng.random(x.shape) < rng.uniform(0, MAX_INPUT_ZEROS), 0, x)
    if not _falls_back(arch_seed, index, 6):
        return sparse
    zero_free = rng.random((x.shape[0], 1) + x.shape[2:]) < 0.5
    return np.where(zero_free, np.where(x == 0, 1, x), sparse)


def _mobilenet_depthwise(spec, arch_seed, index, shape, groups):
    """On a weight-stationary architecture, one depthwise layer in two is drawn with a
    square 2x2, 3x3 or 5x5 kernel, stride 1 or 2 and padding r // 2 (MobileNet's), the shapes
    the mapper runs across the array's columns (models/depthwise.py), the 2x2 and 3x3 ones
    with the line buffer where their taps fit the rows.  From a stream of its own."""
    rng = np.random.default_rng((arch_seed, index, 5))
    if spec.dataflow != "ws" or groups != shape.c or groups == 1 or rng.random() < 0.5:
        return shape
    r = _pick(rng, (2, 3, 3, 5))
    return replace(shape, r=r, s=r, stride=_pick(rng, (1, 1, 2)), pad=r // 2,
                   h=max(shape.h, r), w=max(shape.w, r))


def _evenly_grouped_os(spec, arch_seed, index, shape, groups, post):
    """On an output-stationary architecture, one convolution in two is drawn taller: the
    first input height, up to 96 rows more, whose tiles the mapper shortens for whole pixel
    groups (models/os_groups.py), if there is one.  From a stream of its own."""
    rng = np.random.default_rng((arch_seed, index, 2))
    if spec.dataflow != "os" or shape.w == 1 or rng.random() < 0.5:
        return shape
    return _first_taller(spec, shape, groups, post, 96, lambda parts: all(
        evenly_grouped(part.mapping, spec.rows) for part in parts))


def _first_taller(spec, shape, groups, post, rows, accept):
    """The first of `shape` with up to `rows` more input rows whose parts `accept`, else
    `shape`."""
    for h in range(shape.h + 1, shape.h + rows + 1):
        taller = replace(shape, h=h)
        try:
            parts = map_grouped_conv(spec, taller, groups, post)
        except MappingError:
            return shape
        if accept(parts):
            return taller
    return shape


STREAMED_WEIGHTS_SHARE = 1 / 4
"""Share of the dense convolutions on a weight-stationary architecture drawn with more
filters and taller than the buffers hold (`_streaming_weights`)."""


def _streaming_weights(spec, arch_seed, index, shape, groups, post):
    """On a dense weight-stationary architecture, STREAMED_WEIGHTS_SHARE of the dense
    convolutions are drawn 1x1 with one or two filter blocks more than the weight buffer holds
    and taller than the input buffer holds: the first of 8 such draws that maps with the
    first filter blocks resident and the last streaming every tile (models.mapper
    `partly_resident_options`), within MAX_CYCLES, if one does.  From a stream of its own."""
    rng = np.random.default_rng((arch_seed, index, 7))
    if (spec.dataflow != "ws" or spec.skips_weights or groups != 1 or shape.w == 1
            or rng.random() >= STREAMED_WEIGHTS_SHARE):
        return shape
    # A 1x1 kernel with the most channels whose filter block fits half the weight buffer:
    # few filter blocks and taps, so few MACs, for weights just over the buffer.
    pointwise = replace(shape, r=1, s=1, stride=1, pad=0, pad_value=0)
    c_blocks = spec.weight_words // (2 * spec.cols)
    block_words = spec.cols * c_blocks
    band_rows = spec.input_words // (shape.w * c_blocks)
    for _ in range(8):
        k_blocks = spec.weight_words // block_words + int(rng.integers(1, 3))
        drawn = replace(pointwise, c=c_blocks * spec.input_lanes - int(rng.integers(0, spec.rows)),
                        k=k_blocks * spec.cols - int(rng.integers(0, spec.cols)),
                        h=max(shape.h, band_rows + int(rng.integers(1, band_rows + 2))))
        if drawn.macs > MAX_CYCLES * spec.peak_macs_per_cycle:
            continue        # too slow even at full utilization: do not map it
        try:
            parts = map_grouped_conv(spec, drawn, groups, post)
        except MappingError:
            continue
        if all(part.mapping.descriptor["w_stream_blocks"] for part in parts) and sum(
                predict_cycles(spec, part.mapping) for part in parts) <= MAX_CYCLES:
            return drawn
    return shape


def _bands_ahead(spec, arch_seed, index, shape, groups, post):
    """On a weight-stationary architecture, one convolution in three is drawn taller: the
    first input height, up to 64 rows more, whose bands the mapper loads while the previous
    tile streams (models/band_prefetch.py), if there is one.  From a stream of its own."""
    rng = np.random.default_rng((arch_seed, index, 6))
    if spec.dataflow != "ws" or rng.random() < 2 / 3:
        return shape
    return _first_taller(spec, shape, groups, post, 64, lambda parts: all(
        part.mapping.descriptor["x_half_words"] for part in parts))


def _channel_slices(spec, arch_seed, index, shape, groups, post):
    """(shape, groups): on a weight-stationary architecture with the depthwise mode, one
    depthwise layer in two is drawn with one to two slices' more channels than the narrowest
    aligned slice (a multiple of the columns starting every pixel's slice on a beat), and
    wider and taller: the first of up to 48 more input columns (and rows as many, at least)
    that the mapper runs depthwise over channel slices (models.mapper `_depthwise_slices`)
    within MAX_CYCLES, if one does.  From a stream of its own."""
    rng = np.random.default_rng((arch_seed, index, 8))
    if (spec.dataflow != "ws" or not spec.depthwise_columns or groups != shape.c
            or groups != shape.k or rng.random() < 0.5):
        return shape, groups
    unit = int(np.lcm(spec.cols, group_slice(spec, shape, groups, post)))
    c = unit + int(rng.integers(1, 2 * unit + 1))
    for extra in range(1, 49):
        wider = replace(shape, c=c, k=c, w=shape.w + extra, h=max(shape.h, shape.w + extra))
        try:
            parts = map_grouped_conv(spec, wider, c, post)
        except MappingError:
            break
        if len(parts) > 1 and parts[0].mapping.descriptor["depthwise"]:
            if sum(predict_cycles(spec, part.mapping) for part in parts) <= MAX_CYCLES:
                return wider, c
            break
    return shape, groups


def case_name(arch_seed, index):
    return f"r{arch_seed}-{index}"


HUNTED_BINS = frozenset({
    "weight_sparsity:2:4_dense_folded", "weight_sparsity:2:4_layer_folded",
    "weight_sparsity:2:4_dense_several_kernel_rows", "weight_sparsity:2:4_several_kernel_rows",
    "weight_sparsity:os_2:4_weight_chunks", "row_stationary:channel_chunks",
    "depthwise:channel_slices"})
"""Bins the ordinary draws hit a few times in a thousand layers or not at all (a 2:4 array's
folded layers, a row-stationary filter block in several chunks, depthwise runs over channel
slices), which `random_case` hunts for on the architectures that can hit them."""
HUNT_SHARE = 1 / 8
"""Share of an architecture's layers drawn as hunts for HUNTED_BINS."""
HUNT_DRAWS = 24
"""Candidate layers a hunt draws before it keeps the ordinary draw."""
HUNT_STRIDE = 1 << 20
"""Candidate j of a hunt for layer i is drawn as layer i + j HUNT_STRIDE would be."""


def _hunts(spec):
    """Whether `spec` can hit any of HUNTED_BINS: a 2:4 array, a row-stationary one, a
    weight-stationary one with the depthwise mode."""
    return spec.skips_weights or spec.dataflow == ROW_STATIONARY or (
        spec.dataflow == "ws" and spec.depthwise_columns)


def random_case(spec, arch_seed, index):
    """Layer `index` of the architecture drawn from `arch_seed`, as a Case.  On an
    architecture that can hit HUNTED_BINS, HUNT_SHARE of the layers (from a stream of their
    own) are hunts: the first of up to HUNT_DRAWS candidates (each drawn as a layer further on
    would be, HUNT_STRIDE apart) that hits one, else the ordinary draw; either way the same
    case for the same seeds, named after `index`."""
    from .coverage import case_bins     # coverage builds on this module's Case
    if _hunts(spec) and np.random.default_rng((arch_seed, index, 9)).random() < HUNT_SHARE:
        for attempt in range(1, HUNT_DRAWS + 1):
            case = _drawn_case(spec, arch_seed, index + attempt * HUNT_STRIDE, index)
            if HUNTED_BINS & set(case_bins(spec, case)):
                return case
    return _drawn_case(spec, arch_seed, index, index)


def _drawn_case(spec, arch_seed, index, name_index):
    """Layer `index` of the architecture drawn from `arch_seed`, as drawn from its seeds, as
    a Case named after layer `name_index`."""
    rng = np.random.default_rng((arch_seed, index))
    refused = too_slow = 0
    for _ in range(MAX_DRAWS):
        op = _pick(rng, OPS, (3, 4, 2, 1))
        shape, groups = _shape(rng, spec, op)
        shape, post = _compressing(spec, arch_seed, index, shape, groups,
                                   _post(rng, spec, shape, groups))
        shape, x_compressed = _reading_compressed(spec, arch_seed, index, shape, groups)
        shape, pruning = _pruning(spec, arch_seed, index, shape, groups)
        shape = _evenly_grouped_os(spec, arch_seed, index, shape, groups, post)
        shape = _mobilenet_depthwise(spec, arch_seed, index, shape, groups)
        shape, groups = _channel_slices(spec, arch_seed, index, shape, groups, post)
        shape = _streaming_weights(spec, arch_seed, index, shape, groups, post)
        shape = _bands_ahead(spec, arch_seed, index, shape, groups, post)
        shape = _taller_than_rs_buffers(spec, arch_seed, index, shape, groups, post)
        try:
            parts = layer_parts(spec, shape, groups, post, x_compressed=x_compressed)
        except MappingError:
            refused += 1
            continue
        cycles = sum(predict_cycles(spec, part.mapping) for part in parts)
        if cycles > MAX_CYCLES:
            too_slow += 1
            continue
        break
    else:
        raise GeneratorError(f"no layer for {spec.name} case {index} in {MAX_DRAWS} draws")
    bias = _bias(rng, post, shape.k)
    distribution = _pick(rng, DISTRIBUTIONS, (5, 2, 1, 1.5, 0.5))
    x_dist, w_dist = distribution, distribution
    if distribution == "all_zero":
        x_dist, w_dist = _pick(rng, (("all_zero", "uniform"), ("uniform", "all_zero")))
    x = _values(rng, x_dist, (shape.n, shape.c, shape.h, shape.w), spec.operand_bits)
    w = _values(rng, w_dist, (shape.k, shape.c // groups, shape.r, shape.s), spec.operand_bits)
    if pruning is not None:
        w = _prune_2to4(pruning, w)
    if x_compressed:
        x = _sparsified(arch_seed, index, x)
    timing = _timing(rng)
    interrupt = int(rng.integers(1, cycles)) if rng.random() < 0.1 else None
    name = case_name(arch_seed, name_index)
    if op == "fc":
        job = Job(name, "fc", x[0, :, :, 0].T.copy(), w[:, :, 0, 0].copy(), timing,
                  bias=bias, requant=post.requant, relu=post.relu, interrupt=interrupt,
                  x_compressed=x_compressed)
    else:
        job = Job(name, "conv", x, w, timing, shape.stride, shape.pad, groups, bias,
                  post.requant, post.relu, interrupt, shape.pad_value, x_compressed)
    return Case(job, distribution, refused, too_slow, cycles)
