"""The report's per-layer mode on a 2:4 architecture: 2:4 or dense, from the counters."""

import numpy as np

from models.energy import table_for
from models.mapper import ConvShape, map_conv
from models.perf import model_counters
from models.spec import ArchSpec
from peforge.report import layer_entry
from models.sparsity import magnitude_mask


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
