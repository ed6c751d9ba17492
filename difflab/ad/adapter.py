"""The AD engine behind the interface (``difflab.interface``): method "ad".

AD has no one-time work: every evaluation traces f afresh (the engine is eager, as autograd
is), so ``prepare`` only binds the quantity. Its size is the tape of one evaluation of f;
its details, the tape's nodes and the bytes it saves for the backward pass.
"""

import numpy as np

from .. import interface
from . import api


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

        def details():
            tape = api.trace(f, theta)
            return {"tape_nodes": tape.nodes, "tape_bytes": tape.saved_bytes}

        return evaluate, lambda: (api.trace(f, theta).nodes, "tape nodes"), details


interface.register(Automatic("ad", "reverse-mode AD (forward-over-reverse Hessians)",
                             "automatic"), color="#1f77b4", label="AD")
