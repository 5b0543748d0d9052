from cython cimport floating

cdef void dense_forward_ptr(
    const floating* x, const floating* w, const floating* bias, floating* out,
    int n_rows, int n_in, int n_out, int activation, int n_threads) noexcept nogil

cdef int dense_backward_ptr(
    const floating* x, const floating* w, const floating* delta,
    floating* grad_w, floating* grad_bias, floating* delta_x,
    int n_rows, int n_in, int n_out, double l2_scale, int x_activation,
    int n_threads, double* scratch) noexcept nogil

cdef Py_ssize_t sum_rows_scratch_size(Py_ssize_t n_rows, Py_ssize_t n_cols) noexcept nogil

cdef int sum_rows_ptr(const floating* x, floating* out, Py_ssize_t n_rows,
                      Py_ssize_t n_cols, int n_threads, double* scratch) noexcept nogil

cdef void dense_weight_gradient_ptr(
    const floating* x, int ldx, const floating* delta, floating* grad_w,
    int n_rows, int n_in, int n_out) noexcept nogil

cdef void dense_input_gradient_ptr(
    const floating* x, const floating* w, const floating* delta, floating* delta_x,
    int n_rows, int n_in, int n_out, int x_activation, int n_threads) noexcept nogil
