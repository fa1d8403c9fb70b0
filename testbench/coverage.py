"""Functional coverage of the regression: which classes of layer, architecture, data and
environment the simulated cases hit, so that holes are visible.

`case_bins(spec, case)` names the bins one case falls in, as "group:bin" strings taken from
the case itself (its shapes, its data, its mapping), not from what the generator meant to
draw.  `Coverage` sums them over a run (plus the draws the mapper refused) and `summary()`
prints one line per group with every bin's count, then the bins never hit.
"""

import json
from collections import Counter
from pathlib import Path

import numpy as np

from models import golden
from models.compression import activation_rows, packing_saves_beats, stored_bytes
from models.golden import operand_range
from models.os_groups import evenly_grouped
from models.perf import early_shifts
from models.spec import DATAFLOWS, OPERAND_BITS, ROW_STATIONARY

from .jobs import expected_activations, expected_output
from .tb import DramTiming

BINS = {
    "op": ("fc", "conv", "dwconv", "grouped"),
    "dataflow": DATAFLOWS + (ROW_STATIONARY,),
    "operand_bits": tuple(str(bits) for bits in OPERAND_BITS),
    "array": ("square", "wide", "tall", "max_dim<=4", "max_dim<=16", "max_dim>16"),
    "kernel": ("1x1", "3x3", ">=5", "non_square"),
    "stride": ("1", ">1"),
    "padding": ("0", ">0", "pad_value!=0"),
    "batch": ("N=1", "N>1"),
    "channels": ("C%rows!=0", "C%rows==0", "K%cols!=0", "K%cols==0", "C<rows", "K<cols"),
    "tiling": ("one_tile", "several_tiles", "output_groups", "weight_chunks",
               "weight_double_buffer", "weights_resident", "weights_partly_resident",
               "tile_spans_images", "pixel_group_spans_images", "os_evenly_grouped_tiles",
               "input_bands_ahead", "paired_blocks", "paired_blocks_odd_chunk",
               "early_shift_prefetched", "early_shift_resident"),
    "post": ("none", "bias", "requant", "relu", "requant_saturates"),
    "data": ("uniform", "sparse", "all_zero", "extremes", "narrow"),
    "accumulator": ("acc_bits=32", "acc_bits<32", "wraps"),
    "buffers": ("small", "large"),
    "dram_bus": ("4", "8", "16", "32", "64"),
    "dram": ("default", "latency", "bandwidth_gap", "backpressure"),
    "fault": ("reset_mid_layer",),
    "compression": ("none", "bitmask_dense_layer", "rows_encoded", "rows_stored_dense",
                    "units_packed"),
    "compressed_reads": ("none", "inputs_dense", "rows_encoded", "all_zero_rows",
                         "rows_stored_dense", "units_packed"),
    "weight_sparsity": ("none", "2:4_dense_layer", "2:4_layer", "2:4_layer_partial_word",
                        "2:4_dense_one_block", "2:4_dense_folded", "2:4_layer_folded",
                        "2:4_dense_several_kernel_rows", "2:4_several_kernel_rows",
                        "os_2:4_dense_layer", "os_2:4_dense_one_block", "os_2:4_layer",
                        "os_2:4_layer_partial_word",
                        "os_2:4_weight_chunks", "os_2:4_weight_row_partial_beat"),
    "x_layout": ("pixel_rows", "packed_rows"),
    "tap_fold": ("folded", "several_segments", "several_kernel_rows", "several_tiles",
                 "stride>1", "bands_ahead"),
    "depthwise": ("across_columns", "block_diagonal", "lane_groups>1", "stride>1",
                  "kernel>=5", "several_tiles", "partial_last_block", "line_buffer",
                  "channel_slices"),
    "row_stationary": ("folds", "strips", "channel_tiles", "filter_tiles",
                       "vertical_replication", "horizontal_replication", "dwconv", "fc",
                       "bands", "channel_chunks"),
}
"""Every bin, by group: a bin with no case is a hole."""
LARGE_BUFFER_BYTES = 8192
"""Input buffers from this size up count as large."""


def _op_of(job):
    if job.op == "fc":
        return "fc"
    if job.groups == 1:
        return "conv"
    return "dwconv" if job.groups == job.inputs.shape[1] == job.weights.shape[0] else "grouped"


def case_bins(spec, case):
    """The "group:bin" names of one Case on `spec`."""
    job = case.job
    shape = job.shape
    parts = job.parts(spec)
    bins = {f"op:{_op_of(job)}", f"data:{case.distribution}"} | arch_bins(spec)
    kernel = {(1, 1): "1x1", (3, 3): "3x3"}.get((shape.r, shape.s))
    if kernel:
        bins.add(f"kernel:{kernel}")
    if max(shape.r, shape.s) >= 5:
        bins.add("kernel:>=5")
    if shape.r != shape.s:
        bins.add("kernel:non_square")
    bins.add("stride:" + ("1" if shape.stride == 1 else ">1"))
    bins.add("padding:" + ("0" if shape.pad == 0 else ">0"))
    if shape.pad_value:
        bins.add("padding:pad_value!=0")
    bins.add("batch:" + ("N=1" if shape.n == 1 else "N>1"))
    cg, kg = shape.c // job.groups, shape.k // job.groups
    bins.add("channels:C%rows" + ("!=0" if cg % spec.rows else "==0"))
    bins.add("channels:K%cols" + ("!=0" if kg % spec.cols else "==0"))
    if cg < spec.rows:
        bins.add("channels:C<rows")
    if kg < spec.cols:
        bins.add("channels:K<cols")
    bins |= _tiling_bins(parts)
    bins |= _batch_tiling_bins(spec, parts)
    bins |= _early_shift_bins(spec, parts)
    bins |= _post_bins(spec, job)
    bins |= _accumulator_bins(spec, job)
    bins |= _dram_bins(job.timing)
    if job.interrupt is not None:
        bins.add("fault:reset_mid_layer")
    bins |= _compression_bins(spec, job, parts)
    bins |= _compressed_read_bins(spec, job, parts)
    bins |= _weight_sparsity_bins(spec, parts)
    bins |= _tap_fold_bins(parts)
    bins |= _depthwise_bins(spec, job, parts)
    bins |= _row_stationary_bins(spec, job, parts)
    return sorted(bins)


def arch_bins(spec):
    """The bins `spec` alone decides, whatever layer runs on it: dataflow, operand bits, the
    array's shape and size, the accumulator's width, the buffers' size, the DRAM bus."""
    largest = max(spec.rows, spec.cols)
    return {
        f"dataflow:{spec.dataflow}", f"operand_bits:{spec.operand_bits}",
        f"dram_bus:{spec.dram_bus_bytes}",
        "array:" + ("square" if spec.rows == spec.cols
                    else "wide" if spec.cols > spec.rows else "tall"),
        "array:" + ("max_dim<=4" if largest <= 4 else "max_dim<=16" if largest <= 16
                    else "max_dim>16"),
        "accumulator:" + ("acc_bits=32" if spec.acc_bits == 32 else "acc_bits<32"),
        "buffers:" + ("large" if spec.glb_input_bytes >= LARGE_BUFFER_BYTES else "small"),
    }


def arch_modes(spec):
    """The groups of layer bins only some architectures can hit, as "mode:" names: compressed
    activations, 2:4 weights on either dataflow (and folded blocks of several kernel rows on a
    2:4 weight-stationary array), depthwise layers across the columns (and with several lane
    groups a word)."""
    modes = set()
    if spec.activation_compression != "none":
        modes.add("mode:compression")
    if spec.skips_weights:
        modes.add(f"mode:{spec.dataflow}_2:4")
        if spec.fold_line_rows > 1:
            modes.add("mode:ws_2:4_several_kernel_rows")
    if spec.depthwise_columns:
        modes.add("mode:depthwise_across_columns")
        if spec.input_lanes > spec.cols:
            modes.add("mode:depthwise_lane_groups")
    return modes


def _row_stationary_bins(spec, job, parts):
    """On a row-stationary array: the pass loops the layer's mapping walks more than once
    (folds of filter rows, strips of output rows, channel and filter tiles), the logical
    sets replicated down or across the array, the depthwise and fc layers it ran, and the
    layers larger than the buffers: an image in several bands of output rows, a filter
    block's weights in several chunks of channels."""
    if spec.dataflow != ROW_STATIONARY:
        return set()
    bins = {f"row_stationary:{_op_of(job)}"} & {"row_stationary:dwconv", "row_stationary:fc"}
    for part in parts:
        d = part.mapping.descriptor
        bins |= {f"row_stationary:{name}" for name, hit in (
            ("folds", d["rs_folds"] > 1), ("strips", d["rs_strips"] > 1),
            ("channel_tiles", d["rs_c_tiles"] > 1),
            ("filter_tiles", max(d["rs_k_tiles"], d["rs_k_tiles_last"]) > 1),
            ("vertical_replication", d["rs_vertical_sets"] > 1),
            ("horizontal_replication", d["rs_horizontal_sets"] > 1),
            ("bands", d["tiles"] > 1), ("channel_chunks", d["c_chunks"] > 1)) if hit}
    return bins


def _depthwise_bins(spec, job, parts):
    """How a depthwise layer runs: across the array's columns (models/depthwise.py), with
    a lane group per filter block, a stride, a wide kernel, several tiles, a last filter
    block of fewer channels, all its taps through the line buffer, as runs over channel
    slices; or as block-diagonal dense runs."""
    if _op_of(job) != "dwconv" or spec.dataflow != "ws":
        return set()
    d, mapping = parts[0].mapping.descriptor, parts[0].mapping
    if not d["depthwise"]:
        return {"depthwise:block_diagonal"}
    return {"depthwise:across_columns"} | {f"depthwise:{name}" for name, hit in (
        ("lane_groups>1", spec.input_lanes > spec.cols), ("stride>1", mapping.shape.stride > 1),
        ("kernel>=5", mapping.shape.s >= 5), ("several_tiles", mapping.tiles > 1),
        ("partial_last_block", d["k_last"] < spec.cols), ("line_buffer", d["dw_line"]),
        ("channel_slices", len(parts) > 1)) if hit}


def _tap_fold_bins(parts):
    """The input's DRAM layout and, for a layer with its taps folded into the array rows
    (models/tap_fold.py), its segments per kernel row, kernel rows per block, tiles, stride
    and whether its bands load ahead."""
    bins = set()
    for part in parts:
        mapping, d = part.mapping, part.mapping.descriptor
        if not d["fold"]:
            bins.add("x_layout:pixel_rows")
            continue
        bins |= {"x_layout:packed_rows", "tap_fold:folded"}
        for name, hit in (("several_segments", d["c_blocks"] > 1),
                          ("several_kernel_rows", d["fold_rows"] > 1),
                          ("several_tiles", mapping.tiles > 1),
                          ("stride>1", mapping.shape.stride > 1),
                          ("bands_ahead", d["x_half_words"] != 0)):
            if hit:
                bins.add(f"tap_fold:{name}")
    return bins


def _weight_sparsity_bins(spec, parts):
    """Whether the layer ran as 2:4 on a 2:4 array (and with a last input word only partly
    filled, or its taps folded, several kernel rows a block or not), or dense there in dense
    lanes (one block a word, or its taps folded, ditto) (models/sparsity.py), and on an
    output-stationary one."""
    if not spec.skips_weights:
        return {"weight_sparsity:none"}
    bins = set()
    for part in parts:
        d = part.mapping.descriptor
        if d["dense_lanes"]:
            bins.add("weight_sparsity:2:4_dense_layer")
            if d["fold"]:
                bins.add("weight_sparsity:2:4_dense_folded")
                if d["fold_rows"] > 1:
                    bins.add("weight_sparsity:2:4_dense_several_kernel_rows")
            elif d["word_blocks"] == 1:
                bins.add("weight_sparsity:2:4_dense_one_block")
        else:
            bins.add("weight_sparsity:2:4_layer")
            if d["fold"]:
                bins.add("weight_sparsity:2:4_layer_folded")
                if d["fold_rows"] > 1:
                    bins.add("weight_sparsity:2:4_several_kernel_rows")
            elif d["c_last"] < spec.input_lanes:
                bins.add("weight_sparsity:2:4_layer_partial_word")
    if spec.dataflow == "os":
        # The same bins again for the output-stationary 2:4 array (models/sparse_os.py), and
        # its weights' DRAM rows (a chunk's steps each): several chunks, a row ending in a beat.
        bins |= {"weight_sparsity:os_" + name.split(":", 1)[1] for name in bins}
        bins |= _os_weight_row_bins(spec, parts)
    return bins


def _os_weight_row_bins(spec, parts):
    bins = set()
    for part in parts:
        d = part.mapping.descriptor
        if d["c_chunks"] > 1:
            bins.add("weight_sparsity:os_2:4_weight_chunks")
        if any(n * spec.operand_bits % (8 * spec.dram_bus_bytes) for n in (d["w_row_elems"],
                                                                         d["w_last_row_elems"])):
            bins.add("weight_sparsity:os_2:4_weight_row_partial_beat")
    return bins


def _compression_bins(spec, job, parts):
    """Whether the outputs were written compressed, and how their rows were stored."""
    if spec.activation_compression == "none":
        return {"compression:none"}
    if not any(part.mapping.descriptor["y_compressed"] for part in parts):
        return {"compression:bitmask_dense_layer"}
    outputs = expected_activations(spec, job)
    rows = activation_rows(outputs, spec.dram_bus_bytes)
    _, encoded = stored_bytes(rows, spec.dram_bus_bytes)
    return {f"compression:{name}" for name, hit in (
        ("rows_encoded", encoded.any()), ("rows_stored_dense", not encoded.all()),
        ("units_packed", packing_saves_beats(rows, outputs.shape[-1], spec.dram_bus_bytes)))
            if hit}


def _compressed_read_bins(spec, job, parts):
    """Whether the inputs were read compressed, and how their rows were stored: encoded
    (all-zero ones among them) or dense (longer encoded)."""
    if spec.activation_compression == "none":
        return {"compressed_reads:none"}
    if not any(part.mapping.descriptor["x_compressed"] for part in parts):
        return {"compressed_reads:inputs_dense"}
    rows = activation_rows(job.conv_inputs, spec.dram_bus_bytes)
    _, encoded = stored_bytes(rows, spec.dram_bus_bytes)
    return {f"compressed_reads:{name}" for name, hit in (
        ("rows_encoded", encoded.any()), ("all_zero_rows", not rows.any(axis=1).all()),
        ("rows_stored_dense", not encoded.all()),
        ("units_packed", packing_saves_beats(rows, job.conv_inputs.shape[-1],
                                             spec.dram_bus_bytes))) if hit}


def _tiling_bins(parts):
    bins = set()
    for part in parts:
        mapping, d = part.mapping, part.mapping.descriptor
        bins.add("tiling:" + ("several_tiles" if mapping.tiles > 1 else "one_tile"))
        if d["k_group_blocks"] < d["k_blocks"]:
            bins.add("tiling:output_groups")
        if d["c_chunks"] > 1:
            bins.add("tiling:weight_chunks")
        if d["w_half_words"]:
            bins.add("tiling:weight_double_buffer")
        if d["x_half_words"]:
            bins.add("tiling:input_bands_ahead")
        if d["paired"]:
            bins.add("tiling:paired_blocks")
            if d["chunk_red"] % 2 or d["last_chunk_red"] % 2:
                bins.add("tiling:paired_blocks_odd_chunk")
    return bins


def _early_shift_bins(spec, parts):
    """A chunk's first block's weights shifting in while the chunk before it streams, from
    a prefetch or resident (weight-stationary, models/perf.py `early_shifts`)."""
    if spec.dataflow != "ws":
        return set()
    return {f"tiling:early_shift_{source}" for part in parts
            for source, count in early_shifts(spec, part.mapping).items() if count}


def _batch_tiling_bins(spec, parts):
    """Weights resident across the tiles of a layer (or its first filter blocks' alone);
    tiles of several whole images, and (output-stationary) a group of `rows` pixels that
    starts in one image and ends in the next; output-stationary tiles one row short for whole
    pixel groups (models.os_groups)."""
    bins = set()
    for mapping in (part.mapping for part in parts):
        shape = mapping.shape
        if mapping.descriptor["w_resident"]:
            bins.add("tiling:weights_resident")
        if mapping.descriptor["w_stream_blocks"]:
            bins.add("tiling:weights_partly_resident")
        if mapping.tile_images > 1:
            bins.add("tiling:tile_spans_images")
            if spec.dataflow == "os" and shape.p * shape.q % spec.rows:
                bins.add("tiling:pixel_group_spans_images")
        if spec.dataflow == "os" and evenly_grouped(mapping, spec.rows):
            bins.add("tiling:os_evenly_grouped_tiles")
    return bins


def _post_bins(spec, job):
    bins = set()
    if job.bias is not None:
        bins.add("post:bias")
    if job.relu:
        bins.add("post:relu")
    if job.requant is not None:
        bins.add("post:requant")
        low, high = operand_range(spec.operand_bits)
        expected = expected_output(spec, job)
        if ((expected == low) | (expected == high)).any():
            bins.add("post:requant_saturates")
    if not bins:
        bins.add("post:none")
    return bins


def _accumulator_bins(spec, job):
    """Whether the layer's sums wrap at the accumulator's width."""
    wide = _raw_sums(job)
    return {"accumulator:wraps"} if (golden.wrap(wide, spec.acc_bits) != wide).any() else set()


def _raw_sums(job):
    """The layer's sums before any wrapping (int64 is wide enough for every case drawn)."""
    if job.op == "fc":
        return job.inputs.astype(np.int64) @ job.weights.astype(np.int64).T
    return golden.conv2d(job.inputs, job.weights, job.stride, job.pad, job.groups,
                         acc_bits=64, pad_value=job.pad_value).astype(np.int64)


def _dram_bins(timing):
    if timing == DramTiming():
        return {"dram:default"}
    bins = set()
    if timing.latency != DramTiming().latency:
        bins.add("dram:latency")
    if timing.gap:
        bins.add("dram:bandwidth_gap")
    if timing.stall:
        bins.add("dram:backpressure")
    return bins


class Coverage:
    """Bin counts over a run, plus the layers drawn and refused on the way."""

    def __init__(self, counts=None, cases=0, refused=0, too_slow=0, archs=0):
        self.counts = Counter(counts or {})
        self.cases = cases
        self.refused = refused
        self.too_slow = too_slow
        self.archs = archs

    def add_arch(self, spec, cases):
        self.archs += 1
        for case in cases:
            self.add_case(spec, case)

    def add_case(self, spec, case):
        self.cases += 1
        self.refused += case.refused
        self.too_slow += case.too_slow
        self.counts.update(case_bins(spec, case))

    def merge(self, other):
        self.counts.update(other.counts)
        self.cases += other.cases
        self.refused += other.refused
        self.too_slow += other.too_slow
        self.archs += other.archs

    def holes(self):
        return [f"{group}:{name}" for group, names in BINS.items() for name in names
                if not self.counts[f"{group}:{name}"]]

    def summary(self):
        lines = [f"functional coverage: {self.cases} layers on {self.archs} architectures; "
                 f"{self.refused} draws refused by the mapper, {self.too_slow} too slow"]
        for group, names in BINS.items():
            cells = ", ".join(f"{name} {self.counts[f'{group}:{name}']}" for name in names)
            lines.append(f"  {group:<13} {cells}")
        holes = self.holes()
        lines.append(f"  holes: {', '.join(holes) if holes else 'none'}")
        return "\n".join(lines)

    def to_dict(self):
        return {"counts": dict(self.counts), "cases": self.cases, "refused": self.refused,
                "too_slow": self.too_slow, "archs": self.archs}

    def save(self, path):
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path):
        return cls(**json.loads(Path(path).read_text()))
