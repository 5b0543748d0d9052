"""Compiled kernels of fastmlp (Cython, nogil, float32/float64 via fused types).

One module per kernel family: ``dense``, ``activations``, ``loss``,
``optimizers``; ``_blas`` wraps scipy's BLAS GEMM and ``_parallel`` reports
the OpenMP build. Each module offers two calling levels: ``cdef ... nogil``
functions on pointers (declared in the ``.pxd``, for compiled callers such
as the training loop) and ``def`` wrappers that validate shapes and dtypes
and raise ``ValueError`` before entering ``nogil``.

The plain-NumPy twin of every kernel is ``fastmlp._numpy_ops``.
"""
