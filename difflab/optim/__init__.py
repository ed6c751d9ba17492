"""Optimizers that talk to differentiators only through the shared interface.

``first_order``: SGD, momentum, Nesterov, Adagrad, RMSprop, Adam and Nadam in PyTorch's
conventions, gradient clipping and learning-rate schedules; ``training``: a seeded loop for
full-batch, mini-batch and stochastic training over the zoo's datasets.
"""

from .first_order import (OPTIMIZERS, SGD, Adagrad, Adam, Momentum, Nadam, Nesterov,
                          NonFiniteGradientError, Optimizer, OptimizerConfigError, RMSprop,
                          clip_by_global_norm, clip_by_value, constant, cosine_decay,
                          exponential_decay, global_norm, step_decay)
from .training import History, TrainingConfigError, train

__all__ = ["OPTIMIZERS", "SGD", "Adagrad", "Adam", "History", "Momentum", "Nadam", "Nesterov",
           "NonFiniteGradientError", "Optimizer", "OptimizerConfigError", "RMSprop",
           "TrainingConfigError", "clip_by_global_norm", "clip_by_value", "constant",
           "cosine_decay", "exponential_decay", "global_norm", "step_decay", "train"]
