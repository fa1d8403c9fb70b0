"""Write the example fully-connected layer `make sim` runs: a batch of 64 through 256 -> 128.

Seeded, so the committed tensors can be regenerated bit for bit:
    python examples/make_fc_example.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main():
    rng = np.random.default_rng(2026)
    inputs = rng.integers(-128, 128, (64, 256), dtype=np.int8)
    weights = rng.integers(-128, 128, (128, 256), dtype=np.int8)
    np.save(HERE / "fc_inputs.npy", inputs)
    np.save(HERE / "fc_weights.npy", weights)


if __name__ == "__main__":
    main()
