"""The 2:4 weight-stationary systolic array: rows x cols `SparseProcessingElement`s, two
rows per group of four input channels."""

from amaranth import Cat, Mux, Signal

from models.sparsity import GROUP, KEPT

from .array import SystolicArray
from .sparse_pe import SparseProcessingElement, kept_weight_word




class SparseSystolicArray(SystolicArray):
    """`rows` x `cols` PEs for 2:4 weights: inputs flow right along rows, partial sums flow
    down columns, as in `SystolicArray`, but an input vector holds `2 * rows` operands: group
    g (operands 4g..4g+3) enters rows 2g and 2g+1, and every PE multiplies the operand of its
    group that its weight's index selects.  So one vector covers twice the reduction of a
    dense array's.  Weights enter column 0 as one word (`sparse_weight_word`) per `w_shift`
    and move right one column a shift; `w_commit` copies every PE's chain register into
    register-file entry `w_slot`.

    Ports:
        x: In, an input vector (`2 * rows` operands), its slot and valid; accepted every
           cycle, no backpressure.
        w_data, w_shift, w_commit, w_slot: In, the weight load, broadcast to every PE in the
           cycle it arrives (`load_latency` 0).
        y: Out, one partial sum per column and valid, `latency` cycles after `x`.
        gated: Out, how many of the rows x cols multiplies of an `x` are not performed
           because the selected input or the kept weight is zero, `gated_latency` cycles
           after that `x` (0 for an `x` that is not valid).  Kept from per-row counts of
           non-zero weights per index, taken at each commit, so a vector's count needs four
           zero detects and a 4-input sum of small counts per row.

    Latency: `rows + cols - 1` cycles (skew, rows x cols PE hops, deskew), `gated_latency`
    1 and `load_latency` 0: SystolicArray's properties.
    """

    @staticmethod
    def weight_word(spec):
        """A column of a reduction block as the weight buffer holds it: the rows' kept
        values and indices."""
        return kept_weight_word(spec.operand_bits, spec.rows)

    def processing_element(self):
        return SparseProcessingElement(self.operand_bits, self.psum_bits, self.rf_depth)

    def row_weight(self, r):
        """Row r's kept value and index, as the bits of a `sparse_weight_layout`."""
        return Cat(self.w_data.values[r], self.w_data.indices[r])

    def _group(self, values, r):
        """The four operands of array row r's group in input vector `values`."""
        first = GROUP * (r // KEPT)
        return [values[first + j] for j in range(GROUP)]

    def row_operands(self, token, r):
        return [token.values[j].eq(v) for j, v in enumerate(self._group(self.x.values, r))]

    def _count_gated(self, m, pes):
        """Per row and slot, how many weights of each index are non-zero is kept as weights
        commit; a vector's performed products in a row are those counts at the indices whose
        input is non-zero, and the rest of the row's `cols` are gated."""
        rows, cols = self.rows, self.cols
        count_shape = range(cols + 1)
        per_row = []
        for r in range(rows):
            kept = [[Signal(count_shape, name=f"nonzero_w_{r}_{s}_{j}") for j in range(GROUP)]
                    for s in range(self.rf_depth)]
            for j in range(GROUP):
                chain_kept = sum(((pes[r][c].w_out.value != 0) & (pes[r][c].w_out.index == j)
                                  for c in range(cols)), start=0)
                for s in range(self.rf_depth):
                    with m.If(self.w_commit & (self.w_slot == s)):
                        m.d.sync += kept[s][j].eq(chain_kept)
            performed = []
            for j, x in enumerate(self._group(self.x.values, r)):
                slot_kept = Signal(count_shape, name=f"slot_nonzero_w_{r}_{j}")
                m.d.comb += slot_kept.eq(kept[0][j])
                for s in range(1, self.rf_depth):
                    with m.If(self.x.slot == s):
                        m.d.comb += slot_kept.eq(kept[s][j])
                performed.append(Mux(x == 0, 0, slot_kept))
            row_gated = Signal(count_shape, name=f"row_gated_{r}")
            m.d.sync += row_gated.eq(Mux(self.x.valid, cols - sum(performed, start=0), 0))
            per_row.append(row_gated)
        m.d.comb += self.gated.eq(sum(per_row, start=0))
