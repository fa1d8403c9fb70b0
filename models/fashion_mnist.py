"""Fashion-MNIST (Xiao et al., 2017): 60,000 training and 10,000 test images of 28x28 clothes.

The files are Debian's `dataset-fashion-mnist` package (`apt-get install dataset-fashion-mnist`:
the original idx files, MIT licence) under DATA_DIR.  `images()` gives the graph's input
layout: float32 N x 1 x 28 x 28 in [0, 1] (pixel / 255); `labels()` the classes 0..9.
`examples/train_fashion_mnist.py` trains the ResNet-style CNN committed as MODEL_PATH.
"""

import gzip
from pathlib import Path

import numpy as np

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
MODEL_PATH = Path(__file__).with_name("fashion_mnist.onnx")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
INSTALL_HINT = "apt-get install dataset-fashion-mnist"


class DatasetMissing(FileNotFoundError):
    """The Debian package's files are not on this machine."""


def _read_idx(path, header_words):
    if not path.is_file():
        raise DatasetMissing(f"Fashion-MNIST is not installed ({path} is missing; "
                             f"{INSTALL_HINT})")
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=4 * header_words)


def images(split="test", data_dir=DATA_DIR):
    """The `split` images as float32 N x 1 x 28 x 28, pixel / 255."""
    pixels = _read_idx(Path(data_dir) / FILES[split][0], header_words=4)
    return (pixels.reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32)


def labels(split="test", data_dir=DATA_DIR):
    """The `split` labels (0..9) as int64."""
    return _read_idx(Path(data_dir) / FILES[split][1], header_words=2).astype(np.int64)
