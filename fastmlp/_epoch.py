"""The training engine's epoch: one pass over the data in minibatches.

Two implementations of the same epoch (and, for lbfgs, of the full-batch
loss and gradient: ``CompiledLossGradient`` / ``Network.loss_and_gradient``):

* ``CompiledEpoch``: the whole epoch in ``fastmlp_ext.training`` without the
  GIL (dense X): each batch's rows in parallel chunks, then its weight
  gradients and optimizer update in parallel fixed blocks. Its workspace is
  allocated once, when it is built (once per fit).
* ``python_epoch``: the same steps strung together in Python from the
  per-layer kernels of ``network.ops``; used for sparse X and as the
  readable reference (it runs on the NumPy twin too).

Both return ``(loss_sum, n_correct)``: the sum over batches of batch loss
times batch size (scikit-learn's accumulation) and the samples the network
predicted right before each step.
"""

import numpy as np
import scipy.sparse as sp

from fastmlp._network import SOFTMAX
from fastmlp_ext.activations import activation_code
from fastmlp_ext.dense import reduction_scratch_size
from fastmlp_ext.training import full_batch_slots, loss_gradient, train_epoch


def python_epoch(network, optimizer, X, target, sample_weight, order, batch_size, alpha,
                 n_threads):
    """One epoch through the per-layer kernels, batch by batch, in Python."""
    n_samples = X.shape[0]
    network.reserve(batch_size)
    is_sparse = sp.issparse(X)
    X_batch = None if is_sparse else np.empty((batch_size, X.shape[1]), dtype=network.dtype)
    target_batch = np.empty((batch_size,) + target.shape[1:], dtype=target.dtype)
    sw_batch = None if sample_weight is None else np.empty(batch_size, sample_weight.dtype)
    loss_sum, n_correct = 0.0, 0
    for start in range(0, n_samples, batch_size):
        idx = order[start : start + batch_size]
        n = idx.shape[0]
        xb = X[idx] if is_sparse else np.take(X, idx, axis=0, out=X_batch[:n])
        tb = np.take(target, idx, axis=0, out=target_batch[:n])
        swb = None if sw_batch is None else np.take(sample_weight, idx, out=sw_batch[:n])
        batch_loss, correct = network.loss_and_gradient(xb, tb, swb, alpha, n_threads)
        optimizer.step(network.params, network.grads, network.ops, n_threads)
        loss_sum += batch_loss * n
        n_correct += correct
    return loss_sum, n_correct


def _chunk_workspace(network, chunk_rows, n_chunks):
    """``n_chunks`` workspaces of ``chunk_rows`` rows for the compiled loops,
    in their argument order: gathered X, layer outputs, hidden deltas, labels,
    targets, weights, and the reduction scratch."""
    dtype, units = network.dtype, network.layer_units
    return (
        np.empty((n_chunks, chunk_rows * units[0]), dtype=dtype),
        np.empty((n_chunks, chunk_rows * sum(units[1:])), dtype=dtype),
        np.empty((n_chunks, max(chunk_rows * sum(units[1:-1]), 1)), dtype=dtype),
        np.empty((n_chunks, chunk_rows), dtype=np.intc),
        np.empty((n_chunks, chunk_rows * units[-1]), dtype=dtype),
        np.empty((n_chunks, chunk_rows), dtype=dtype),
        np.empty((n_chunks, reduction_scratch_size(chunk_rows, max(units))),
                 dtype=np.float64),
    )


class CompiledLossGradient:
    """Full-batch loss and gradient in one compiled call (for lbfgs).

    Writes the gradient into ``network.grads``; the result is the same at
    any thread count (fixed chunks added in fixed slots, then in order).
    """

    CHUNK_ROWS = 128

    def __init__(self, network, n_samples):
        self.network = network
        self.layer_units = np.asarray(network.layer_units, dtype=np.intp)
        self.activation = activation_code(network.activation)
        slots = full_batch_slots()
        self.slot_grads = np.empty((2 * slots, network.params.size), dtype=network.dtype)
        self.workspace = _chunk_workspace(network, self.CHUNK_ROWS, slots)
        self.rows = np.arange(n_samples, dtype=np.intp)
        self.sample_loss = np.empty(n_samples, dtype=np.float64)
        self.sample_correct = np.empty(n_samples, dtype=np.uint8)

    def __call__(self, X, target, sample_weight, alpha, n_threads):
        network = self.network
        softmax = network.out_activation == SOFTMAX
        return loss_gradient(
            X, target if softmax else None, None if softmax else target, sample_weight,
            self.rows, network.params, network.grads, self.slot_grads, *self.workspace,
            self.sample_loss, self.sample_correct, self.layer_units, self.activation,
            softmax, alpha, self.CHUNK_ROWS, n_threads,
        )


class CompiledEpoch:
    """Workspace and driver of the compiled epoch for one fit.

    Parameters
    ----------
    network : fastmlp._network.Network
    batch_size : int
    n_samples : int
        Rows of the training data (per-sample loss and accuracy buffers).
    """

    def __init__(self, network, batch_size, n_samples):
        self.network = network
        self.batch_size = batch_size
        self.layer_units = np.asarray(network.layer_units, dtype=np.intp)
        self.activation = activation_code(network.activation)
        # One workspace for a whole batch: chunks fill their own rows of it,
        # and the gradient blocks read all of them.
        self.workspace = _chunk_workspace(network, max(1, min(batch_size, n_samples)), 1)
        self.sample_loss = np.empty(n_samples, dtype=np.float64)
        self.sample_correct = np.empty(n_samples, dtype=np.uint8)
        self._spare_state = None

    def __call__(self, optimizer, X, target, sample_weight, order, alpha, n_threads):
        network = self.network
        softmax = network.out_activation == SOFTMAX
        if hasattr(optimizer, "first_moment"):
            name, state_1, state_2 = "adam", optimizer.first_moment, optimizer.second_moment
            learning_rate, t = optimizer.learning_rate_init, optimizer.t
        else:
            if self._spare_state is None:
                self._spare_state = np.empty_like(network.params)
            name, state_1, state_2 = "sgd", optimizer.velocity, self._spare_state
            learning_rate, t = optimizer.learning_rate, 0
        loss_sum, t = train_epoch(
            X, target if softmax else None, None if softmax else target, sample_weight,
            order, self.batch_size, network.params, network.grads, state_1, state_2,
            *self.workspace, self.sample_loss, self.sample_correct, self.layer_units,
            self.activation, softmax, alpha, name, learning_rate,
            getattr(optimizer, "beta_1", 0.0), getattr(optimizer, "beta_2", 0.0),
            getattr(optimizer, "epsilon", 0.0), getattr(optimizer, "momentum", 0.0),
            getattr(optimizer, "nesterov", False), t, n_threads,
        )
        if name == "adam":
            optimizer.t = t
            optimizer.learning_rate = optimizer.step_size(t)
        n = X.shape[0]
        return loss_sum, int(self.sample_correct[:n].sum(dtype=np.int64))
