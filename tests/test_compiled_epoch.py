"""The compiled epoch (fastmlp_ext.training) against the Python epoch built
from the per-layer kernels (the readable reference), and its determinism."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastmlp import _compiled_ops, _numpy_ops
from fastmlp._epoch import CompiledEpoch, python_epoch
from fastmlp._network import LOGISTIC, SOFTMAX, Network, predict_logits
from fastmlp._optimizers import SGD, Adam
from fastmlp_ext.training import gradient_blocks


def make_problem(out_activation, n=700, n_features=20, n_outputs=5, seed=0,
                 dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features)).astype(dtype)
    if out_activation == SOFTMAX:
        target = rng.integers(0, n_outputs, n).astype(np.int32)
    else:
        target = rng.integers(0, 2, (n, n_outputs)).astype(dtype)
    return X, target, rng.uniform(0.5, 2.0, n).astype(dtype)


def make_optimizer(kind, n_params, dtype):
    if kind == "adam":
        return Adam(n_params, dtype, 1e-2)
    return SGD(n_params, dtype, 0.05, momentum=0.9, nesterov=kind == "nesterov")


def assert_compiled_epochs_equal_python_epochs(layer_units, activation, out_activation,
                                               optimizer, X, target, sample_weight,
                                               batch_size, n_epochs):
    order = np.random.default_rng(1).permutation(len(X))
    results = []
    for runner in ("python", "compiled"):
        net = Network(layer_units, activation, out_activation, np.float64,
                      ops=_numpy_ops if runner == "python" else _compiled_ops)
        net.initialize(np.random.RandomState(0))
        opt = make_optimizer(optimizer, net.params.size, np.float64)
        for _ in range(n_epochs):
            if runner == "python":
                loss_sum, correct = python_epoch(net, opt, X, target, sample_weight, order,
                                                 batch_size, 0.01, 1)
            else:
                loss_sum, correct = CompiledEpoch(net, batch_size, len(X))(
                    opt, X, target, sample_weight, order, 0.01, 2)
        results.append((net.params.copy(), loss_sum, correct))
    (p_py, loss_py, correct_py), (p_c, loss_c, correct_c) = results
    assert_allclose(p_c, p_py, rtol=1e-9, atol=1e-12)
    assert loss_c == pytest.approx(loss_py, rel=1e-10)
    assert correct_c == correct_py


@pytest.mark.parametrize("out_activation", [SOFTMAX, LOGISTIC])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "nesterov"])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_epoch_equals_python_epoch(out_activation, activation, optimizer,
                                            weighted):
    X, target, sample_weight = make_problem(out_activation)
    assert_compiled_epochs_equal_python_epochs(
        [20, 16, 8, 5], activation, out_activation, optimizer, X, target,
        sample_weight if weighted else None, batch_size=96, n_epochs=3)


def test_gradient_blocks_tile_every_weight_matrix_once():
    units = [784, 128, 64, 10]
    blocks = gradient_blocks(units)
    # The tutorial's first layer (100,352 weights) is cut into 2 blocks of 392
    # rows; the small layers are one block each; the biases come last.
    assert [tuple(b) for b in blocks] == (
        [(0, 0, 392), (0, 392, 784), (1, 0, 128), (2, 0, 64), (3, 0, 0)]
    )
    for units in ([3, 2], [1000, 1000, 1], [17, 40000, 3]):
        blocks = gradient_blocks(units)
        assert tuple(blocks[-1]) == (len(units) - 1, 0, 0)
        for layer in range(len(units) - 1):
            rows = blocks[blocks[:, 0] == layer][:, 1:]
            assert rows[0, 0] == 0 and rows[-1, 1] == units[layer]
            assert_array_equal(rows[1:, 0], rows[:-1, 1])
            assert (rows[:, 1] > rows[:, 0]).all()


@pytest.mark.parametrize("optimizer", ["adam", "nesterov"])
@pytest.mark.parametrize("out_activation", [SOFTMAX, LOGISTIC])
def test_compiled_epoch_equals_python_epoch_across_gradient_blocks(optimizer,
                                                                   out_activation):
    # A first layer of 700 x 200 weights spans 3 gradient blocks; batch 100
    # leaves a short last batch.
    assert (gradient_blocks([700, 200, 5])[:, 0] == 0).sum() == 3
    X, target, sample_weight = make_problem(out_activation, n=450, n_features=700)
    assert_compiled_epochs_equal_python_epochs(
        [700, 200, 5], "relu", out_activation, optimizer, X, target, sample_weight,
        batch_size=100, n_epochs=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [32, 200, 256, 1000])
def test_compiled_epoch_is_bit_identical_at_any_thread_count(dtype, batch_size):
    # 400 x 200 weights in the first layer: 2 gradient blocks.
    X, target, _ = make_problem(SOFTMAX, n=2100, n_features=400, n_outputs=10,
                                dtype=dtype)
    order = np.random.default_rng(2).permutation(len(X))
    params = []
    for n_threads in (1, 2, 3):
        net = Network([400, 200, 32, 10], "relu", SOFTMAX, dtype)
        net.initialize(np.random.RandomState(0))
        opt = Adam(net.params.size, dtype, 1e-3)
        epoch = CompiledEpoch(net, batch_size, len(X))
        for _ in range(2):
            epoch(opt, X, target, None, order, 1e-3, n_threads)
        params.append(net.params.copy())
    assert_array_equal(params[0], params[1])
    assert_array_equal(params[0], params[2])


def test_compiled_epoch_rejects_inconsistent_inputs():
    X, target, _ = make_problem(SOFTMAX, n=50)
    net = Network([20, 8, 5], "relu", SOFTMAX, np.float64)
    opt = Adam(net.params.size, np.float64)
    epoch = CompiledEpoch(net, 16, len(X))
    with pytest.raises(ValueError, match="order"):
        epoch(opt, X, target, None, np.arange(49), 0.0, 1)
    with pytest.raises(ValueError, match="order holds indices"):
        epoch(opt, X, target, None, np.arange(50) + 1, 0.0, 1)
    bad_labels = target.copy()
    bad_labels[3] = 9
    with pytest.raises(ValueError, match="labels"):
        epoch(opt, X, bad_labels, None, np.arange(50), 0.0, 1)
    with pytest.raises(ValueError, match="features"):
        epoch(opt, X[:, :10].copy(), target, None, np.arange(50), 0.0, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("n_rows, block_rows", [(1, 4096), (1000, 64), (257, 256)])
def test_compiled_forward_equals_numpy_forward(dtype, activation, n_rows, block_rows):
    rng = np.random.default_rng(0)
    net = Network([30, 16, 8, 4], activation, SOFTMAX, dtype)
    net.initialize(np.random.RandomState(0))
    X = rng.standard_normal((n_rows, 30)).astype(dtype)
    compiled = predict_logits(net.coefs, net.intercepts, activation, X,
                              block_rows=block_rows)
    reference = predict_logits(net.coefs, net.intercepts, activation, X, ops=_numpy_ops)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(compiled, reference, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_forward_is_bit_identical_at_any_thread_count(dtype):
    from fastmlp._threads import single_threaded_blas
    from fastmlp_ext.training import forward_logits

    rng = np.random.default_rng(0)
    net = Network([40, 32, 16, 5], "relu", SOFTMAX, dtype)
    net.initialize(np.random.RandomState(0))
    X = rng.standard_normal((1000, 40)).astype(dtype)
    with single_threaded_blas():
        results = [forward_logits(X, list(net.coefs), list(net.intercepts), 1, 96, n)
                   for n in (1, 2, 3)]
    assert_array_equal(results[0], results[1])
    assert_array_equal(results[0], results[2])
    reference = predict_logits(net.coefs, net.intercepts, "relu", X, ops=_numpy_ops)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(results[1], reference, rtol=tol, atol=tol)


@pytest.mark.parametrize("bad_row", [0, 500, 999])
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_compiled_forward_reports_non_finite_input(bad_row, bad_value, n_threads):
    net = Network([40, 8, 3], "relu", SOFTMAX, np.float32)
    net.initialize(np.random.RandomState(0))
    X = np.random.default_rng(0).standard_normal((1000, 40)).astype(np.float32)
    X[:, 7] = np.finfo(np.float32).max  # large but finite: fine
    assert predict_logits(net.coefs, net.intercepts, "relu", X, n_threads=n_threads,
                          block_rows=128, check_finite=True) is not None
    X[bad_row, 39] = bad_value
    assert predict_logits(net.coefs, net.intercepts, "relu", X, n_threads=n_threads,
                          block_rows=128, check_finite=True) is None


def test_compiled_forward_rejects_bad_layers():
    from fastmlp_ext.training import forward_logits

    X = np.ones((3, 4))
    with pytest.raises(ValueError, match="chain"):
        forward_logits(X, [np.ones((5, 2))], [np.ones(2)], 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        forward_logits(X, [np.ones((2, 4)).T], [np.ones(2)], 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        forward_logits(X, [np.ones((4, 2), np.float32)], [np.ones(2)], 1)
    with pytest.raises(ValueError, match="same length"):
        forward_logits(X, [np.ones((4, 2))], [], 1)


@pytest.mark.parametrize("out_activation", [SOFTMAX, LOGISTIC])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n", [5, 700])  # fewer rows than one chunk, and many chunks
def test_full_batch_loss_gradient_equals_numpy(out_activation, activation, weighted, n):
    from fastmlp._epoch import CompiledLossGradient

    X, target, sample_weight = make_problem(out_activation, n=n)
    sample_weight = sample_weight if weighted else None
    reference = Network([20, 16, 8, 5], activation, out_activation, np.float64,
                        ops=_numpy_ops)
    reference.initialize(np.random.RandomState(0))
    ref_loss, _ = reference.loss_and_gradient(X, target, sample_weight, 0.3)
    net = Network([20, 16, 8, 5], activation, out_activation, np.float64)
    net.initialize(np.random.RandomState(0))
    loss = CompiledLossGradient(net, n)(X, target, sample_weight, 0.3, 2)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert_allclose(net.grads, reference.grads, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_batch_gradient_is_bit_identical_at_any_thread_count(dtype):
    from fastmlp._epoch import CompiledLossGradient

    X, target, _ = make_problem(SOFTMAX, n=3000, n_features=50, n_outputs=10, dtype=dtype)
    grads = []
    for n_threads in (1, 2, 3):
        net = Network([50, 64, 32, 10], "relu", SOFTMAX, dtype)
        net.initialize(np.random.RandomState(0))
        CompiledLossGradient(net, len(X))(X, target, None, 1e-3, n_threads)
        grads.append(net.grads.copy())
    assert_array_equal(grads[0], grads[1])
    assert_array_equal(grads[0], grads[2])
