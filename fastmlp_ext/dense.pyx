"""Dense (fully connected) layer: forward and backward.

Forward:  ``out = f(x @ w + bias)``, GEMM then one fused bias+activation pass.
Backward, given ``delta`` = dLoss/d(pre-activation) of this layer:

* ``grad_w = x^T @ delta + l2_scale * w``
* ``grad_bias = sum over rows of delta`` (chunked, thread-count independent)
* ``delta_x = (delta @ w^T) * f_prev'(x)``: the gradient for the layer below,
  with that layer's activation derivative (from its stored outputs ``x``)
  fused in, so it is ready to be that layer's ``delta``.

GEMMs run single-threaded BLAS outside any OpenMP region; OpenMP only drives
the elementwise and reduction passes.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from ._blas cimport gemm
from ._kernel_config cimport PARALLEL_MIN_ELEMENTS, REDUCTION_BLOCK_ROWS
from .activations cimport (activation_backward_ptr, activation_code,
                           bias_activation_forward_ptr)


cdef void dense_forward_ptr(
        const floating* x, const floating* w, const floating* bias, floating* out,
        int n_rows, int n_in, int n_out, int activation, int n_threads) noexcept nogil:
    gemm(False, False, n_rows, n_out, n_in, <floating> 1, x, n_in, w, n_out,
         <floating> 0, out, n_out)
    bias_activation_forward_ptr(out, bias, n_rows, n_out, activation, n_threads)


cdef Py_ssize_t sum_rows_scratch_size(Py_ssize_t n_rows, Py_ssize_t n_cols) noexcept nogil:
    """Doubles of scratch ``sum_rows_ptr`` needs: one partial row per block."""
    return max((n_rows + REDUCTION_BLOCK_ROWS - 1) // REDUCTION_BLOCK_ROWS, 1) * n_cols


cdef int sum_rows_ptr(const floating* x, floating* out, Py_ssize_t n_rows,
                      Py_ssize_t n_cols, int n_threads, double* scratch) noexcept nogil:
    """out[j] = sum_i x[i, j], summed in double by blocks of rows, blocks added
    in order. ``scratch`` holds ``sum_rows_scratch_size`` doubles; when NULL it
    is allocated here. Returns -1 if that allocation failed."""
    cdef Py_ssize_t n_blocks = (n_rows + REDUCTION_BLOCK_ROWS - 1) // REDUCTION_BLOCK_ROWS
    cdef Py_ssize_t block, i, j, start, stop
    cdef double* partial = scratch
    cdef double* acc
    cdef bint parallel = n_threads > 1 and n_rows * n_cols >= PARALLEL_MIN_ELEMENTS
    if n_cols == 0:
        return 0
    if scratch == NULL:
        partial = <double*> malloc(sum_rows_scratch_size(n_rows, n_cols) * sizeof(double))
        if partial == NULL:
            return -1
    for block in prange(n_blocks, schedule="static", num_threads=n_threads,
                        use_threads_if=parallel):
        acc = partial + block * n_cols
        start = block * REDUCTION_BLOCK_ROWS
        stop = min(start + REDUCTION_BLOCK_ROWS, n_rows)
        for j in range(n_cols):
            acc[j] = 0
        for i in range(start, stop):
            for j in range(n_cols):
                acc[j] += x[i * n_cols + j]
    # Add the block partials in block order, in double, then round once.
    for block in range(1, n_blocks):
        for j in range(n_cols):
            partial[j] += partial[block * n_cols + j]
    for j in range(n_cols):
        out[j] = <floating> partial[j] if n_blocks > 0 else 0
    if scratch == NULL:
        free(partial)
    return 0


cdef void dense_weight_gradient_ptr(
        const floating* x, int ldx, const floating* delta, floating* grad_w,
        int n_rows, int n_in, int n_out) noexcept nogil:
    """grad_w (n_in x n_out) <- x^T @ delta, x being (n_rows x n_in) with row
    stride ``ldx``: pointing ``x`` at column r0 and ``grad_w`` at row r0 gives
    rows r0.. of the layer's weight gradient, so that callers can split it
    into fixed blocks of rows."""
    cdef Py_ssize_t i
    if n_rows > 0:
        gemm(True, False, n_in, n_out, n_rows, <floating> 1, x, ldx, delta, n_out,
             <floating> 0, grad_w, n_out)
    else:
        for i in range(<Py_ssize_t> n_in * n_out):
            grad_w[i] = 0


cdef void dense_input_gradient_ptr(
        const floating* x, const floating* w, const floating* delta, floating* delta_x,
        int n_rows, int n_in, int n_out, int x_activation, int n_threads) noexcept nogil:
    """delta_x <- (delta @ w^T) * f'(x), f being the activation that produced x."""
    if n_rows > 0:
        gemm(False, True, n_rows, n_in, n_out, <floating> 1, delta, n_out, w, n_out,
             <floating> 0, delta_x, n_in)
        activation_backward_ptr(delta_x, x, n_rows, n_in, x_activation, n_threads)


cdef int dense_backward_ptr(
        const floating* x, const floating* w, const floating* delta,
        floating* grad_w, floating* grad_bias, floating* delta_x,
        int n_rows, int n_in, int n_out, double l2_scale, int x_activation,
        int n_threads, double* scratch) noexcept nogil:
    cdef Py_ssize_t i, n_weights = <Py_ssize_t> n_in * n_out
    dense_weight_gradient_ptr(x, n_in, delta, grad_w, n_rows, n_in, n_out)
    if l2_scale != 0:
        for i in range(n_weights):
            grad_w[i] = grad_w[i] + <floating> l2_scale * w[i]
    if sum_rows_ptr(delta, grad_bias, n_rows, n_out, n_threads, scratch) != 0:
        return -1
    if delta_x != NULL:
        dense_input_gradient_ptr(x, w, delta, delta_x, n_rows, n_in, n_out,
                                 x_activation, n_threads)
    return 0


def dense_forward(const floating[:, ::1] x, const floating[:, ::1] w,
                  const floating[::1] bias, floating[:, ::1] out,
                  str activation, int n_threads=1):
    """``out <- activation(x @ w + bias)``.

    Parameters
    ----------
    x : ndarray of shape (n_rows, n_in), C-contiguous, float32 or float64
    w : ndarray of shape (n_in, n_out), same dtype
    bias : ndarray of shape (n_out,), same dtype
    out : ndarray of shape (n_rows, n_out), same dtype, written
    activation : {'identity', 'relu', 'logistic', 'tanh'}
    n_threads : int, default=1
    """
    cdef int code = activation_code(activation)
    cdef int n_rows = x.shape[0], n_in = x.shape[1], n_out = w.shape[1]
    if w.shape[0] != n_in:
        raise ValueError(f"x has {n_in} columns but w has {w.shape[0]} rows")
    if bias.shape[0] != n_out:
        raise ValueError(f"bias has {bias.shape[0]} entries, expected {n_out}")
    if out.shape[0] != n_rows or out.shape[1] != n_out:
        raise ValueError(
            f"out has shape ({out.shape[0]}, {out.shape[1]}), expected "
            f"({n_rows}, {n_out})"
        )
    if n_rows == 0 or n_out == 0:
        return
    if n_in == 0:
        raise ValueError("x has no columns")
    with nogil:
        dense_forward_ptr(&x[0, 0], &w[0, 0], &bias[0], &out[0, 0],
                          n_rows, n_in, n_out, code, max(n_threads, 1))


def dense_backward(const floating[:, ::1] x, const floating[:, ::1] w,
                   const floating[:, ::1] delta, floating[:, ::1] grad_w,
                   floating[::1] grad_bias, floating[:, ::1] delta_x,
                   double l2_scale, str x_activation, int n_threads=1):
    """Gradients of a dense layer; see the module docstring.

    Parameters
    ----------
    x : ndarray of shape (n_rows, n_in): the layer's input, i.e. the stored
        output of the layer below (whose activation is ``x_activation``)
    w : ndarray of shape (n_in, n_out)
    delta : ndarray of shape (n_rows, n_out): dLoss/d(pre-activation)
    grad_w : ndarray of shape (n_in, n_out), written
    grad_bias : ndarray of shape (n_out,), written
    delta_x : ndarray of shape (n_rows, n_in) or None, written if given
    l2_scale : float
        Coefficient of ``w`` added to ``grad_w`` (the L2 penalty's gradient).
    x_activation : str
        Activation that produced ``x``; its derivative is applied to
        ``delta_x``. Use 'identity' for the network's input.
    n_threads : int, default=1
    """
    cdef int code = activation_code(x_activation)
    cdef int n_rows = x.shape[0], n_in = x.shape[1], n_out = w.shape[1]
    cdef floating* delta_x_ptr = NULL
    cdef int status
    if w.shape[0] != n_in:
        raise ValueError(f"x has {n_in} columns but w has {w.shape[0]} rows")
    if delta.shape[0] != n_rows or delta.shape[1] != n_out:
        raise ValueError(
            f"delta has shape ({delta.shape[0]}, {delta.shape[1]}), expected "
            f"({n_rows}, {n_out})"
        )
    if grad_w.shape[0] != n_in or grad_w.shape[1] != n_out:
        raise ValueError("grad_w must have the shape of w")
    if grad_bias.shape[0] != n_out:
        raise ValueError(f"grad_bias has {grad_bias.shape[0]} entries, expected {n_out}")
    if delta_x is not None:
        if delta_x.shape[0] != n_rows or delta_x.shape[1] != n_in:
            raise ValueError("delta_x must have the shape of x")
        if n_rows > 0:
            delta_x_ptr = &delta_x[0, 0]
    if n_in == 0 or n_out == 0:
        raise ValueError("w must have at least one row and one column")
    with nogil:
        status = dense_backward_ptr(
            &x[0, 0] if n_rows > 0 else NULL, &w[0, 0],
            &delta[0, 0] if n_rows > 0 else NULL,
            &grad_w[0, 0], &grad_bias[0], delta_x_ptr, n_rows, n_in, n_out,
            l2_scale, code, max(n_threads, 1), NULL)
    if status != 0:
        raise MemoryError("dense_backward: could not allocate reduction scratch")


def reduction_scratch_size(Py_ssize_t n_rows, Py_ssize_t n_cols):
    """Doubles of scratch the chunked row sum needs for an (n_rows, n_cols) block,
    for callers that allocate it once (the compiled training loops)."""
    return sum_rows_scratch_size(n_rows, n_cols)


def sum_rows(const floating[:, ::1] x, floating[::1] out, int n_threads=1):
    """``out <- x.sum(axis=0)``, in double, independent of the thread count."""
    if out.shape[0] != x.shape[1]:
        raise ValueError(f"out has {out.shape[0]} entries, expected {x.shape[1]}")
    if x.shape[1] == 0:
        return
    cdef int status
    with nogil:
        status = sum_rows_ptr(&x[0, 0] if x.shape[0] > 0 else NULL, &out[0],
                              x.shape[0], x.shape[1], max(n_threads, 1), NULL)
    if status != 0:
        raise MemoryError("sum_rows: could not allocate reduction scratch")
