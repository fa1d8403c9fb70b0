"""Write the layer `make sim` runs: ResNet-18's conv3_x 3x3 convolution on random int8 data.

    python examples/make_resnet_layer.py OUT_DIR

X is 1 x 128 x 28 x 28 (NCHW), W is 128 x 128 x 3 x 3 (KCRS), both seeded so every run sees
the same tensors; run with stride 1 and padding 1.
"""

import sys
from pathlib import Path

import numpy as np


def main(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    np.save(out_dir / "conv3_inputs.npy", rng.integers(-128, 128, (1, 128, 28, 28), dtype=np.int8))
    np.save(out_dir / "conv3_weights.npy", rng.integers(-128, 128, (128, 128, 3, 3),
                                                        dtype=np.int8))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results")
