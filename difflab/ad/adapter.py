"""The AD engine behind the interface (``difflab.interface``): method "ad".

AD has no one-time work: every evaluation traces f afresh (the engine is eager, as autograd
is), so ``prepare`` only binds the quantity. Its size is the tape of one evaluation of f.
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

        return evaluate, lambda: (api.trace(f, theta).nodes, "tape nodes")


interface.register(Automatic("ad", "reverse-mode AD (forward-over-reverse Hessians)",
                             "automatic"), color="#1f77b4", label="AD")
