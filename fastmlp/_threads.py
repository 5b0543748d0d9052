"""How many threads the kernels may use, and BLAS kept single-threaded."""

import os
import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from fastmlp._compiled_ops import openmp_enabled, openmp_max_threads


def effective_n_threads(n_threads=None):
    """Threads for the OpenMP passes.

    ``None`` means what OpenMP allows (``OMP_NUM_THREADS``, threadpoolctl
    limits), capped by the CPUs this process may run on; a positive int is
    used as given. A serial build always uses 1.
    """
    if not openmp_enabled():
        return 1
    if n_threads is not None:
        return max(1, int(n_threads))
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(openmp_max_threads(), available))


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None
_controller = None


def _blas_controller():
    """One ThreadpoolController for the process: finding the loaded BLAS
    libraries costs ~10 ms, setting their thread count microseconds. Built at
    the first fit, when numpy's and scipy's BLAS (which fastmlp's kernels
    link) are both loaded; a BLAS library loaded after that is not limited."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


@contextmanager
def single_threaded_blas():
    """Run BLAS on one thread inside the block, restoring the settings after.

    Threaded OpenBLAS GEMM changes how the sums are split on small shapes,
    which would make the weights depend on the thread count; one thread is
    also faster on the batch shapes of training.

    BLAS thread settings are process-wide, so fits running at once in
    several Python threads share one limit: the first to enter sets it, the
    last to leave restores what was there before (a plain per-fit
    threadpool_limits would let an inner exit restore "1" for good).
    """
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            _blas_limiter = _blas_controller().limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None
