"""difflab: symbolic, numeric and automatic differentiation compared on the same models."""

from importlib.metadata import PackageNotFoundError, version as _version

from . import numpy
from .interface import differentiator, differentiators
# Each backend registers its methods with the interface from its adapter module, in the order
# tables list them.
from .ad import adapter as _ad_adapter  # noqa: F401,E402
from .numeric import adapter as _numeric_adapter  # noqa: F401,E402
from .symbolic import adapter as _symbolic_adapter  # noqa: F401,E402
from . import reference  # noqa: F401,E402
from .errors import DiffLabError
from .gradcheck import gradcheck
from .pytree import ravel, tree_flatten, tree_leaves, tree_map, tree_paths, tree_unflatten

try:
    __version__ = _version("difflab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["DiffLabError", "differentiator", "differentiators", "gradcheck", "numpy", "ravel",
           "tree_flatten", "tree_leaves", "tree_map", "tree_paths", "tree_unflatten",
           "__version__"]
