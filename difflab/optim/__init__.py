"""Optimizers that talk to differentiators only through the shared interface.

``first_order``: SGD, momentum, Nesterov, Adagrad, RMSprop, Adam and Nadam in PyTorch's
conventions, gradient clipping and learning-rate schedules; ``training``: a seeded loop for
full-batch, mini-batch and stochastic training over the zoo's datasets; ``newton``: Newton's
method with the Hessian from any differentiator (line search or trust region), Newton-CG and
Gauss–Newton / Levenberg–Marquardt; ``convergence``: their stopping tests, trace and
``estimated_order``; ``trust_region``: the subproblem solvers.
"""

from .first_order import (OPTIMIZERS, SGD, Adagrad, Adam, Momentum, Nadam, Nesterov,
                          NonFiniteGradientError, Optimizer, OptimizerConfigError, RMSprop,
                          clip_by_global_norm, clip_by_value, constant, cosine_decay,
                          exponential_decay, global_norm, step_decay)
from .training import History, TrainingConfigError, train
from .convergence import (CONVERGED, STATUSES, Evaluations, Iterate, OptimizationError,
                          OptimizationResult, Order, Tolerances, estimated_order)
from .newton import gauss_newton, newton, newton_cg

__all__ = ["OPTIMIZERS", "SGD", "Adagrad", "Adam", "History", "Momentum", "Nadam", "Nesterov",
           "NonFiniteGradientError", "Optimizer", "OptimizerConfigError", "RMSprop",
           "TrainingConfigError", "clip_by_global_norm", "clip_by_value", "constant",
           "cosine_decay", "exponential_decay", "global_norm", "step_decay", "train",
           "CONVERGED", "STATUSES", "Evaluations", "Iterate", "OptimizationError",
           "OptimizationResult", "Order", "Tolerances", "estimated_order", "gauss_newton",
           "newton", "newton_cg"]
