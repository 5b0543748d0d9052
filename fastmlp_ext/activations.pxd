from cython cimport floating

# Activation codes shared by every kernel. New activations append here, get a
# branch in ``_activate_row`` / ``_derivative_row`` (activations.pyx) and a
# twin in fastmlp/_numpy_ops.py.
cpdef enum Activation:
    IDENTITY = 0
    RELU = 1
    LOGISTIC = 2
    TANH = 3

cdef void bias_activation_forward_ptr(
    floating* z, const floating* bias, Py_ssize_t n_rows, Py_ssize_t n_cols,
    int activation, int n_threads) noexcept nogil

cdef void activation_backward_ptr(
    floating* delta, const floating* y, Py_ssize_t n_rows, Py_ssize_t n_cols,
    int activation, int n_threads) noexcept nogil

cpdef int activation_code(str name) except -1
