"""fastmlp.MLPClassifier: scikit-learn's MLPClassifier on compiled kernels."""

import warnings
from numbers import Integral

import numpy as np
import scipy.optimize
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SklearnMLPClassifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils import shuffle as sklearn_shuffle
from sklearn.utils._param_validation import Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from fastmlp import _compiled_ops
from fastmlp._epoch import CompiledEpoch, CompiledLossGradient, python_epoch
from fastmlp._network import LOGISTIC, SOFTMAX, Network, predict_logits
from fastmlp._optimizers import SGD, Adam
from fastmlp._threads import effective_n_threads, fair_share, single_threaded_blas

_STOCHASTIC_SOLVERS = ("sgd", "adam")
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class TrainingDivergedError(ValueError):
    """Training produced a non-finite loss or non-finite weights."""


def _finite_outputs(logits):
    """The network's outputs, or a ValueError if some overflowed: finite but
    huge X (3e38 in a float32 model) would otherwise give NaN probabilities
    and an arbitrary class, as in scikit-learn."""
    if not np.isfinite(logits).all():
        raise ValueError(
            "The network's outputs overflowed to inf or NaN for some rows of X: their "
            f"values are too large for the model's dtype ({logits.dtype}). Scale X "
            "(StandardScaler, say) or fit with dtype=np.float64."
        )
    return logits


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier on compiled (Cython/OpenMP) kernels.

    A drop-in for :class:`sklearn.neural_network.MLPClassifier`: the same
    parameters, defaults, fitted attributes and behaviour, plus ``dtype``
    and ``n_threads``. Trains with log-loss (softmax for multiclass targets,
    logistic for binary and multilabel) using LBFGS, SGD or Adam.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation of the hidden layers.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        Weight optimizer.
    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the sample count (or the sum
        of sample weights) in the loss.
    batch_size : int or 'auto', default='auto'
        Minibatch size of the stochastic solvers; 'auto' is min(200, n_samples).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of the 'sgd' solver.
    learning_rate_init : float, default=0.001
        Initial step size ('sgd', 'adam').
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs of the stochastic solvers; iterations of 'lbfgs'.
    shuffle : bool, default=True
        Shuffle the samples each epoch ('sgd', 'adam').
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and the early-stopping split.
    tol : float, default=1e-4
        Improvement below which an epoch counts as no improvement.
    verbose : bool, default=False
        Print progress.
    warm_start : bool, default=False
        Start from the previous fit's weights. If the architecture (hidden
        sizes or feature count) changed since, the previous weights cannot
        apply: training restarts from a fresh initialisation, with a warning.
    momentum : float, default=0.9
        Momentum of 'sgd'.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for 'sgd'.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified
        for binary targets, as scikit-learn) and stop when its accuracy
        stops improving; the best weights are kept.
    validation_fraction : float, default=0.1
        Share of the data held out with ``early_stopping``.
    beta_1, beta_2 : float, default=0.9, 0.999
        Moment decay rates of 'adam'.
    epsilon : float, default=1e-8
        Numerical stability term of 'adam'.
    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping.
    max_fun : int, default=15000
        Maximum loss evaluations of 'lbfgs'.
    dtype : {np.float32, np.float64}, default=np.float32
        Precision of the weights and of the computation. ``X`` is converted
        to it once per call, never per batch.
    n_threads : int or None, default=None
        Threads of the parallel kernel passes; None uses what OpenMP allows
        (``OMP_NUM_THREADS``, threadpoolctl), shared with the other fits
        running at the same time in this process. Never more than the CPUs
        available. The fitted model is the same bit for bit whatever this
        value, and so are the predictions.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels.
    loss_ : float
        Loss at the end of training (stochastic: mean over the last epoch,
        as computed while training).
    best_loss_ : float or None
        Minimum training loss (stochastic solvers without early stopping).
    loss_curve_ : list of float
        Loss of each epoch (stochastic solvers).
    accuracy_curve_ : list of float
        Training accuracy of each epoch, counted on each batch before its
        update (Keras' running ``accuracy``); stochastic solvers only.
    validation_scores_ : list of float or None
        Held-out accuracy of each epoch (``early_stopping``).
    best_validation_score_ : float or None
        Best held-out accuracy (``early_stopping``).
    t_ : int
        Training samples seen by the solver.
    coefs_ : list of ndarray of shape (n_fan_in, n_fan_out)
        Weight matrices, views into one flat parameter buffer.
    intercepts_ : list of ndarray of shape (n_fan_out,)
        Bias vectors, views into the same buffer.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    n_iter_ : int
        Iterations the solver ran.
    n_layers_ : int
        Number of layers.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        'softmax' (multiclass) or 'logistic' (binary, multilabel).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastmlp import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0)
    >>> clf.fit(X / 16, y).score(X / 16, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **_SklearnMLPClassifier._parameter_constraints,
        "dtype": "no_validation",  # checked in fit (_resolve_dtype)
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype=np.float32,
        n_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_threads = n_threads

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data. Sparse input stays sparse (CSR): the first layer uses
            scipy's sparse product.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label indicator matrix (multilabel).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : MLPClassifier
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            All classes across the calls; required on the first call.

        Returns
        -------
        self : MLPClassifier
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self._check_at_least_two_classes()
        return self._fit(X, y, sample_weight, incremental=True)

    def _resolve_dtype(self):
        error = ValueError(
            "The 'dtype' parameter of MLPClassifier must be np.float32 or np.float64. "
            f"Got {self.dtype!r} instead."
        )
        if self.dtype is None:  # np.dtype(None) would silently mean float64
            raise error
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            raise error from None
        if not any(dtype == allowed for allowed in _DTYPES):
            raise error
        return dtype

    def _resolve_hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        for size in sizes:
            if (
                isinstance(size, (bool, np.bool_))
                or not isinstance(size, (Integral, np.integer))
                or size <= 0
            ):
                raise ValueError(
                    "hidden_layer_sizes must be integers > 0, got "
                    f"{self.hidden_layer_sizes}."
                )
        return [int(s) for s in sizes]

    def _check_at_least_two_classes(self):
        lb = self._label_binarizer
        if lb.y_type_ != "multilabel-indicator" and len(lb.classes_) < 2:
            raise ValueError(
                "MLPClassifier needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {lb.classes_[0]!r}"
            )

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(
            self, X, y, accept_sparse="csr", multi_output=True,
            dtype=dtype, order="C", reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if incremental and hasattr(self, "classes_"):
            classes = unique_labels(y)
            unseen = np.setdiff1d(classes, self.classes_, assume_unique=True)
            if len(unseen):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        elif not incremental:
            binarizer = LabelBinarizer().fit(y)
            if (
                self.warm_start
                and hasattr(self, "coefs_")
                and binarizer.y_type_ != "multilabel-indicator"
                and not np.array_equal(binarizer.classes_, self.classes_)
            ):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in "
                    f"the previous call to fit. Previously got {self.classes_}, `y` "
                    f"has {binarizer.classes_}"
                )
            self._label_binarizer = binarizer
            self._check_at_least_two_classes()
        self.classes_ = self._label_binarizer.classes_
        return X, y

    def _encode_targets(self, y, dtype):
        """Targets in the loss kernels' form: int32 class indices for softmax,
        a 0/1 matrix of the network dtype for logistic outputs."""
        indicator = self._label_binarizer.transform(y)
        if self._label_binarizer.y_type_ == "multiclass":
            return np.ascontiguousarray(np.argmax(indicator, axis=1), dtype=np.int32)
        return np.ascontiguousarray(indicator, dtype=dtype).reshape(len(y), -1)

    def _fit(self, X, y, sample_weight, incremental):
        hidden_sizes = self._resolve_hidden_layer_sizes()
        dtype = self._resolve_dtype()
        fitted = hasattr(self, "coefs_")
        X, y = self._validate_input(
            X, y, incremental, reset=not (incremental and fitted), dtype=dtype
        )
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype)
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight must have a positive sum.")
        target = self._encode_targets(y, dtype)
        n_outputs = target.shape[1] if target.ndim == 2 else len(self.classes_)
        out_activation = SOFTMAX if self._label_binarizer.y_type_ == "multiclass" else LOGISTIC
        layer_units = [n_features] + hidden_sizes + [n_outputs]

        first_pass = not fitted or (not self.warm_start and not incremental)
        if not first_pass and self._layer_units() != layer_units:
            warnings.warn(
                f"warm_start: the network was {self._layer_units()} units per layer "
                f"and this fit needs {layer_units} (hidden_layer_sizes or the "
                "feature count changed); the previous weights cannot be reused, "
                "training starts from a fresh initialisation.",
                UserWarning,
            )
            first_pass = True

        if first_pass or not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)
        network = Network(layer_units, self.activation, out_activation, dtype)
        if first_pass:
            network.initialize(self._random_state)
            self._initialize_attributes()
        else:
            network.load(self.coefs_, self.intercepts_)
        self.coefs_, self.intercepts_ = network.coefs, network.intercepts
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(layer_units)
        self.out_activation_ = out_activation

        n_threads = effective_n_threads(self.n_threads)
        with single_threaded_blas():
            if self.solver in _STOCHASTIC_SOLVERS:
                self._fit_stochastic(network, X, y, target, sample_weight, incremental,
                                     n_threads)
            else:
                self._fit_lbfgs(network, X, target, sample_weight, n_threads)

        if not np.isfinite(network.params).all():
            raise TrainingDivergedError(
                "Solver produced non-finite parameter weights. The input data may "
                "contain large values and need to be preprocessed, or "
                "learning_rate_init may be too large."
            )
        return self

    def _layer_units(self):
        return [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]

    def _initialize_attributes(self):
        self.n_iter_ = 0
        self.t_ = 0
        for attr in ("_optimizer", "_best_params", "_sample_order"):
            if hasattr(self, attr):
                delattr(self, attr)
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self.accuracy_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    # --------------------------------------------------------- stochastic
    def _make_optimizer(self, network):
        n, dtype = network.params.size, network.dtype
        if self.solver == "adam":
            return Adam(n, dtype, self.learning_rate_init, self.beta_1, self.beta_2,
                        self.epsilon)
        return SGD(n, dtype, self.learning_rate_init, self.learning_rate, self.momentum,
                   self.nesterovs_momentum, self.power_t)

    def _early_stopping_split(self, X, y, target, sample_weight):
        """Hold out ``validation_fraction`` of the data as scikit-learn does
        (same random draws); a clear error where the data cannot be split."""
        # As scikit-learn: stratified for binary targets only (one output).
        stratify = y if target.ndim == 2 and target.shape[1] == 1 else None
        arrays = [X, target] + ([] if sample_weight is None else [sample_weight])
        n_samples = X.shape[0]
        advice = (
            "Provide more samples, change validation_fraction, or set "
            "early_stopping=False."
        )
        try:
            parts = train_test_split(
                *arrays, random_state=self._random_state,
                test_size=self.validation_fraction, stratify=stratify,
            )
        except ValueError as exc:
            raise ValueError(
                f"early_stopping=True could not hold out validation_fraction="
                f"{self.validation_fraction} of {n_samples} samples: {exc} {advice}"
            ) from exc
        X_train, X_val, target_train, target_val = parts[:4]
        sw_train, sw_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                f"early_stopping=True with validation_fraction={self.validation_fraction} "
                f"holds out {X_val.shape[0]} of {n_samples} samples; at least 2 are "
                f"needed to score a validation set. {advice}"
            )
        if not sparse.issparse(X_train):
            X_train, X_val = np.ascontiguousarray(X_train), np.ascontiguousarray(X_val)
        return X_train, np.ascontiguousarray(target_train), sw_train, X_val, target_val, sw_val

    def _fit_stochastic(self, network, X, y, target, sample_weight, incremental, n_threads):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer(network)
        elif self._optimizer.dtype != network.dtype:
            # dtype changed between partial_fit calls: the moments restart.
            self._optimizer = self._make_optimizer(network)
        optimizer = self._optimizer

        if self.early_stopping:
            (X_train, target_train, sw_train, X_val, target_val,
             sw_val) = self._early_stopping_split(X, y, target, sample_weight)
        else:
            X_train, target_train, sw_train = X, target, sample_weight
        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. "
                    "It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        if sparse.issparse(X_train):
            def run_epoch(order):
                return python_epoch(network, optimizer, X_train, target_train, sw_train,
                                    order, batch_size, self.alpha, self._share(n_threads))
        else:
            compiled_epoch = CompiledEpoch(network, batch_size, n_samples)

            def run_epoch(order):
                return compiled_epoch(optimizer, X_train, target_train, sw_train, order,
                                      self.alpha, self._share(n_threads))

        # scikit-learn reshuffles the previous epoch's order; keeping that order
        # across partial_fit calls makes k partial_fit calls equal fit(max_iter=k).
        order = getattr(self, "_sample_order", None)
        if not incremental or order is None or order.shape[0] != n_samples:
            order = np.arange(n_samples)

        # As scikit-learn: n_iter_ counts the epochs of this call (1 after a
        # partial_fit); t_ and loss_curve_ accumulate across calls.
        self.n_iter_ = 0
        try:
            for _ in range(self.max_iter):
                if self.shuffle:
                    # scikit-learn's own shuffle, for the same batches from the
                    # same random_state.
                    order = sklearn_shuffle(order, random_state=self._random_state)
                    self._sample_order = order
                epoch_loss, epoch_correct = run_epoch(order)
                self.n_iter_ += 1
                self.loss_ = epoch_loss / n_samples
                self.t_ += n_samples
                if not np.isfinite(self.loss_) or not np.isfinite(network.params).all():
                    raise TrainingDivergedError(
                        f"Training diverged at epoch {self.n_iter_}: the loss is "
                        f"{self.loss_} and the weights are "
                        f"{'finite' if np.isfinite(network.params).all() else 'not finite'}. "
                        "Lower learning_rate_init, or scale X (e.g. StandardScaler)."
                    )
                self.loss_curve_.append(self.loss_)
                self.accuracy_curve_.append(epoch_correct / n_samples)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                if self.early_stopping:
                    self._update_early_stopping(network, X_val, target_val, sw_val,
                                                self._share(n_threads))
                else:
                    self._update_no_improvement()
                optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    if self.early_stopping:
                        msg = (
                            "Validation score did not improve more than tol=%f for %d "
                            "consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f for %d "
                            "consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    if optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                        "optimization hasn't converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")

        if self.early_stopping and hasattr(self, "_best_params"):
            network.params[...] = self._best_params

    def _update_no_improvement(self):
        if self.loss_curve_[-1] > self.best_loss_ - self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if self.loss_curve_[-1] < self.best_loss_:
            self.best_loss_ = self.loss_curve_[-1]

    def _update_early_stopping(self, network, X_val, target_val, sw_val, n_threads):
        logits = predict_logits(network.coefs, network.intercepts, self.activation, X_val,
                                network.ops, n_threads)
        if target_val.ndim == 1:
            correct = np.argmax(logits, axis=1) == target_val
        else:
            correct = np.all((logits > 0) == (target_val > 0.5), axis=1)
        score = float(np.average(correct, weights=sw_val))
        self.validation_scores_.append(score)
        if self.verbose:
            print("Validation score: %f" % score)
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_params = network.params.copy()

    def _share(self, n_threads):
        """Threads for the next epoch (or lbfgs evaluation): with the default
        n_threads=None, shared with the fits running at the same time in this
        process; an explicit n_threads is used as given."""
        return fair_share(n_threads) if self.n_threads is None else n_threads

    # -------------------------------------------------------------- lbfgs
    def _fit_lbfgs(self, network, X, target, sample_weight, n_threads):
        if sparse.issparse(X):
            network.reserve(X.shape[0])

            def full_batch(X, target, sample_weight, alpha, n_threads):
                return network.loss_and_gradient(X, target, sample_weight, alpha,
                                                 n_threads)[0]
        else:
            full_batch = CompiledLossGradient(network, X.shape[0])

        def loss_and_gradient(packed):
            network.params[...] = packed
            loss = full_batch(X, target, sample_weight, self.alpha, self._share(n_threads))
            return loss, network.grads.astype(np.float64)

        result = scipy.optimize.minimize(
            loss_and_gradient,
            network.params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
        )
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {result.nit} iteration(s) "
                f"(status={result.status}): {result.message}. Increase max_iter "
                "(or max_fun) or scale the data.",
                ConvergenceWarning,
            )
        self.n_iter_ = min(int(result.nit), self.max_iter)
        self.loss_ = float(result.fun)
        network.params[...] = result.x
        if not np.isfinite(self.loss_):
            raise TrainingDivergedError(
                f"lbfgs ended on a non-finite loss ({self.loss_}). The input data may "
                "contain large values and need to be preprocessed (e.g. StandardScaler)."
            )
        if self.verbose:
            print(f"lbfgs: {self.n_iter_} iterations, loss = {self.loss_:.8f}")

    # ------------------------------------------------------------ predict
    def _validated_logits(self, X):
        check_is_fitted(self, "coefs_")
        dtype = self.coefs_[0].dtype
        n_threads = effective_n_threads(self.n_threads)
        if self._is_plain_array(X):
            # inf/NaN are looked for inside the compiled pass; if there are
            # any, validate_data below raises scikit-learn's error.
            logits = predict_logits(self.coefs_, self.intercepts_, self.activation,
                                    X if X.dtype == dtype else X.astype(dtype),
                                    _compiled_ops, n_threads=n_threads, check_finite=True,
                                    share_threads=self.n_threads is None)
            if logits is not None:
                return _finite_outputs(logits)
        X = validate_data(self, X, accept_sparse="csr", dtype=dtype, order="C", reset=False)
        return _finite_outputs(predict_logits(self.coefs_, self.intercepts_, self.activation,
                                              X, _compiled_ops, n_threads=n_threads,
                                              share_threads=self.n_threads is None))

    def _is_plain_array(self, X):
        """True for the common case that needs none of validate_data's work
        but the finite check: a C-contiguous 2-D float ndarray with the
        fitted feature count, for a model fitted without feature names.
        Skipping validate_data there keeps one-sample predictions in
        microseconds; anything else goes through it, for scikit-learn's exact
        checks and error messages."""
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in _DTYPES
            and X.flags.c_contiguous
            and 0 < X.shape[0]
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
        )

    def predict(self, X):
        """Predict class labels (or label indicators, for multilabel) of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        logits = self._validated_logits(X)
        if self.out_activation_ == SOFTMAX:
            return self.classes_[np.argmax(logits, axis=1)]
        indicator = (logits > 0).astype(int)
        if self.n_outputs_ == 1:
            indicator = indicator.ravel()
        return self._label_binarizer.inverse_transform(indicator)

    def predict_proba(self, X):
        """Probability of each class, columns ordered as ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
        """
        # Probabilities in float64 whatever the model's dtype (as scikit-learn
        # gives for float64 X): rows sum to 1 to double precision and small
        # probabilities do not underflow to 0.
        logits = self._validated_logits(X).astype(np.float64)
        if self.out_activation_ == SOFTMAX:
            _compiled_ops.softmax(logits)
            return logits
        proba = expit(logits)
        if self.n_outputs_ == 1 and self._label_binarizer.y_type_ == "binary":
            return np.hstack([1 - proba, proba])
        return proba

    def predict_log_proba(self, X):
        """Log of ``predict_proba`` (``np.log`` of it, so the two always agree).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        return tags

    def __setstate__(self, state):
        super().__setstate__(state)
        # Pickle stores each view as its own array: put them back into one
        # flat buffer so coefs_/intercepts_ are views again.
        if "coefs_" in state:
            units = self._layer_units()
            network = Network(units, self.activation, self.out_activation_,
                              self.coefs_[0].dtype)
            network.load(self.coefs_, self.intercepts_)
            self.coefs_, self.intercepts_ = network.coefs, network.intercepts
