"""The model zoo: seeded networks and test functions with a flat-vector objective.

``get(name, **overrides)`` builds one (a ``Problem``), ``list_models()`` lists them. See
``zoo`` for the models, ``networks`` for the forward passes and losses, ``functions`` for
Rosenbrock and the logistic map, ``datasets`` for the synthetic data.
"""

from ..objectives import BatchMean
from .zoo import MODELS, ModelConfigError, ModelInfo, Problem, get, list_models

__all__ = ["BatchMean", "MODELS", "ModelConfigError", "ModelInfo", "Problem", "get", "list_models"]
