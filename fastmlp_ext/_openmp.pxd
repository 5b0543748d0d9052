# OpenMP runtime calls that compile with or without OpenMP: without it the
# stubs report a single thread, so one source builds both ways.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTMLP_OPENMP_ENABLED 1
    #else
    #define FASTMLP_OPENMP_ENABLED 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_num_procs(void) { return 1; }
    #endif
    """
    bint FASTMLP_OPENMP_ENABLED
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_procs() noexcept nogil
