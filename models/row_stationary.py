"""Row-stationary (Eyeriss) mapping of a convolution, executed step by step in NumPy.

Design statement (issue 14, first building blocks).

Mapping. A 2-D convolution plane (one image, one filter, one channel) is a logical PE set of
R filter rows x E output rows (E, F are `ConvShape.p`, `.q`): PE (i, j) runs the 1-D
convolution of filter row i with padded input row j*U + i (U the stride) and produces F
partial sums of output row j. Filter row i is
multicast along PE row i (the horizontal filter bus), input row y to every PE on the diagonal
i + j*U = y (the diagonal input bus), and the partial sums of column j are added up the
column (PE to PE, bottom to top; the top PE hands the column's sum to the global buffer).

Each PE handles `channels` (q) input channels and `filters` (p) filters at once: its filter
register file holds p*q*S weights, its input window q*S inputs, its psum file p sums, so the
register-file depths of the spec bound p and q (`RowStationaryArray`, Eyeriss 224 / 12 / 24).
Inside a PE, for each output f: for each channel, for each tap s, one input-window read feeds
p MACs (one per filter, filters innermost); then the p sums drain up the column, each added to
the sum arriving from below.

Folding and replication onto a rows x cols array: the set is cut into folds of at most `rows`
filter rows and strips of at most `cols` output rows; when the set (or its fold) is smaller
than the array it is replicated: `rows // fold_rows` copies stacked vertically take different
channel groups (their sums add up the same column), `cols // strip_cols` copies side by side
take different filter groups (they share the diagonal input bus). A pass is one (image,
filter tile, channel tile, fold, strip); the global buffer keeps the partial sums between the
passes that reduce into the same outputs (channel tiles and folds).

Layers beyond one convolution: a batch is the passes' image loop; a grouped or depthwise
layer runs group after group (`run_grouped_conv`); a fully-connected layer of M samples is a
1x1 convolution whose one output row holds the M samples (`run_fc`), so each PE keeps its
weights for all M samples.

Done in the spec (issue 14, step 1): `dataflow: rs` with `rs_filter_depth`,
`rs_input_depth`, `rs_psum_depth` (`array_of(spec)`); the mapper and the accelerator refuse
it until the inner loop runs in the accelerator.  The inner loop's parts (pyhdl/rs_loop.py)
run a chunk's passes from the global buffers: a pass walk (adders only) configures and
starts the input feed (one lane of a pixel's channel block of the input band, padding at the
port), the filter feed (`RowStationaryMapping.filter_buffer`: one lane per PE row), the
array, and the psum collector, which gathers the column sums into output-buffer words of a
pixel's filters for the shared accumulator; the columns start from zero and the passes
reducing into the same outputs add up in the output buffer.  Still to build: the loop's
`InnerLoop` glue (the sequencer's chunk to the pass walk's configuration), its descriptor
fields and the mapper's weight layout and choice of (channels, filters, fold, strip) by
least DRAM traffic then cycles (`map_conv` takes the largest p, q the register files
allow), the wiring in pyhdl/top.py and the RS counters, the perf model built on
`expected_counts` plus cycles, and energy entries for the three register files and the two
multicast buses.
"""

import functools
from collections import Counter
from dataclasses import dataclass
from math import ceil

import numpy as np

from models import mapper as layer_mapper
from models.golden import wrap
from models.hardware import COUNT_LIMIT
from models.mapper import ConvShape, MappingError, PostProcess
from models.spec import ArchSpec

EYERISS_DEPTHS = {"filter_depth": ArchSpec.rs_filter_depth,
                  "input_depth": ArchSpec.rs_input_depth, "psum_depth": ArchSpec.rs_psum_depth}
"""Eyeriss v1's per-PE register files (entries): filter scratchpad, input window, psums (the
spec's defaults)."""

PE_EVENTS = ("macs", "gated_macs", "filter_rf_reads", "filter_rf_writes", "input_rf_reads",
             "input_rf_writes", "psum_rf_reads", "psum_rf_writes", "psum_drains")
"""What one PE counts (see `pe_conv1d`), summed over the PEs in the array's totals."""

ARRAY_EVENTS = ("passes", "pe_jobs", "glb_filter_reads", "filter_bus_deliveries",
                "input_bus_sends", "input_bus_deliveries", "glb_psum_reads", "glb_psum_writes",
                "psum_hops")
"""What the array counts beyond its PEs (see `run_conv`)."""


@dataclass(frozen=True)
class RowStationaryArray:
    """A physical RS array: rows x cols PEs and each PE's register-file depths (entries)."""
    rows: int
    cols: int
    filter_depth: int
    input_depth: int
    psum_depth: int

    def __post_init__(self):
        for name in ("rows", "cols", "filter_depth", "input_depth", "psum_depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"RowStationaryArray: {name} must be a positive integer, "
                                 f"not {value!r}")


def array_of(spec):
    """The row-stationary array of an architecture spec: its PEs and register-file depths."""
    return RowStationaryArray(spec.rows, spec.cols, spec.rs_filter_depth, spec.rs_input_depth,
                              spec.rs_psum_depth)


def window_words(shape):
    """Input words one PE receives per channel for one input row: S, then min(U, S) per
    further output."""
    return shape.s + (shape.q - 1) * min(shape.stride, shape.s)


@dataclass(frozen=True)
class RowStationaryMapping:
    """How a conv runs on an array: per-PE channels q and filters p, fold rows, strip columns,
    and the vertical / horizontal replication they leave room for."""
    shape: ConvShape
    array: RowStationaryArray
    channels: int
    filters: int
    fold_rows: int
    strip_cols: int
    out_rows: int = 0
    """Output rows the passes cover: a tile's (0: all of the shape's)."""

    @property
    def rows_out(self):
        """Output rows the passes cover."""
        return self.out_rows or self.shape.p

    @property
    def vertical_sets(self):
        return self.array.rows // self.fold_rows

    @property
    def horizontal_sets(self):
        return self.array.cols // self.strip_cols

    @property
    def channel_tile(self):
        return self.vertical_sets * self.channels

    @property
    def filter_tile(self):
        return self.horizontal_sets * self.filters

    def passes(self):
        """Every pass in execution order: (image, first filter, first channel, first filter
        row, first output row)."""
        sh = self.shape
        for n in range(sh.n):
            for k0 in range(0, sh.k, self.filter_tile):
                for c0 in range(0, sh.c, self.channel_tile):
                    for r0 in range(0, sh.r, self.fold_rows):
                        for e0 in range(0, self.rows_out, self.strip_cols):
                            yield n, k0, c0, r0, e0

    def filter_buffer(self, w):
        """The weight-buffer words of image 0's passes, in the order they are read: each
        fold's `Pass.filter_words` once (the fold's strips read the same words again).
        Returns (words: T x rows, each pass's first word in `passes()` order)."""
        words, bases, base = [], [], 0
        for start in self.passes():
            if start[0] != 0:
                break
            if start[4] == 0:
                base = sum(len(word) for word in words)
                words += [lanes for _, lanes, _ in self.plan(*start).filter_words(w, self)]
            bases.append(base)
        return np.concatenate(words), bases

    def plan(self, n, k0, c0, r0, e0):
        """The pass starting at (image, filter, channel, filter row, output row)."""
        sh, q, p = self.shape, self.channels, self.filters
        channel_sets = tuple(range(c, min(c + q, sh.c))
                             for c in range(c0, min(c0 + self.channel_tile, sh.c), q))
        filter_sets = tuple(range(k, min(k + p, sh.k))
                            for k in range(k0, min(k0 + self.filter_tile, sh.k), p))
        return Pass(n, range(r0, min(r0 + self.fold_rows, sh.r)),
                    range(e0, min(e0 + self.strip_cols, self.rows_out)), channel_sets,
                    filter_sets,
                    accumulate=not (c0 == 0 and r0 == 0))


@dataclass(frozen=True)
class Pass:
    """One pass as the array runs it: image n, the filter rows of its fold, the output rows of
    its strip, the channels of each vertical set and the filters of each horizontal set;
    `accumulate`: its sums add to earlier passes' (it is not the first channel tile and
    fold of its outputs)."""
    n: int
    fold: range
    strip: range
    channel_sets: tuple
    filter_sets: tuple
    accumulate: bool

    def input_sends(self, shape):
        """The input bus's words in the order the pass needs them: for each output f, each
        vertical set v, each distinct diagonal y (i + j*U over the fold's rows i and the
        strip's columns j), each channel c of set v, the window's new words (S for the first
        output, min(U, S) after). Yields (v, y, c, row, column) with row, column in the
        padded input (row e0*U + r0 + y); words outside the image are the padding value."""
        u, s = shape.stride, shape.s
        r0, e0 = self.fold.start, self.strip.start
        diagonals = sorted({j * u + i for j in range(len(self.strip))
                            for i in range(len(self.fold))})
        for f in range(shape.q):
            new = s if f == 0 else min(u, s)
            for v, cs in enumerate(self.channel_sets):
                for y in diagonals:
                    for c in cs:
                        for column in range(f * u + s - new, f * u + s):
                            yield v, y, c, e0 * u + r0 + y, column

    def filter_words(self, w, mapping):
        """The pass's weights as the words of a buffer with one lane per PE row: for each
        horizontal set h, words t = 0, 1, ... whose lane a holds PE row a's t-th weight of
        filter set h, in the PE's load order (channel, tap, filter); PE row a sits at fold
        row a mod fold_rows of vertical set a div fold_rows.

        Returns [(h, words, lengths)]: words (T x rows, zero where a lane has no weight),
        lengths[a] the weights of lane a (p_h * q_v * S; 0 for a PE row the pass leaves idle).
        """
        rows = mapping.array.rows
        sets = []
        for h, ks in enumerate(self.filter_sets):
            lanes = [np.zeros(0, dtype=np.int64)] * rows
            for a in range(rows):
                v, i = divmod(a, mapping.fold_rows)
                if v < len(self.channel_sets) and i < len(self.fold):
                    cs = self.channel_sets[v]
                    lanes[a] = np.asarray(w)[ks.start:ks.stop, cs.start:cs.stop,
                                             self.fold[i]].transpose(1, 2, 0).reshape(-1)
            lengths = [len(lane) for lane in lanes]
            words = np.zeros((max(lengths), rows), dtype=np.int64)
            for a, lane in enumerate(lanes):
                words[:len(lane), a] = lane
            sets.append((h, words, lengths))
        return sets


def map_conv(shape, array):
    """The mapping with the most channels per PE the input window allows, then the most
    filters the filter and psum files allow; folds and strips as large as the array."""
    if shape.s > array.input_depth or shape.s > array.filter_depth:
        raise ValueError(f"row-stationary: a filter row of {shape.s} taps does not fit the "
                         f"register files ({array.input_depth} inputs, "
                         f"{array.filter_depth} weights)")
    channels = min(shape.c, array.input_depth // shape.s, array.filter_depth // shape.s)
    filters = min(shape.k, array.psum_depth, array.filter_depth // (channels * shape.s))
    return RowStationaryMapping(shape, array, channels, filters,
                                fold_rows=min(shape.r, array.rows),
                                strip_cols=min(shape.p, array.cols))


def pe_conv1d(filters, rows, stride, outputs, psum_in):
    """One PE's job: the 1-D convolutions of p filter rows over q input rows, added to the
    sums from below. filters is p x q x S, rows q x (padded width), psum_in p x F (int64).

    Returns (psum_out p x F, Counter of PE_EVENTS). Events, in the PE's order (for each
    output f: channels, taps, filters innermost; then drain):
    - filter_rf_writes p*q*S (loaded once); input_rf_writes q*(S + (F-1)*min(U, S)) (the
      first window, then the new words of each step);
    - per output: q*S input reads, p*q*S MACs and filter reads; a MAC whose input is zero
      is gated (counted in gated_macs, still a MAC); p*q*S psum writes and p*(q*S - 1) psum
      reads (each filter's first MAC writes without reading) plus p drains, each one psum
      read, so psum reads equal MACs.
    """
    p, q, s = filters.shape
    counts = Counter(filter_rf_writes=p * q * s,
                     input_rf_writes=q * (s + (outputs - 1) * min(stride, s)))
    psum_out = np.empty((p, outputs), dtype=np.int64)
    for f in range(outputs):
        window = rows[:, f * stride:f * stride + s].astype(np.int64)
        macs = p * q * s
        counts.update(input_rf_reads=q * s, macs=macs, filter_rf_reads=macs,
                      gated_macs=p * int(np.count_nonzero(window == 0)),
                      psum_rf_writes=macs, psum_rf_reads=macs, psum_drains=p)
        local = np.einsum("pqs,qs->p", filters.astype(np.int64), window)
        psum_out[:, f] = psum_in[:, f] + local
    return psum_out, counts


def run_conv(x, w, array, stride=1, pad=0, acc_bits=32, mapping=None, pad_value=0):
    """Run conv2d(x, w) (NCHW, KCRS, padding of `pad_value`) pass by pass on the RS array.

    Returns (NKEF int32 output, Counter of PE_EVENTS and ARRAY_EVENTS, mapping). Per pass:
    - every PE row of every vertical set reads its p*q*S weights once from the global
      buffer and multicasts them along the row to the strip's columns;
    - every distinct input row of a vertical set (PEs on one diagonal share it) is sent once
      on the input bus (window_words per channel) and delivered to every PE on its diagonal
      in every horizontal set;
    - each column's psum chain starts from the global buffer's partial sum (read unless this
      is the first pass reducing into those outputs), climbs the PEs (a hop per PE but the
      top one) and the top PE's sums are written back.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    (n, c, h, width), (k, _, r, s) = x.shape, w.shape
    shape = ConvShape(n, c, h, width, k, r, s, stride, pad, pad_value)
    mapping = mapping or map_conv(shape, array)
    sh = shape
    padded = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                    constant_values=pad_value)
    out = np.zeros((sh.n, sh.k, sh.p, sh.q), dtype=np.int64)
    counts = Counter({name: 0 for name in PE_EVENTS + ARRAY_EVENTS})
    for start in mapping.passes():
        counts["passes"] += 1
        the_pass = mapping.plan(*start)
        n, fold, strip = the_pass.n, the_pass.fold, the_pass.strip
        channel_sets, filter_sets = the_pass.channel_sets, the_pass.filter_sets
        for cs in channel_sets:
            diagonals = {e * stride + r for e in strip for r in fold}
            counts["input_bus_sends"] += len(diagonals) * len(cs) * window_words(sh)
            for ks in filter_sets:
                counts["glb_filter_reads"] += len(fold) * len(ks) * len(cs) * sh.s
                counts["filter_bus_deliveries"] += (len(fold) * len(strip)
                                                    * len(ks) * len(cs) * sh.s)
                counts["input_bus_deliveries"] += (len(fold) * len(strip)
                                                   * len(cs) * window_words(sh))
        for ks in filter_sets:
            for e in strip:
                psum = out[n, ks.start:ks.stop, e]
                if the_pass.accumulate:
                    counts["glb_psum_reads"] += psum.size
                chain = 0
                for cs in channel_sets:
                    for r in fold:
                        counts["pe_jobs"] += 1
                        psum, pe_counts = pe_conv1d(
                            w[ks.start:ks.stop, cs.start:cs.stop, r],
                            padded[n, cs.start:cs.stop, e * stride + r], stride, sh.q, psum)
                        counts.update(pe_counts)
                        chain += 1
                counts["psum_hops"] += (chain - 1) * psum.size
                counts["glb_psum_writes"] += psum.size
                out[n, ks.start:ks.stop, e] = psum
    return wrap(out, acc_bits).astype(np.int32), counts, mapping


def run_grouped_conv(x, w, array, groups, stride=1, pad=0, acc_bits=32, pad_value=0):
    """A grouped convolution (w is K x C/groups x R x S; groups = C = K: depthwise) as one
    `run_conv` per group, one after the other: the groups' passes never share a PE set, as
    no filter of one group reads another group's channels.

    Returns (NKPQ int32, Counter summed over the groups, the groups' common mapping)."""
    x, w = np.asarray(x), np.asarray(w)
    if groups < 1 or x.shape[1] % groups or w.shape[0] % groups \
            or w.shape[1] * groups != x.shape[1]:
        raise ValueError(f"row-stationary: {groups} groups do not fit C={x.shape[1]}, "
                         f"K={w.shape[0]} and W {w.shape}")
    cg, kg = x.shape[1] // groups, w.shape[0] // groups
    outputs, counts, mapping = [], Counter(), None
    for g in range(groups):
        y, group_counts, mapping = run_conv(x[:, g * cg:(g + 1) * cg], w[g * kg:(g + 1) * kg],
                                            array, stride, pad, acc_bits, mapping, pad_value)
        outputs.append(y)
        counts.update(group_counts)
    return np.concatenate(outputs, axis=1), counts, mapping


def fc_input(x):
    """A fully-connected layer's M x C input as the input of its convolution: one image of C
    channels, one row of M columns (`run_fc`)."""
    x = np.asarray(x)
    return x.T.reshape(1, x.shape[1], 1, x.shape[0])


def run_fc(x, w, array, acc_bits=32):
    """Y = X W^T (X M x C, W K x C) as a 1x1 convolution whose single output row holds the M
    samples: each PE keeps its p filters' q weights in its filter file for all M samples
    (the weights' reuse stays in the register file) while the samples' channels stream on
    the input bus to every filter group.

    Returns (M x K int32, Counter, mapping)."""
    w = np.asarray(w)
    y, counts, mapping = run_conv(fc_input(x), w.reshape(*w.shape, 1, 1), array,
                                  acc_bits=acc_bits)
    return y[0, :, 0, :].T, counts, mapping


def layer_counts(spec, shape, groups=1):
    """The array's counts (PE_EVENTS and ARRAY_EVENTS but gated_macs, which depends on the
    data) of a layer of `shape` (a grouped layer: C and K of the whole layer, `groups` of
    them) on the row-stationary array of `spec`, group after group; and the groups' common
    mapping. Cycles are not modelled yet: they depend on the inner loop (issue 14)."""
    if groups < 1 or shape.c % groups or shape.k % groups:
        raise ValueError(f"row-stationary: {groups} groups do not fit C={shape.c}, K={shape.k}")
    group = ConvShape(shape.n, shape.c // groups, shape.h, shape.w, shape.k // groups, shape.r,
                      shape.s, shape.stride, shape.pad, shape.pad_value)
    mapping = map_conv(group, array_of(spec))
    return Counter({name: groups * value
                    for name, value in expected_counts(mapping).items()}), mapping


def expected_counts(mapping):
    """Closed forms of every count `run_conv` makes, derived from the mapping alone.

    Sums over passes factorize: over the filter tiles and horizontal sets the active filters
    add up to K, the active filter groups to Gk = ceil(K/p); likewise channels to C and channel
    groups to Gc = ceil(C/q); folds x rows to R; strips x columns to E. With MACs = N K C R S E F,
    the tiles nt = ceil(K / (p * horizontal sets)), ct = ceil(C / (q * vertical sets)), folds
    nr = ceil(R / fold_rows), strips ne = ceil(E / strip_cols), W = S + (F-1) min(U, S):
    - macs, filter_rf_reads, psum_rf_reads, psum_rf_writes = MACs;
    - filter_rf_writes = filter_bus_deliveries = N K C R S E (every PE loads its p q S weights);
    - input_rf_writes = input_bus_deliveries = N Gk C R E W; input_rf_reads = N Gk C R E S F;
    - psum_drains = N K Gc R E F; glb_psum_writes = N K E F ct nr (one per column output and
      reducing pass), glb_psum_reads = that minus N K E F (the first pass reads nothing);
      psum_hops = drains - glb_psum_writes (every drain but the top PE's is a hop);
    - glb_filter_reads = N K C R S ne (each fold's rows read once per strip);
    - input_bus_sends = N nt C W sum over folds and strips of the distinct diagonals
      D(r, e) = (e - 1) min(U, r) + r, i.e. (E - ne) sum_folds min(U, r) + ne R;
    - passes = N nt ct nr ne; pe_jobs (one PE's `pe_conv1d`) = N Gk Gc R E.
    gated_macs depends on the data and is not here.
    """
    m, sh = mapping, mapping.shape
    n, k, c, r, s, e, f, u = sh.n, sh.k, sh.c, sh.r, sh.s, m.rows_out, sh.q, sh.stride
    macs = n * k * c * r * s * e * f
    gk, gc = ceil(k / m.filters), ceil(c / m.channels)
    nt, ct = ceil(k / m.filter_tile), ceil(c / m.channel_tile)
    nr, ne = ceil(r / m.fold_rows), ceil(e / m.strip_cols)
    fold_sizes = [m.fold_rows] * (nr - 1) + [r - (nr - 1) * m.fold_rows]
    diagonals = (e - ne) * sum(min(u, size) for size in fold_sizes) + ne * r
    drains = n * k * gc * r * e * f
    psum_writes = n * k * e * f * ct * nr
    return Counter(
        macs=macs, filter_rf_reads=macs, psum_rf_reads=macs, psum_rf_writes=macs,
        filter_rf_writes=n * k * c * r * s * e, filter_bus_deliveries=n * k * c * r * s * e,
        input_rf_writes=n * gk * c * r * e * window_words(sh),
        input_bus_deliveries=n * gk * c * r * e * window_words(sh),
        input_rf_reads=n * gk * c * r * e * s * f,
        psum_drains=drains, glb_psum_writes=psum_writes,
        glb_psum_reads=psum_writes - n * k * e * f, psum_hops=drains - psum_writes,
        glb_filter_reads=n * k * c * r * s * ne,
        input_bus_sends=n * nt * c * window_words(sh) * diagonals,
        passes=n * nt * ct * nr * ne, pe_jobs=n * gk * gc * r * e)


RS_MAX_STRIDE = 7
"""The largest stride the row-stationary array's diagonal tags cover (pyhdl/rs_array.py)."""
RS_MAX_OUTPUTS = (1 << 12) - 1
"""The most outputs per PE row (F) a PE job counts (pyhdl/rs_pe.py)."""


@dataclass(frozen=True)
class LayerChoice:
    """How the accelerator runs a row-stationary layer: per-PE `channels` and `filters`,
    `fold_rows` and `strip_cols` of every pass; `tile_p` output rows a tile (the tile's band
    of every channel in the input buffer, its outputs of a group of `k_group_blocks` filter
    blocks in the output buffer); `c_chunk_blocks` channel blocks a chunk (a chunk's weights,
    of one block of `cols` filters, in the weight buffer); `resident`: every filter block's
    weights stay in the weight buffer for the whole layer (one chunk a block); `halves`: the
    weight buffer works as two halves, the next chunk's weights loading into one while the
    other's passes run (a chunk then fits half of it)."""
    channels: int
    filters: int
    fold_rows: int
    strip_cols: int
    tile_p: int
    c_chunk_blocks: int
    resident: bool
    k_group_blocks: int
    halves: bool = False


def choice_of(spec, mapping):
    """The `LayerChoice` a row-stationary mapping's descriptor holds."""
    d = mapping.descriptor
    return LayerChoice(d["rs_channels"], d["rs_filters"], d["rs_fold_rows"],
                       d["rs_strip_cols"], d["tile_p"], d["c_chunk_blocks"],
                       bool(d["w_resident"]), d["k_group_blocks"], d["w_half_words"] != 0)


def chunk_extents(spec, shape, choice):
    """(filters of a full filter block, of the last; channels of a full chunk, of the last)."""
    k_full = min(shape.k, spec.cols)
    c_full = min(shape.c, choice.c_chunk_blocks * spec.input_lanes)
    return (k_full, shape.k - (ceil(shape.k / k_full) - 1) * k_full,
            c_full, shape.c - (ceil(shape.c / c_full) - 1) * c_full)


def chunk_mapping(spec, shape, choice, last_k=False, last_c=False, rows=0):
    """The passes of one chunk over one image's tile of `rows` output rows (0: the choice's
    tile_p): the layer's last filter block's (`last_k`) or another's, its last channel chunk's
    (`last_c`) or another's."""
    k_full, k_last, c_full, c_last = chunk_extents(spec, shape, choice)
    return RowStationaryMapping(
        replace_shape(shape, n=1, k=k_last if last_k else k_full, c=c_last if last_c else c_full),
        array_of(spec), choice.channels, choice.filters, choice.fold_rows, choice.strip_cols,
        rows or choice.tile_p)


def chunk_kinds(spec, shape, choice):
    """((last_k, last_c), chunks of that kind a tile) over a tile's chunks."""
    k_blocks, c_chunks = ceil(shape.k / spec.cols), chunks_of(spec, shape, choice)
    return [((last_k, last_c), blocks * chunks)
            for last_k, blocks in ((False, k_blocks - 1), (True, 1))
            for last_c, chunks in ((False, c_chunks - 1), (True, 1)) if blocks and chunks]


def chunks_of(spec, shape, choice):
    """Channel chunks a filter block."""
    return ceil(ceil(shape.c / spec.input_lanes) / choice.c_chunk_blocks)


def buffer_words(mapping):
    """Weight-buffer words of a chunk's weights (`RowStationaryMapping.filter_buffer`): for
    every filter tile, channel tile and fold, each horizontal set's p q S words (q of the
    tile's widest vertical set)."""
    words = 0
    for start in mapping.passes():
        if start[0] == 0 and start[4] == 0:
            the_pass = mapping.plan(*start)
            widest = max(len(cs) for cs in the_pass.channel_sets)
            words += sum(len(ks) for ks in the_pass.filter_sets) * widest * mapping.shape.s
    return words


@functools.lru_cache(maxsize=4096)
def chunk_words(spec, shape, choice):
    """Weight-buffer words (= DRAM rows of W) of each chunk kind: {(last_k, last_c): words}."""
    return {(last_k, last_c): buffer_words(chunk_mapping(spec, shape, choice, last_k, last_c))
            for last_k in (False, True) for last_c in (False, True)}


def tile_weight_words(spec, shape, choice):
    """Weight-buffer words a tile loads: every chunk of every filter block."""
    words = chunk_words(spec, shape, choice)
    return sum(count * words[kind] for kind, count in chunk_kinds(spec, shape, choice))


def replace_shape(shape, **changes):
    """`shape` with some of its fields changed."""
    fields = dict(n=shape.n, c=shape.c, h=shape.h, w=shape.w, k=shape.k, r=shape.r,
                  s=shape.s, stride=shape.stride, pad=shape.pad, pad_value=shape.pad_value)
    fields.update(changes)
    return ConvShape(**fields)


def weight_dram_rows(spec, shape, w, choice):
    """W (K x C x R x S) of a layer of `shape` as the DRAM rows the row-stationary
    accelerator loads: for each block of `cols` filters, each chunk's weight-buffer words
    (`RowStationaryMapping.filter_buffer`, one row of `rows` operands each), a block's chunks
    a full chunk's words apart (the last block's padded with zero rows)."""
    w = np.asarray(w)
    k_full, _, c_full, _ = chunk_extents(spec, shape, choice)
    pitch = chunk_words(spec, shape, choice)[(False, False)]
    rows = []
    for k0 in range(0, shape.k, k_full):
        for c0 in range(0, shape.c, c_full):
            block = w[k0:k0 + k_full, c0:c0 + c_full]
            last_k, last_c = k0 + k_full >= shape.k, c0 + c_full >= shape.c
            words = chunk_mapping(spec, shape, choice, last_k, last_c).filter_buffer(block)[0]
            rows.append(words)
            if last_k and not last_c:
                rows.append(np.zeros((pitch - len(words), spec.rows), dtype=words.dtype))
    return np.concatenate(rows)


def weight_rows_count(spec, shape, choice=None):
    """DRAM rows of W in the row-stationary layout (`weight_dram_rows`) of the layer's
    choice (`layer_choice`, unless given); 0 for a layer the array cannot run."""
    if choice is None:
        try:
            choice = layer_choice(spec, fc_row(shape))
        except ValueError:
            return 0
        shape = fc_row(shape)
    words = chunk_words(spec, shape, choice)
    k_blocks, c_chunks = ceil(shape.k / spec.cols), chunks_of(spec, shape, choice)
    block = (c_chunks - 1) * words[(False, False)] + words[(False, True)]
    return ((k_blocks - 1) * block + (c_chunks - 1) * words[(False, False)]
            + words[(True, True)])


def check_layer(spec, shape):
    """Refuse, naming the value, a layer the row-stationary accelerator cannot run."""
    if shape.p < 1 or shape.q < 1:
        raise ValueError(f"row-stationary: a {shape.r}x{shape.s} kernel leaves no output of a "
                         f"{shape.h}x{shape.w} input")
    if shape.stride > RS_MAX_STRIDE:
        raise ValueError(f"row-stationary: stride must be at most {RS_MAX_STRIDE}, "
                         f"not {shape.stride}")
    if shape.q > RS_MAX_OUTPUTS:
        raise ValueError(f"row-stationary: {shape.q} output columns exceed the PE's "
                         f"{RS_MAX_OUTPUTS}")
    map_conv(shape, array_of(spec))


def _last_plan(mapping):
    """The plan of a mapping's last pass."""
    for start in mapping.passes():
        pass
    return mapping.plan(*start)


def pass_fields(spec, shape, choice, last_tile_p):
    """The descriptor's `rs_` fields (models.registers) of a layer of `shape` run as `choice`
    says: a tile's chunks (a block of `cols` filters, a chunk of channels) each walk their
    passes over the tile's band, the outputs of a group of filter blocks in the output buffer
    (`k_group_blocks` words a pixel, the last group's fewer); the last filter block, the last
    channel chunk, the last tile (of `last_tile_p` rows) and the last output group have their
    own counts."""
    rows = spec.rows
    k_blocks = ceil(shape.k / spec.cols)
    full = chunk_mapping(spec, shape, choice)
    last_k = chunk_mapping(spec, shape, choice, last_k=True)
    last_c = chunk_mapping(spec, shape, choice, last_c=True)
    last_tile = chunk_mapping(spec, shape, choice, rows=last_tile_p)
    sh = full.shape
    first_plan, last_plan = full.plan(*next(full.passes())), _last_plan(full)
    last_k_plan, last_c_plan = _last_plan(last_k), _last_plan(last_c)
    c_blocks = ceil(shape.c / spec.input_lanes)
    line_words = sh.w * c_blocks
    out_row_step = sh.q * choice.k_group_blocks
    last_group = k_blocks - (ceil(k_blocks / choice.k_group_blocks) - 1) * choice.k_group_blocks
    col_skip = max(sh.stride - sh.s, 0)
    return {
        "rs_k_tiles": ceil(sh.k / full.filter_tile),
        "rs_k_tiles_last": ceil(last_k.shape.k / last_k.filter_tile),
        "rs_c_tiles": ceil(sh.c / full.channel_tile),
        "rs_c_tiles_last_c": ceil(last_c.shape.c / last_c.channel_tile),
        "rs_folds": ceil(sh.r / full.fold_rows),
        "rs_strips": ceil(full.rows_out / full.strip_cols),
        "rs_strips_last_tile": ceil(last_tile_p / full.strip_cols),
        "rs_filter_tile": full.filter_tile,
        "rs_ct_lanes": full.channel_tile % rows, "rs_ct_blocks": full.channel_tile // rows,
        "rs_fold_rows": full.fold_rows, "rs_fold_last": len(last_plan.fold),
        "rs_strip_cols": full.strip_cols, "rs_strip_last": len(last_plan.strip),
        "rs_strip_last_tile": len(_last_plan(last_tile).strip),
        "rs_vertical_sets": len(first_plan.channel_sets),
        "rs_vsets_last": len(last_plan.channel_sets),
        "rs_vsets_last_c": len(last_c_plan.channel_sets), "rs_channels": full.channels,
        "rs_channels_last": len(last_plan.channel_sets[-1]),
        "rs_channels_last_c": len(last_c_plan.channel_sets[-1]),
        "rs_horizontal_sets": len(first_plan.filter_sets),
        "rs_hsets_last": len(last_plan.filter_sets),
        "rs_hsets_last_k": len(last_k_plan.filter_sets), "rs_filters": full.filters,
        "rs_filters_last": len(last_plan.filter_sets[-1]),
        "rs_filters_last_k": len(last_k_plan.filter_sets[-1]),
        "rs_fold_words": full.fold_rows * line_words,
        "rs_strip_rows": full.strip_cols * sh.stride,
        "rs_strip_words": full.strip_cols * sh.stride * line_words,
        "rs_strip_out": full.strip_cols * out_row_step, "rs_out_row_step": out_row_step,
        "rs_strip_out_last": full.strip_cols * sh.q * last_group,
        "rs_out_row_step_last": sh.q * last_group,
        "rs_q_lanes": full.channels % rows, "rs_q_blocks": full.channels // rows,
        "rs_step": min(sh.stride, sh.s), "rs_col_skip": col_skip,
        "rs_col_skip_words": col_skip * c_blocks,
    }


def descriptor_fields(spec, shape, w_row, choice, last_tile_p):
    """The descriptor's row-stationary fields: the pass walk's (`pass_fields`) and the weight
    loads of `weight_dram_rows`: one load a chunk, a DRAM row of `w_row` beats per
    weight-buffer word, a block's chunks a full chunk apart."""
    words = chunk_words(spec, shape, choice)
    c_chunks = chunks_of(spec, shape, choice)
    fields = pass_fields(spec, shape, choice, last_tile_p)
    fields.update({
        "w_block_beats": ((c_chunks - 1) * words[(False, False)] + words[(False, True)])
        * w_row,
        "w_chunk_step": words[(False, False)] * w_row,
        "w_slice_beats": w_row, "w_last_slice_beats": w_row,
        "w_row_elems": spec.rows, "w_last_row_elems": spec.rows,
        "w_rows": words[(False, False)], "w_rows_last_chunk": words[(False, True)],
        "w_rows_last_k": words[(True, False)], "w_rows_last_both": words[(True, True)],
        "shift_first": 0, "last_shift_first": 0,
    })
    return fields


def fc_row(shape):
    """A fully-connected layer's convolution (`models.mapper.fc_shape`: M samples as M rows of
    one pixel, or any 1x1 layer on images one pixel wide) as one row of M pixels, as
    `run_fc` runs it: each PE keeps its weights for every sample.  The pixels' order in DRAM
    is the same."""
    if shape.r == shape.s == shape.w == 1 and shape.stride == 1 and shape.pad == 0:
        return ConvShape(1, shape.c, 1, shape.n * shape.h, shape.k, pad_value=shape.pad_value)
    return shape


def _fits(spec, shape, choice):
    """The tile's band, its outputs and a chunk's weights (in half the weight buffer with
    `halves`) fit the buffers (and the sequencer's counts)."""
    k_blocks = ceil(shape.k / spec.cols)
    band = layer_mapper.band_rows(shape, choice.tile_p)
    group = choice.k_group_blocks
    words = chunk_words(spec, shape, choice)
    weights = k_blocks * words[(False, False)] if choice.resident else words[(False, False)]
    room = spec.weight_words // 2 if choice.halves else spec.weight_words
    return (band * shape.w * ceil(shape.c / spec.input_lanes) <= spec.input_words
            and band * shape.w <= COUNT_LIMIT
            and choice.tile_p * shape.q * group <= spec.output_words
            and choice.tile_p * shape.q <= COUNT_LIMIT and weights <= room)


def output_groups(spec, shape):
    """The output groups worth pricing (filter blocks whose outputs a tile holds at once):
    every block, and of the group sizes whose slice of an output pixel starts on a DRAM beat
    whatever the outputs' precision, the largest whose one output row fits the output buffer
    and the smallest (the tallest tiles)."""
    k_blocks = ceil(shape.k / spec.cols)
    beat = 8 * spec.dram_bus_bytes
    aligned = [g for g in range(1, k_blocks) if g * spec.cols * spec.operand_bits % beat == 0]
    fitting = [g for g in aligned if shape.q * g <= spec.output_words]
    return sorted({k_blocks, *fitting[-1:], *aligned[:1]}, reverse=True)


def _candidates(spec, shape, bounded):
    """Every choice worth pricing: per-PE channels and filters from 1 to the most the
    register files allow (the most, half of it, 1); folds as large as the array; output
    groups of `output_groups`; with each, the tallest tiles that fit, the same number of
    tiles evened out, and the tallest whose rows are a whole number of strips; channel
    chunks of the most blocks that fit, or every block resident; and where a tile loads more
    than one chunk, the weight buffer in halves with chunks of the most blocks that fit half
    of it.  `bounded` False: every whole-image choice in one output group, whether it fits or
    not."""
    c_blocks, k_blocks = ceil(shape.c / spec.input_lanes), ceil(shape.k / spec.cols)
    array = array_of(spec)
    p = shape.p
    found = set()       # the values of `halves` whose largest fitting chunks were found
    wanted = {False, True}
    for chunk_blocks in range(c_blocks, 0, -1):
        c_chunk = min(shape.c, chunk_blocks * spec.input_lanes)
        most = map_conv(replace_shape(shape, n=1, k=min(shape.k, spec.cols), c=c_chunk), array)
        several = k_blocks > 1 or chunk_blocks < c_blocks   # loads a tile
        modes = [(resident, halves) for halves in ((False, True) if several else (False,))
                 if halves not in found
                 for resident in ((False, True) if chunk_blocks == c_blocks and not halves
                                  else (False,))]
        fitted = set()
        for channels in sorted({1, ceil(most.channels / 2), most.channels}):
            for filters in sorted({1, ceil(most.filters / 2), most.filters}):
                def choice(tile_p, resident, group=k_blocks, halves=False):
                    return LayerChoice(channels, filters, most.fold_rows,
                                       min(tile_p, spec.cols), tile_p, chunk_blocks, resident,
                                       group, halves)
                if not bounded:
                    yield choice(p, chunk_blocks == c_blocks and k_blocks * chunk_words(
                        spec, shape, choice(p, False))[(False, False)] <= spec.weight_words)
                    continue
                for resident, halves in modes:
                    for group in output_groups(spec, shape):
                        tallest = 0
                        while tallest < p and _fits(spec, shape, choice(
                                tallest + 1, resident, group, halves)):
                            tallest += 1
                        if not tallest:
                            continue
                        fitted.add(halves)
                        tiles = ceil(p / tallest)
                        strips = tallest // spec.cols * spec.cols
                        for tile_p in {tallest, ceil(p / tiles), strips} - {0}:
                            yield choice(tile_p, resident, group, halves)
        found |= fitted
        if not several and fitted:
            wanted = {False}    # one load a tile: nothing to overlap
        if not bounded or wanted <= found:
            return


@functools.lru_cache(maxsize=4096)
def layer_choice(spec, shape, bounded=True):
    """The accelerator's `LayerChoice` for a conv layer of `shape` (a fully-connected one as
    `fc_row`): among `_candidates`, the one moving the least DRAM traffic, then taking the
    fewest cycles, then with the most channels and filters per PE, the tallest tiles and
    the weights resident (priced with int32 outputs and no bias: these move every choice's traffic and cycles
    alike).  `bounded` False: the whole-image choice whether or not it fits the buffers.
    Raises MappingError naming the sizes when no tile fits."""
    from .perf import predict_counters, predict_cycles   # they price mappings of this module
    check_layer(spec, shape)
    priced = []
    for choice in _candidates(spec, shape, bounded):
        mapping = layer_mapper.rs_mapping(spec, shape, PostProcess(), None, choice)
        counters = predict_counters(spec, mapping)
        priced.append((counters["dram_bytes_read"] + counters["dram_bytes_written"],
                       predict_cycles(spec, mapping), -choice.channels, -choice.filters,
                       -choice.tile_p, -choice.resident, choice))
    if not priced:
        group = output_groups(spec, shape)[-1]
        smallest = LayerChoice(1, 1, min(shape.r, spec.rows), 1, 1, 1, False, group)
        raise MappingError(
            f"row-stationary: one output row needs "
            f"{layer_mapper.band_rows(shape, 1) * shape.w * ceil(shape.c / spec.input_lanes)} "
            f"input-buffer words (its band), {shape.q * group} "
            f"output-buffer words and {chunk_words(spec, shape, smallest)[(False, False)]} "
            f"weight-buffer words (one channel block of a filter block); {spec.name!r} holds "
            f"{spec.input_words}, {spec.output_words} and {spec.weight_words}")
    return min(priced, key=lambda entry: entry[:6])[6]


def map_layer(spec, shape, post, placement, bounded=True):
    """The accelerator's mapping of a conv layer on a row-stationary array (`layer_choice`):
    tiles of `tile_p` output rows of an image, each chunk a block of `cols` filters over a
    chunk of channels (its passes walk the rest), every block's outputs in one output group;
    a fully-connected layer runs as one row of samples (`fc_row`).  Raises MappingError
    naming what does not fit; `bounded` False: the whole-image mapping whether or not it
    fits the buffers (the figures of the same schedule on larger buffers)."""
    shape = fc_row(shape)
    try:
        choice = layer_choice(spec, shape, bounded)
    except ValueError as error:
        raise MappingError(str(error)) from None
    return layer_mapper.rs_mapping(spec, shape, post, placement, choice)


def pass_cycles(mapping, the_pass):
    """Cycles from a pass's start (the pass walk's `pass_start`) to the next pass's start,
    following the inner loop's units (pyhdl/rs_loop.py, rs_array.py, rs_pe.py) cycle by
    cycle, their start's cycle being 0:
    - the filter feed puts one word a cycle on the buses from cycle 2 on (a PE in LOAD takes
      every word of its horizontal set), so a PE fills from the cycle after its last weight;
    - the input bus offers its words in `Pass.input_sends` order from cycle 2 on, one a cycle
      at most; a word (of a vertical set and diagonal) moves once every PE it reaches is
      filling, and a PE's q new words of an output come one after the other;
    - a PE computes p q S cycles from the cycle after its last word, empties its MAC
      pipeline in 3 and drains its p sums up its column: a column's sum moves when all its
      PEs drain and the collector, taking one sum a cycle in (output, strip column,
      horizontal set, filter) order, is at that column; a PE fills the next output's words
      from the cycle after its last drain;
    - the pass is over when every unit is idle (the collector two cycles after its last
      sum, the filter feed two after its last word), and the next starts a cycle later."""
    sh = mapping.shape
    s, u = sh.s, sh.stride
    step = min(u, s)
    p_of = [len(ks) for ks in the_pass.filter_sets]
    q_of = [len(cs) for cs in the_pass.channel_sets]
    widest = max(q_of)
    offsets = [0]
    for p in p_of:
        offsets.append(offsets[-1] + p * widest * s)
    pes = [(v, i, h, j) for v in range(len(q_of)) for i in range(len(the_pass.fold))
           for h in range(len(p_of)) for j in range(len(the_pass.strip))]
    fill_start = {pe: 3 + offsets[pe[2]] + p_of[pe[2]] * q_of[pe[0]] * s - 1 for pe in pes}
    diagonals = sorted({j * u + i for j in range(len(the_pass.strip))
                        for i in range(len(the_pass.fold))})
    on_diagonal = {(v, y): [pe for pe in pes if pe[0] == v and pe[3] * u + pe[1] == y]
                   for v in range(len(q_of)) for y in diagonals}
    column = {(h, j): [pe for pe in pes if pe[2] == h and pe[3] == j]
              for h in range(len(p_of)) for j in range(len(the_pass.strip))}
    accepted, taken = 1, 0
    for f in range(sh.q):
        new = s if f == 0 else step
        drain_start = {}
        for v, q in enumerate(q_of):
            for y in diagonals:
                wanted = on_diagonal[(v, y)]
                first = max([accepted + 1] + [fill_start[pe] for pe in wanted])
                accepted = first + q * new - 1
                for pe in wanted:
                    drain_start[pe] = accepted + 1 + p_of[pe[2]] * q * s + 3
        for j in range(len(the_pass.strip)):
            for h, p in enumerate(p_of):
                ready = max(drain_start[pe] for pe in column[(h, j)])
                taken = max(taken + 1, ready) + p - 1
                for pe in column[(h, j)]:
                    fill_start[pe] = taken + 1
    return max(taken + 2, offsets[-1] + 2, accepted + 1) + 1


def chunk_cycles(mapping):
    """Cycles from the inner loop's `run` to its `chunk_done` for a filter block's passes
    (one image): the loop registers the pass walk's configuration, the walk starts the cycle
    after and its first pass the cycle after that.  A pass's cycles depend only on its sets'
    and fold's and strip's sizes: each size is followed once."""
    known, total = {}, 2
    for start in mapping.passes():
        the_pass = mapping.plan(*start)
        sizes = (tuple(map(len, the_pass.channel_sets)), tuple(map(len, the_pass.filter_sets)),
                 len(the_pass.fold), len(the_pass.strip))
        if sizes not in known:
            known[sizes] = pass_cycles(mapping, the_pass)
        total += known[sizes]
    return total
