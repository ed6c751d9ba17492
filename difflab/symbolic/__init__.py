"""Symbolic differentiation on SymPy: trace a dnp model, differentiate, share, compile.

``derivative(f, θ, quantity)`` builds the compiled derivative (with its setup times per stage
and its sizes) and returns it to be called at θ; ``gradient(f, θ)``, ``jacobian``,
``hessian``, ``hvp`` build and evaluate once. Modes ``"dag"`` (default: symbolic reverse mode over the expression DAG),
``"cse"`` and ``"tree"`` (SymPy ``diff``, with and without common-subexpression elimination;
``engine="symengine"`` runs ``diff`` and CSE in SymEngine's C++ core where it is installed,
``available_engines()`` says).
Budgets (``Budget``; ``budget=None`` for none) stop a swelling stage with ``SwellLimitError``,
in any thread and without touching the process's signals; ``swell`` measures sizes, ``logistic``
builds the logistic-map table. A Python branch on a traced value is refused (``BranchError``), when
tracing (``bool()``, ``float()``) or when the compiled program's value at θ is not f(θ).
"""

from ..errors import SwellLimitError
from .budget import DEFAULT, UNLIMITED, Budget
from .derivatives import (DEFAULT_MODE, MODES, QUANTITIES, Derivative, derivative, gradient,
                          hessian, hvp, jacobian)
from .engines import DEFAULT_ENGINE, ENGINES, available_engines
from .logistic import logistic_map_table
from .swell import Sizes, measure

__all__ = ["DEFAULT", "DEFAULT_ENGINE", "DEFAULT_MODE", "ENGINES", "MODES", "QUANTITIES",
           "UNLIMITED", "Budget", "Derivative", "Sizes", "SwellLimitError", "available_engines", "derivative",
           "gradient", "hessian", "hvp", "jacobian", "logistic_map_table", "measure"]
