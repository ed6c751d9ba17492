"""Reverse-mode (and forward-mode) automatic differentiation on NumPy, written here.

``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacobian``, ``hessian`` and ``hvp`` mirror
JAX's names and take pytrees. ``jacobian`` is reverse mode (alias ``jacrev``); ``jacfwd`` gives
the same Jacobian by forward mode, all input directions in one batched pass: the cheaper of
the two when the outputs outnumber the inputs. Models are written with ``difflab.numpy``;
each primitive's derivative is one line of ``difflab.ad.rules``. ``trace(f, x)`` shows the tape.
``defvjp``, ``defjvp`` and ``defpartials`` give the rules of a primitive users declare with
``difflab.numpy.primitive``.

``jit(f)`` stages f once per input signature and replays it as straight-line NumPy code
(``jit(grad(f))``, or ``grad(f, jit=True)``); ``jit(f).source(x)`` shows that code.

``fast_accumulation(False)`` (a context manager) sends every cotangent through the rule
table; by default the backward pass adds slices and dense-layer weight gradients straight
into the parameters' cotangent (``difflab.ad.tracing.Cotangents``), with the same numbers
bit for bit. ``DIFFLAB_AD_FAST=0`` in the environment, read at import, turns the shortcuts
off everywhere (to run a test suite both ways).
"""

from .jit import Jitted, jit
from .staging import UnguardableError
from .api import (Tape, grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, trace, value_and_grad,
                  vjp)
from .rules import (ELEMENTWISE_NAMES, JVP_RULES, NONDIFFERENTIABLE, VJP_RULES, defjvp,
                    defpartials, defvjp)
from .tracing import (ConditionArray, Dual, MutationError, Tensor, TracerBoolError,
                      fast_accumulation, fast_accumulation_enabled)

__all__ = ["jit", "Jitted", "UnguardableError", "grad", "value_and_grad", "vjp", "jvp",
           "jacobian", "jacrev", "jacfwd", "hessian", "hvp", "trace", "Tape", "Tensor", "Dual", "ConditionArray", "TracerBoolError",
           "MutationError",
           "VJP_RULES", "JVP_RULES", "ELEMENTWISE_NAMES", "NONDIFFERENTIABLE", "defvjp", "defjvp",
           "defpartials", "fast_accumulation", "fast_accumulation_enabled"]
