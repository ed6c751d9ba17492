"""The AD engine behind the interface (``difflab.interface``): methods "ad" (reverse mode),
"ad-forward" (forward mode, for gradients and Jacobians) and "ad-jit" (reverse mode staged
once and replayed as generated NumPy code, ``difflab.ad.jit``).

Reverse mode has no one-time work: every evaluation traces f afresh (the engine is eager, as
autograd is), so ``prepare`` only binds the quantity. Its size is the tape of one evaluation
of f; its details, the tape's nodes and the bytes it saves for the backward pass.
"""

from functools import cache

import numpy as np

from .. import interface
from .. import numpy as dnp
from ..errors import ShapeError
from . import api
from .jit import jit


class Automatic(interface.Differentiator):
    traces_output = True

    def _prepare(self, quantity, f, theta, estimate):
        compute = {"gradient": api.grad(f), "jacobian": api.jacobian(f),
                   "hessian": api.hessian(f)}.get(quantity)

        def evaluate(theta, v):
            if compute is None:
                value = api.hvp(f, theta, np.asarray(v, dtype=theta.dtype))
            else:
                value = compute(theta)
            return interface.Measurement(value)

        tape = cache(lambda: api.trace(f, theta))   # one trace for the size and the details

        def details():
            return {"tape_nodes": tape().nodes, "tape_bytes": tape().saved_bytes}

        return evaluate, lambda: (tape().nodes, "tape nodes"), details


interface.register(Automatic("ad", "reverse-mode AD (forward-over-reverse Hessians)",
                             "automatic"), color="#1f77b4", label="AD")


# How many tangents one forward pass of "ad-forward" carries, in numbers held per value of f:
# k directions turn each value of size s into one of size k·s (as api.HESSIAN_BLOCK_BUDGET).
FORWARD_BLOCK_BUDGET = 2 ** 22


class Forward(interface.Differentiator):
    """Forward-mode AD: the Jacobian (and the gradient, its one-row case) as n JVPs, one per
    parameter, batched along a leading axis (``api.jacfwd``).

    It is a method of its own only where the mode changes the cost: a Jacobian F: ℝⁿ → ℝᵐ
    costs about n forward passes' work in forward mode and m in reverse mode, so forward mode
    wins for tall Jacobians (m ≫ n) and loses for gradients (m = 1), where it is offered to
    show that cost (Griewank & Walther, *Evaluating Derivatives*, 2nd ed., §3.1–3.2). Its
    Hessians and HVPs would be "ad"'s own forward-over-reverse, so it does not list them.

    The n tangents go through f in blocks of at most FORWARD_BLOCK_BUDGET numbers per value
    of f (the block size planned from one trace, in ``prepare``): a block is the Jacobian of
    f restricted to its parameters, the others held constant.
    """

    traces_output = True

    def _prepare(self, quantity, f, theta, estimate):
        tape = api.trace(f, theta)
        block = max(1, FORWARD_BLOCK_BUDGET // tape.largest_value)

        def evaluate(theta, v):
            value = _columns(f, theta, block)
            if quantity == "jacobian":
                return interface.Measurement(value)
            if value.shape[0] != 1:
                raise ShapeError(f"ad-forward gradient: f must return a scalar, but it "
                                 f"returned {value.shape[0]} values; use the jacobian for "
                                 "vector outputs")
            return interface.Measurement(value[0])

        def details():
            return {"tape_nodes": tape.nodes, "tape_bytes": tape.saved_bytes,
                    "directions_per_pass": min(block, theta.size)}

        return evaluate, lambda: (tape.nodes, "tape nodes"), details


def _columns(f, theta, block):
    """∂f(θ) as an (m, n) matrix, from jacfwd over blocks of ``block`` parameters."""
    n = theta.size
    if n <= block:
        return np.reshape(api.jacfwd(f)(theta), (-1, n))

    def restricted(start, stop):
        def f_of_block(part):
            return f(dnp.concatenate([theta[:start], part, theta[stop:]]))
        return f_of_block

    blocks = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        columns = api.jacfwd(restricted(start, stop))(theta[start:stop])
        blocks.append(np.reshape(columns, (-1, stop - start)))
    return np.concatenate(blocks, axis=1)


interface.register(Forward("ad-forward", "forward-mode AD (n batched JVPs)", "automatic",
                           quantities=("gradient", "jacobian")),
                   color="#393b79", label="AD, forward mode", linestyle="--")


class Staged(interface.Differentiator):
    """Reverse-mode AD under ``jit``: ``prepare`` stages the derivative once (the engine runs
    on real arrays while every NumPy call is recorded) and prints it as a straight-line NumPy
    function; each evaluation replays that function. Setup is the staging and the code
    generation; the size is the program's NumPy calls per evaluation. Its numbers are
    "ad"'s own (the replay makes the same calls), at a fraction of the Python overhead.
    """

    traces_output = True

    def _prepare(self, quantity, f, theta, estimate):
        if quantity == "hvp":
            compute = jit(lambda t, v: api.hvp(f, t, v))
            program = compute.compiled(theta, np.zeros_like(theta))
        else:
            compute = {"gradient": api.grad, "jacobian": api.jacobian,
                       "hessian": api.hessian}[quantity](f, jit=True)
            program = compute.compiled(theta)

        def evaluate(theta, v):
            value = compute(theta) if quantity != "hvp" else \
                compute(theta, np.asarray(v, dtype=theta.dtype))
            return interface.Measurement(value)

        def details():
            return {"numpy_calls": program.calls, "guards": len(program.guards),
                    "source_lines": program.source.count("\n"), "retraces": compute.retraces}

        return evaluate, lambda: (program.calls, "NumPy calls"), details


interface.register(Staged("ad-jit", "reverse-mode AD staged once, replayed as NumPy code "
                          "(jit)", "automatic"), color="#0b5394", label="AD, jit",
                   linestyle=":")
