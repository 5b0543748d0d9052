"""The one GEMM wrapper of fastmlp, over float and double, row-major.

scipy's ``cython_blas`` is column-major. A row-major matrix read as
column-major is its transpose, so the row-major product C = op(A) op(B) is
computed as the column-major product C^T = op(B)^T op(A)^T: the operands are
swapped and the transpose flags pass through unchanged.
"""

from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* a, int lda,
               const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil:
    """C (m x n) = alpha * op(A) @ op(B) + beta * C, all row-major.

    op(A) is (m x k), op(B) is (k x n); ``lda``/``ldb``/``ldc`` are the row
    strides (in elements) of the stored matrices.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef char tv
    cdef int one = 1, inc_a, rows_b, cols_b
    if m == 0 or n == 0:
        return
    if m == 1:
        # One row (e.g. predicting one sample): GEMV. GEMM would pack the
        # whole weight matrix first, which costs more than the product.
        # y (n) = op(B)^T a: B read column-major is B^T (n x k, ld ldb).
        inc_a = lda if trans_a else 1
        tv = b'T' if trans_b else b'N'
        rows_b = k if trans_b else n
        cols_b = n if trans_b else k
        if floating is float:
            sgemv(&tv, &rows_b, &cols_b, &alpha, <float*> b, &ldb, <float*> a, &inc_a,
                  &beta, c, &one)
        else:
            dgemv(&tv, &rows_b, &cols_b, &alpha, <double*> b, &ldb, <double*> a, &inc_a,
                  &beta, c, &one)
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb,
              <float*> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb,
              <double*> a, &lda, &beta, c, &ldc)


def gemm_rowmajor(floating[:, ::1] a, floating[:, ::1] b, floating[:, ::1] c,
                  bint trans_a=False, bint trans_b=False,
                  double alpha=1.0, double beta=0.0):
    """Python-level check of the wrapper: ``c = alpha*op(a) @ op(b) + beta*c``."""
    cdef int m = a.shape[1] if trans_a else a.shape[0]
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    cdef int kb = b.shape[1] if trans_b else b.shape[0]
    cdef int n = b.shape[0] if trans_b else b.shape[1]
    if k != kb or c.shape[0] != m or c.shape[1] != n:
        raise ValueError(
            f"gemm shapes do not agree: op(a) is ({m}, {k}), op(b) is ({kb}, {n}), "
            f"c is ({c.shape[0]}, {c.shape[1]})"
        )
    if m == 0 or n == 0:
        return
    if k == 0:
        # BLAS would only scale c by beta; do the same without it.
        for i in range(m):
            for j in range(n):
                c[i, j] = <floating> (beta * c[i, j]) if beta != 0 else 0
        return
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating> alpha, &a[0, 0], a.shape[1],
             &b[0, 0], b.shape[1], <floating> beta, &c[0, 0], c.shape[1])
