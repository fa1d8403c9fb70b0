"""Loading and checking the user's tensors (.npy) before anything runs."""

import numpy as np

from models.golden import operand_range

from .errors import UserError


def load_npy(path, what):
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{what}: no such file {str(path)!r}") from None
    except (ValueError, OSError, EOFError) as error:
        raise UserError(f"{what}: {str(path)!r} is not a readable .npy file ({error})") from None
    if not isinstance(array, np.ndarray):
        raise UserError(f"{what}: {str(path)!r} holds no single array")
    return array


def check_operand(array, what, bits, ndim):
    """Refuse non-integer arrays, wrong ranks and values outside a signed `bits` operand."""
    if array.ndim != ndim:
        raise UserError(f"{what}: expected {ndim} dimensions, not shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise UserError(f"{what}: expected an integer array (int8), not dtype {array.dtype}")
    if array.size == 0:
        raise UserError(f"{what}: empty array of shape {array.shape}")
    low, high = operand_range(bits)
    bad = (array < low) | (array > high)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise UserError(f"{what}: value {int(array[index])} at {index} does not fit a "
                        f"{bits}-bit signed operand [{low}, {high}]")
    return array.astype(np.int64)


def check_bias(array, channels):
    """A bias is an integer vector of one int32 per output channel."""
    if array.shape != (channels,):
        raise UserError(f"--bias: expected shape ({channels},), one per output channel, "
                        f"not {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise UserError(f"--bias: expected an integer array (int32), not dtype {array.dtype}")
    if (array < -2**31).any() or (array >= 2**31).any():
        raise UserError("--bias: values must fit int32")
    return array.astype(np.int64)
