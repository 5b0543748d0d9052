"""Output links and their losses, computed on logits in one pass.

* ``softmax_cross_entropy``: multiclass. Per row: max-subtract, sum of
  exponentials in double, ``loss_i = logsumexp(z_i) - z_i[y_i]`` (never
  ``log(0)``, no NaN for huge finite logits), and the gradient
  ``(softmax(z_i) - onehot(y_i)) * w_i * grad_scale`` written over the logits.
* ``sigmoid_binary_cross_entropy``: binary and multilabel targets.
  ``loss = max(z, 0) - z*y + log1p(exp(-|z|))`` summed over outputs,
  gradient ``(sigmoid(z) - y) * w_i * grad_scale``.

Per-sample losses (already multiplied by their weight) go to ``sample_loss``
and are added in sample order afterwards, so the total does not depend on
the thread count. ``sample_correct`` (optional) receives 1 where the logits
already predicted the target (for a running training accuracy).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, fabs, log, log1p

import numpy as np

from ._kernel_config cimport PARALLEL_MIN_ELEMENTS


cdef inline double _ordered_sum(const double* values, Py_ssize_t n) noexcept nogil:
    cdef double total = 0
    cdef Py_ssize_t i
    for i in range(n):
        total += values[i]
    return total


cdef inline void _softmax_xent_row(
        floating* z, int label, double weight, double grad_scale,
        double* loss_out, unsigned char* correct_out, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t j, best = 0
    cdef double zmax = z[0], total = 0, e, coef
    for j in range(1, k):
        if z[j] > zmax:
            zmax = z[j]
            best = j
    if correct_out != NULL:
        correct_out[0] = best == label
    total = _sum_exp_shifted(z, zmax, k)
    # total >= 1 (the max term is exp(0)), so the log is always finite.
    loss_out[0] = weight * (zmax + log(total) - z[label])
    # Second pass: the normalised exponentials become the gradient.
    coef = weight * grad_scale
    for j in range(k):
        e = exp(z[j] - zmax) / total
        z[j] = <floating> ((e - (j == label)) * coef)


cdef inline double _sum_exp_shifted(const floating* z, double zmax,
                                    Py_ssize_t k) noexcept nogil:
    cdef double total = 0
    cdef Py_ssize_t j
    for j in range(k):
        total += exp(z[j] - zmax)
    return total


cdef double softmax_cross_entropy_ptr(
        floating* logits, const int* labels, const floating* sample_weight,
        double grad_scale, double* sample_loss, unsigned char* sample_correct,
        Py_ssize_t n_rows, Py_ssize_t n_classes, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint parallel = n_threads > 1 and n_rows * n_classes >= PARALLEL_MIN_ELEMENTS
    for i in prange(n_rows, schedule="static", num_threads=n_threads,
                    use_threads_if=parallel):
        _softmax_xent_row(
            logits + i * n_classes, labels[i],
            1.0 if sample_weight == NULL else sample_weight[i], grad_scale,
            sample_loss + i, NULL if sample_correct == NULL else sample_correct + i,
            n_classes)
    return _ordered_sum(sample_loss, n_rows)


cdef inline void _sigmoid_bce_row(
        floating* z, const floating* y, double weight, double grad_scale,
        double* loss_out, unsigned char* correct_out, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t j
    cdef double zj, yj, p, e, loss = 0
    cdef bint all_correct = True
    for j in range(k):
        zj = z[j]
        yj = y[j]
        loss += (zj if zj > 0 else 0) - zj * yj + log1p(exp(-fabs(zj)))
        # A logistic that never overflows: exp of a non-positive number.
        if zj >= 0:
            p = 1.0 / (1.0 + exp(-zj))
        else:
            e = exp(zj)
            p = e / (1.0 + e)
        all_correct = all_correct and ((zj > 0) == (yj > 0.5))
        z[j] = <floating> ((p - yj) * weight * grad_scale)
    loss_out[0] = weight * loss
    if correct_out != NULL:
        correct_out[0] = all_correct


cdef double sigmoid_binary_cross_entropy_ptr(
        floating* logits, const floating* targets, const floating* sample_weight,
        double grad_scale, double* sample_loss, unsigned char* sample_correct,
        Py_ssize_t n_rows, Py_ssize_t n_outputs, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint parallel = n_threads > 1 and n_rows * n_outputs >= PARALLEL_MIN_ELEMENTS
    for i in prange(n_rows, schedule="static", num_threads=n_threads,
                    use_threads_if=parallel):
        _sigmoid_bce_row(
            logits + i * n_outputs, targets + i * n_outputs,
            1.0 if sample_weight == NULL else sample_weight[i], grad_scale,
            sample_loss + i, NULL if sample_correct == NULL else sample_correct + i,
            n_outputs)
    return _ordered_sum(sample_loss, n_rows)


cdef void softmax_ptr(floating* z, Py_ssize_t n_rows, Py_ssize_t n_cols,
                      int n_threads) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef double zmax, total
    cdef bint parallel = n_threads > 1 and n_rows * n_cols >= PARALLEL_MIN_ELEMENTS
    for i in prange(n_rows, schedule="static", num_threads=n_threads,
                    use_threads_if=parallel):
        row = z + i * n_cols
        zmax = row[0]
        for j in range(1, n_cols):
            if row[j] > zmax:
                zmax = row[j]
        total = _sum_exp_shifted(row, zmax, n_cols)
        for j in range(n_cols):
            row[j] = <floating> (exp(row[j] - zmax) / total)


def _check_common(logits, sample_weight, sample_loss, sample_correct):
    n_rows = logits.shape[0]
    if sample_weight is not None and sample_weight.shape[0] != n_rows:
        raise ValueError(
            f"sample_weight has {sample_weight.shape[0]} entries, expected {n_rows}"
        )
    if sample_loss.shape[0] != n_rows:
        raise ValueError(f"sample_loss has {sample_loss.shape[0]} entries, expected {n_rows}")
    if sample_correct is not None and sample_correct.shape[0] != n_rows:
        raise ValueError(
            f"sample_correct has {sample_correct.shape[0]} entries, expected {n_rows}"
        )
    if logits.shape[1] == 0:
        raise ValueError("logits must have at least one column")


def softmax_cross_entropy(floating[:, ::1] logits, const int[::1] labels,
                          const floating[::1] sample_weight, double grad_scale,
                          double[::1] sample_loss, unsigned char[::1] sample_correct=None,
                          int n_threads=1):
    """Multiclass cross-entropy on logits; the logits are overwritten by the gradient.

    Parameters
    ----------
    logits : ndarray of shape (n_rows, n_classes), C-contiguous, float32/float64
    labels : int32 ndarray of shape (n_rows,), values in [0, n_classes)
    sample_weight : ndarray of shape (n_rows,) of the logits' dtype, or None
    grad_scale : float
        Factor of the gradient (1 / sum of weights for a mean loss).
    sample_loss : float64 ndarray of shape (n_rows,), written
    sample_correct : uint8 ndarray of shape (n_rows,) or None, written
    n_threads : int, default=1

    Returns
    -------
    total : float
        Sum of the weighted per-sample losses, added in sample order.
    """
    cdef Py_ssize_t n_rows = logits.shape[0], n_classes = logits.shape[1]
    cdef double total
    _check_common(logits, sample_weight, sample_loss, sample_correct)
    if labels.shape[0] != n_rows:
        raise ValueError(f"labels has {labels.shape[0]} entries, expected {n_rows}")
    if n_rows == 0:
        return 0.0
    labels_arr = np.asarray(labels)
    if labels_arr.min() < 0 or labels_arr.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got values in "
                         f"[{labels_arr.min()}, {labels_arr.max()}]")
    with nogil:
        total = softmax_cross_entropy_ptr(
            &logits[0, 0], &labels[0],
            NULL if sample_weight is None else &sample_weight[0], grad_scale,
            &sample_loss[0], NULL if sample_correct is None else &sample_correct[0],
            n_rows, n_classes, max(n_threads, 1))
    return total


def sigmoid_binary_cross_entropy(floating[:, ::1] logits, const floating[:, ::1] targets,
                                 const floating[::1] sample_weight, double grad_scale,
                                 double[::1] sample_loss,
                                 unsigned char[::1] sample_correct=None, int n_threads=1):
    """Binary/multilabel cross-entropy on logits; logits overwritten by the gradient.

    Parameters
    ----------
    logits : ndarray of shape (n_rows, n_outputs), C-contiguous, float32/float64
    targets : ndarray of shape (n_rows, n_outputs), same dtype, values in [0, 1]
    sample_weight : ndarray of shape (n_rows,) or None
    grad_scale : float
    sample_loss : float64 ndarray of shape (n_rows,), written
    sample_correct : uint8 ndarray of shape (n_rows,) or None, written
    n_threads : int, default=1

    Returns
    -------
    total : float
        Sum of the weighted per-sample losses (each summed over outputs).
    """
    cdef Py_ssize_t n_rows = logits.shape[0], n_outputs = logits.shape[1]
    cdef double total
    _check_common(logits, sample_weight, sample_loss, sample_correct)
    if targets.shape[0] != n_rows or targets.shape[1] != n_outputs:
        raise ValueError("targets must have the shape of logits")
    if n_rows == 0:
        return 0.0
    with nogil:
        total = sigmoid_binary_cross_entropy_ptr(
            &logits[0, 0], &targets[0, 0],
            NULL if sample_weight is None else &sample_weight[0], grad_scale,
            &sample_loss[0], NULL if sample_correct is None else &sample_correct[0],
            n_rows, n_outputs, max(n_threads, 1))
    return total


def softmax(floating[:, ::1] z, int n_threads=1):
    """In place: each row of ``z`` becomes its softmax (max-subtracted, sums in double)."""
    if z.shape[0] == 0:
        return
    if z.shape[1] == 0:
        raise ValueError("z must have at least one column")
    with nogil:
        softmax_ptr(&z[0, 0], z.shape[0], z.shape[1], max(n_threads, 1))
