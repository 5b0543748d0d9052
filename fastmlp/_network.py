"""The training engine's network: one flat parameter buffer and the passes over it.

This floor knows nothing of estimators and nothing of OpenMP: it lays the
parameters out, owns the work buffers, and strings the kernels of ``ops``
(compiled ``fastmlp._compiled_ops`` or the NumPy twin ``fastmlp._numpy_ops``)
into forward and backward passes.

Layout of the flat buffer (scikit-learn's packing order): every layer's
weight matrix row-major, then every layer's intercepts. ``coefs`` and
``intercepts`` are views into it, and so are ``coef_grads`` and
``intercept_grads`` into ``grads``, so one optimizer call updates all.
"""

import numpy as np
import scipy.sparse as sp

from fastmlp import _compiled_ops
from fastmlp._threads import fair_share, single_threaded_blas
from fastmlp_ext.activations import activation_code
from fastmlp_ext.training import forward_logits

SOFTMAX = "softmax"
LOGISTIC = "logistic"


def _layer_views(flat, layer_units):
    coefs, intercepts = [], []
    start = 0
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        stop = start + fan_in * fan_out
        coefs.append(flat[start:stop].reshape(fan_in, fan_out))
        start = stop
    for fan_out in layer_units[1:]:
        intercepts.append(flat[start : start + fan_out])
        start += fan_out
    return coefs, intercepts


def _layer_forward(ops, layer_input, coef, intercept, out, activation, n_threads):
    """One layer's forward pass; a sparse (CSR) input goes through scipy's
    sparse product, then the same fused bias + activation kernel."""
    if sp.issparse(layer_input):
        out[...] = layer_input @ coef
        ops.bias_activation_forward(out, intercept, activation, n_threads)
    else:
        ops.dense_forward(layer_input, coef, intercept, out, activation, n_threads)


def n_parameters(layer_units):
    """Number of weights and intercepts of a network with these layer sizes."""
    return sum(a * b + b for a, b in zip(layer_units[:-1], layer_units[1:]))


class Network:
    """A multilayer perceptron on one flat parameter buffer.

    Parameters
    ----------
    layer_units : list of int
        Sizes of all layers, input and output included.
    activation : str
        Hidden-layer activation ('identity', 'relu', 'logistic', 'tanh').
    out_activation : {'softmax', 'logistic'}
        Output link: softmax with cross-entropy on integer labels, or logistic
        with binary cross-entropy on 0/1 targets (binary and multilabel).
    dtype : numpy dtype
        float32 or float64, for parameters and every buffer.
    ops : module, default=fastmlp._compiled_ops
        Kernel implementation; ``fastmlp._numpy_ops`` has the same interface.
    """

    def __init__(self, layer_units, activation, out_activation, dtype, ops=_compiled_ops):
        self.layer_units = [int(u) for u in layer_units]
        self.activation = activation
        self.out_activation = out_activation
        self.dtype = np.dtype(dtype)
        self.ops = ops
        size = n_parameters(self.layer_units)
        self.params = np.zeros(size, dtype=self.dtype)
        self.grads = np.zeros(size, dtype=self.dtype)
        self.coefs, self.intercepts = _layer_views(self.params, self.layer_units)
        self.coef_grads, self.intercept_grads = _layer_views(self.grads, self.layer_units)
        self._capacity = 0

    @property
    def n_layers(self):
        return len(self.layer_units)

    def load(self, coefs, intercepts):
        """Copy per-layer arrays (e.g. a fitted model's) into the flat buffer."""
        for dst, src in zip(self.coefs + self.intercepts, list(coefs) + list(intercepts)):
            if dst.shape != np.shape(src):
                raise ValueError(f"parameter of shape {np.shape(src)} does not fit {dst.shape}")
            dst[...] = src

    def initialize(self, random_state):
        """Glorot-uniform weights and intercepts, drawn as scikit-learn draws them.

        Per layer, the weights then the intercepts from U(-b, b) with
        b = sqrt(6 / (fan_in + fan_out)) (sqrt(2 / ...) for logistic), drawn in
        float64 and cast, so the same ``random_state`` starts the same network
        as scikit-learn's MLPClassifier.
        """
        factor = 2.0 if self.activation == "logistic" else 6.0
        for coef, intercept in zip(self.coefs, self.intercepts):
            fan_in, fan_out = coef.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef[...] = random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept[...] = random_state.uniform(-bound, bound, fan_out)

    # -- buffers -----------------------------------------------------------
    def reserve(self, n_rows):
        """Allocate the work buffers for batches of up to ``n_rows`` rows."""
        if n_rows <= self._capacity:
            return
        units = self.layer_units
        # outputs[i] holds layer i+1's outputs; the last holds the logits, which
        # the loss kernel overwrites with the output delta.
        self._outputs = [np.empty((n_rows, u), dtype=self.dtype) for u in units[1:]]
        self._deltas = [np.empty((n_rows, u), dtype=self.dtype) for u in units[1:-1]]
        self._sample_loss = np.empty(n_rows, dtype=np.float64)
        self._sample_correct = np.empty(n_rows, dtype=np.uint8)
        self._capacity = n_rows

    # -- passes ------------------------------------------------------------
    def forward(self, X, n_threads=1):
        """Forward pass of ``X`` (C-contiguous, network dtype) up to the logits.

        Returns a view of the logits buffer, valid until the next pass.
        """
        n = X.shape[0]
        self.reserve(n)
        last = self.n_layers - 2
        layer_input = X
        for i in range(last + 1):
            out = self._outputs[i][:n]
            act = "identity" if i == last else self.activation
            _layer_forward(self.ops, layer_input, self.coefs[i], self.intercepts[i], out,
                           act, n_threads)
            layer_input = out
        return layer_input

    def l2_penalty(self):
        """Sum of the squared weights (intercepts excluded)."""
        # A diverging fit overflows here; the caller reports it as an error.
        with np.errstate(over="ignore", invalid="ignore"):
            return float(sum(np.dot(c.ravel(), c.ravel()) for c in self.coefs))

    def loss_and_gradient(self, X, target, sample_weight, alpha, n_threads=1):
        """Loss of the batch and its gradient, written to ``self.grads``.

        The loss is the weighted mean data loss plus
        ``0.5 * alpha * ||W||^2 / sum(weights)`` (scikit-learn's objective).

        Parameters
        ----------
        X : ndarray of shape (n, n_features), C-contiguous, or CSR matrix; network dtype
        target : int32 ndarray (n,) for softmax, or (n, n_outputs) 0/1 array
            of the network dtype for logistic.
        sample_weight : ndarray (n,) of the network dtype, or None
        alpha : float
        n_threads : int

        Returns
        -------
        loss : float
        n_correct : int
            Samples whose target the logits already predicted (before the step).
        """
        n = X.shape[0]
        logits = self.forward(X, n_threads)
        weight_sum = float(n if sample_weight is None else sample_weight.sum(dtype=np.float64))
        sample_loss = self._sample_loss[:n]
        sample_correct = self._sample_correct[:n]
        loss_kernel = (
            self.ops.softmax_cross_entropy
            if self.out_activation == SOFTMAX
            else self.ops.sigmoid_binary_cross_entropy
        )
        data_loss = loss_kernel(
            logits, target, sample_weight, 1.0 / weight_sum, sample_loss,
            sample_correct, n_threads,
        )
        loss = data_loss / weight_sum
        if alpha:
            loss += 0.5 * alpha * self.l2_penalty() / weight_sum
        self._backward(X, logits, alpha / weight_sum, n_threads)
        return loss, int(sample_correct.sum())

    def _backward(self, X, output_delta, l2_scale, n_threads):
        n = X.shape[0]
        delta = output_delta
        for i in range(self.n_layers - 2, -1, -1):
            if i > 0:
                layer_input = self._outputs[i - 1][:n]
                delta_below = self._deltas[i - 1][:n]
                input_activation = self.activation
            elif sp.issparse(X):
                # Sparse input: only the weight and bias gradients are needed.
                self.coef_grads[0][...] = X.T @ delta
                if l2_scale:
                    self.coef_grads[0] += l2_scale * self.coefs[0]
                self.ops.sum_rows(delta, self.intercept_grads[0], n_threads)
                break
            else:
                layer_input, delta_below, input_activation = X, None, "identity"
            self.ops.dense_backward(
                layer_input, self.coefs[i], delta, self.coef_grads[i],
                self.intercept_grads[i], delta_below, l2_scale, input_activation,
                n_threads,
            )
            delta = delta_below


def predict_logits(coefs, intercepts, activation, X, ops=_compiled_ops, n_threads=1,
                   block_rows=1024, check_finite=False, share_threads=False):
    """Logits of ``X`` through the layers ``coefs``/``intercepts``.

    Works block by block over the rows, so memory stays bounded whatever the
    number of samples. ``X`` must be C-contiguous (or CSR) and of the
    coefficients' dtype. More than one block: ``n_threads`` threads take
    whole blocks, each on single-threaded BLAS, whatever ``n_threads`` is, so
    the logits do not depend on it (threaded BLAS splits its sums
    differently). One block (up to ``block_rows`` rows) runs on this thread
    with BLAS as it is set, which keeps one-row latency at microseconds.
    With ``share_threads``, ``n_threads`` is shared with the fits and
    predictions running at the same time (``fair_share``). With
    ``check_finite``, returns None if X holds inf or NaN.
    """
    if ops is _compiled_ops and not sp.issparse(X):
        # The whole forward pass in one compiled call.
        code = activation_code(activation)
        if X.shape[0] > block_rows:
            with single_threaded_blas():
                if share_threads:
                    n_threads = fair_share(n_threads)
                return forward_logits(X, list(coefs), list(intercepts), code, block_rows,
                                      n_threads, check_finite)
        return forward_logits(X, list(coefs), list(intercepts), code, block_rows, 1,
                              check_finite)
    if check_finite and not (sp.issparse(X) or np.isfinite(X).all()):
        return None
    n = X.shape[0]
    dtype = coefs[0].dtype
    out = np.empty((n, coefs[-1].shape[1]), dtype=dtype)
    block_rows = max(1, min(block_rows, n))
    buffers = [np.empty((block_rows, c.shape[1]), dtype=dtype) for c in coefs[:-1]]
    last = len(coefs) - 1
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        layer_input = X[start:stop]
        for i in range(last + 1):
            dest = out[start:stop] if i == last else buffers[i][: stop - start]
            act = "identity" if i == last else activation
            _layer_forward(ops, layer_input, coefs[i], intercepts[i], dest, act, n_threads)
            layer_input = dest
    return out
