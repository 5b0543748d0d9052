"""Optimizer steps as one fused pass over one flat parameter buffer.

Adam (scikit-learn's / Kingma & Ba's form, bias correction folded into the
step size)::

    m <- beta_1 m + (1 - beta_1) g
    v <- beta_2 v + (1 - beta_2) g^2
    p <- p - step_size * m / (sqrt(v) + epsilon),
    step_size = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)

SGD with momentum (scikit-learn's form)::

    u <- momentum * u - lr * g
    p <- p + u                                   (classical)
    p <- p + momentum * u - lr * g               (Nesterov)

Each element is independent, so the parallel pass gives the same bits at
any thread count.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.float cimport FLT_MIN
from libc.math cimport fabsf, sqrt, sqrtf

from ._kernel_config cimport PARALLEL_MIN_ELEMENTS


cdef void adam_step_ptr(
        floating* params, const floating* grads, floating* first_moment,
        floating* second_moment, Py_ssize_t n, double step_size, double beta_1,
        double beta_2, double epsilon, int n_threads) noexcept nogil:
    # Computed in the weights' precision, as the NumPy twin and scikit-learn.
    # Moments of weights whose gradient stays 0 decay geometrically into
    # float32's denormal range, where every operation costs a microcode assist
    # (~100x slower; measured: a third of the epoch): float32 moments below
    # FLT_MIN are stored as 0, their updates being below 1e-30 anyway.
    # Multiplying by the comparison keeps the loop branch-free, so the
    # compiler vectorises it.
    cdef Py_ssize_t i
    cdef floating g, m, v
    cdef floating b1 = <floating> beta_1, b2 = <floating> beta_2
    cdef floating lr = <floating> step_size, eps = <floating> epsilon
    cdef bint parallel = n_threads > 1 and n >= PARALLEL_MIN_ELEMENTS
    for i in prange(n, schedule="static", num_threads=n_threads,
                    use_threads_if=parallel):
        g = grads[i]
        m = b1 * first_moment[i] + (1 - b1) * g
        v = b2 * second_moment[i] + (1 - b2) * g * g
        if floating is float:
            m = m * (fabsf(m) >= FLT_MIN)
            v = v * (v >= FLT_MIN)
        first_moment[i] = m
        second_moment[i] = v
        if floating is float:
            params[i] = params[i] - lr * m / (sqrtf(v) + eps)
        else:
            params[i] = params[i] - lr * m / (sqrt(v) + eps)


cdef void sgd_step_ptr(
        floating* params, const floating* grads, floating* velocity, Py_ssize_t n,
        double learning_rate, double momentum, bint nesterov, int n_threads) noexcept nogil:
    # Nesterov: p + mu*u - lr*g; classical: p + u, written as one branch-free
    # expression (nesterov is 0 or 1); float32 velocities below FLT_MIN are
    # stored as 0 (see adam_step_ptr).
    cdef Py_ssize_t i
    cdef floating u, g, lr = <floating> learning_rate, mu = <floating> momentum
    cdef floating use_nesterov = 1 if nesterov else 0
    cdef bint parallel = n_threads > 1 and n >= PARALLEL_MIN_ELEMENTS
    for i in prange(n, schedule="static", num_threads=n_threads,
                    use_threads_if=parallel):
        g = grads[i]
        u = mu * velocity[i] - lr * g
        if floating is float:
            u = u * (fabsf(u) >= FLT_MIN)
        velocity[i] = u
        params[i] = params[i] + u + use_nesterov * (mu * u - lr * g - u)


def _check_same_length(name, arr, n):
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries, expected {n}")


def adam_step(floating[::1] params, const floating[::1] grads,
              floating[::1] first_moment, floating[::1] second_moment,
              double step_size, double beta_1, double beta_2, double epsilon,
              int n_threads=1):
    """One Adam update of ``params`` in place (moments updated in place).

    ``step_size`` is the bias-corrected learning rate
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.
    """
    cdef Py_ssize_t n = params.shape[0]
    for name, arr in (("grads", grads), ("first_moment", first_moment),
                      ("second_moment", second_moment)):
        _check_same_length(name, arr, n)
    if n == 0:
        return
    with nogil:
        adam_step_ptr(&params[0], &grads[0], &first_moment[0], &second_moment[0], n,
                      step_size, beta_1, beta_2, epsilon, max(n_threads, 1))


def sgd_step(floating[::1] params, const floating[::1] grads, floating[::1] velocity,
             double learning_rate, double momentum, bint nesterov, int n_threads=1):
    """One SGD-with-momentum update of ``params`` and ``velocity`` in place."""
    cdef Py_ssize_t n = params.shape[0]
    _check_same_length("grads", grads, n)
    _check_same_length("velocity", velocity, n)
    if n == 0:
        return
    with nogil:
        sgd_step_ptr(&params[0], &grads[0], &velocity[0], n, learning_rate,
                     momentum, nesterov, max(n_threads, 1))
