"""NumPy's array methods and operators on the values dnp traces: ``x.sum()``, ``x.max()``, ``W.T``.

Models are written as NumPy code, and NumPy code uses methods as much as functions. On a
traced value — an AD tensor, or an object array of SymPy expressions or mpmath numbers — a
method that computes is the dnp function of the same name, looked up when it is called (so a
dnp function added later works at once as a method). It is therefore differentiated with dnp's
rules and keeps dnp's kink conventions: ``x.max()`` splits its derivative evenly at a tie in
every number system, as ``dnp.max`` does.

``ArrayMethods`` holds those methods; the AD tensors and ``ObjectArray`` share it.
``ObjectArray`` is the object ndarray the symbolic tracer and the reference hand to f. A plain
object array would run ``x.max()`` on Python comparisons (a SymPy relational error; the first
of an mpmath tie) and ``x.sum()``, ``x @ W``, ``x ** 2`` around dnp. Its shape methods
(indexing, ``reshape``, ``T``, ``transpose``, ``squeeze``, ``ravel``, ``flatten``) stay NumPy's:
they move entries, the same in every number system, and keep the class; so does every result
of a dnp primitive applied to it.
"""

import numpy as np
import sympy
from mpmath.ctx_mp_python import _mpc, _mpf

from .. import numpy as dnp
from ..errors import UnsupportedOperationError


def _dnp(method, *args, **kwargs):
    """dnp.<method>(*args, **kwargs), or a named error while dnp has no such function."""
    function = getattr(dnp, method, None)
    if function is None:
        raise UnsupportedOperationError(
            f"x.{method}() on a traced value: difflab.numpy has no {method} yet, so it cannot "
            "be differentiated; write it with dnp functions (a composite of dnp functions is "
            "differentiable with no new rule)")
    return function(*args, **kwargs)


def _no_out(method, out):
    if out is not None:
        raise UnsupportedOperationError(
            f"x.{method}(out=...) on a traced value writes into an existing array, which is not "
            "differentiable; use the value the method returns")


class ArrayMethods:
    """The array methods that compute, as their dnp functions (NumPy's signatures).

    ``dtype=`` casts the input first, by the class's ``astype``; ``out=`` is refused.
    """

    __slots__ = ()

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        _no_out("sum", out)
        return _dnp("sum", self._cast(dtype), axis=axis, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        _no_out("mean", out)
        return _dnp("mean", self._cast(dtype), axis=axis, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        _no_out("prod", out)
        return _dnp("prod", self._cast(dtype), axis=axis, keepdims=keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        _no_out("var", out)
        return _dnp("var", self._cast(dtype), axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        _no_out("std", out)
        return _dnp("std", self._cast(dtype), axis=axis, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        _no_out("max", out)
        return _dnp("max", self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        _no_out("min", out)
        return _dnp("min", self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, out=None, keepdims=False):
        _no_out("argmax", out)
        return _dnp("argmax", self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        _no_out("argmin", out)
        return _dnp("argmin", self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        _no_out("cumsum", out)
        return _dnp("cumsum", self._cast(dtype), axis=axis)

    def cumprod(self, axis=None, dtype=None, out=None):
        _no_out("cumprod", out)
        return _dnp("cumprod", self._cast(dtype), axis=axis)

    def clip(self, min=None, max=None, out=None):
        _no_out("clip", out)
        return _dnp("clip", self, min, max)

    def dot(self, b, out=None):
        _no_out("dot", out)
        return _dnp("dot", self, b)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        _no_out("trace", out)
        return _dnp("trace", self._cast(dtype), offset=offset, axis1=axis1, axis2=axis2)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _dnp("diagonal", self, offset=offset, axis1=axis1, axis2=axis2)

    def _cast(self, dtype):
        return self if dtype is None else self.astype(dtype)

    def __len__(self):
        if not self.shape:
            raise UnsupportedOperationError(
                "len() of a 0-d traced value: a scalar has no length; use .shape or np.ndim")
        return self.shape[0]

    def __iter__(self):
        """The slices along the first axis, as NumPy iterates."""
        if not self.shape:
            raise UnsupportedOperationError(
                "iteration over a 0-d traced value: a scalar has no first axis; use it "
                "directly, or dnp.reshape(x, (1,)) for a one-entry array")
        return (self[i] for i in range(self.shape[0]))


# The ufuncs behind ndarray's operators: NumPy calls them (and so ObjectArray.__array_ufunc__)
# when a plain array meets an ObjectArray, as in ``W @ x``.
_OPERATORS = {
    np.add: "add", np.subtract: "subtract", np.multiply: "multiply", np.true_divide: "divide",
    np.power: "power", np.matmul: "matmul", np.negative: "negative",
}


class ObjectArray(ArrayMethods, np.ndarray):
    """An object ndarray of SymPy expressions or mpmath numbers whose methods and operators
    compute with dnp (see the module's docstring). Make one with ``traced_objects(array)``.

    NumPy functions and ufuncs called on it directly behave as on a plain object array (the
    tracers name the mistake when they fail); comparisons give plain arrays of conditions
    for ``dnp.where``.
    """

    def __add__(self, other): return dnp.add(self, other)
    def __radd__(self, other): return dnp.add(other, self)
    def __sub__(self, other): return dnp.subtract(self, other)
    def __rsub__(self, other): return dnp.subtract(other, self)
    def __mul__(self, other): return dnp.multiply(self, other)
    def __rmul__(self, other): return dnp.multiply(other, self)
    def __truediv__(self, other): return dnp.divide(self, other)
    def __rtruediv__(self, other): return dnp.divide(other, self)
    def __pow__(self, other): return dnp.power(self, other)
    def __rpow__(self, other): return dnp.power(other, self)
    def __matmul__(self, other): return dnp.matmul(self, other)
    def __rmatmul__(self, other): return dnp.matmul(other, self)
    def __neg__(self): return dnp.negative(self)
    def __pos__(self): return self
    def __abs__(self): return dnp.abs(self)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """A float cast is the identity: the entries stand for real numbers, of no float width
        (an mpmath reference keeps its precision). Other casts are refused."""
        wanted = np.dtype(dtype)
        if wanted.kind in "fO":
            return self.copy() if copy else self
        raise cast_error(wanted, f"an array of {_held(self)}",
                         "difflab keeps float casts (the identity here)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = _OPERATORS.get(ufunc)
        out = kwargs.pop("out", None)
        if name is not None and method == "__call__" and not kwargs:
            result = getattr(dnp, name)(*inputs)
            if out is None:
                return result
            (target,) = out           # x += y on an object array assigns in place
            target.view(np.ndarray)[...] = result
            return target
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        return getattr(ufunc, method)(*[_plain(x) for x in inputs], **kwargs)


def traced_objects(values):
    """``values`` (an object ndarray) as an ObjectArray, sharing its entries' memory."""
    return np.asarray(values, dtype=object).view(ObjectArray)


def _held(x):
    kinds = sorted({type(v).__name__ for v in x.flat}) if x.size else ["nothing"]
    return ", ".join(kinds)


def cast_error(wanted, what, kept):
    """The refusal of x.astype(wanted) on a traced value (``what``), saying why and which
    casts are ``kept``."""
    if wanted.kind in "iub":
        why = ("a cast to integers or booleans is piecewise constant, with no derivative at "
               "the integers and 0 elsewhere, so it would cut the value off from "
               "differentiation silently; use dnp.floor, dnp.round or a comparison, whose zero "
               "derivative is explicit")
    elif wanted.kind == "f":
        why = "a narrowing cast rounds, and dnp has no cast primitive to differentiate"
    elif wanted.kind == "c":
        why = "a cast to complex numbers has no meaning for the real values being traced"
    else:
        why = f"a traced value cannot become {wanted} data"
    return UnsupportedOperationError(f"x.astype({wanted}) on {what}: {why}; {kept}")


def _plain(x):
    """An ObjectArray as a plain ndarray view (lists and tuples element by element)."""
    if isinstance(x, ObjectArray):
        return x.view(np.ndarray)
    if type(x) in (list, tuple):
        return type(x)(_plain(v) for v in x)
    return x


def _wrapped(x):
    """A dnp result of object dtype as an ObjectArray, a SymPy or mpmath number as a 0-d one
    (``x.sum().reshape(1)`` works, as on NumPy's scalars); lists and tuples element by element."""
    if type(x) is np.ndarray and x.dtype == object:
        return x.view(ObjectArray)
    if isinstance(x, (sympy.Basic, _mpf, _mpc)):
        out = np.empty((), dtype=object)
        out[()] = x
        return out.view(ObjectArray)
    if type(x) in (list, tuple):
        return type(x)(_wrapped(v) for v in x)
    return x


def _through_dnp(primitive, args, kwargs):
    """A primitive met an ObjectArray: run it on plain arrays, hand back an ObjectArray."""
    return _wrapped(primitive(*[_plain(a) for a in args], **kwargs))


dnp.register_number_system(ObjectArray, _through_dnp)
