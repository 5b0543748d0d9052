from cython cimport floating

cdef void adam_step_ptr(
    floating* params, const floating* grads, floating* first_moment,
    floating* second_moment, Py_ssize_t n, double step_size, double beta_1,
    double beta_2, double epsilon, int n_threads) noexcept nogil

cdef void sgd_step_ptr(
    floating* params, const floating* grads, floating* velocity, Py_ssize_t n,
    double learning_rate, double momentum, bint nesterov, int n_threads) noexcept nogil

cdef double l2_penalty_ptr(const floating* params, floating* grads, Py_ssize_t n,
                           double scale) noexcept nogil
