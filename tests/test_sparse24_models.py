"""2:4 weight sparsity in models/: the spec field, the decision and packing, the mapper's
layout and the analytical model's cycles and counters (docs/sparsity.md)."""

import subprocess
import sys

import numpy as np
import pytest

from models.layout import pack_rows, unpack_rows
from models.mapper import ConvShape, map_conv, map_grouped_conv, weight_beats, weight_rows
from models.perf import predict_counters, predict_cycles
from models.sparsity import GROUP, INDEX_BITS, is_2to4, magnitude_mask, pack_weight_rows
from models.spec import ArchSpec, SpecError
from models.tap_fold import lane_width, plan_of

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


@pytest.mark.parametrize("sparse, channels", [(True, 12), (False, 10), (False, 3)])
def test_packed_rows_hold_every_weight_at_its_index(sparse, channels):
    """Unpacking the packed DRAM rows (values, 2-bit indices) gives back the weights: a 2:4
    PE pair's kept weights at their indices in its group, a dense layer's row r channel
    r of its word's half (index r mod 2), one block a word of at most `rows` channels."""
    rng = np.random.default_rng(2)
    spec = ArchSpec(rows=4, cols=4, weight_sparsity="2:4")
    w = (pruned(rng, (3, channels, 2, 1)) if sparse
         else rng.integers(-128, 128, (3, channels, 2, 1)))
    k, c, r, s = w.shape
    halves = 1 if sparse or c <= spec.rows else 2
    rows = pack_weight_rows(spec, w, sparse)
    stored = unpack_rows(pack_rows(rows, 8, 8), rows.shape[0], rows.shape[1], 8, 8)
    blocks = stored.reshape(k * r * s, -1, spec.weight_lanes)
    assert blocks.shape[1] == -(-c // spec.input_lanes) * halves
    rebuilt = np.zeros((k * r * s, blocks.shape[1] // halves * 8), dtype=int)
    for row in range(k * r * s):
        for b, block in enumerate(blocks[row]):
            word, half = divmod(b, halves)
            index_bits = int.from_bytes(bytes(int(v) & 0xFF for v in block[4:]), "little")
            for pe in range(4):
                index = index_bits >> (INDEX_BITS * pe) & 3
                if sparse:
                    rebuilt[row, word * 8 + GROUP * (pe // 2) + index] += block[pe]
                else:
                    assert index == pe % 2
                    rebuilt[row, word * 8 + half * spec.rows + pe] += block[pe]
    expected = w.transpose(0, 2, 3, 1).reshape(k * r * s, c)
    np.testing.assert_array_equal(rebuilt[:, :c], expected)
    assert not rebuilt[:, c:].any()


def test_the_mapper_runs_2to4_weights_sparse_and_others_dense():
    rng = np.random.default_rng(3)
    shape = ConvShape(1, 64, 16, 16, 64, 3, 3, 1, 1)
    sparse = map_conv(TWIN, shape, weights=pruned(rng, (64, 64, 3, 3)))
    dense = map_conv(TWIN, shape, weights=rng.integers(-128, 128, (64, 64, 3, 3)))
    def lanes(mapping):
        return mapping.descriptor["word_blocks"], mapping.descriptor["dense_lanes"]
    assert (lanes(sparse), lanes(dense), lanes(map_conv(TWIN, shape))) == ((1, 0), (2, 1), (2, 1))
    few = ConvShape(1, 16, 16, 16, 64, 3, 3, 1, 1)
    assert lanes(map_conv(TWIN, few)) == (1, 1)
    depthwise = map_grouped_conv(TWIN, ConvShape(1, 8, 6, 6, 8, 3, 3, 1, 1), 8,
                                 weights=pruned(rng, (8, 8, 3, 3)))
    assert all(lanes(part.mapping) == (1, 1) for part in depthwise)


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


@pytest.mark.parametrize("channels", [9, 16, 24, 64])
def test_a_dense_layer_takes_the_dense_arrays_passes_on_the_twin(channels):
    """A dense layer's channels two per group: a word of at most 16 channels is one block, a
    wider one two (its halves), so the layer takes the dense 16x16's passes and its cycles
    within 2 % (weight rows 1.25x wider: the indices), and it performs every MAC."""
    shape = ConvShape(1, channels, 16, 16, 64, 3, 3, 1, 1)
    base = map_conv(ArchSpec(), shape)
    dense = map_conv(TWIN, shape)
    assert dense.red_blocks == base.red_blocks == 9 * -(-channels // 16)
    assert predict_cycles(TWIN, dense) <= 1.02 * predict_cycles(ArchSpec(), base)
    counters = predict_counters(TWIN, dense)
    assert counters["macs"] == shape.macs and counters["macs_skipped"] == 0


@pytest.mark.parametrize("channels, kernel, sparse", [(1, 3, False), (3, 5, False),
                                                      (16, 3, True), (8, 5, True)])
def test_few_channel_layers_fold_their_taps_on_the_twin(channels, kernel, sparse):
    """Taps folded into the rows on the 2:4 twin (models/tap_fold.py): a dense layer whose
    S x C run fits `rows` in dense lanes, in the dense 16x16's folded cycles (within 5 %), its
    blocks taking at least the dense array's kernel rows; a 2:4 layer in segments of 32 elements (a
    word), so fewer blocks than the dense array's taps and at most 0.8x its cycles; every
    weight at its place in the packed rows (kernel row j of a block `lanes` elements after
    kernel row j - 1)."""
    rng = np.random.default_rng(channels)
    shape = ConvShape(2, channels, 16, 16, 32, kernel, kernel, 1, kernel // 2)
    weights = rng.integers(-128, 128, (32, channels, kernel, kernel))
    weights = weights * magnitude_mask(weights) if sparse else weights
    base = map_conv(ArchSpec(), shape)
    twin = map_conv(TWIN, shape, weights=weights)
    d = twin.descriptor
    assert (d["fold"], d["dense_lanes"]) == (1, int(not sparse))
    assert d["c_blocks"] == -(-kernel * channels // 32)
    if not sparse:   # the twin's line buffer words are 32 elements: its rows fit more
        assert d["fold_rows"] >= base.descriptor["fold_rows"]
    bound = 0.8 if sparse else 1.05
    assert predict_cycles(TWIN, twin) <= bound * predict_cycles(ArchSpec(), base)
    fold = plan_of(TWIN, twin)
    rows = weight_rows(TWIN, twin, weights)
    stored = rows.reshape(32 * fold.blocks, d["c_blocks"], TWIN.weight_lanes)
    values, index_bytes = stored[..., :16], stored[..., 16:].astype(np.uint8)
    indices = np.unpackbits(index_bytes, axis=-1, bitorder="little").reshape(
        *index_bytes.shape[:2], 16, INDEX_BITS) @ (1 << np.arange(INDEX_BITS))
    run = np.zeros((32 * fold.blocks, d["c_blocks"] * 32), dtype=np.int64)
    segment = np.arange(d["c_blocks"])[:, None] * 32
    if sparse:
        lane = GROUP * (np.arange(16) // 2) + indices
    else:
        assert (indices == np.arange(16) % 2).all()
        lane = np.broadcast_to(np.arange(16), indices.shape)
    for row in range(32 * fold.blocks):
        np.add.at(run[row], segment + lane[row], values[row])
    expected = np.zeros((32, fold.blocks, run.shape[1]), dtype=np.int64)
    for j in range(kernel):
        block, first = j // fold.rows, j % fold.rows * fold.lanes
        expected[:, block, first:first + kernel * channels] = \
            weights[:, :, j].transpose(0, 2, 1).reshape(32, -1)
    np.testing.assert_array_equal(run, expected.reshape(run.shape))


def test_the_digits_conv1_takes_its_three_kernel_rows_a_block_on_the_twin():
    """The digits CNN's conv1 (1 channel, 3x3, 8x8 images, dense) folds its three kernel rows
    into one block on the twin as on the dense 16x16 (the twin's line buffer and dense lanes):
    the same blocks, so its cycles within 0.1 % of the dense array's (its weight rows are
    1.25x wider)."""
    shape = ConvShape(360, 1, 8, 8, 16, 3, 3, 1, 1)
    weights = np.random.default_rng(3).integers(-128, 128, (16, 1, 3, 3))
    twin, dense = map_conv(TWIN, shape, weights=weights), map_conv(ArchSpec(), shape)
    assert (twin.descriptor["fold_rows"], twin.descriptor["taps"]) == (3, 1)
    assert (twin.descriptor["dense_lanes"], dense.descriptor["fold_rows"]) == (1, 3)
    assert predict_cycles(TWIN, twin) == pytest.approx(predict_cycles(ArchSpec(), dense),
                                                       rel=1e-3)


@pytest.mark.parametrize("rows, dense_widths, sparse_widths", [
    (4, {}, {}), (6, {2: 3}, {}), (8, {2: 4}, {2: 8}),
    (16, {2: 8, 3: 5, 4: 4, 5: 3}, {2: 16, 3: 8, 4: 8})])
def test_lane_groups_of_a_folded_block_on_2to4_arrays(rows, dense_widths, sparse_widths):
    """Kernel rows a block: up to a third of the rows (none below 6); a dense layer's runs
    `rows // R'` lanes apart (the dense lanes' first `rows`), a 2:4 layer's `2 rows // R'`
    rounded down to whole groups of four, offered where two groups fit."""
    spec = ArchSpec(rows=rows, cols=4, weight_sparsity="2:4")
    for sparse, widths in ((False, dense_widths), (True, sparse_widths)):
        got = {n: lane_width(spec, n, sparse) for n in range(2, rows)}
        assert {n: width for n, width in got.items() if width} == widths


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
