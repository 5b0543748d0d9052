"""Stochastic optimizers of the training engine: state on flat buffers, one
fused kernel call per step, and scikit-learn's learning-rate schedules."""

import numpy as np


class Adam:
    """Adam with bias correction (Kingma & Ba), as scikit-learn's AdamOptimizer.

    Parameters
    ----------
    n_params : int
    dtype : numpy dtype
    learning_rate_init, beta_1, beta_2, epsilon : float
    """

    def __init__(self, n_params, dtype, learning_rate_init=1e-3, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.dtype = np.dtype(dtype)
        self.first_moment = np.zeros(n_params, dtype=dtype)
        self.second_moment = np.zeros(n_params, dtype=dtype)

    def step_size(self, t):
        """The bias-corrected learning rate of step ``t``."""
        return self.learning_rate_init * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def step(self, params, grads, ops, n_threads=1):
        self.t += 1
        self.learning_rate = self.step_size(self.t)
        ops.adam_step(params, grads, self.first_moment, self.second_moment,
                      self.learning_rate, self.beta_1, self.beta_2, self.epsilon,
                      n_threads)

    def iteration_ends(self, time_step):
        """Adam has no per-epoch schedule."""

    def trigger_stopping(self, msg, verbose):
        if verbose:
            print(msg + " Stopping.")
        return True


class SGD:
    """SGD with (Nesterov) momentum and scikit-learn's schedules.

    learning_rate : {'constant', 'invscaling', 'adaptive'}
        'invscaling': ``lr = learning_rate_init / (t + 1) ** power_t`` at
        each epoch's end (t = samples seen); 'adaptive': divide by 5 each time
        the stopping criterion fires, stop below 1e-6.
    """

    def __init__(self, n_params, dtype, learning_rate_init=0.1, lr_schedule="constant",
                 momentum=0.9, nesterov=False, power_t=0.5):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.dtype = np.dtype(dtype)
        self.velocity = np.zeros(n_params, dtype=dtype)

    def step(self, params, grads, ops, n_threads=1):
        ops.sgd_step(params, grads, self.velocity, self.learning_rate, self.momentum,
                     self.nesterov, n_threads)

    def iteration_ends(self, time_step):
        if self.lr_schedule == "invscaling":
            self.learning_rate = (
                float(self.learning_rate_init) / (time_step + 1) ** self.power_t
            )

    def trigger_stopping(self, msg, verbose):
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False
