"""Reverse-mode (and forward-mode) automatic differentiation on NumPy, written here.

``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacobian``, ``hessian`` and ``hvp`` mirror
JAX's names and take pytrees. Models are written with ``difflab.numpy``; each primitive's
derivative is one line of ``difflab.ad.rules``. ``trace(f, x)`` shows the tape.
``defvjp``, ``defjvp`` and ``defpartials`` give the rules of a primitive users declare with
``difflab.numpy.primitive``.
"""

from .api import Tape, grad, hessian, hvp, jacobian, jvp, trace, value_and_grad, vjp
from .rules import (ELEMENTWISE_NAMES, JVP_RULES, NONDIFFERENTIABLE, VJP_RULES, defjvp,
                    defpartials, defvjp)
from .tracing import ConditionArray, Dual, MutationError, Tensor, TracerBoolError

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "trace",
           "Tape", "Tensor", "Dual", "ConditionArray", "TracerBoolError", "MutationError",
           "VJP_RULES", "JVP_RULES", "ELEMENTWISE_NAMES", "NONDIFFERENTIABLE", "defvjp", "defjvp",
           "defpartials"]
