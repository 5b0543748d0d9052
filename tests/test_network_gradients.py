"""Whole-network gradients against central finite differences, every activation,
both output links, compiled kernels and their NumPy twin."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastmlp import _compiled_ops, _numpy_ops
from fastmlp._network import LOGISTIC, SOFTMAX, Network

ACTIVATIONS = ["identity", "relu", "logistic", "tanh"]


def make_problem(out_activation, seed=0, n=23, n_features=6, n_outputs=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    if out_activation == SOFTMAX:
        target = rng.integers(0, n_outputs, n).astype(np.int32)
    else:
        target = rng.integers(0, 2, (n, n_outputs)).astype(np.float64)
    sample_weight = rng.uniform(0.2, 2.0, n)
    return X, target, sample_weight


def loss_of(network, X, target, sample_weight, alpha):
    loss, _ = network.loss_and_gradient(X, target, sample_weight, alpha)
    return loss


@pytest.mark.parametrize("ops", [_compiled_ops, _numpy_ops], ids=["compiled", "numpy"])
@pytest.mark.parametrize("out_activation", [SOFTMAX, LOGISTIC])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_finite_differences(ops, out_activation, activation, weighted):
    X, target, sample_weight = make_problem(out_activation)
    sample_weight = sample_weight if weighted else None
    alpha = 0.3
    net = Network([6, 5, 3, 4], activation, out_activation, np.float64, ops=ops)
    net.initialize(np.random.RandomState(1))
    if activation == "relu":
        # Keep pre-activations away from the kink at 0, where the derivative
        # is undefined and finite differences straddle it.
        net.intercepts[0][...] += 0.05 * np.sign(net.intercepts[0] + 1e-3)
    net.loss_and_gradient(X, target, sample_weight, alpha)
    analytic = net.grads.copy()
    numeric = np.empty_like(analytic)
    eps = 1e-6
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + eps
        plus = loss_of(net, X, target, sample_weight, alpha)
        net.params[i] = saved - eps
        minus = loss_of(net, X, target, sample_weight, alpha)
        net.params[i] = saved
        numeric[i] = (plus - minus) / (2 * eps)
    assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("out_activation", [SOFTMAX, LOGISTIC])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_compiled_network_matches_numpy_network(out_activation, activation):
    X, target, sample_weight = make_problem(out_activation, seed=3, n=300)
    results = []
    for ops in (_compiled_ops, _numpy_ops):
        net = Network([6, 16, 8, 4], activation, out_activation, np.float64, ops=ops)
        net.initialize(np.random.RandomState(2))
        loss, correct = net.loss_and_gradient(X, target, sample_weight, 0.01)
        results.append((loss, correct, net.grads.copy()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-12)
    assert results[0][1] == results[1][1]
    assert_allclose(results[0][2], results[1][2], rtol=1e-10, atol=1e-14)


def test_gradient_does_not_depend_on_thread_count():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 100)).astype(np.float32)
    target = rng.integers(0, 10, 512).astype(np.int32)
    grads = []
    for n_threads in (1, 2):
        net = Network([100, 128, 64, 10], "relu", SOFTMAX, np.float32)
        net.initialize(np.random.RandomState(0))
        net.loss_and_gradient(X, target, None, 0.01, n_threads=n_threads)
        grads.append(net.grads.copy())
    assert_array_equal(grads[0], grads[1])


def test_coefs_are_views_of_the_flat_buffer():
    net = Network([3, 4, 2], "relu", SOFTMAX, np.float32)
    net.params[...] = np.arange(net.params.size)
    assert net.coefs[0].base is net.params and net.intercepts[1].base is net.params
    assert net.coefs[0][0, 0] == 0 and net.coefs[1][0, 0] == 12
    assert net.intercepts[0][0] == 20 and net.params.size == 3 * 4 + 4 * 2 + 4 + 2
