"""The compiled kernels gathered under the names of ``fastmlp._numpy_ops``."""

from fastmlp_ext._parallel import openmp_enabled, openmp_max_threads, openmp_num_procs
from fastmlp_ext.activations import activation_backward, bias_activation_forward
from fastmlp_ext.dense import dense_backward, dense_forward, sum_rows
from fastmlp_ext.loss import sigmoid_binary_cross_entropy, softmax, softmax_cross_entropy
from fastmlp_ext.optimizers import adam_step, l2_penalty, sgd_step

__all__ = [
    "activation_backward",
    "adam_step",
    "bias_activation_forward",
    "dense_backward",
    "dense_forward",
    "l2_penalty",
    "openmp_enabled",
    "openmp_max_threads",
    "openmp_num_procs",
    "sgd_step",
    "sigmoid_binary_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
    "sum_rows",
]
