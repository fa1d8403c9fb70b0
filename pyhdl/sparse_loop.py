"""The weight-stationary inner loop of a 2:4 array (pyhdl/sparse_array.py): the dense
loop's walk, with a dense layer's channels fed two per group, each input word in one or two
halves (models/sparsity.py)."""

from amaranth import Cat, Mux, Signal
from amaranth.lib.wiring import Out

from models.hardware import EVENT_BITS
from models.sparsity import GROUP, KEPT

from .inner_loop import ReductionWalk
from .tap_fold_loop import TapFoldLoop
from .ws_loop import WeightStationaryLoop


class HalvedReductionWalk(ReductionWalk):
    """A `ReductionWalk` that, when the descriptor's `word_blocks` is 2 (a dense layer of more
    than `rows` channels on a 2:4 array), stays on each input word for two blocks: `half` 0
    (the word's channels 0 to rows - 1) then `half` 1 (the rest).  Otherwise it steps as the
    dense walk, in half 0."""

    def __init__(self, m, descriptor, chunk, name):
        super().__init__(m, descriptor, chunk, name)
        self.half = Signal(name=f"{name}_half")

    def restart(self):
        super().restart()
        self.m.d.sync += self.half.eq(0)

    def step(self):
        m = self.m
        with m.If(self.half | (self.d.word_blocks == 1)):
            m.d.sync += self.half.eq(0)
            super().step()
        with m.Else():
            m.d.sync += [self.half.eq(1), self.block.eq(self.block + 1)]


class SparseWeightStationaryLoop(TapFoldLoop):
    """`TapFoldLoop` for a `SparseSystolicArray`: input words of `2 * rows`
    operands, weights (kept values and their indices) through a DMA reader of their own,
    and each input word one block (2:4 layer) or one per half (dense layer,
    `HalvedReductionWalk`).  A dense layer's vector (descriptor `dense_lanes`) reaches the
    array with its half's channels two per group (`dense_lane_vector`), so array row r takes
    the half's channel r with a weight of index r mod 2; a folded dense layer's vector (its
    S x C run, or its block's kernel rows in lane groups, in a word's first `rows` elements,
    models/tap_fold.py) the same way, in half 0.

    Ports (besides WeightStationaryLoop's):
        macs_skipped: Out(EVENT_BITS), this cycle's MACs not performed (2:4 layers: as many
            as the vector performs, the pruned half of its group's weights).
    Latency: as WeightStationaryLoop's, one cycle per block and pixel (the lane multiplexer
    is combinational, between the input buffer's registered output and the array's skew).
    Counts: `macs` are the layer's MACs the vector covers (twice its active PEs for a 2:4
    layer), `macs_skipped` the half not performed, `macs_gated` those performed on a zero
    operand; the rest as WeightStationaryLoop.
    """

    separate_weight_reader = True

    @staticmethod
    def array_ports(spec, array, output_addr_bits):
        return {**WeightStationaryLoop.array_ports(spec, array, output_addr_bits),
                "macs_skipped": Out(EVENT_BITS)}

    def reduction_walk(self, m, descriptor, chunk):
        return HalvedReductionWalk(m, descriptor, chunk, "red")

    def block_macs(self, walk):
        """Active PEs of a vector: as the folding loop's in a 2:4 layer and a dense layer's
        first half (the dense loop's in the output-stationary 2:4 loop, which shares this
        method); in its second half the last channel block has its own counts."""
        d, spec = self.descriptor, self.spec
        second = Mux(self.chunk.last_k,
                     Mux(walk.last_cb, d.macs_h1_ck_last, d.macs_k_last),
                     Mux(walk.last_cb, d.macs_h1_c_last, spec.rows * spec.cols))
        first = (TapFoldLoop.block_macs(self, walk) if isinstance(self, TapFoldLoop)
                 else self.vector_macs(walk.last_cb))
        return Mux(walk.half, second, first)

    def mac_events(self, feeding, active_macs):
        sparse = ~self.descriptor.dense_lanes
        return [self.events.macs.eq(Mux(feeding, Mux(sparse, active_macs << 1, active_macs),
                                        0)),
                self.macs_skipped.eq(Mux(feeding & sparse, active_macs, 0))]

    def array_vector(self, m, walk, vector):
        """A dense layer's vector in dense lanes (of the half the fed block is in), a 2:4
        layer's as it is."""
        half = Signal(name="feed_half")
        m.d.sync += half.eq(walk.half)
        lanes = dense_lane_vector(vector, half, self.spec.rows, self.spec.operand_bits)
        return Mux(self.descriptor.dense_lanes, lanes, vector)

    def pad_vector(self):
        """An input word whose every operand (two per array row) is the `pad_value`."""
        return self.descriptor.pad_value[:self.spec.operand_bits].replicate(
            self.spec.input_lanes)


def dense_lane_vector(vector, half, rows, operand_bits):
    """`vector` (2 * rows operands) with, in lanes 0 and 1 of every group g, its operands
    half * rows + 2g and half * rows + 2g + 1: a multiplexer of two operands per group
    (lanes 2 and 3 keep theirs; a dense layer's indices never select them)."""
    def lane(i):
        return vector[i * operand_bits:(i + 1) * operand_bits]
    out = []
    for g in range(rows // KEPT):
        out += [Mux(half, lane(rows + KEPT * g + j), lane(KEPT * g + j)) for j in range(KEPT)]
        out += [lane(GROUP * g + j) for j in range(KEPT, GROUP)]
    return Cat(*out)
