"""Pytrees: nested lists, tuples and dicts of arrays and scalars, and their flat vectors.

``ravel(tree) -> (theta, unravel)`` is the common currency of the differentiators
(DESIGN.md §2): they work on one flat vector and hand results back in the tree's shape.
Dict keys are visited in sorted order (insertion order if the keys cannot be sorted), so
two dicts with the same items give the same vector.
"""

import builtins
import numbers
from dataclasses import dataclass, field

import numpy as np

from . import numpy as dnp
from .errors import DiffLabError


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree with its leaves taken out."""

    kind: str                 # "leaf", "list", "tuple", "namedtuple", "dict", "none"
    children: tuple = ()
    meta: object = None       # dict keys, or the namedtuple class
    num_leaves: int = field(init=False, compare=False)

    def __post_init__(self):
        count = 1 if self.kind == "leaf" else builtins.sum(c.num_leaves for c in self.children)
        object.__setattr__(self, "num_leaves", count)


_LEAF = TreeDef("leaf")
_NONE = TreeDef("none")


def _dict_keys(d):
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(d)


def tree_flatten(tree):
    """Split a pytree into its list of leaves and its structure."""
    if isinstance(tree, np.ndarray):
        return [tree], _LEAF
    leaves = []

    def walk(node):
        if node is None:
            return _NONE
        if isinstance(node, dict):
            keys = _dict_keys(node)
            return TreeDef("dict", tuple(walk(node[k]) for k in keys), keys)
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            return TreeDef("namedtuple", tuple(walk(c) for c in node), type(node))
        if isinstance(node, (list, tuple)):
            return TreeDef(type(node).__name__, tuple(walk(c) for c in node))
        leaves.append(node)
        return _LEAF

    return leaves, walk(tree)


def tree_unflatten(treedef, leaves):
    """Rebuild a pytree of structure ``treedef`` from its leaves (the inverse of tree_flatten)."""
    if treedef.kind == "leaf" and len(leaves) == 1:
        return leaves[0]
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise DiffLabError(
            f"tree_unflatten: the structure has {treedef.num_leaves} leaves "
            f"but {len(leaves)} were given")
    it = iter(leaves)

    def build(td):
        if td.kind == "leaf":
            return next(it)
        if td.kind == "none":
            return None
        children = [build(c) for c in td.children]
        if td.kind == "dict":
            return dict(zip(td.meta, children))
        if td.kind == "namedtuple":
            return td.meta(*children)
        return tuple(children) if td.kind == "tuple" else children

    return build(treedef)


def tree_leaves(tree):
    return tree_flatten(tree)[0]


def tree_paths(tree):
    """The name of each leaf, in tree_flatten's order: ``W1``, ``layers[0].b``, ``[2]``.

    Dict keys and namedtuple fields are joined with dots, sequence positions are written
    ``[i]``; a tree that is one leaf is named ``params``.
    """
    def walk(td, prefix):
        if td.kind == "leaf":
            return [prefix or "params"]
        if td.kind == "none":
            return []
        if td.kind == "dict":
            labels = [f"{prefix}.{k}" if prefix else str(k) for k in td.meta]
        elif td.kind == "namedtuple":
            labels = [f"{prefix}.{k}" if prefix else k for k in td.meta._fields]
        else:
            labels = [f"{prefix}[{i}]" for i in range(len(td.children))]
        return [path for child, label in zip(td.children, labels) for path in walk(child, label)]

    return walk(tree_flatten(tree)[1], "")


def tree_map(fn, tree, *rest):
    """Apply ``fn`` leaf by leaf to one or more pytrees of the same structure."""
    leaves, treedef = tree_flatten(tree)
    others = []
    for other in rest:
        other_leaves, other_def = tree_flatten(other)
        if other_def != treedef:
            raise DiffLabError("tree_map: the pytrees have different structures")
        others.append(other_leaves)
    return tree_unflatten(treedef, [fn(*xs) for xs in zip(leaves, *others)])


@dataclass(frozen=True)
class _LeafSpec:
    shape: tuple
    dtype: np.dtype
    python_type: type | None   # float/int/complex for Python scalars, None for arrays


def _leaf_spec(leaf):
    if isinstance(leaf, numbers.Number) and not isinstance(leaf, np.generic):
        if isinstance(leaf, bool) or not isinstance(leaf, (int, float, complex)):
            raise DiffLabError(f"ravel: cannot put a leaf of type {type(leaf).__name__} "
                               "in a flat vector; use arrays or Python numbers")
        return _LeafSpec((), np.asarray(leaf).dtype, type(leaf))
    array = np.asarray(leaf)
    if array.dtype.kind not in "iufc":
        raise DiffLabError(
            f"ravel: leaf of type {type(leaf).__name__} with dtype {array.dtype} is not a "
            "numeric array; ravel takes float, int or complex arrays and Python numbers")
    return _LeafSpec(array.shape, array.dtype, None)


def ravel(tree):
    """Flatten a pytree of arrays and scalars into one vector.

    Returns ``(theta, unravel)``: ``theta`` has the common dtype of the leaves (float64 for
    int leaves); ``unravel(theta)`` rebuilds the tree. Given a float vector it casts each
    leaf back to its own dtype (the round trip is exact); given a complex vector for real
    leaves (a complex step) or a vector of another number system (an AD tensor, SymPy or
    mpmath objects) it only slices and reshapes, so a model can be written as a function of
    the flat vector under every number system.
    """
    leaves, treedef = tree_flatten(tree)
    specs = [_leaf_spec(leaf) for leaf in leaves]
    dtype = np.result_type(*[s.dtype for s in specs]) if specs else np.dtype(np.float64)
    if dtype.kind in "iub":
        dtype = np.dtype(np.float64)
    parts = [np.asarray(leaf, dtype=dtype).reshape(-1) for leaf in leaves]
    theta = np.concatenate(parts) if parts else np.zeros(0, dtype)
    sizes = [int(np.prod(s.shape)) for s in specs]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(offsets[-1])

    def unravel(vector):
        shape = getattr(vector, "shape", None)
        if shape != (n,):
            raise DiffLabError(
                f"unravel: expected a flat vector of shape ({n},), got "
                f"{'a ' + type(vector).__name__ if shape is None else 'shape ' + str(shape)}")
        numeric = isinstance(vector, np.ndarray) and vector.dtype.kind in "iufc"
        rebuilt = []
        for spec, start, stop in zip(specs, offsets[:-1], offsets[1:]):
            piece = vector if (start, stop) == (0, n) else vector[start:stop]
            # a complex vector around real leaves is a complex step: keep the imaginary part
            keeps_dtype = numeric and (vector.dtype.kind != "c" or spec.dtype.kind == "c")
            if keeps_dtype:
                piece = piece.astype(spec.dtype, copy=True).reshape(spec.shape)
                if spec.python_type is not None:
                    piece = spec.python_type(piece[()])
            elif numeric:
                piece = piece.copy().reshape(spec.shape)
                piece = piece[()] if spec.shape == () else piece
            elif spec.shape == ():
                piece = piece[0]
            elif len(spec.shape) != 1:
                piece = dnp.reshape(piece, spec.shape)
            rebuilt.append(piece)
        return tree_unflatten(treedef, rebuilt)

    return theta, unravel
