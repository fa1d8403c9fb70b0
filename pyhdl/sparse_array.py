"""The 2:4 weight-stationary systolic array: rows x cols `SparseProcessingElement`s, two
rows per group of four input channels."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from models.sparsity import GROUP, KEPT
from models.spec import INDEX_BITS

from .array import SystolicArray, deskew
from .pipeline import delayed_token
from .sparse_pe import SparseProcessingElement, group_token_layout


def sparse_weight_word(spec):
    """A column of a reduction block as the weight buffer holds it (models/sparsity.py): the
    rows' kept values, then their indices, row r's at bit 2r."""
    return data.StructLayout({
        "values": data.ArrayLayout(signed(spec.operand_bits), spec.rows),
        "indices": data.ArrayLayout(INDEX_BITS, spec.rows),
    })


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

    def __init__(self, spec):
        self.rows = spec.rows
        self.cols = spec.cols
        self.operand_bits = spec.operand_bits
        self.acc_bits = spec.acc_bits
        self.rf_depth = spec.rf_depth
        self.slot_bits = max((spec.rf_depth - 1).bit_length(), 1)
        wiring.Component.__init__(self, {
            "x": In(data.StructLayout({
                "valid": 1,
                "slot": self.slot_bits,
                "values": data.ArrayLayout(signed(self.operand_bits), spec.input_lanes),
            })),
            "w_data": In(sparse_weight_word(spec)),
            "w_shift": In(1),
            "w_commit": In(1),
            "w_slot": In(self.slot_bits),
            "y": Out(data.StructLayout({
                "valid": 1,
                "values": data.ArrayLayout(signed(self.acc_bits), self.cols),
            })),
            "gated": Out(range(self.rows * self.cols + 1)),
        })

    def _group(self, values, r):
        """The four operands of array row r's group in input vector `values`."""
        first = GROUP * (r // KEPT)
        return [values[first + j] for j in range(GROUP)]

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols
        token = group_token_layout(self.operand_bits, self.slot_bits)
        pes = [[SparseProcessingElement(self.operand_bits, self.acc_bits, self.rf_depth)
                for _ in range(cols)] for _ in range(rows)]
        for r in range(rows):
            for c in range(cols):
                m.submodules[f"pe_{r}_{c}"] = pe = pes[r][c]
                m.d.comb += [
                    pe.w_shift.eq(self.w_shift),
                    pe.w_commit.eq(self.w_commit),
                    pe.w_slot.eq(self.w_slot),
                    pe.psum_in.eq(0 if r == 0 else pes[r - 1][c].psum_out),
                ]
                if c == 0:
                    m.d.comb += [pe.w_in.value.eq(self.w_data.values[r]),
                                 pe.w_in.index.eq(self.w_data.indices[r])]
                else:
                    m.d.comb += [pe.w_in.eq(pes[r][c - 1].w_out),
                                 pe.x_in.eq(pes[r][c - 1].x_out)]

        # Input skew: row r's group enters r cycles late.
        for r in range(rows):
            stage = Signal(token, name=f"skew_{r}_0")
            m.d.comb += [stage.valid.eq(self.x.valid), stage.slot.eq(self.x.slot)]
            m.d.comb += [stage.values[j].eq(v)
                         for j, v in enumerate(self._group(self.x.values, r))]
            for i in range(r):
                stage = delayed_token(m, stage, f"skew_{r}_{i + 1}")
            m.d.comb += pes[r][0].x_in.eq(stage)

        deskew(m, self, [(pes[rows - 1][c].psum_out, pes[rows - 1][c].x_out.valid)
                         for c in range(cols)])
        self._count_gated(m, pes)
        return m

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
