"""Each compiled kernel against its NumPy twin (fastmlp._numpy_ops), both dtypes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from fastmlp import _compiled_ops as C
from fastmlp import _numpy_ops as N
from fastmlp_ext._blas import gemm_rowmajor
from fastmlp_ext.optimizers import available_simd_levels, select_simd_level, simd_level

from _testutils import ATOL, DTYPES, RTOL

ACTIVATIONS = ["identity", "relu", "logistic", "tanh"]
shapes = st.tuples(st.integers(0, 70), st.integers(1, 40), st.integers(1, 30))


def close(actual, expected, dtype, scale=1.0):
    assert_allclose(actual, expected, rtol=RTOL[dtype] * scale, atol=ATOL[dtype] * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m", [1, 7])  # m == 1 takes the GEMV path
def test_gemm_rowmajor_matches_matmul(dtype, trans_a, trans_b, m, rng):
    n, k = 5, 3
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    expected = 2.0 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + 0.5 * c
    gemm_rowmajor(a, b, c, trans_a, trans_b, alpha=2.0, beta=0.5)
    close(c, expected, dtype, scale=10)


def test_gemm_rejects_mismatched_shapes():
    a = np.ones((3, 4))
    with pytest.raises(ValueError, match="shapes do not agree"):
        gemm_rowmajor(a, np.ones((5, 2)), np.ones((3, 2)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(shape=shapes, seed=st.integers(0, 2**31))
def test_dense_forward_matches_numpy(dtype, activation, shape, seed):
    n, n_in, n_out = shape
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, n_in)).astype(dtype)
    w = r.standard_normal((n_in, n_out)).astype(dtype)
    b = r.standard_normal(n_out).astype(dtype)
    out, expected = np.empty((n, n_out), dtype), np.empty((n, n_out), dtype)
    C.dense_forward(x, w, b, out, activation)
    N.dense_forward(x, w, b, expected, activation)
    close(out, expected, dtype, scale=10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(shape=shapes, seed=st.integers(0, 2**31), l2=st.sampled_from([0.0, 0.3]))
def test_dense_backward_matches_numpy(dtype, activation, shape, seed, l2):
    n, n_in, n_out = shape
    r = np.random.default_rng(seed)
    # x plays the stored outputs of the layer below: in the activation's range.
    x = r.standard_normal((n, n_in)).astype(dtype)
    N._apply_activation(x, activation)
    w = r.standard_normal((n_in, n_out)).astype(dtype)
    delta = r.standard_normal((n, n_out)).astype(dtype)
    results = []
    for ops in (C, N):
        gw, gb = np.empty_like(w), np.empty(n_out, dtype)
        dx = np.empty((n, n_in), dtype)
        ops.dense_backward(x, w, delta, gw, gb, dx, l2, activation)
        results.append((gw, gb, dx))
    for got, want in zip(*results):
        close(got, want, dtype, scale=20)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_backward_matches_numpy(dtype, activation, rng):
    y = rng.standard_normal((33, 17)).astype(dtype)
    N._apply_activation(y, activation)
    delta = rng.standard_normal((33, 17)).astype(dtype)
    got, want = delta.copy(), delta.copy()
    C.activation_backward(got, y, activation)
    N.activation_backward(want, y, activation)
    close(got, want, dtype)


def test_relu_forward_propagates_nan():
    z = np.array([[np.nan, -1.0, 2.0]])
    C.bias_activation_forward(z, np.zeros(3), "relu")
    assert np.isnan(z[0, 0]) and z[0, 1] == 0 and z[0, 2] == 2


def test_logistic_saturates_without_nan():
    z = np.array([[-1e4, 1e4, 0.0]], dtype=np.float32)
    C.bias_activation_forward(z, np.zeros(3, np.float32), "logistic")
    assert_array_equal(z, [[0.0, 1.0, 0.5]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_rows_is_exact_in_double_and_thread_independent(dtype, rng):
    x = rng.standard_normal((1000, 70)).astype(dtype)
    outs = []
    for n_threads in (1, 2):
        out = np.empty(70, dtype)
        C.sum_rows(x, out, n_threads=n_threads)
        outs.append(out)
    assert_array_equal(outs[0], outs[1])
    close(outs[0], x.astype(np.float64).sum(0), dtype, scale=10)


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(0, 60), k=st.integers(1, 12), seed=st.integers(0, 2**31),
       weighted=st.booleans())
def test_softmax_cross_entropy_matches_numpy(dtype, n, k, seed, weighted):
    r = np.random.default_rng(seed)
    logits = (r.standard_normal((n, k)) * 5).astype(dtype)
    labels = r.integers(0, k, n).astype(np.int32)
    sw = r.uniform(0.1, 2, n).astype(dtype) if weighted else None
    got, want = logits.copy(), logits.copy()
    loss_c, loss_n = np.empty(n), np.empty(n)
    corr_c, corr_n = np.empty(n, np.uint8), np.empty(n, np.uint8)
    total_c = C.softmax_cross_entropy(got, labels, sw, 0.25, loss_c, corr_c)
    total_n = N.softmax_cross_entropy(want, labels, sw, 0.25, loss_n, corr_n)
    close(got, want, dtype, scale=10)
    assert_allclose(loss_c, loss_n, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert_allclose(total_c, total_n, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert_array_equal(corr_c, corr_n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_huge_logits_stay_finite(dtype):
    big = 1e30 if dtype == np.float32 else 1e300
    logits = np.array([[big, -big, 0.0], [0.0, 0.0, 0.0], [-big, -big, big]], dtype=dtype)
    labels = np.array([1, 2, 2], dtype=np.int32)
    sample_loss = np.empty(3)
    C.softmax_cross_entropy(logits, labels, None, 1.0, sample_loss)
    assert np.isfinite(sample_loss).all() and np.isfinite(logits).all()
    # Row 1 is uniform: loss log(3); row 2 is right with certainty: loss 0.
    assert_allclose(sample_loss[1:], [np.log(3), 0.0], rtol=1e-6)
    assert sample_loss[0] == pytest.approx(2 * big, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(0, 60), k=st.integers(1, 6), seed=st.integers(0, 2**31),
       weighted=st.booleans())
def test_sigmoid_bce_matches_numpy(dtype, n, k, seed, weighted):
    r = np.random.default_rng(seed)
    logits = (r.standard_normal((n, k)) * 5).astype(dtype)
    targets = r.integers(0, 2, (n, k)).astype(dtype)
    sw = r.uniform(0.1, 2, n).astype(dtype) if weighted else None
    got, want = logits.copy(), logits.copy()
    loss_c, loss_n = np.empty(n), np.empty(n)
    corr_c, corr_n = np.empty(n, np.uint8), np.empty(n, np.uint8)
    total_c = C.sigmoid_binary_cross_entropy(got, targets, sw, 0.5, loss_c, corr_c)
    total_n = N.sigmoid_binary_cross_entropy(want, targets, sw, 0.5, loss_n, corr_n)
    close(got, want, dtype, scale=10)
    assert_allclose(total_c, total_n, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert_array_equal(corr_c, corr_n)


def test_sigmoid_bce_huge_logits_stay_finite():
    logits = np.array([[1e300, -1e300]])
    sample_loss = np.empty(1)
    C.sigmoid_binary_cross_entropy(logits, np.array([[0.0, 0.0]]), None, 1.0, sample_loss)
    assert sample_loss[0] == pytest.approx(1e300)
    assert_array_equal(logits, [[1.0, 0.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_matches_numpy(dtype, rng):
    z = (rng.standard_normal((40, 9)) * 30).astype(dtype)
    got, want = z.copy(), z.copy()
    C.softmax(got)
    N.softmax(want)
    close(got, want, dtype, scale=10)
    close(got.sum(1), np.ones(40), dtype, scale=10)


def test_adam_step_worked_by_hand():
    # t = 1, lr = 0.1: m = 0.1 g, v = 0.001 g^2, step = 0.1 * sqrt(0.001) / 0.1;
    # update = step * m / (sqrt(v) + eps) = 0.1 * sign(g) (up to eps).
    params = np.array([1.0, -2.0, 0.5])
    grads = np.array([0.5, -4.0, 0.0])
    m, v = np.zeros(3), np.zeros(3)
    step = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    C.adam_step(params, grads, m, v, step, 0.9, 0.999, 1e-8)
    assert_allclose(m, [0.05, -0.4, 0.0])
    assert_allclose(v, [0.00025, 0.016, 0.0])
    assert_allclose(params, [0.9, -1.9, 0.5], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_optimizer_steps_match_numpy_and_thread_count(dtype, nesterov, rng):
    n = 70000  # above the parallel threshold
    grads = rng.standard_normal(n).astype(dtype)
    base = rng.standard_normal(n).astype(dtype)
    results = []
    for ops, n_threads in ((N, 1), (C, 1), (C, 2)):
        p, m, v = base.copy(), base.copy() * 0.1, np.abs(base) * 0.01
        ops.adam_step(p, grads, m, v, 0.01, 0.9, 0.999, 1e-8, n_threads)
        q, vel = base.copy(), base.copy() * 0.1
        ops.sgd_step(q, grads, vel, 0.05, 0.9, nesterov, n_threads)
        results.append((p, m, v, q, vel))
    for got, want in zip(results[1], results[0]):
        close(got, want, dtype)
    for a, b in zip(results[1], results[2]):
        assert_array_equal(a, b)


@pytest.mark.parametrize(
    "call",
    [
        lambda: C.dense_forward(np.ones((3, 4)), np.ones((5, 2)), np.ones(2),
                                np.ones((3, 2)), "relu"),
        lambda: C.dense_forward(np.ones((3, 4)), np.ones((4, 2)), np.ones(3),
                                np.ones((3, 2)), "relu"),
        lambda: C.dense_forward(np.ones((3, 4)), np.ones((4, 2)), np.ones(2),
                                np.ones((2, 2)), "relu"),
        lambda: C.dense_forward(np.ones((3, 4)), np.ones((4, 2)), np.ones(2),
                                np.ones((3, 2)), "swish"),
        lambda: C.softmax_cross_entropy(np.ones((3, 4)), np.array([0, 1, 4], np.int32),
                                        None, 1.0, np.empty(3)),
        lambda: C.softmax_cross_entropy(np.ones((3, 4)), np.array([0, 1], np.int32),
                                        None, 1.0, np.empty(3)),
        lambda: C.adam_step(np.ones(3), np.ones(2), np.ones(3), np.ones(3), 0.1, 0.9,
                            0.999, 1e-8),
        lambda: C.dense_backward(np.ones((3, 4)), np.ones((4, 2)), np.ones((3, 3)),
                                 np.ones((4, 2)), np.ones(2), None, 0.0, "relu"),
    ],
)
def test_kernels_reject_bad_shapes_with_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_kernels_reject_mixed_dtypes():
    with pytest.raises((TypeError, ValueError)):
        C.dense_forward(np.ones((3, 4), np.float32), np.ones((4, 2)), np.ones(2),
                        np.ones((3, 2)), "relu")


def test_kernels_reject_non_contiguous_input():
    x = np.ones((4, 6))[:, ::2]
    with pytest.raises(ValueError):
        C.dense_forward(x, np.ones((3, 2)), np.ones(2), np.ones((4, 2)), "relu")


@pytest.mark.parametrize("ops", [C, N], ids=["compiled", "numpy"])
def test_float32_moments_below_the_smallest_normal_are_stored_as_zero(ops):
    tiny = np.finfo(np.float32).tiny
    params = np.ones(3, np.float32)
    grads = np.zeros(3, np.float32)
    m = np.array([tiny, 4 * tiny, 1e-3], np.float32)  # 0.9 * tiny is denormal
    v = np.array([tiny, 4 * tiny, 1e-3], np.float32)
    ops.adam_step(params, grads, m, v, 1e-3, 0.9, 0.999, 1e-8)
    assert m[0] == 0 and v[0] == 0
    assert m[1] == np.float32(0.9) * np.float32(4 * tiny) and m[2] > 0
    velocity = np.array([tiny, 1e-3, 0], np.float32)
    ops.sgd_step(params, grads, velocity, 0.1, 0.9, False)
    assert velocity[0] == 0 and velocity[1] > 0


def _optimizer_inputs(dtype, n, seed):
    rng = np.random.default_rng(seed)
    grads = rng.standard_normal(n).astype(dtype)
    grads[::7] = 0  # units that never fire: moments decay towards the flush
    params = rng.standard_normal(n).astype(dtype)
    m = (rng.standard_normal(n) * 1e-3).astype(dtype)
    v = (rng.random(n) * 1e-4).astype(dtype)
    tiny = np.finfo(dtype).tiny
    m[1::7], v[1::7] = 1.05 * tiny, 1.05 * tiny  # one more step makes them denormal
    return params, grads, m, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 15, 4096 + 37, 70001])
def test_every_simd_level_gives_the_baseline_bits(dtype, n):
    # _simd.h builds the Adam and L2 loops for several instruction sets; the
    # model must not depend on which one the CPU picks.
    results = {}
    previous = simd_level()
    try:
        for level in available_simd_levels():
            select_simd_level(level)
            params, grads, m, v = _optimizer_inputs(dtype, n, seed=n)
            sum_sq = C.l2_penalty(params, grads, 1e-3)
            for _ in range(3):
                C.adam_step(params, grads, m, v, 1e-3, 0.9, 0.999, 1e-8, 2)
            results[level] = (sum_sq, params, m, v, grads)
    finally:
        select_simd_level(previous)
    baseline = results["baseline"]
    for level, got in results.items():
        assert got[0] == baseline[0], level
        for a, b in zip(got[1:], baseline[1:]):
            assert_array_equal(a, b, err_msg=level)


def test_select_simd_level_rejects_unknown_levels():
    with pytest.raises(ValueError, match="simd level"):
        select_simd_level("avx1024")
    assert simd_level() in available_simd_levels()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 3, 8, 1001])
def test_l2_penalty_matches_numpy(dtype, n, rng):
    params = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal(n).astype(dtype)
    results = []
    for ops in (N, C):
        g = grads.copy()
        results.append((ops.l2_penalty(params, g, 0.25), g))
    (want_sum, want_g), (got_sum, got_g) = results
    assert got_sum == pytest.approx(want_sum, rel=1e-13)
    assert_array_equal(got_g, want_g)  # one multiply and one add per element
