"""Train the digits CNN of models/digits.py in NumPy and write its weights (models/digits.npz).

    python examples/train_digits.py [OUT.npz]
    python examples/train_digits.py --2to4 [OUT.npz]

With --2to4 it trains the same network, prunes conv2 and fc to 2:4 along their input
channels (the two largest magnitudes of every group of four kept; conv1 has one input channel
and stays dense) and fine-tunes the kept weights (seeded), writing models/digits_2to4.npz.

Plain backpropagation with Adam on the 1437 training images, seeded, so a rerun writes the
same weights up to floating-point summation order (about 20 s on two cores).  The file also
holds each ReLU layer's largest activation on the training images, which sets its int8 scale.
"""

import sys
from pathlib import Path

import numpy as np

from models import digits
from models.sparsity import magnitude_mask

EPOCHS = 40
BATCH = 32
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
SEED = 4


def col2im(cols, shape, r, pad):
    """The gradient of models.digits.im2col (stride 1): sum each window row back into NCHW."""
    n, c, h, w = shape
    rows = cols.reshape(n, h, w, c, r, r)
    out = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for i in range(r):
        for j in range(r):
            out[:, :, i:i + h, j:j + w] += rows[..., i, j].transpose(0, 3, 1, 2)
    return out[:, :, pad:pad + h, pad:pad + w]


def pool_winners(a):
    """1 where models.digits.maxpool2 takes its value from (the first of equal maxima, so a
    window of ties passes its gradient once), 0 elsewhere."""
    n, c, h, w = a.shape
    windows = a.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    first = np.eye(4)[windows.reshape(n, c, h // 2, w // 2, 4).argmax(axis=-1)]
    return first.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(a.shape)


def conv_forward(x, w, b):
    cols, (n, p, q) = digits.im2col(x, 3, 1)
    z = cols @ w.reshape(len(w), -1).T + b
    return z, cols, z.reshape(n, p, q, -1).transpose(0, 3, 1, 2)


def conv_backward(dz, cols, w, x_shape):
    """(dW, db, dX) of a 3x3 padding-1 convolution from the gradient of its rows."""
    dw = (dz.T @ cols).reshape(w.shape)
    return dw, dz.sum(axis=0), col2im(dz @ w.reshape(len(w), -1), x_shape, 3, 1)


def gradients(params, pixels, labels):
    """(loss, {name: gradient}) of the mean cross-entropy on one batch."""
    x = pixels * digits.INPUT_SCALE
    z1, cols1, a1 = conv_forward(x, params["conv1.weight"], params["conv1.bias"])
    a1 = np.maximum(a1, 0)
    p1 = digits.maxpool2(a1)
    z2, cols2, a2 = conv_forward(p1, params["conv2.weight"], params["conv2.bias"])
    flat = np.maximum(a2, 0).reshape(len(x), -1)
    logits = flat @ params["fc.weight"].T + params["fc.bias"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(len(x)), labels]))

    dlogits = probs
    dlogits[np.arange(len(x)), labels] -= 1
    dlogits /= len(x)
    grads = {"fc.weight": dlogits.T @ flat, "fc.bias": dlogits.sum(axis=0)}
    da2 = (dlogits @ params["fc.weight"]).reshape(a2.shape)
    dz2 = da2.transpose(0, 2, 3, 1).reshape(z2.shape) * (z2 > 0)
    grads["conv2.weight"], grads["conv2.bias"], dp1 = conv_backward(
        dz2, cols2, params["conv2.weight"], p1.shape)
    da1 = np.repeat(np.repeat(dp1, 2, axis=2), 2, axis=3) * pool_winners(a1)
    dz1 = da1.transpose(0, 2, 3, 1).reshape(z1.shape) * (z1 > 0)
    grads["conv1.weight"], grads["conv1.bias"], _ = conv_backward(
        dz1, cols1, params["conv1.weight"], x.shape)
    return loss, grads


def initial_params(rng):
    """He-normal weights, zero biases."""
    params = {}
    for name, shape in digits.PARAMETER_SHAPES.items():
        if name.endswith(".bias"):
            params[name] = np.zeros(shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            params[name] = rng.normal(0, np.sqrt(2 / fan_in), shape)
    return params


PRUNED = ("conv2.weight", "fc.weight")
"""The layers pruned to 2:4 (conv1's single input channel makes no group of four)."""
FINE_TUNE_EPOCHS = 20


def train(split, log=print, params=None, epochs=EPOCHS, masks=None):
    """Adam from `params` (default: seeded He-normal) for `epochs`; weights with a mask in
    `masks` keep their masked entries at zero."""
    rng = np.random.default_rng(SEED)
    params = initial_params(rng) if params is None else dict(params)
    masks = masks or {}
    moments = {name: (np.zeros_like(p), np.zeros_like(p)) for name, p in params.items()}
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(split.train_x))
        losses = []
        for first in range(0, len(order), BATCH):
            batch = order[first:first + BATCH]
            loss, grads = gradients(params, split.train_x[batch], split.train_y[batch])
            losses.append(loss)
            step += 1
            for name, grad in grads.items():
                if name.endswith(".weight"):
                    grad = grad + WEIGHT_DECAY * params[name]
                m, v = moments[name]
                m[:] = 0.9 * m + 0.1 * grad
                v[:] = 0.999 * v + 0.001 * grad * grad
                params[name] -= LEARNING_RATE * (m / (1 - 0.9 ** step)) / (
                    np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
                if name in masks:
                    params[name] *= masks[name]
        if epoch % 10 == 9 or epoch == epochs - 1:
            logits, _ = digits.float_forward(params, split.test_x)
            log(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, held-out accuracy "
                f"{100 * digits.accuracy(logits, split.test_y):.2f} %")
    return params


def train_2to4(split, log=print):
    """The dense training, then 2:4 magnitude pruning of PRUNED and masked fine-tuning."""
    params = train(split, log)
    masks = {name: magnitude_mask(params[name]) for name in PRUNED}
    log("pruned conv2 and fc to 2:4; fine-tuning")
    params = {name: value * masks.get(name, 1) for name, value in params.items()}
    return train(split, log, params, FINE_TUNE_EPOCHS, masks)


def main(path, pruned=False):
    split = digits.dataset()
    trained = train_2to4(split) if pruned else train(split)
    params = {name: value.astype(np.float32) for name, value in trained.items()}
    params.update(digits.calibrate(params, split.train_x))
    np.savez_compressed(path, **params)
    params = digits.load_params(path)
    network = digits.quantized_network(params)
    float_logits, _ = digits.float_forward(params, split.test_x)
    int8_logits = digits.run_int8(network, split.test_x, digits.golden_layer)
    print(f"wrote {path}: float {100 * digits.accuracy(float_logits, split.test_y):.2f} %, "
          f"int8 {100 * digits.accuracy(int8_logits, split.test_y):.2f} % on "
          f"{len(split.test_y)} held-out images")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    pruned = "--2to4" in arguments
    arguments = [a for a in arguments if a != "--2to4"]
    main(Path(arguments[0]) if arguments
         else digits.PRUNED_WEIGHTS_PATH if pruned else digits.WEIGHTS_PATH, pruned)
