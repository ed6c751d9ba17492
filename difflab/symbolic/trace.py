"""Tracing a dnp model into SymPy: θ (and, for a ``BatchMean``, one example) as symbols.

A model written with ``difflab.numpy`` runs unchanged on object arrays of SymPy symbols and
returns SymPy expressions. For an objective declared as a ``BatchMean``,
f(θ) = (1/B) Σᵢ ℓ(θ, xᵢ, yᵢ) + r(θ), only ℓ(θ, x, y) + r(θ) is traced, with x and y as
symbols: its expressions are as large for a batch of 10 000 as for a batch of one, and the
compiled derivative is evaluated over the batch at once and averaged.
"""

from dataclasses import dataclass

import numpy as np
import sympy

from ..errors import (BranchError, DiffLabError, OutputError, ShapeError,
                      UnsupportedOperationError)
from ..numpy import recording
from ..numpy.methods import traced_objects
from ..objectives import BatchMean
from ..outputs import refuse_non_array


@dataclass
class Traced:
    """``outputs``: the function's expressions (one for a scalar f); ``inputs``: the named
    symbol groups; ``data``: per input group after θ, the batch values as one row per symbol
    ((k, B) arrays), or () when the function is traced whole. ``bindings``: when traced with
    names (``trace(..., named=True)``), (symbol, expression) per primitive result entry, in
    order, each expression in the inputs and earlier symbols; the outputs are then written in
    these symbols (``expanded()`` substitutes them back)."""

    outputs: list
    inputs: tuple
    data: tuple
    batch: int
    bindings: tuple = ()

    def expanded(self):
        """The outputs as whole expressions in the inputs (with SymPy's evaluation, as an
        unnamed trace builds them)."""
        if not self.bindings:
            return self.outputs
        whole = {}
        for symbol, body in self.bindings:
            whole[symbol] = body.xreplace(whole)
        return [output.xreplace(whole) for output in self.outputs]


class _Names:
    """Names each SymPy entry of a primitive's result with a fresh symbol, recording the
    binding: every expression the tracer builds then has symbols and numbers for arguments,
    so SymPy's automatic evaluation (its assumption queries expand their arguments) never
    meets a large one, and tracing is linear in the program's size."""

    def __init__(self):
        self.bindings = []

    def __call__(self, result):
        if isinstance(result, np.ndarray) and result.dtype == object:
            named = result.copy()
            flat = named.reshape(-1)
            for i, entry in enumerate(flat):
                flat[i] = self._named(entry)
            return named
        if isinstance(result, sympy.Expr):
            return self._named(result)
        if isinstance(result, (tuple, list)):
            return type(result)(self(part) for part in result)
        return result

    def _named(self, entry):
        if not isinstance(entry, sympy.Expr) or entry.is_Atom or not entry.free_symbols:
            return entry
        symbol = sympy.Symbol(f"b{len(self.bindings)}", real=True)
        self.bindings.append((symbol, entry))
        return symbol


def symbols(prefix, shape):
    """An object array of real SymPy symbols prefix0, prefix1, … in C order."""
    size = int(np.prod(shape, dtype=int))
    flat = np.empty(size, dtype=object)
    flat[:] = sympy.symbols(f"{prefix}0:{size}", real=True) if size else []
    return flat.reshape(shape)


def trace(f, theta, name, scalar, named=False):
    """Trace f at symbolic θ (of θ's shape) into SymPy expressions; ``named``: with every
    primitive result named by a symbol (``Traced.bindings``), in time linear in f's size."""
    theta_symbols = symbols("theta", np.shape(theta))
    names = _Names() if named else None
    if isinstance(f, BatchMean) and scalar:
        traced = _trace_batch_mean(f, theta_symbols, names)
    else:
        # f gets a copy: one that assigns into its argument must not replace the symbols the
        # derivative is taken with respect to. As an ObjectArray its methods (x.sum(),
        # x.max()) and operators are dnp's.
        outputs = _expressions(_run(f, name, names, traced_objects(theta_symbols.copy())),
                               name, scalar)
        traced = Traced(outputs, (("theta", tuple(theta_symbols)),), (), 1)
    if names is not None:
        traced.bindings = tuple(names.bindings)
    return traced


def _trace_batch_mean(f, theta_symbols, names):
    X, Y = np.asarray(f.X), np.asarray(f.Y)
    x, y = symbols("x", (1,) + X.shape[1:]), symbols("y", (1,) + Y.shape[1:])
    loss = _run(f.example_loss, "BatchMean.example_loss", names,
                traced_objects(theta_symbols.copy()), traced_objects(x.copy()),
                traced_objects(y.copy()))
    if np.shape(loss) not in ((1,), ()):
        raise ShapeError(f"BatchMean: example_loss on one example returned shape "
                         f"{np.shape(loss)}; it must return one loss per example, shape (B,)")
    value = np.reshape(np.asarray(loss, dtype=object), -1)[0]
    if f.penalty is not None:
        value = value + _expressions(_run(f.penalty, "BatchMean.penalty", names,
                                          traced_objects(theta_symbols.copy())),
                                     "penalty", True)[0]
    batch = X.shape[0]
    data = (X.reshape(batch, -1).T.astype(float), Y.reshape(batch, -1).T.astype(float))
    inputs = (("theta", tuple(theta_symbols)), ("x", tuple(x.reshape(-1))),
              ("y", tuple(y.reshape(-1))))
    return Traced([sympy.sympify(value)], inputs, data, batch)


# SymPy's words for the user mistakes it meets while f runs on symbols, and what they mean.
_BRANCH = ("truth value of Relational",)
_FLOAT = ("convert expression to float", "convert symbols to int", "round symbolic expression",
          "convert expression to complex")
_RAW_NUMPY = ("loop of ufunc does not support",)


def _run(f, name, names, *args):
    """f(*args) on symbols (naming primitive results with ``names``, if given); SymPy's
    TypeError for a mistake in f becomes a named difflab error that says what to write
    instead."""
    try:
        if names is None:
            return f(*args)
        with recording(names):
            return f(*args)
    except DiffLabError:
        raise
    except TypeError as error:
        said = str(error)
        if any(words in said for words in _BRANCH):
            raise BranchError(
                f"{name}: f used a traced value in a Python condition ({said}): if/else, "
                "bool(), and/or, builtin max/min, or a NumPy function that compares (np.maximum, "
                "np.where, np.clip, np.sign). The tracer cannot take a branch for every θ; write "
                "it with dnp.where(condition, a, b), dnp.maximum, dnp.relu or dnp.clip") from error
        if any(words in said for words in _FLOAT):
            raise BranchError(
                f"{name}: f converted a traced value to a Python number ({said}): float(), "
                "int(), round(), math.exp and the like need a number, and a symbol has none. "
                "Use dnp functions (dnp.exp, not math.exp) and keep values as arrays") from error
        if any(words in said for words in _RAW_NUMPY):
            raise UnsupportedOperationError(
                f"{name}: f called a NumPy function on traced values ({said}). Use the dnp "
                "function of the same name (dnp.tanh, not np.tanh): dnp dispatches on the "
                "number system") from error
        raise UnsupportedOperationError(
            f"{name}: f raised TypeError while running on SymPy symbols: {said}. Write f "
            "with difflab.numpy (dnp) operations only") from error


def _expressions(value, name, scalar):
    """The traced value as a flat list of SymPy expressions, or a clear error."""
    refuse_non_array(value, name)
    array = np.asarray(value, dtype=object)
    if scalar and array.size != 1:
        raise ShapeError(f"{name}: the function must return a scalar, got shape {array.shape}; "
                         "use jacobian for vector-valued functions")
    outputs = []
    for entry in array.reshape(-1):
        if isinstance(entry, (int, float, np.integer, np.floating)):
            entry = sympy.Float(float(entry)) if isinstance(entry, (float, np.floating)) \
                else sympy.Integer(int(entry))
        if not isinstance(entry, sympy.Expr):
            raise OutputError(
                f"{name}: tracing returned a {type(entry).__name__}, not a SymPy expression; "
                "write the function with difflab.numpy (dnp) so it runs on symbols")
        outputs.append(entry)
    return outputs
