"""fastmlp.MLPClassifier against scikit-learn's MLPClassifier, and its contracts."""

import os
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier, TrainingDivergedError

ACTIVATIONS = ["identity", "relu", "logistic", "tanh"]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_float64_fit_equals_scikit_learn(digits, solver, activation, early_stopping):
    # Same initialisation draws, same shuffles and validation split, same
    # optimizer maths: in float64 the two implementations agree to rounding.
    X, y = digits
    if early_stopping and solver == "lbfgs":
        pytest.skip("early_stopping applies to the stochastic solvers only")
    params = dict(hidden_layer_sizes=(32, 16), activation=activation, solver=solver,
                  max_iter=15, random_state=0, alpha=1e-3, early_stopping=early_stopping)
    ours = quiet(MLPClassifier(dtype=np.float64, **params).fit, X, y)
    ref = quiet(SklearnMLP(**params).fit, X, y)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        assert_allclose(a, b, rtol=1e-7, atol=1e-10)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-7, atol=1e-10)
    if early_stopping:
        assert_allclose(ours.validation_scores_, ref.validation_scores_)


def test_float64_binary_and_multilabel_equal_scikit_learn(digits):
    X, y = digits
    Xm, Ym = make_multilabel_classification(n_samples=300, n_classes=4, random_state=0)
    params = dict(hidden_layer_sizes=(20,), max_iter=10, random_state=0, shuffle=False)
    for data, target in ((X, y % 2), (Xm / Xm.max(), Ym)):
        ours = quiet(MLPClassifier(dtype=np.float64, **params).fit, data, target)
        ref = quiet(SklearnMLP(**params).fit, data, target)
        assert ours.out_activation_ == ref.out_activation_ == "logistic"
        assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-9)
        assert_allclose(ours.predict_proba(data), ref.predict_proba(data), rtol=1e-7)
        assert_array_equal(ours.predict(data), ref.predict(data))


def test_float32_tracks_scikit_learn(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(64,), max_iter=30, random_state=0)
    ours = quiet(MLPClassifier(**params).fit, X, y)
    ref = quiet(SklearnMLP(**params).fit, X, y)
    assert ours.coefs_[0].dtype == np.float32
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), abs=0.01)
    assert ours.loss_ == pytest.approx(ref.loss_, rel=0.02)


def test_fitted_attributes_match_scikit_learn(digits):
    X, y = digits
    ours = quiet(MLPClassifier(max_iter=3, random_state=0).fit, X, y)
    ref = quiet(SklearnMLP(max_iter=3, random_state=0).fit, X, y)
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_",
                 "n_features_in_", "best_validation_score_", "validation_scores_"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert_array_equal(ours.classes_, ref.classes_)
    assert len(ours.loss_curve_) == len(ref.loss_curve_) == 3
    assert ours.best_loss_ == min(ours.loss_curve_)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in ref.coefs_]
    assert set(ours.get_params()) == set(ref.get_params()) | {"dtype", "n_threads"}
    for name, value in ref.get_params().items():
        assert ours.get_params()[name] == value, name


def test_coefs_are_views_into_one_flat_buffer(digits):
    X, y = digits
    clf = quiet(MLPClassifier((8,), max_iter=2, random_state=0).fit, X, y)
    base = clf.coefs_[0].base
    assert base is not None and base.ndim == 1
    assert all(a.base is base for a in clf.coefs_ + clf.intercepts_)
    restored = pickle.loads(pickle.dumps(clf))
    base = restored.coefs_[0].base
    assert all(a.base is base for a in restored.coefs_ + restored.intercepts_)


def test_same_model_whatever_the_thread_count(digits):
    X, y = digits
    X = np.tile(X, (3, 1))  # batches of 256 x 128 units: above the parallel threshold
    y = np.tile(y, 3)
    models = [
        quiet(MLPClassifier((128, 64), batch_size=256, max_iter=3, random_state=0,
                            n_threads=n).fit, X, y)
        for n in (1, 2)
    ]
    for a, b in zip(models[0].coefs_ + models[0].intercepts_,
                    models[1].coefs_ + models[1].intercepts_):
        assert_array_equal(a, b)
    assert models[0].loss_curve_ == models[1].loss_curve_


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_predictions_whatever_the_thread_count(digits, dtype):
    # More rows than one predict block (1,024): n_threads=1 must not fall
    # back to BLAS's own threads, which split the sums differently.
    X, y = digits
    clf = quiet(MLPClassifier((32,), max_iter=30, random_state=0, dtype=dtype).fit, X, y)
    A = np.random.default_rng(0).random((3001, X.shape[1])) * 16
    results = [clf.set_params(n_threads=n).predict_proba(A) for n in (1, 2, 3)]
    assert_array_equal(results[0], results[1])
    assert_array_equal(results[0], results[2])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_outputs_that_overflow_are_an_error_not_nan(digits, method):
    # Finite float32 values near the top of its range overflow the first
    # layer: scikit-learn returns NaN probabilities and class 0 there.
    X, y = digits
    clf = quiet(MLPClassifier((32,), max_iter=30, random_state=0).fit, X, y)
    A = np.full((3, X.shape[1]), 3e38, np.float32)
    A[1] = -3e38
    with pytest.raises(ValueError, match="overflowed"):
        getattr(clf, method)(A)
    assert np.isfinite(clf.predict_proba(X[:5].astype(np.float32) * 1e3)).all()


def test_n_threads_beyond_the_cpus_is_capped_not_a_crash(digits):
    # OpenMP aborts the process when it cannot create the threads; the model
    # is the same at any thread count, so fastmlp uses at most the CPUs.
    from fastmlp._threads import effective_n_threads

    X, y = digits
    assert effective_n_threads(100_000) <= (os.cpu_count() or 1)
    big = quiet(MLPClassifier((16,), max_iter=2, random_state=0, n_threads=100_000).fit,
                X[:300], y[:300])
    one = quiet(MLPClassifier((16,), max_iter=2, random_state=0, n_threads=1).fit,
                X[:300], y[:300])
    assert_array_equal(big.coefs_[0], one.coefs_[0])


def test_fit_equals_repeated_partial_fit(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), random_state=0, tol=0.0, n_iter_no_change=100)
    fitted = quiet(MLPClassifier(max_iter=4, **params).fit, X, y)
    incremental = MLPClassifier(**params)
    for _ in range(4):
        incremental.partial_fit(X, y, classes=np.unique(y))
    assert fitted.n_iter_ == 4 and incremental.n_iter_ == 1  # as scikit-learn
    assert incremental.t_ == fitted.t_
    assert incremental.loss_curve_ == fitted.loss_curve_
    for a, b in zip(fitted.coefs_, incremental.coefs_):
        assert_array_equal(a, b)


def test_partial_fit_with_a_subset_of_classes_keeps_all_columns(digits):
    X, y = digits
    clf = MLPClassifier((8,), random_state=0)
    clf.partial_fit(X[y == 3], y[y == 3], classes=np.arange(10))
    proba = clf.predict_proba(X[:5])
    assert proba.shape == (5, 10) and len(clf.classes_) == 10
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X[:5], np.array([0, 1, 2, 3, 11]))


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "emu"]), np.array([-1.0, 0.0, 7.0]), np.array([10, 20, 30]),
])
def test_any_label_type(labels, digits):
    X, y = digits
    target = labels[y % 3]
    clf = quiet(MLPClassifier((16,), max_iter=20, random_state=0).fit, X, target)
    assert_array_equal(clf.classes_, np.sort(labels))
    pred = clf.predict(X)
    assert pred.dtype == target.dtype and set(pred) <= set(labels)
    assert clf.score(X, target) > 0.8
    assert clf.predict_proba(X).shape == (len(X), 3)


def test_binary_predict_proba_columns_follow_classes(digits):
    X, y = digits
    target = np.where(y < 5, "low", "high")
    clf = quiet(MLPClassifier((16,), max_iter=20, random_state=0).fit, X, target)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X))
    assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_multilabel():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=5, random_state=0)
    X = X / X.max()
    clf = quiet(MLPClassifier((32,), max_iter=200, random_state=0).fit, X, Y)
    ref = quiet(SklearnMLP((32,), max_iter=200, random_state=0).fit, X, Y)
    assert clf.predict(X).shape == clf.predict_proba(X).shape == Y.shape
    assert clf.score(X, Y) == pytest.approx(ref.score(X, Y), abs=0.05)


def test_pipeline_grid_search_cross_val_clone(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    grid = GridSearchCV(
        pipe,
        {"mlpclassifier__activation": ["relu", "tanh"],
         "mlpclassifier__hidden_layer_sizes": [(16,), (32, 16)]},
        cv=3, n_jobs=2,
    )
    quiet(grid.fit, X, y)
    assert grid.best_score_ > 0.8
    assert len(grid.cv_results_["params"]) == 4
    scores = quiet(cross_val_score, MLPClassifier((32,), max_iter=30, random_state=0), X, y,
                   cv=3)
    ref_scores = quiet(cross_val_score, SklearnMLP((32,), max_iter=30, random_state=0), X,
                       y, cv=3)
    assert scores.mean() == pytest.approx(ref_scores.mean(), abs=0.03)
    clf = MLPClassifier((7,), activation="tanh", dtype=np.float64, n_threads=1)
    cloned = clone(clf)
    assert cloned.get_params() == clf.get_params() and not hasattr(cloned, "coefs_")


def test_pickle_round_trip_predicts_identically(digits, tmp_path):
    import fastmlp

    X, y = digits
    clf = quiet(MLPClassifier((16,), max_iter=5, random_state=0).fit, X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    path = fastmlp.save(clf, tmp_path / "model.joblib")
    assert_array_equal(fastmlp.load(path).predict(X), clf.predict(X))
    # A restored model keeps training where it stopped.
    restored.partial_fit(X, y)
    assert restored.t_ == clf.t_ + len(X) and len(restored.loss_curve_) == 6


@pytest.mark.parametrize("bad_X, match", [
    (np.full((10, 64), np.nan), "NaN"),
    (np.full((10, 64), np.inf), "infinity"),
    (np.empty((0, 64)), "0 sample"),
    (np.array([["a"] * 64] * 10), "convert|string"),
])
def test_bad_X_raises_value_error(bad_X, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(max_iter=2).fit(bad_X, np.arange(10) % 2 if len(bad_X) else [])


def test_other_bad_input(digits):
    X, y = digits
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MLPClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="only one class"):
        MLPClassifier().fit(X, np.zeros(len(X)))
    clf = quiet(MLPClassifier((4,), max_iter=2).fit, X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 64), np.nan))


@pytest.mark.parametrize("params, match", [
    (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes"),
    (dict(hidden_layer_sizes=(-3,)), "hidden_layer_sizes"),
    (dict(hidden_layer_sizes=(2.5,)), "hidden_layer_sizes must be integers"),
    (dict(hidden_layer_sizes=(True,)), "hidden_layer_sizes must be integers"),
    (dict(dtype="banana"), "dtype"),
    (dict(dtype=None), "dtype"),
    (dict(activation="swish"), "activation"),
    (dict(solver="rmsprop"), "solver"),
    (dict(learning_rate_init=0), "learning_rate_init"),
    (dict(alpha=-1), "alpha"),
    (dict(batch_size=0), "batch_size"),
    (dict(max_iter=0), "max_iter"),
    (dict(dtype=np.int32), "dtype"),
    (dict(dtype="float16"), "dtype"),
    (dict(n_threads=0), "n_threads"),
])
def test_bad_hyperparameters_name_the_parameter(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**params).fit(X, y)


def test_divergence_fails_loudly(digits):
    X, y = digits
    for early_stopping in (False, True):
        clf = MLPClassifier((32,), solver="sgd", learning_rate_init=1e6, momentum=0.99,
                            max_iter=20, random_state=0, early_stopping=early_stopping)
        with pytest.raises(TrainingDivergedError, match="learning_rate_init"):
            clf.fit(X * 1e5, y)
    assert issubclass(TrainingDivergedError, ValueError)


def test_early_stopping_errors_name_the_parameters():
    X = np.random.default_rng(0).standard_normal((12, 3))
    imbalanced = np.array([0] * 11 + [1])
    with pytest.raises(ValueError, match="early_stopping.*validation_fraction"):
        MLPClassifier(early_stopping=True).fit(X, imbalanced)
    with pytest.raises(ValueError, match="early_stopping.*validation_fraction"):
        MLPClassifier(early_stopping=True, validation_fraction=0.1).fit(
            X[:6], np.array([0, 1] * 3))


def test_early_stopping_restores_best_weights(digits):
    X, y = digits
    clf = quiet(MLPClassifier((32,), early_stopping=True, max_iter=60, random_state=0,
                              n_iter_no_change=3).fit, X, y)
    assert clf.best_loss_ is None
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert len(clf.validation_scores_) == clf.n_iter_


def test_warm_start_continues_and_restarts_on_new_architecture(digits):
    X, y = digits
    clf = quiet(MLPClassifier((16,), warm_start=True, max_iter=3, random_state=0).fit, X, y)
    before = [c.copy() for c in clf.coefs_]
    quiet(clf.fit, X, y)
    assert clf.coefs_[0].shape == before[0].shape
    assert not np.array_equal(clf.coefs_[0], before[0])
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 6  # the curve continues
    clf.set_params(hidden_layer_sizes=(8, 4))
    with pytest.warns(UserWarning, match="fresh initialisation"):
        quiet(clf.fit, X, y)
    assert [c.shape for c in clf.coefs_] == [(64, 8), (8, 4), (4, 10)]
    assert len(clf.loss_curve_) == 3
    with pytest.warns(UserWarning, match="feature count"):
        quiet(clf.fit, X[:, :20], y)
    assert clf.coefs_[0].shape == (20, 8) and clf.n_features_in_ == 20


def test_warm_start_with_other_classes_is_an_error(digits):
    X, y = digits
    clf = quiet(MLPClassifier((8,), warm_start=True, max_iter=2).fit, X, y)
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X, y % 3)
    assert_array_equal(clf.classes_, np.arange(10))  # the model is left as it was
    assert clf.predict_proba(X[:2]).shape == (2, 10)


def test_partial_fit_is_unavailable_for_lbfgs():
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(np.ones((4, 2)), [0, 1, 0, 1],
                                                       classes=[0, 1])


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_input_gives_the_dense_result(digits, solver):
    from scipy import sparse

    X, y = digits
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, solver=solver,
                  alpha=0.01, dtype=np.float64)
    dense = quiet(MLPClassifier(**params).fit, X, y)
    sparse_fit = quiet(MLPClassifier(**params).fit, sparse.csr_matrix(X), y)
    assert_allclose(dense.coefs_[0], sparse_fit.coefs_[0], rtol=1e-9, atol=1e-12)
    assert_allclose(dense.predict_proba(X), sparse_fit.predict_proba(sparse.csc_matrix(X)),
                    rtol=1e-9, atol=1e-12)


def test_wide_sparse_input_is_never_densified():
    # 2000 x 1,000,000 would need 8 GB dense; sparse, it is 40,000 numbers.
    from scipy import sparse

    rng = np.random.default_rng(0)
    n_rows, per_row = 2000, 20
    columns = rng.integers(0, 1_000_000, n_rows * per_row)
    X = sparse.csr_matrix(
        (rng.random(n_rows * per_row), columns, np.arange(0, n_rows * per_row + 1, per_row)),
        shape=(n_rows, 1_000_000),
    )
    y = (columns.reshape(n_rows, per_row) < 100_000).any(axis=1).astype(int)
    clf = quiet(MLPClassifier((4,), max_iter=2, batch_size=500, random_state=0).fit, X, y)
    assert clf.predict_proba(X[:7]).shape == (7, 2)


def test_concurrent_fits_in_threads_restore_blas_threads(digits):
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    X, y = digits

    def blas_threads():
        return sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    before = blas_threads()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda seed: quiet(MLPClassifier((16,), max_iter=5,
                                                       random_state=seed).fit, X, y),
                      range(6)))
    assert blas_threads() == before


def test_blas_limit_holds_in_worker_threads_and_is_restored_by_the_last_one():
    # threadpoolctl >= 3.8 silently ignores OpenBLAS limits set from a thread
    # other than its "controlling" one (the main thread, once it has limited
    # BLAS); the limit must still hold in a fit running in a worker thread,
    # and be restored when the last concurrent fit ends, whichever it is.
    import threading

    from threadpoolctl import threadpool_info

    from fastmlp._threads import single_threaded_blas

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with single_threaded_blas():  # the main thread limits BLAS first
        pass
    assert blas_threads() == before
    seen = {}
    first_in, second_in, first_may_leave = (threading.Event() for _ in range(3))

    def first():
        with single_threaded_blas():
            seen["first"] = blas_threads()
            first_in.set()
            first_may_leave.wait(10)

    def second():
        first_in.wait(10)
        with single_threaded_blas():
            second_in.set()
            first_may_leave.set()
            worker_a.join(10)  # the first fit has left: the limit must hold
            seen["second after first left"] = blas_threads()

    worker_a, worker_b = threading.Thread(target=first), threading.Thread(target=second)
    worker_a.start()
    worker_b.start()
    worker_b.join(20)
    assert seen["first"] == [1] * len(before)
    assert seen["second after first left"] == [1] * len(before)
    assert blas_threads() == before


def test_fits_running_at_once_share_the_threads():
    from fastmlp._threads import fair_share, single_threaded_blas

    assert fair_share(4) == 4
    with single_threaded_blas():
        assert fair_share(4) == 4
        with single_threaded_blas():  # a second fit, in another Python thread
            assert fair_share(4) == 2
            assert fair_share(1) == 1
        assert fair_share(4) == 4


def test_concurrent_fits_in_threads_give_the_sequential_models(digits):
    # Concurrent fits run their epochs on fewer threads each (fair_share);
    # the models must not change.
    from concurrent.futures import ThreadPoolExecutor

    X, y = digits

    def fit(seed):
        return quiet(MLPClassifier((32,), max_iter=4, random_state=seed).fit, X, y)

    sequential = [fit(seed) for seed in range(4)]
    with ThreadPoolExecutor(2) as pool:
        concurrent = list(pool.map(fit, range(4)))
    for a, b in zip(sequential, concurrent):
        for wa, wb in zip(a.coefs_, b.coefs_):
            assert_array_equal(wa, wb)
        assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_predict_proba_is_float64_whatever_the_model_dtype(digits):
    X, y = digits
    clf = quiet(MLPClassifier((16,), max_iter=30, random_state=0).fit, X * 5, y)
    proba = clf.predict_proba(X * 5)
    assert proba.dtype == np.float64 and clf.coefs_[0].dtype == np.float32
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)


def test_early_stopping_on_multiclass_with_a_rare_class_splits_like_sklearn(digits):
    X, y = digits
    y = y.copy()
    y[y == 9] = 8
    y[0] = 9  # a class of one sample: not stratified for multiclass, as scikit-learn
    params = dict(hidden_layer_sizes=(8,), early_stopping=True, max_iter=5, random_state=0)
    ours = quiet(MLPClassifier(dtype=np.float64, **params).fit, X, y)
    ref = quiet(SklearnMLP(**params).fit, X, y)
    assert_allclose(ours.validation_scores_, ref.validation_scores_)


def test_sample_weight_zero_equals_dropping_samples_lbfgs(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    weights = np.ones(300)
    weights[::3] = 0
    params = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30, random_state=0,
                  dtype=np.float64)
    weighted = quiet(MLPClassifier(**params).fit, X, y, sample_weight=weights)
    dropped = quiet(MLPClassifier(**params).fit, X[weights > 0], y[weights > 0])
    assert_allclose(weighted.coefs_[0], dropped.coefs_[0], rtol=1e-6, atol=1e-9)
