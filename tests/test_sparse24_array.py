"""SparseSystolicArray and SparseProcessingElement in Amaranth's simulator: partial sums
against the selected inputs times the kept weights, and the gated count, per vector."""

import numpy as np
import pytest

from models.golden import wrap
from models.sparsity import GROUP, KEPT
from models.spec import ArchSpec
from pyhdl.sparse_array import SparseSystolicArray
from pyhdl.sparse_pe import SparseProcessingElement
from testbench.amaranth_sim import load_weights, simulate

SPECS = [ArchSpec(rows=4, cols=3, weight_sparsity="2:4"),
         ArchSpec(rows=2, cols=5, weight_sparsity="2:4", rf_depth=3),
         ArchSpec(rows=6, cols=2, weight_sparsity="2:4", rf_depth=1)]


def selected_inputs(x, indices):
    """rows x cols: the input each PE multiplies (row r's group is r // 2)."""
    rows = indices.shape[0]
    groups = np.arange(rows)[:, None] // KEPT
    return x[GROUP * groups + indices]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.rows}x{s.cols}x{s.rf_depth}")
def test_partial_sums_and_gated_count(spec):
    rng = np.random.default_rng(spec.rows * 100 + spec.cols)
    array = SparseSystolicArray(spec)
    rows, cols = spec.rows, spec.cols
    slots = [(np.where(rng.random((rows, cols)) < 0.3, 0, rng.integers(-128, 128, (rows, cols))),
              rng.integers(0, GROUP, (rows, cols))) for _ in range(spec.rf_depth)]
    vectors = [(int(rng.random() < 0.8), int(rng.integers(spec.rf_depth)),
                np.where(rng.random(2 * rows) < 0.3, 0, rng.integers(-128, 128, 2 * rows)))
               for _ in range(25)]
    idle = (0, 0, np.zeros(2 * rows, dtype=np.int64))
    schedule = vectors + [idle] * array.latency
    checked = []

    async def bench(ctx):
        for slot, (values, indices) in enumerate(slots):
            await load_weights(ctx, array, array.w_data,
                               [{"values": [int(v) for v in values[:, c]],
                                 "indices": [int(i) for i in indices[:, c]]}
                                for c in range(cols)], slot)
        for t, (valid, slot, x) in enumerate(schedule):
            ctx.set(array.x, {"valid": valid, "slot": slot, "values": [int(v) for v in x]})
            counted = t - array.gated_latency
            if counted >= 0:
                c_valid, c_slot, c_x = schedule[counted]
                values, indices = slots[c_slot]
                want = int(((selected_inputs(c_x, indices) == 0) | (values == 0)).sum()) \
                    if c_valid else 0
                assert ctx.get(array.gated) == want, f"gated at t={t}"
            y = ctx.get(array.y)
            source = t - array.latency
            want_valid = source >= 0 and schedule[source][0]
            assert y.valid == want_valid, f"y.valid at t={t}"
            if want_valid:
                _, s_slot, s_x = schedule[source]
                values, indices = slots[s_slot]
                want = wrap((selected_inputs(s_x, indices) * values).sum(axis=0), spec.acc_bits)
                assert [y.values[c] for c in range(cols)] == want.tolist(), f"y at t={t}"
                checked.append(t)
            await ctx.tick()

    simulate(array, bench)
    assert len(checked) == sum(valid for valid, _, _ in vectors)


def test_pe_multiplies_the_input_its_index_selects():
    pe = SparseProcessingElement(8, 32, 2)
    inputs = [11, -7, 0, 5]
    weights = [(3, 1), (-2, 3)]
    seen = []

    async def bench(ctx):
        for slot, (value, index) in enumerate(weights):
            await load_weights(ctx, pe, pe.w_in, [{"value": value, "index": index}], slot)
        for slot in range(2):
            ctx.set(pe.x_in, {"valid": 1, "slot": slot, "values": inputs})
            ctx.set(pe.psum_in, 1000)
            await ctx.tick()
            seen.append(ctx.get(pe.psum_out))

    simulate(pe, bench)
    assert seen == [1000 + 3 * -7, 1000 + -2 * 5]
