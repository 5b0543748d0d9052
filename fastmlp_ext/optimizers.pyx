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
from libc.math cimport fabsf

from ._kernel_config cimport PARALLEL_MIN_ELEMENTS


cdef extern from "_simd.h" nogil:
    # Inner loops built for the baseline, AVX2 and AVX-512, chosen at import;
    # the same bits on each (see the header).
    void fastmlp_simd_init()
    int fastmlp_simd_select(int level)
    int fastmlp_simd_best
    int fastmlp_simd_active
    void fastmlp_adam_f32(float* params, const float* grads, float* first,
                          float* second, Py_ssize_t n, float step, float beta_1,
                          float beta_2, float epsilon)
    void fastmlp_adam_f64(double* params, const double* grads, double* first,
                          double* second, Py_ssize_t n, double step, double beta_1,
                          double beta_2, double epsilon)
    double fastmlp_l2_f32(const float* params, float* grads, Py_ssize_t n, float scale)
    double fastmlp_l2_f64(const double* params, double* grads, Py_ssize_t n,
                          double scale)

fastmlp_simd_init()

SIMD_LEVELS = ("baseline", "avx2", "avx512")

cdef enum:
    # Elements per task of a parallel elementwise pass.
    ELEMENTWISE_BLOCK = 4096


def simd_level():
    """Name of the instruction set the Adam and L2 loops run on."""
    return SIMD_LEVELS[fastmlp_simd_active]


def available_simd_levels():
    """The instruction sets this CPU can run those loops on, lowest first."""
    return SIMD_LEVELS[:fastmlp_simd_best + 1]


def select_simd_level(str name):
    """Run the Adam and L2 loops on ``name`` (one of ``available_simd_levels()``);
    returns the previous level's name. For tests and benchmarks: every level
    gives the same bits, only the speed differs."""
    if name not in SIMD_LEVELS[:fastmlp_simd_best + 1]:
        raise ValueError(f"simd level must be one of {available_simd_levels()}, got {name!r}")
    previous = simd_level()
    fastmlp_simd_select(SIMD_LEVELS.index(name))
    return previous


cdef void adam_step_ptr(
        floating* params, const floating* grads, floating* first_moment,
        floating* second_moment, Py_ssize_t n, double step_size, double beta_1,
        double beta_2, double epsilon, int n_threads) noexcept nogil:
    # Computed in the weights' precision, as the NumPy twin and scikit-learn.
    # Moments of weights whose gradient stays 0 decay geometrically into
    # float32's denormal range, where every operation costs a microcode assist
    # (~100x slower; measured: a third of the epoch): float32 moments below
    # FLT_MIN are stored as 0, their updates being below 1e-30 anyway. The
    # loop itself is in _simd.h.
    cdef Py_ssize_t n_blocks = (n + ELEMENTWISE_BLOCK - 1) // ELEMENTWISE_BLOCK
    cdef Py_ssize_t block, start
    cdef bint parallel = n_threads > 1 and n >= PARALLEL_MIN_ELEMENTS
    for block in prange(n_blocks, schedule="static", num_threads=n_threads,
                        use_threads_if=parallel):
        start = block * ELEMENTWISE_BLOCK
        if floating is float:
            fastmlp_adam_f32(params + start, grads + start, first_moment + start,
                             second_moment + start, min(ELEMENTWISE_BLOCK, n - start),
                             <float> step_size, <float> beta_1, <float> beta_2,
                             <float> epsilon)
        else:
            fastmlp_adam_f64(params + start, grads + start, first_moment + start,
                             second_moment + start, min(ELEMENTWISE_BLOCK, n - start),
                             step_size, beta_1, beta_2, epsilon)


cdef double l2_penalty_ptr(const floating* params, floating* grads, Py_ssize_t n,
                           double scale) noexcept nogil:
    """grads += scale * params; returns the sum of params^2 (in double, 8
    partial sums: element i into partial i % 8, then added pairwise)."""
    if floating is float:
        return fastmlp_l2_f32(params, grads, n, <float> scale)
    else:
        return fastmlp_l2_f64(params, grads, n, scale)


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


def l2_penalty(const floating[::1] params, floating[::1] grads, double scale):
    """``grads += scale * params`` in place; returns ``sum(params**2)`` (float).

    The L2 penalty's gradient and, for the loss, its value before the update.
    """
    if grads.shape[0] != params.shape[0]:
        raise ValueError(f"grads has {grads.shape[0]} entries, expected {params.shape[0]}")
    if params.shape[0] == 0:
        return 0.0
    cdef double sum_sq
    with nogil:
        sum_sq = l2_penalty_ptr(&params[0], &grads[0], params.shape[0], scale)
    return sum_sq


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
