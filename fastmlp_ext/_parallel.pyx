"""What the OpenMP build offers: whether it is on, and how many threads."""

from ._openmp cimport FASTMLP_OPENMP_ENABLED, omp_get_max_threads, omp_get_num_procs


def openmp_enabled():
    """Return True when the kernels were compiled with OpenMP."""
    return bool(FASTMLP_OPENMP_ENABLED)


def openmp_max_threads():
    """Return OpenMP's default team size (honours ``OMP_NUM_THREADS``); 1 when serial."""
    return omp_get_max_threads()


def openmp_num_procs():
    """Return the processors OpenMP sees (its affinity mask); 1 when serial."""
    return omp_get_num_procs()
