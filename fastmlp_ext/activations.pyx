"""Elementwise activations, fused with the bias add, and their derivatives.

Forward: ``z <- f(z + bias)`` in one pass over the GEMM output, in place.
Backward: ``delta <- delta * f'(.)`` where ``f'`` is computed from the stored
*outputs* ``y = f(z)`` (relu' = [y > 0], logistic' = y (1 - y),
tanh' = 1 - y^2), so the pre-activations never need to be kept.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf, tanh, tanhf

from ._kernel_config cimport PARALLEL_MIN_ELEMENTS

ACTIVATIONS = {"identity": IDENTITY, "relu": RELU, "logistic": LOGISTIC, "tanh": TANH}


cpdef int activation_code(str name) except -1:
    """Return the kernel code of an activation name; ValueError if unknown."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}"
        ) from None


cdef inline floating _logistic(floating x) noexcept nogil:
    # 1 / (1 + e^-x): for very negative x, e^-x is inf and the result is 0,
    # never NaN.
    if floating is float:
        return 1.0 / (1.0 + expf(-x))
    else:
        return 1.0 / (1.0 + exp(-x))


cdef inline void _activate_row(floating* z, const floating* bias, Py_ssize_t n,
                               int activation) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating v
    # One branch per row, tight loops inside, so the compiler can vectorise.
    if activation == RELU:
        for j in range(n):
            v = z[j] + bias[j]
            # Written so that NaN passes through (NaN < 0 is false): a
            # diverged layer must show up in the loss, not be masked as 0.
            z[j] = 0 if v < 0 else v
    elif activation == LOGISTIC:
        for j in range(n):
            z[j] = _logistic(z[j] + bias[j])
    elif activation == TANH:
        for j in range(n):
            if floating is float:
                z[j] = tanhf(z[j] + bias[j])
            else:
                z[j] = tanh(z[j] + bias[j])
    else:
        for j in range(n):
            z[j] = z[j] + bias[j]


cdef inline void _derivative_row(floating* delta, const floating* y, Py_ssize_t n,
                                 int activation) noexcept nogil:
    cdef Py_ssize_t j
    if activation == RELU:
        # A select, not a conditional store: about half the units are off, in
        # no pattern, so a branch here mispredicts half the time and stops
        # the compiler from vectorising (measured: 9% of the epoch).
        for j in range(n):
            delta[j] = delta[j] if y[j] > 0 else 0
    elif activation == LOGISTIC:
        for j in range(n):
            delta[j] = delta[j] * y[j] * (1 - y[j])
    elif activation == TANH:
        for j in range(n):
            delta[j] = delta[j] * (1 - y[j] * y[j])


cdef void bias_activation_forward_ptr(
        floating* z, const floating* bias, Py_ssize_t n_rows, Py_ssize_t n_cols,
        int activation, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint parallel = n_threads > 1 and n_rows * n_cols >= PARALLEL_MIN_ELEMENTS
    for i in prange(n_rows, schedule="static", num_threads=n_threads,
                    use_threads_if=parallel):
        _activate_row(z + i * n_cols, bias, n_cols, activation)


cdef void activation_backward_ptr(
        floating* delta, const floating* y, Py_ssize_t n_rows, Py_ssize_t n_cols,
        int activation, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint parallel = n_threads > 1 and n_rows * n_cols >= PARALLEL_MIN_ELEMENTS
    if activation == IDENTITY:
        return
    for i in prange(n_rows, schedule="static", num_threads=n_threads,
                    use_threads_if=parallel):
        _derivative_row(delta + i * n_cols, y + i * n_cols, n_cols, activation)


def bias_activation_forward(floating[:, ::1] z, const floating[::1] bias,
                            str activation, int n_threads=1):
    """In place: ``z <- activation(z + bias)``, bias broadcast over rows.

    Parameters
    ----------
    z : ndarray of shape (n_rows, n_cols), C-contiguous, float32 or float64
    bias : ndarray of shape (n_cols,), same dtype
    activation : {'identity', 'relu', 'logistic', 'tanh'}
    n_threads : int, default=1
    """
    cdef int code = activation_code(activation)
    if bias.shape[0] != z.shape[1]:
        raise ValueError(
            f"bias has {bias.shape[0]} entries but z has {z.shape[1]} columns"
        )
    if z.shape[0] == 0 or z.shape[1] == 0:
        return
    with nogil:
        bias_activation_forward_ptr(&z[0, 0], &bias[0], z.shape[0], z.shape[1],
                                    code, max(n_threads, 1))


def activation_backward(floating[:, ::1] delta, const floating[:, ::1] y,
                        str activation, int n_threads=1):
    """In place: ``delta <- delta * activation'(.)``, the derivative taken from
    the stored outputs ``y`` of the activation.

    Parameters
    ----------
    delta : ndarray of shape (n_rows, n_cols), C-contiguous
    y : ndarray of shape (n_rows, n_cols), same dtype: the activation's outputs
    activation : {'identity', 'relu', 'logistic', 'tanh'}
    n_threads : int, default=1
    """
    cdef int code = activation_code(activation)
    if delta.shape[0] != y.shape[0] or delta.shape[1] != y.shape[1]:
        raise ValueError(
            f"delta has shape ({delta.shape[0]}, {delta.shape[1]}) but y has "
            f"shape ({y.shape[0]}, {y.shape[1]})"
        )
    if delta.shape[0] == 0 or delta.shape[1] == 0:
        return
    with nogil:
        activation_backward_ptr(&delta[0, 0], &y[0, 0], delta.shape[0],
                                delta.shape[1], code, max(n_threads, 1))
