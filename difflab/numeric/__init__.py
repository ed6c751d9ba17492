"""Numeric differentiation: finite-difference stencils of any order, Richardson extrapolation,
the complex step, second derivatives and step diagnostics, each with an error estimate and an
exact evaluation count.

``gradient(f, theta, scheme="central", order=2)``, ``jacobian``, ``hessian``, ``hvp`` return a
``NumericResult``; ``stencil(m, p, scheme)`` gives exact weights; ``steps`` holds the one step
rule; ``v_curve`` measures error against step.
"""

from .diagnostics import VCurve, v_curve
from .differences import SCHEMES, NumericResult, check_analytic, gradient, jacobian
from .second import hessian, hvp
from .stencils import Stencil, fornberg, stencil
from .steps import complex_step, optimal_constant, step

__all__ = ["SCHEMES", "NumericResult", "Stencil", "VCurve", "check_analytic", "complex_step",
           "fornberg",
           "gradient", "hessian", "hvp", "jacobian", "optimal_constant", "step", "stencil",
           "v_curve"]
