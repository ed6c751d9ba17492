"""Symbolic differentiation on SymPy: trace a dnp model, differentiate, share, compile.

``gradient(f, θ)``, ``jacobian``, ``hessian``, ``hvp`` build the compiled derivative on first
use (``derivative`` returns it, with its setup times per stage and its sizes) and only
evaluate afterwards. Modes ``"dag"`` (default: symbolic reverse mode over the expression DAG),
``"cse"`` and ``"tree"`` (SymPy ``diff``, with and without common-subexpression elimination;
``engine="symengine"`` runs ``diff`` and CSE in SymEngine's C++ core where it is installed,
``available_engines()`` says).
Budgets (``Budget``) stop a swelling stage with ``SwellLimitError``; ``swell`` measures sizes
and builds the logistic-map table.
"""

from ..errors import SwellLimitError
from .budget import DEFAULT, Budget
from .derivatives import (DEFAULT_MODE, MODES, QUANTITIES, Derivative, derivative, gradient,
                          hessian, hvp, jacobian)
from .engines import DEFAULT_ENGINE, ENGINES, available_engines
from .swell import Sizes, logistic_map_table, measure

__all__ = ["DEFAULT", "DEFAULT_ENGINE", "DEFAULT_MODE", "ENGINES", "MODES", "QUANTITIES",
           "Budget", "Derivative", "Sizes", "SwellLimitError", "available_engines", "derivative",
           "gradient", "hessian", "hvp", "jacobian", "logistic_map_table", "measure"]
