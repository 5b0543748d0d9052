from cython cimport floating

cdef double softmax_cross_entropy_ptr(
    floating* logits, const int* labels, const floating* sample_weight,
    double grad_scale, double* sample_loss, unsigned char* sample_correct,
    Py_ssize_t n_rows, Py_ssize_t n_classes, int n_threads) noexcept nogil

cdef double sigmoid_binary_cross_entropy_ptr(
    floating* logits, const floating* targets, const floating* sample_weight,
    double grad_scale, double* sample_loss, unsigned char* sample_correct,
    Py_ssize_t n_rows, Py_ssize_t n_outputs, int n_threads) noexcept nogil

cdef void softmax_ptr(floating* z, Py_ssize_t n_rows, Py_ssize_t n_cols,
                      int n_threads) noexcept nogil
