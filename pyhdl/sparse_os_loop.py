"""The output-stationary inner loop of a 2:4 array (pyhdl/sparse_os_array.py): the dense
loop's groups and walk, with a dense layer's input words in dense lanes, a visit per half
(models/sparse_os.py)."""

from amaranth import Mux, Signal
from amaranth.lib.wiring import Out

from models.hardware import EVENT_BITS

from .os_loop import OutputStationaryLoop
from .sparse_loop import HalvedReductionWalk, SparseWeightStationaryLoop


class SparseOutputStationaryLoop(OutputStationaryLoop):
    """`OutputStationaryLoop` for a `SparseOutputStationaryArray`: input words of `2 * rows`
    operands, weight words of `cols` kept weights and their indices (one per step), and each
    input word one block (2:4 layer, or dense layer of at most `rows` channels) or two (dense
    layer, `HalvedReductionWalk`: the word's first `rows` channels, then the rest).  A dense
    layer's word reaches the array in dense lanes, as on the weight-stationary 2:4 array
    (`array_vector`: its half's channels two per group, so step u takes channel u at index
    u mod 2).  A block takes `rows` cycles per group of pixels either way; the last channel
    block's steps are its channels' (models.sparsity.active_rows).

    Ports (besides OutputStationaryLoop's):
        macs_skipped: Out(EVENT_BITS), this cycle's MACs not performed (a 2:4 layer's load: as
            many as it performs, the pruned half of its groups' weights).
    Latency: as OutputStationaryLoop's.
    Counts: as the weight-stationary 2:4 loop's, from the same descriptor fields: `macs` the
    layer's MACs a load covers (twice those performed for a 2:4 layer), `macs_skipped`, and
    `rf_writes` the accumulator writes of the performed MACs.
    """

    @staticmethod
    def array_ports(spec, array, output_addr_bits):
        return {**OutputStationaryLoop.array_ports(spec, array, output_addr_bits),
                "macs_skipped": Out(EVENT_BITS)}

    def reduction_walk(self, m, descriptor, chunk):
        walk = HalvedReductionWalk(m, descriptor, chunk, "red")
        # The last channel block's steps in each half, from its channel count c_last: a 2:4
        # layer's c_last / 2 in the first; a dense layer's first `rows` channels in the
        # first, the rest in the second.
        rows, c_last = self.spec.rows, descriptor.c_last
        wide = c_last > rows
        self._last_steps = [Signal(range(rows + 1), name=f"last_steps_{half}")
                            for half in range(2)]
        m.d.sync += [
            self._last_steps[0].eq(Mux(descriptor.dense_lanes, Mux(wide, rows, c_last),
                                       c_last[1:])),
            self._last_steps[1].eq(Mux(wide, c_last - rows, 0)),
        ]
        return walk

    def block_steps(self, walk):
        return Mux(walk.last_cb, Mux(walk.half, self._last_steps[1], self._last_steps[0]),
                   self.spec.rows)

    # A load performs the MACs a vector of the weight-stationary 2:4 array does (rows x
    # columns active, per half), from the same descriptor fields, with the same counts.
    block_macs = SparseWeightStationaryLoop.block_macs
    mac_events = SparseWeightStationaryLoop.mac_events
    pad_vector = SparseWeightStationaryLoop.pad_vector
    array_vector = SparseWeightStationaryLoop.array_vector
