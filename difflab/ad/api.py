"""The AD engine's public functions, named as in JAX: functions in, functions out, pytrees."""

import math
import weakref
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .. import numpy as dnp
from ..errors import DiffLabError, NonFiniteValueError, OutputError, ShapeError
from ..outputs import refuse_non_array
from ..pytree import ravel, tree_flatten, tree_map, tree_unflatten
from .rules import _primal
from . import staging
from .jit import jit as staged_jit         # (jit.py does not import this module)
from .staging import Staged
from .tracing import Dual, Tensor, Trace, backward, new_input

# How many directions one batched pass of ``hessian`` may carry, in numbers held per value of
# the tape: k directions turn each saved array of size s into one of size k·s.
HESSIAN_BLOCK_BUDGET = 2 ** 22
# Directions whose batched values total fewer numbers than this share one pass.
HESSIAN_MERGE_BUDGET = 2 ** 16


def _float_leaf(x, name):
    """Check a differentiable input: a float array or scalar (or a value of an outer level)."""
    if isinstance(x, (Tensor, Dual)):
        return x
    array = x.value if type(x) is Staged else np.asarray(x)
    if array.dtype.kind == "f":
        return x if type(x) is Staged else array
    kind = {"i": "an integer", "u": "an unsigned integer", "b": "a boolean", "c": "a complex"}.get(
        array.dtype.kind, str(array.dtype))
    raise DiffLabError(
        f"{name}: cannot differentiate with respect to {kind} input (dtype {array.dtype}, "
        f"shape {array.shape}); pass float values, e.g. np.asarray(x, dtype=float)")


def _argnums(argnums, nargs, name):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums) if isinstance(argnums, (tuple, list)) \
        else None
    if nums is None or not all(isinstance(i, int) and not isinstance(i, bool) for i in nums):
        raise DiffLabError(f"{name}: argnums must be an int or a tuple of ints, got "
                           f"{argnums!r}")
    for i in nums:
        if not -nargs <= i < nargs:
            raise DiffLabError(f"{name}: argnums={argnums} but the function was called with "
                               f"{nargs} positional arguments")
    return single, tuple(i % nargs for i in nums)


def _value(x, trace):
    """Strip this trace's tensor off a result (other levels' values stay as they are)."""
    return x.value if isinstance(x, (Tensor, Dual)) and x.trace is trace else x


def _record(f, args, kwargs, nums, name, trace, has_aux=False):
    """Run f with the chosen arguments put on ``trace``'s tape; return (inputs, output, aux)."""
    args = list(args)
    inputs = []
    for i in nums:
        leaves, treedef = tree_flatten(args[i])
        boxed = [new_input(_float_leaf(leaf, name), trace) for leaf in leaves]
        inputs.append((boxed, treedef))
        args[i] = tree_unflatten(treedef, boxed)
    with trace:
        out = f(*args, **kwargs)
    out, aux = _checked_output(out, name, has_aux)
    return inputs, out, aux


# The one check of what f returned, for every entry point: a derivative of nothing, of a
# tuple or of a string would otherwise come out as zeros (no dependence on θ was recorded).

_HAS_AUX = ("grad, value_and_grad and vjp take has_aux=True for a pair (output, aux) and "
            "differentiate the first")


def _checked_output(out, name, has_aux):
    """(output, aux) after refusing what cannot be differentiated (``OutputError``) and a
    non-finite value (``NonFiniteValueError``); a plain number that does not depend on the
    input is a constant function, with derivative zero."""
    if has_aux:
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise OutputError(f"{name}: has_aux=True needs f to return a pair (output, aux), "
                              f"it returned {_described(out)}")
        out, aux = out
    else:
        aux = None
        refuse_non_array(out, name, f". If the other items are auxiliary outputs, {_HAS_AUX}")
    _checked_leaf(out, name)
    return out, aux


def _checked_leaf(x, name):
    """One array of f's output: numeric and finite, or a named error."""
    refuse_non_array(x, name)
    value = _primal(x)
    if getattr(value, "dtype", None) is not None and value.dtype.kind == "f":
        # the common case, a float array (or a staged one, under jit), in short
        if not staging.all_finite(value):
            raise _non_finite_output(value, name)
        return
    kind = np.asarray(value).dtype.kind if isinstance(value, (np.ndarray, np.generic, int,
                                                               float, complex)) else None
    if isinstance(value, bool) or kind == "b":
        raise OutputError(f"{name}: f returned a boolean {_described(value)} (a comparison?); "
                          "return a number computed with dnp functions")
    if kind == "O":
        raise OutputError(f"{name}: f returned an object array of shape {np.shape(value)} "
                          "(np.array of traced values?); build arrays from traced values with "
                          "dnp.stack or dnp.concatenate")
    if kind not in tuple("fiuc"):
        raise OutputError(f"{name}: f returned {_described(value)}, not a number or array; "
                          "return the value to differentiate, computed with dnp functions")
    if not np.all(np.isfinite(value)):
        raise _non_finite_output(value, name)


def _non_finite_output(value, name):
    return NonFiniteValueError(
        f"{name}: f returned a non-finite value ({_non_finite(value)}); the derivative of "
        "a NaN or infinite value means nothing. Check f's domain at this point (log or "
        "sqrt of a negative number, a division by zero, an overflow).")


def _described(x):
    if isinstance(x, (Tensor, Dual)):
        return f"one traced value of shape {x.shape}"
    if isinstance(x, (tuple, list, dict)):
        return f"a {type(x).__name__} of {len(x)} items"
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return f"a {type(x).__name__}"


def _non_finite(value):
    """Which entries of an array are NaN or infinite, for a message."""
    array = np.asarray(staging.real(value))     # a staged value's real one, for the text
    if array.ndim == 0:
        return str(array[()])
    bad = np.argwhere(~np.isfinite(array))
    first = tuple(int(i) for i in bad[0])
    return (f"{array[first]} at index {first[0] if len(first) == 1 else first}, "
            f"{len(bad)} of {array.size} entries")


def _checked_derivative(result, name, what):
    """A derivative with a NaN or infinite entry is refused, naming the leaf and the entry."""
    # one flat float array (or a list of them: the gradient of a vector θ) needs no flattening
    leaves = result if type(result) in (list, tuple) and all(
        type(leaf) is np.ndarray for leaf in result) else tree_flatten(result)[0]
    for number, leaf in enumerate(leaves):
        value = _primal(leaf)
        if not staging.all_finite(value):
            where = f" of leaf {number}" if len(leaves) > 1 else ""
            raise NonFiniteValueError(
                f"{name}: f is finite but its {what} is not ({_non_finite(value)}{where}): a "
                "derivative rule met a point where the derivative is infinite or undefined "
                "(sqrt or x**p with p < 1 at 0, log at 0, a where() whose unused branch is "
                "NaN). Move θ off that point or rewrite f there (e.g. dnp.sqrt(x + eps)).")
    return result


def _cotangents_of(inputs, cotangents, batch_shape=()):
    """Rebuild the input pytrees from the cotangents of their leaves (zeros where none)."""
    trees = []
    for boxed, treedef in inputs:
        leaves = []
        for tensor in boxed:
            c = cotangents[tensor.index]
            if c is None:
                c = dnp.zeros_like(dnp.broadcast_to(tensor.value, batch_shape + tensor.shape)) \
                    if batch_shape else dnp.zeros_like(tensor.value)
            leaves.append(c)
        trees.append(tree_unflatten(treedef, leaves))
    return trees


def value_and_grad(f, argnums=0, has_aux=False, jit=False):
    """f ↦ (x ↦ (f(x), ∇f(x))), for scalar-valued f; ∇f has the pytree shape of x.
    ``jit=True``: staged once per signature and replayed as NumPy code (``difflab.ad.jit``)."""
    return _jitted(_value_and_grad(f, argnums, has_aux, "grad"), jit)


def _jitted(function, jit):
    """``function``, or its jit-compiled form when ``jit`` is True."""
    if jit is False:
        return function
    if jit is not True:
        raise DiffLabError(f"jit must be True or False, got {jit!r}")
    return staged_jit(function)


def _value_and_grad(f, argnums, has_aux, name):
    """value_and_grad, its errors naming the entry point the user called."""
    def value_and_grad_f(*args, **kwargs):
        single, nums = _argnums(argnums, len(args), name)
        trace = Trace()
        inputs, out, aux = _record(f, args, kwargs, nums, name, trace, has_aux)
        aux = tree_map(lambda v: _value(v, trace), aux) if has_aux else None
        shape = dnp.shape_of(out)
        if shape != ():
            raise ShapeError(f"{name}: f must return a scalar, but it returned shape {shape}; "
                             "use difflab.ad.jacobian or difflab.ad.vjp for vector outputs")
        cotangents = [None] * len(trace.tape)
        if isinstance(out, Tensor) and out.trace is trace:
            dtype = _primal_dtype(out)
            seed = np.ones((), dtype=dtype if dtype.kind == "f" else np.float64)
            cotangents = backward(trace, out, seed)
        grads = _checked_derivative(_cotangents_of(inputs, cotangents), name, "gradient")
        result = (_value(out, trace), grads[0] if single else tuple(grads))
        return (result, aux) if has_aux else result
    return value_and_grad_f


def _primal_dtype(x):
    return np.result_type(_primal(x))


def grad(f, argnums=0, has_aux=False, jit=False):
    """f ↦ ∇f for scalar-valued f (reverse mode); ``has_aux`` returns (∇f, aux);
    ``jit=True`` stages it once per signature and replays NumPy code (``difflab.ad.jit``)."""
    both = value_and_grad(f, argnums=argnums, has_aux=has_aux)

    def grad_f(*args, **kwargs):
        if has_aux:
            (_, g), aux = both(*args, **kwargs)
            return g, aux
        return both(*args, **kwargs)[1]
    return _jitted(grad_f, jit)


def vjp(f, *primals, has_aux=False):
    """(f(x), u ↦ uᵀ ∂f(x)): the value and its vector-Jacobian product function (reverse mode)."""
    trace = Trace()
    inputs, out, aux = _record(f, primals, {}, range(len(primals)), "vjp", trace, has_aux)
    aux = tree_map(lambda v: _value(v, trace), aux) if has_aux else None
    out_shape = dnp.shape_of(out)

    def vjp_fn(cotangent):
        if dnp.shape_of(cotangent) != out_shape:
            raise ShapeError(f"vjp: the cotangent has shape {dnp.shape_of(cotangent)} but the "
                             f"output has shape {out_shape}")
        cotangents = [None] * len(trace.tape)
        if isinstance(out, Tensor) and out.trace is trace:
            cotangents = backward(trace, out, cotangent)
        return _checked_derivative(tuple(_cotangents_of(inputs, cotangents)), "vjp",
                                   "vector-Jacobian product")

    value = _value(out, trace)
    return (value, vjp_fn, aux) if has_aux else (value, vjp_fn)


def jvp(f, primals, tangents):
    """(f(x), ∂f(x)·v): the value and the Jacobian-vector product (forward mode, one pass)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise DiffLabError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    values, out_tangents = _forward(f, primals, tangents, batch_ndim=0,
                                    zeros_for_constants=True)
    return values, _checked_derivative(out_tangents, "jvp", "Jacobian-vector product")


def _forward(f, primals, tangents, batch_ndim, zeros_for_constants=False, name="jvp"):
    """(f(x), tangent of f(x)) with the tangents given; an output leaf that does not depend
    on x has tangent None (a structural zero), or zeros with ``zeros_for_constants``.
    Errors name the entry point ``name``."""
    trace = Trace(forward=True, batch_ndim=batch_ndim)
    duals = []
    for primal, tangent in zip(primals, tangents):
        p_leaves, treedef = tree_flatten(primal)
        t_leaves, t_def = tree_flatten(tangent)
        if t_def != treedef:
            raise DiffLabError(f"{name}: the tangents do not have the structure of the "
                               "primals")
        leaves = []
        for p, t in zip(p_leaves, t_leaves):
            p = _float_leaf(p, name)
            want = dnp.shape_of(t)[:batch_ndim] + dnp.shape_of(p)
            if dnp.shape_of(t) != want:
                raise ShapeError(f"{name}: a tangent has shape {dnp.shape_of(t)} but its "
                                 f"primal has shape {dnp.shape_of(p)}")
            leaves.append(Dual(p, t, trace))
        duals.append(tree_unflatten(treedef, leaves))
    with trace:
        out = f(*duals)
    for leaf in [None] if out is None else tree_flatten(out)[0]:   # any pytree, as jax.jvp
        _checked_leaf(leaf, name)

    def split(x):
        if isinstance(x, Dual) and x.trace is trace:
            return x.value, x.tangent
        return x, (dnp.zeros_like(x) if zeros_for_constants else None)

    values = tree_map(lambda x: split(x)[0], out)
    out_tangents = tree_map(lambda x: split(x)[1], out)
    return values, out_tangents


def hvp(f, x, v, jit=False):
    """H(x)·v by forward-over-reverse (Pearlmutter): exact, about the cost of a few gradients.

    ``jit=True`` replays a program staged once per f and signature; the programs live as long
    as f does (a weak reference to f holds them, not its id)."""
    if jit:
        return _jitted_hvp(f, jit)(x, v)
    gradient = _value_and_grad(f, 0, False, "hvp")
    _, tangent = _forward(lambda t: gradient(t)[1], (x,), (v,), batch_ndim=0,
                          zeros_for_constants=True)
    return _checked_derivative(tangent, "hvp", "Hessian-vector product")


_HVP_PROGRAMS = weakref.WeakKeyDictionary()     # f → its jit-compiled hvp, while f lives


def _jitted_hvp(f, jit):
    try:
        compiled = _HVP_PROGRAMS.get(f)
    except TypeError:
        compiled = None
    if compiled is None:
        compiled = _jitted(lambda x, v: hvp(f, x, v), jit)
        try:
            _HVP_PROGRAMS[f] = compiled
        except TypeError:
            raise DiffLabError(f"hvp(jit=True): f ({type(f).__name__}) cannot be weakly "
                               "referenced, so its programs would have no owner; hold "
                               "ad.jit(lambda x, v: ad.hvp(f, x, v)) yourself") from None
    return compiled


def jacobian(f, argnums=0, jit=False):
    """f ↦ ∂f, reverse mode, every output seeded at once along a leading batch axis
    (``jacrev``; ``jacfwd`` is the forward-mode twin).

    For an array input the result has shape ``out.shape + x.shape`` (as jax.jacrev): for
    F: ℝ³ → ℝ^(2×3), shape (2, 3, 3); a scalar output gives x.shape, a scalar input
    out.shape. For a pytree input, a pytree of such arrays. The shared interface
    (``difflab.differentiator("ad").jacobian``) reshapes it to the (m, n) = (6, 3) matrix
    every method returns.
    """
    def jacobian_f(*args, **kwargs):
        single, nums = _argnums(argnums, len(args), "jacobian")
        trace = Trace()
        inputs, out, _ = _record(f, args, kwargs, nums, "jacobian", trace)
        out_shape = dnp.shape_of(out)
        m = int(np.prod(out_shape))
        cotangents = [None] * len(trace.tape)
        if isinstance(out, Tensor) and out.trace is trace:
            seed = np.eye(m, dtype=_primal_dtype(out)).reshape((m,) + out_shape)
            cotangents = backward(trace, out, seed, batch_ndim=1)
        trees = _cotangents_of(inputs, cotangents, batch_shape=(m,))
        trees = [tree_map(lambda J: dnp.reshape(J, out_shape + dnp.shape_of(J)[1:]), t)
                 for t in trees]
        return _checked_derivative(trees[0] if single else tuple(trees), "jacobian",
                                   "Jacobian")
    return _jitted(jacobian_f, jit)


jacrev = jacobian


def jacfwd(f, argnums=0):
    """f ↦ ∂f, forward mode: all n unit tangents pushed at once along a leading batch axis.

    One batched JVP of the n input directions (n the total size of the differentiated
    inputs), where ``jacobian`` makes one batched VJP of the m output directions: each
    carries a batch of its own width through every primitive, so forward mode is the
    cheaper for tall Jacobians (m ≫ n), reverse mode for wide ones (Griewank & Walther,
    *Evaluating Derivatives*, §3). Shapes, pytrees, argnums and errors are ``jacobian``'s:
    ``out.shape + x.shape`` for an array input, a pytree of such arrays for a pytree.
    """
    def jacfwd_f(*args, **kwargs):
        single, nums = _argnums(argnums, len(args), "jacfwd")
        chosen = [tree_flatten(args[i]) for i in nums]
        leaves = [_float_leaf(leaf, "jacfwd") for tree, _ in chosen for leaf in tree]
        shapes = [dnp.shape_of(leaf) for leaf in leaves]
        ends = [0]
        for shape in shapes:
            ends.append(ends[-1] + math.prod(shape))
        n = ends[-1]
        basis = [np.eye(n, dtype=_primal_dtype(leaf))[:, start:stop].reshape((n,) + shape)
                 for leaf, shape, start, stop in zip(leaves, shapes, ends[:-1], ends[1:])]

        def f_of_chosen(*values):
            full = list(args)
            for i, value in zip(nums, values):
                full[i] = value
            return _checked_output(f(*full, **kwargs), "jacfwd", False)[0]

        out, tangent = _forward(f_of_chosen, [args[i] for i in nums],
                                _regrouped(chosen, basis), batch_ndim=1, name="jacfwd")
        out_shape = dnp.shape_of(out)
        columns = None if tangent is None else dnp.moveaxis(tangent, 0, -1)
        blocks = []
        for leaf, shape, start, stop in zip(leaves, shapes, ends[:-1], ends[1:]):
            if columns is None:
                blocks.append(np.zeros(out_shape + shape, dtype=_primal_dtype(leaf)))
            else:
                block = columns if len(leaves) == 1 else columns[..., start:stop]
                blocks.append(dnp.reshape(block, out_shape + shape))
        trees = _regrouped(chosen, blocks)
        return _checked_derivative(trees[0] if single else tuple(trees), "jacfwd",
                                   "Jacobian")
    return jacfwd_f


def _regrouped(chosen, leaves):
    """Flat per-leaf arrays put back into the input trees they came from (``chosen``: each
    tree's (leaves, treedef))."""
    trees, at = [], 0
    for tree, treedef in chosen:
        trees.append(tree_unflatten(treedef, leaves[at:at + len(tree)]))
        at += len(tree)
    return trees


def hessian(f, argnums=0, jit=False):
    """f ↦ ∇²f by forward-over-reverse, vectorized over blocks of directions.

    Each block seeds a batch of unit tangents at once (one forward-over-reverse pass per
    block, not per direction). Blocks follow the parameter leaves, so a block's tangent is a
    structural zero in every leaf but its own and the layers before it are skipped.
    For an array input the result has shape ``x.shape + x.shape``; for a pytree input it is
    the (n, n) matrix over ``difflab.ravel``'s flat order.

    The blocks are planned from one trace of f, on the first call; later calls reuse the plan
    and check it against the tape of their first pass (any blocks give the exact Hessian, so
    a plan that no longer fits f costs speed on one call, then is made again).
    """
    plan = {}

    def hessian_f(*args, **kwargs):
        _, (num,) = _argnums(argnums, len(args), "hessian")
        x = args[num]
        leaves = tree_flatten(x)[0]
        for leaf in leaves:
            _float_leaf(leaf, "hessian")
        theta, unravel = _raveled(x)

        def flat_f(t):
            return f(*args[:num], unravel(t), *args[num + 1:], **kwargs)

        n = theta.size
        sizes = tuple(int(np.size(leaf)) for leaf in leaves)
        if plan.get("sizes") != sizes:
            plan.update(sizes=sizes, tape=_tape_layout(_traced_tape(flat_f, (theta,), {},
                                                                    "hessian")))
        blocks = _direction_blocks(sizes, plan["tape"])
        seen = []                     # the layout of the first pass's tape, to check the plan
        rows_of_blocks = []
        for number, (start, stop) in enumerate(blocks):
            seeds = np.zeros((stop - start, n), dtype=theta.dtype)
            seeds[np.arange(stop - start), np.arange(start, stop)] = 1
            gradient = _tail_gradient(flat_f, start, seen if number == 0 else None)
            _, rows = _forward(gradient, (theta,), (seeds,), batch_ndim=1)
            rows_of_blocks.append(rows)
        if seen and seen[0] != plan["tape"]:
            plan.clear()
        if blocks == [(0, n)] and rows_of_blocks[0] is not None:
            H = rows_of_blocks[0]              # one block holds every row: H is its rows
        else:
            H = staging.call(_assembled, n, theta.dtype, blocks, rows_of_blocks)
        _checked_derivative(H, "hessian", "Hessian")
        if len(leaves) == 1 and leaves[0] is x:          # an array (not a pytree) input
            return H.reshape(np.shape(x) + np.shape(x))
        return H
    return _jitted(hessian_f, jit)


def _assembled(n, dtype, blocks, rows_of_blocks):
    """The (n, n) Hessian from each block's rows (its columns from the block on; None for
    rows known to be zero), the part below the blocks filled in by symmetry."""
    H = np.zeros((n, n), dtype=dtype)
    for (start, stop), rows in zip(blocks, rows_of_blocks):
        if rows is not None:
            H[start:stop, start:] = rows[:, start:]
    for start, stop in blocks:
        H[stop:, start:stop] = H[start:stop, stop:].T
    return H


def _raveled(x):
    """``ravel(x)``; under jit, a pytree of staged arrays is flattened by staged calls (the
    unravel, which only slices and reshapes a traced vector, comes from the real values)."""
    leaves, treedef = tree_flatten(x)
    if not any(type(leaf) is Staged for leaf in leaves):
        return ravel(x)
    _, unravel = ravel(tree_unflatten(treedef, [staging.real(leaf) for leaf in leaves]))
    flat = [np.reshape(leaf, -1) for leaf in leaves]
    return (flat[0] if len(flat) == 1 else np.concatenate(flat)), unravel


def _tail_gradient(flat_f, start, seen=None):
    """θ ↦ ∂f/∂θ[start:] (earlier entries zero), for the rows of a Hessian block whose
    columns before ``start`` are known by symmetry. The backward pass skips every node that
    leads only to θ[:start] — typically all the layers before the block's own. A list given
    as ``seen`` receives the layout of the tape (``_tape_layout``)."""
    def gradient(theta):
        tape_trace = Trace()
        inputs, out, _ = _record(flat_f, (theta,), {}, (0,), "hessian", tape_trace)
        if seen is not None:
            seen.append(_tape_layout(tape_trace.tape))
        (boxed, _), = inputs
        node = boxed[0]
        if not (isinstance(out, Tensor) and out.trace is tape_trace):
            return dnp.zeros_like(node.value)
        if dnp.shape_of(out) != ():
            raise ShapeError(f"hessian: f must return a scalar, but it returned shape "
                             f"{dnp.shape_of(out)}")
        needed = _leads_to_tail(tape_trace.tape, node.index, start)
        cotangents = backward(tape_trace, out, np.ones((), dtype=_primal_dtype(out)),
                              needed=needed)
        g = cotangents[node.index]
        return dnp.zeros_like(node.value) if g is None else \
            _checked_derivative(g, "hessian", "gradient")
    return gradient


def _leads_to_tail(tape, input_index, start):
    """Per tape entry: does it depend on θ[start:]? (Slices of θ before start do not.)"""
    flags = [False] * len(tape)
    flags[input_index] = True
    for index, node in enumerate(tape):
        if node is None:
            continue
        span = _input_slice(node, tape)
        if span is not None:
            flags[index] = span[1] > start
        else:
            flags[index] = any(flags[parent] for _, parent in node.parents)
    return flags


def _direction_blocks(sizes, layout):
    """Ranges of directions, one forward-over-reverse pass each.

    Cuts fall where the parameters split into leaves: the pytree's leaves (``sizes``), and
    the slices that f itself takes of the flat vector (as ``unravel`` does), from the tape's
    ``layout``. A block's tangent is then a structural zero in every other slice, so the
    layers before its own are skipped. Blocks whose tangents are cheap are merged (a pass
    has a fixed cost in Python); any block is split so that its batched values stay within
    HESSIAN_BLOCK_BUDGET numbers.
    """
    input_slices, largest = layout
    n = sum(sizes)
    cuts = {0, n}
    offset = 0
    for size in sizes:
        offset += size
        cuts.add(offset)
    for start, stop in input_slices:
        cuts.update((start, stop))
    cuts = sorted(c for c in cuts if 0 <= c <= n)
    cheap = max(1, HESSIAN_MERGE_BUDGET // largest)
    cap = max(1, HESSIAN_BLOCK_BUDGET // largest)
    blocks = []
    for start, stop in zip(cuts[:-1], cuts[1:]):
        if blocks and stop - blocks[-1][0] <= cheap:
            blocks[-1] = (blocks[-1][0], stop)
        else:
            blocks.append((start, stop))
    return [(a, min(a + cap, b)) for a0, b in blocks for a in range(a0, b, cap)]


def _tape_layout(tape):
    """What a Hessian's blocks are cut from: the slices f takes of its flat input, in tape
    order, and the size of its largest value (at least 1)."""
    input_slices, largest = [], 1
    for node in tape:
        if node is not None:
            span = _input_slice(node, tape)
            if span is not None:
                input_slices.append(span)
            largest = max(largest, math.prod(dnp.shape_of(node.value)))
    return tuple(input_slices), largest


# Tape inspection.

@dataclass
class Tape:
    """What one evaluation of f put on the tape."""

    nodes: int
    operations: Counter
    saved_bytes: int
    largest_value: int
    input_slices: list = field(repr=False, default_factory=list)
    edges: list = field(repr=False, default_factory=list)
    labels: list = field(repr=False, default_factory=list)

    def to_dot(self):
        """The tape as Graphviz DOT text (render with ``dot -Tsvg``; no graphviz needed here)."""
        lines = ["digraph tape {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
        for index, label in enumerate(self.labels):
            lines.append(f'  n{index} [label="{label}"];')
        for parent, child in self.edges:
            lines.append(f"  n{parent} -> n{child};")
        lines.append("}")
        return "\n".join(lines)

    def __str__(self):
        top = ", ".join(f"{name} {count}" for name, count in self.operations.most_common(8))
        return (f"tape: {self.nodes} nodes, {self.saved_bytes / 1024:.1f} KiB saved; "
                f"operations: {top}")


def trace(f, *args, **kwargs):
    """Run f once on a tape and describe it: node count, operation histogram, saved bytes, DOT."""
    return _described_tape(f, args, kwargs, "trace")


def _traced_tape(f, args, kwargs, name):
    """The tape of one evaluation of f with every argument an input."""
    tape_trace = Trace()
    _record(f, args, kwargs, range(len(args)), name, tape_trace)
    return tape_trace.tape


def _described_tape(f, args, kwargs, name):
    tape = _traced_tape(f, args, kwargs, name)
    operations = Counter(node.primitive.name for node in tape if node is not None)
    input_slices, largest = _tape_layout(tape)
    seen, saved = set(), 0
    labels, edges = [], []
    for index, node in enumerate(tape):
        if node is None:
            labels.append("input")
            continue
        shape = dnp.shape_of(node.value)
        labels.append(f"{node.primitive.name} {shape}")
        edges.extend((parent, index) for _, parent in node.parents)
        held = [node.value] + [a for a in node.args if isinstance(a, np.ndarray)]
        for value in held:
            if isinstance(value, np.ndarray) and id(value) not in seen:
                seen.add(id(value))
                saved += value.nbytes
    return Tape(nodes=len(tape), operations=operations, saved_bytes=saved,
                largest_value=largest, input_slices=list(input_slices), edges=edges, labels=labels)


def _input_slice(node, tape):
    """(start, stop) when the node takes a contiguous slice of a flat input vector."""
    if node.primitive is not dnp.getitem or len(node.parents) != 1:
        return None
    (_, parent), = node.parents
    x, index = node.args[0], node.args[1]
    if tape[parent] is not None or len(dnp.shape_of(x)) != 1:
        return None
    index = index[0] if isinstance(index, tuple) and len(index) == 1 else index
    if isinstance(index, slice) and index.step in (None, 1):
        start, stop, _ = index.indices(dnp.shape_of(x)[0])
        return start, stop
    if isinstance(index, (int, np.integer)):
        start = int(index) % dnp.shape_of(x)[0]
        return start, start + 1
    return None
