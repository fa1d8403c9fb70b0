"""Paired reduction blocks (weight-stationary dense layers): two blocks reduced in the
accumulator before each output-buffer write-back.

In weight-stationary every reduction block (tap x block of `rows` channels) read-modify-writes
each output word of the tile once.  With descriptor `paired` the inner loop
(pyhdl/ws_loop.py) takes a chunk's blocks two by two, A in a register-file slot and B in the
next: A streams the tile's first `pair_alone` pixels alone (while B's weights shift into the
chain and B's slot drains), B commits, then every other pixel streams A's word and B's on
consecutive cycles, the accumulator adding the two column sums in its pair register before
one write-back, and B streams the first `pair_alone` pixels alone (while A's slot drains and
the next block's weights shift in).  An odd chunk's last block streams alone.  Each block
still takes one cycle per pixel, so with `pair_alone` = `alone_pixels` (rows + cols) nothing
waits, and a pair costs `pixels + pair_alone` write-backs instead of 2 x `pixels`.

The mapper (models/mapper.py `with_paired_blocks`) takes the paired schedule for a layer
when every tile has more than `pair_alone` pixels and its cycles stay within
`CYCLE_SLACK` of the unpaired schedule's: its output-buffer reads and writes always fall.
"""

import dataclasses

CYCLE_SLACK = 1.02
"""The most cycles the paired schedule may take, relative to the unpaired one's."""


def alone_pixels(spec):
    """Pixels each block of a pair streams alone: the slot drain (the array's latency,
    rows + cols - 1, plus one) and the next block's load (cols + 1) both fit."""
    return spec.rows + spec.cols


def pairable(spec, mapping):
    """A dense weight-stationary layer on an array with two register-file slots or more,
    whose tiles all have more than `alone_pixels` pixels and whose chunks have two reduction
    blocks or more."""
    from .perf import tiles     # it prices the pairs with this module
    d = mapping.descriptor
    if not spec.pairs_blocks or spec.skips_weights or spec.rf_depth < 2 or d["fold"] \
            or d["depthwise"]:
        return False
    if d["word_blocks"] != 1 or d["chunk_red"] < 2:
        return False
    least = min(tile.rows for tile in tiles(mapping)) * mapping.shape.q
    return least > alone_pixels(spec)


def paired(spec, mapping):
    """`mapping` with its reduction blocks paired."""
    descriptor = dict(mapping.descriptor, paired=1, pair_alone=alone_pixels(spec))
    return dataclasses.replace(mapping, descriptor=descriptor)


def chunk_blocks(mapping, chunk):
    """Reduction blocks of chunk `chunk` (its channel blocks x taps)."""
    d = mapping.descriptor
    return d["last_chunk_red"] if chunk == d["c_chunks"] - 1 else d["chunk_red"]


def held_vectors(mapping, walk):
    """Vectors the accumulator holds in its pair register (each saves an output-buffer read
    and write): per tile, filter block and chunk, pixels - pair_alone per pair."""
    d = mapping.descriptor
    if not d["paired"]:
        return 0
    pairs = sum(chunk_blocks(mapping, chunk) // 2 for chunk in range(d["c_chunks"]))
    return d["k_blocks"] * pairs * sum(t.rows * mapping.shape.q - d["pair_alone"]
                                       for t in walk)


def stream_chunk(streamer, cycles, loaded, pixels, blocks, prefetch):
    """Cycles of one paired chunk of `blocks` reduction blocks from `cycles`, its first
    block's weights loaded at `loaded`, as perf._WeightStationary.chunk counts them (its
    `freed`, `used`, `latency` updated): (end, when the prefetch is in or None, the last
    block's commit)."""
    spec = streamer.spec
    alone = streamer.mapping.descriptor["pair_alone"]
    depth, drain = spec.rf_depth, 3 + streamer.latency
    ready = None
    for block in range(0, blocks, 2):
        slot_a = streamer.used % depth
        commit_a = max(cycles, loaded, streamer.freed[slot_a])
        if block == 0 and prefetch is not None:
            ready = commit_a + prefetch
        loaded = commit_a + spec.cols + 2
        if block + 1 == blocks:      # an odd chunk's last block streams alone
            streamer.freed[slot_a] = commit_a + pixels + drain
            cycles = commit_a + 1 + pixels
            streamer.used += 1
            return cycles, ready, commit_a
        slot_b = (streamer.used + 1) % depth
        commit_b = max(commit_a + alone + 1, loaded, streamer.freed[slot_b])
        loaded = commit_b + spec.cols + 2
        body_end = commit_b + 2 * (pixels - alone)
        streamer.freed[slot_a] = body_end - 1 + drain
        streamer.freed[slot_b] = body_end + alone + drain
        cycles = body_end + alone + 1
        streamer.used += 2
    return cycles, ready, commit_b
