"""The plain-NumPy twin of every compiled kernel in ``fastmlp_ext``.

Same function names, signatures and in-place contracts as the compiled
``def`` wrappers, so the training engine runs on either (``ops=``) and the
tests use this module as the oracle. Read this file to learn the maths;
read ``fastmlp_ext/*.pyx`` to see how it is made fast.
"""

import numpy as np
from scipy.special import expit

ACTIVATIONS = ("identity", "relu", "logistic", "tanh")


def _check_activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")


def _apply_activation(z, activation):
    _check_activation(activation)
    if activation == "relu":
        np.maximum(z, 0, out=z)
    elif activation == "logistic":
        expit(z, out=z)
    elif activation == "tanh":
        np.tanh(z, out=z)
    return z


def bias_activation_forward(z, bias, activation, n_threads=1):
    """In place: ``z <- activation(z + bias)``."""
    z += bias
    _apply_activation(z, activation)


def activation_backward(delta, y, activation, n_threads=1):
    """In place: ``delta <- delta * activation'``, derivative from outputs ``y``."""
    _check_activation(activation)
    if activation == "relu":
        delta[y <= 0] = 0
    elif activation == "logistic":
        delta *= y * (1 - y)
    elif activation == "tanh":
        delta *= 1 - y * y


def dense_forward(x, w, bias, out, activation, n_threads=1):
    """``out <- activation(x @ w + bias)``."""
    np.matmul(x, w, out=out)
    bias_activation_forward(out, bias, activation)


def sum_rows(x, out, n_threads=1):
    """``out <- x.sum(axis=0)`` accumulated in float64."""
    out[...] = x.sum(axis=0, dtype=np.float64)


def dense_backward(x, w, delta, grad_w, grad_bias, delta_x, l2_scale, x_activation,
                   n_threads=1):
    """Dense-layer gradients: ``grad_w = x.T @ delta + l2_scale * w``,
    ``grad_bias = delta.sum(0)``, ``delta_x = (delta @ w.T) * x_activation'(x)``."""
    grad_w[...] = x.T @ delta + l2_scale * w
    sum_rows(delta, grad_bias)
    if delta_x is not None:
        np.matmul(delta, w.T, out=delta_x)
        activation_backward(delta_x, x, x_activation)


def softmax(z, n_threads=1):
    """In place row-wise softmax."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True, dtype=np.float64).astype(z.dtype)


def softmax_cross_entropy(logits, labels, sample_weight, grad_scale, sample_loss,
                          sample_correct=None, n_threads=1):
    """Multiclass cross-entropy; logits overwritten by the gradient; returns the
    weighted loss sum."""
    z = logits.astype(np.float64)
    n = z.shape[0]
    if n == 0:
        return 0.0
    weight = np.ones(n) if sample_weight is None else sample_weight.astype(np.float64)
    zmax = z.max(axis=1, keepdims=True)
    log_norm = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    rows = np.arange(n)
    sample_loss[...] = weight * (log_norm - z[rows, labels])
    if sample_correct is not None:
        sample_correct[...] = np.argmax(z, axis=1) == labels
    grad = np.exp(z - log_norm[:, None])
    grad[rows, labels] -= 1
    logits[...] = grad * (weight * grad_scale)[:, None]
    return float(sample_loss.sum())


def sigmoid_binary_cross_entropy(logits, targets, sample_weight, grad_scale,
                                 sample_loss, sample_correct=None, n_threads=1):
    """Binary/multilabel cross-entropy on logits; logits overwritten by the
    gradient; returns the weighted loss sum."""
    z = logits.astype(np.float64)
    y = targets.astype(np.float64)
    n = z.shape[0]
    if n == 0:
        return 0.0
    weight = np.ones(n) if sample_weight is None else sample_weight.astype(np.float64)
    per_output = np.logaddexp(0, z) - z * y
    sample_loss[...] = weight * per_output.sum(axis=1)
    if sample_correct is not None:
        sample_correct[...] = np.all((z > 0) == (y > 0.5), axis=1)
    logits[...] = (expit(z) - y) * (weight * grad_scale)[:, None]
    return float(sample_loss.sum())


def adam_step(params, grads, first_moment, second_moment, step_size, beta_1, beta_2,
              epsilon, n_threads=1):
    """One Adam step in place (``step_size`` already bias-corrected).

    float32 moments below the smallest normal float are stored as 0, as the
    compiled kernel does (denormal arithmetic is ~100x slower on x86)."""
    first_moment *= beta_1
    first_moment += (1 - beta_1) * grads
    second_moment *= beta_2
    second_moment += (1 - beta_2) * grads * grads
    _flush_denormals(first_moment)
    _flush_denormals(second_moment)
    params -= step_size * first_moment / (np.sqrt(second_moment) + epsilon)


def l2_penalty(params, grads, scale):
    """``grads += scale * params`` in place; returns ``sum(params**2)``."""
    sum_sq = float(np.sum(params.astype(np.float64) ** 2))
    grads += params.dtype.type(scale) * params
    return sum_sq


def _flush_denormals(values):
    if values.dtype == np.float32:
        values[np.abs(values) < np.finfo(np.float32).tiny] = 0


def sgd_step(params, grads, velocity, learning_rate, momentum, nesterov, n_threads=1):
    """One SGD-with-momentum step in place."""
    velocity *= momentum
    velocity -= learning_rate * grads
    _flush_denormals(velocity)
    if nesterov:
        params += momentum * velocity - learning_rate * grads
    else:
        params += velocity
