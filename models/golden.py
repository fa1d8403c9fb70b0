"""The golden model: the accelerator's arithmetic, exactly, in integer NumPy.

Operands are signed `operand_bits` integers; products are summed in a signed accumulator of
`acc_bits` that wraps (two's complement) on overflow, and results leave the chip sign-extended
to int32.  Because wrapping is modular, the order of the sum does not change the result.
"""

import numpy as np


def operand_range(bits):
    """The (min, max) of a signed operand of `bits` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap(values, bits):
    """Reduce int64 `values` to signed `bits`-bit two's complement, as int64."""
    values = np.asarray(values, dtype=np.int64)
    if bits >= 64:
        return values
    half = np.int64(1) << (bits - 1)
    return ((values + half) & ((half << 1) - 1)) - half


def fc(x, w, acc_bits=32):
    """Fully connected layer / GEMM: Y[n, k] = sum_c X[n, c] * W[k, c], wrapped to acc_bits.

    x: (N, C) integers, w: (K, C) integers; returns (N, K) int32.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"fc: X must be NxC and W KxC with the same C, "
                         f"not {x.shape} and {w.shape}")
    y = x.astype(np.int64) @ w.astype(np.int64).T
    return wrap(y, acc_bits).astype(np.int32)
