"""2:4 weight sparsity in models/: the spec field, the decision and packing, the mapper's
layout and the analytical model's cycles and counters (docs/sparsity.md)."""

import subprocess
import sys

import numpy as np
import pytest

from models.layout import pack_rows, unpack_rows
from models.mapper import ConvShape, map_conv, map_grouped_conv, weight_beats
from models.perf import predict_counters, predict_cycles
from models.sparsity import GROUP, INDEX_BITS, is_2to4, magnitude_mask, pack_weight_rows
from models.spec import ArchSpec, SpecError

TWIN = ArchSpec(name="default-2to4", weight_sparsity="2:4")


def pruned(rng, shape):
    """Random int8 weights with at most two non-zeros in each group of four channels."""
    k, c, r, s = shape
    w = rng.integers(-128, 128, (k, r, s, c // GROUP, GROUP))
    for group in w.reshape(-1, GROUP):
        group[rng.choice(GROUP, 2, replace=False)] = 0
    return w.reshape(k, r, s, c).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("fields, message", [
    ({"weight_sparsity": "3:8"}, "weight_sparsity: must be one of none, 2:4, not '3:8'"),
    ({"weight_sparsity": "2:4", "dataflow": "rs"},
     "weight_sparsity: '2:4' needs dataflow ws or os, operand_bits 8 and an even number of "
     "rows, not rs, 8 and 16"),
    ({"weight_sparsity": "2:4", "rows": 5},
     "weight_sparsity: '2:4' needs dataflow ws or os, operand_bits 8 and an even number of "
     "rows, not ws, 8 and 5"),
])
def test_unsupported_patterns_are_refused_in_one_line(fields, message):
    with pytest.raises(SpecError) as error:
        ArchSpec(**fields)
    assert str(error.value) == message


def test_a_2to4_array_has_double_input_words_and_index_lanes():
    assert (TWIN.input_lanes, TWIN.weight_lanes) == (32, 16 + 16 * INDEX_BITS // 8)
    assert (ArchSpec().input_lanes, ArchSpec().weight_lanes) == (16, 16)


def test_is_2to4_needs_whole_groups_of_at_most_two_nonzeros():
    rng = np.random.default_rng(1)
    w = pruned(rng, (3, 8, 2, 2))
    assert is_2to4(w)
    w[1, 4:7, 1, 0] = 1
    assert not is_2to4(w)
    assert not is_2to4(np.zeros((2, 6, 1, 1), dtype=int))


@pytest.mark.parametrize("sparse", [True, False])
def test_packed_rows_hold_every_weight_at_its_index(sparse):
    """Unpacking the packed DRAM rows (values, 2-bit indices) gives back the weights."""
    rng = np.random.default_rng(2)
    spec = ArchSpec(rows=4, cols=4, weight_sparsity="2:4")
    w = pruned(rng, (3, 12, 2, 1)) if sparse else rng.integers(-128, 128, (3, 10, 2, 1))
    k, c, r, s = w.shape
    rows = pack_weight_rows(spec, w, sparse)
    stored = unpack_rows(pack_rows(rows, 8, 8), rows.shape[0], rows.shape[1], 8, 8)
    blocks = stored.reshape(k * r * s, -1, spec.weight_lanes)
    rebuilt = np.zeros((k * r * s, blocks.shape[1] // (1 if sparse else 2) * 8), dtype=int)
    for row in range(k * r * s):
        for b, block in enumerate(blocks[row]):
            word = b if sparse else b // 2
            index_bits = int.from_bytes(bytes(int(v) & 0xFF for v in block[4:]), "little")
            for pe in range(4):
                index = index_bits >> (INDEX_BITS * pe) & 3
                rebuilt[row, word * 8 + GROUP * (pe // 2) + index] += block[pe]
    expected = w.transpose(0, 2, 3, 1).reshape(k * r * s, c)
    np.testing.assert_array_equal(rebuilt[:, :c], expected)
    assert not rebuilt[:, c:].any()


def test_the_mapper_runs_2to4_weights_sparse_and_others_dense():
    rng = np.random.default_rng(3)
    shape = ConvShape(1, 64, 16, 16, 64, 3, 3, 1, 1)
    sparse = map_conv(TWIN, shape, weights=pruned(rng, (64, 64, 3, 3)))
    dense = map_conv(TWIN, shape, weights=rng.integers(-128, 128, (64, 64, 3, 3)))
    assert (sparse.descriptor["word_blocks"], dense.descriptor["word_blocks"]) == (1, 2)
    assert map_conv(TWIN, shape).descriptor["word_blocks"] == 2
    depthwise = map_grouped_conv(TWIN, ConvShape(1, 8, 6, 6, 8, 3, 3, 1, 1), 8,
                                 weights=pruned(rng, (8, 8, 3, 3)))
    assert all(part.mapping.descriptor["word_blocks"] == 2 for part in depthwise)


def test_weight_bytes_fall_to_values_and_packed_indices():
    """A 2:4 layer's weights take 0.625 of the dense bytes (half the values, 2 bits each
    index); a dense layer on the 2:4 array 1.25 (the indices of both halves), with rows
    long enough that rounding each (k, r, s) row to whole beats does not show."""
    shape = ConvShape(1, 256, 8, 8, 64, 3, 3, 1, 1)
    dense = weight_beats(ArchSpec(), shape)
    assert weight_beats(TWIN, shape, sparse=True) * 8 == dense * 5
    assert weight_beats(TWIN, shape, sparse=False) * 4 == dense * 5


def test_the_model_predicts_the_2to4_layer_in_little_over_half_the_cycles():
    """The issue's layer: 3x3, 64 channels in and out, on the default 16x16 and its twin."""
    rng = np.random.default_rng(4)
    shape = ConvShape(1, 64, 16, 16, 64, 3, 3, 1, 1)
    base = map_conv(ArchSpec(), shape)
    sparse = map_conv(TWIN, shape, weights=pruned(rng, (64, 64, 3, 3)))
    dense = map_conv(TWIN, shape)
    assert predict_cycles(TWIN, sparse) <= 0.55 * predict_cycles(ArchSpec(), base)
    assert predict_cycles(TWIN, dense) <= 1.02 * predict_cycles(ArchSpec(), base)
    counters = predict_counters(TWIN, sparse)
    assert counters["macs_skipped"] * 2 == counters["macs"] == shape.macs
    assert counters["rf_reads"] == shape.macs // 2
    assert predict_counters(TWIN, dense)["macs_skipped"] == 0


def test_the_command_line_refuses_3to8_in_one_line(tmp_path):
    """`peforge layer` on an architecture asking for 3:8: one line naming the value, exit 2,
    no output written."""
    (tmp_path / "arch.yaml").write_text('rows: 4\ncols: 4\nweight_sparsity: "3:8"\n')
    np.save(tmp_path / "x.npy", np.ones((3, 8), dtype=np.int8))
    np.save(tmp_path / "w.npy", np.ones((2, 8), dtype=np.int8))
    done = subprocess.run(
        [sys.executable, "-m", "peforge.cli", "layer", "--arch", tmp_path / "arch.yaml",
         "--op", "fc", "--inputs", tmp_path / "x.npy", "--weights", tmp_path / "w.npy",
         "--out", tmp_path / "y.npy"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "weight_sparsity: must be one of none, 2:4, not '3:8'" in done.stderr
    assert not (tmp_path / "y.npy").exists()


def test_magnitude_pruning_keeps_the_two_largest_of_every_group():
    w = np.array([[5, -7, 1, 0, 2, 2, -3, 9]]).reshape(1, 8, 1, 1)
    pruned_w = w * magnitude_mask(w)
    assert pruned_w.ravel().tolist() == [5, -7, 0, 0, 0, 0, -3, 9]
    assert is_2to4(pruned_w)
