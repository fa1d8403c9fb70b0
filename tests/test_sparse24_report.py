"""The report's per-layer mode on a 2:4 architecture: 2:4 or dense, and the mapping each
gets, from the counters."""

import numpy as np

from models.energy import table_for
from models.mapper import ConvShape, map_conv
from models.perf import model_counters
from models.spec import ArchSpec
from models.sparsity import magnitude_mask
from models.workloads import Layer
from peforge.report import layer_entry, layer_mode


def test_the_mode_says_whether_the_weights_ran_2to4():
    spec = ArchSpec(rows=4, cols=4, weight_sparsity="2:4")
    shape = ConvShape(1, 16, 6, 6, 8, 3, 3, 1, 1)
    weights = np.random.default_rng(5).integers(-128, 128, (8, 16, 3, 3))
    weights = weights * magnitude_mask(weights)
    table = table_for(spec)
    modes = [layer_entry(spec, "conv", "conv", model_counters(spec, mapping), table,
                         mode="dense")["mode"]
             for mapping in (map_conv(spec, shape, weights=weights), map_conv(spec, shape))]
    assert modes == ["dense; 2:4 weights, half the MACs skipped",
                     "dense; weights not 2:4: runs dense"]
    dense_spec = ArchSpec(rows=4, cols=4)
    assert layer_entry(dense_spec, "conv", "conv",
                       model_counters(dense_spec, map_conv(dense_spec, shape)),
                       table_for(dense_spec), mode="dense")["mode"] == "dense"


def test_the_mode_names_the_mapping_the_weights_get():
    """On the 2:4 twin a 16-channel 3x3 layer folds its taps when its weights are 2:4 (two
    segments of 32 elements a kernel row) and runs unfolded in dense lanes otherwise: the
    report names the mapping the counters show."""
    spec = ArchSpec(name="default-2to4", weight_sparsity="2:4")
    shape = ConvShape(2, 16, 14, 14, 32, 3, 3, 1, 1)
    weights = np.random.default_rng(6).integers(-128, 128, (32, 16, 3, 3))
    weights = weights * magnitude_mask(weights)
    modes = layer_mode(spec, Layer("conv2", "conv", shape))
    table = table_for(spec)
    entries = [layer_entry(spec, "conv2", "conv", model_counters(spec, mapping), table,
                           mode=modes)["mode"]
               for mapping in (map_conv(spec, shape, weights=weights), map_conv(spec, shape))]
    assert entries[0].startswith("taps folded, 2 segments of 3 kernel rows, packed input")
    assert entries[0].endswith("; 2:4 weights, half the MACs skipped")
    assert entries[1].startswith("dense") and entries[1].endswith("; weights not 2:4: runs dense")
