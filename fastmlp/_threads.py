"""How many threads the kernels may use, and BLAS kept single-threaded."""

import os
import threading
from contextlib import contextmanager

import threadpoolctl
from threadpoolctl import ThreadpoolController

from fastmlp._compiled_ops import openmp_enabled, openmp_max_threads


def effective_n_threads(n_threads=None):
    """Threads for the OpenMP passes.

    ``None`` means what OpenMP allows (``OMP_NUM_THREADS``, threadpoolctl
    limits); a positive int is used as given. Either way, never more than
    the CPUs this process may run on: more would give the same model, only
    slower, and OpenMP aborts the process when it cannot create the threads
    (n_threads=50,000 did). A serial build always uses 1.
    """
    if not openmp_enabled():
        return 1
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    wanted = openmp_max_threads() if n_threads is None else int(n_threads)
    return max(1, min(wanted, available))


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
            with _controlling_openblas():
                _blas_limiter = _blas_controller().limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                with _controlling_openblas():
                    _blas_limiter.restore_original_limits()
                _blas_limiter = None


@contextmanager
def _controlling_openblas():
    """Let this thread set OpenBLAS's (process-wide) thread count.

    threadpoolctl >= 3.8 lets only one "controlling" thread change the limit
    of a pthreads OpenBLAS, the first to do so, and silently ignores the
    others; only ``with threadpool_limits`` hands control back. A fit in a
    worker thread (joblib's threading backend, say) after one in the main
    thread thus ran its GEMMs on OpenBLAS's threads beside its own (measured:
    two concurrent fits 3x slower than one after the other). Under
    ``_blas_lock`` this thread takes control, sets or restores the limit and
    hands control back, as threadpool_limits does.
    """
    controller_class = getattr(threadpoolctl, "OpenBLASController", None)
    clear = getattr(controller_class, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)
    try:
        yield
    finally:
        if clear is not None:
            clear(force=True)


def fair_share(n_threads):
    """``n_threads`` divided among the fits (and parallel predictions) running
    at this moment in this process, at least 1.

    Fits in several Python threads (joblib's threading backend, say) would
    otherwise each start ``n_threads`` OpenMP threads on the same cores:
    measured with two concurrent fits on 2 cores, 2.5x slower than one after
    the other. Changing the thread count between epochs is safe because the
    model is the same bit for bit at any thread count. Call it inside
    ``single_threaded_blas``, which counts the fits.
    """
    return max(1, n_threads // max(1, _blas_users))
