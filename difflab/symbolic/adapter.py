"""The symbolic differentiator behind the interface (``difflab.interface``): "symbolic" (the
default mode, dag; alias "symbolic-dag"), "symbolic-cse" and "symbolic-tree".

``prepare`` is the whole setup — trace, differentiate, share, compile — and the prepared
object holds the build. It starts from SymPy's empty cache (SymPy keeps expressions it built
process-wide), so a setup's time does not depend on what the process built before. An evaluation whose guard finds that f changed since (its value at θ
is not the program's) traces again; that time is the evaluation's setup. Size: the scalar
operations of the compiled derivative.
"""

import time
from dataclasses import asdict

from sympy.core.cache import clear_cache

from .. import interface
from . import budget as budgets
from . import derivatives, logistic
from .engines import DEFAULT_ENGINE

STYLES = {"dag": ("#2ca02c", "symbolic (dag)"), "cse": ("#98df8a", "symbolic (cse)"),
          "tree": ("#556b2f", "symbolic (tree)")}


class Symbolic(interface.Differentiator):
    traces_output = True
    options = ("budget", "engine")

    def __init__(self, name, mode):
        super().__init__(name, f"SymPy, {mode} mode" + (" (the default)" if
                         mode == derivatives.DEFAULT_MODE else ""), "symbolic")
        self.mode = mode

    def _prepare(self, quantity, f, theta, estimate, budget=budgets.DEFAULT,
                 engine=DEFAULT_ENGINE):
        """``budget``: a Budget, a dict of its fields, or None for none; ``engine``: "sympy"
        or "symengine" (the tree and cse modes)."""
        if isinstance(budget, dict):
            budget = budgets.Budget(**budget)
        clear_cache()         # SymPy caches expressions process-wide: start every setup empty
        built = derivatives.derivative(f, theta, quantity, mode=self.mode, budget=budget,
                                       engine=engine)

        def evaluate(theta, v):
            before = built.compiled
            start = time.perf_counter()
            value = built(theta, v) if quantity == "hvp" else built(theta)
            cost = interface.Cost()
            if built.compiled is not before:        # f had changed: traced and built again
                cost.setup_seconds = min(built.setup_seconds, time.perf_counter() - start)
            return interface.Measurement(value, cost)

        def details():
            return {"seconds": dict(built.seconds), "sizes": asdict(built.sizes),
                    "engine": built.engine,
                    "code_bytes": len(built.function.source.encode())}

        return interface.Preparation(evaluate, lambda: (built.sizes.ops, "scalar operations"),
                                     details)

    @staticmethod
    def logistic_map_table(N, budget=None):
        """The expression swell study the symbolic method offers: the sizes of the logistic
        map lₙ and of its derivative for n ≤ N (Baydin et al. 2018, Table 1), as
        ``logistic.logistic_map_table``; ``budget`` a Budget, a dict of its fields or None."""
        if isinstance(budget, dict):
            budget = budgets.Budget(**budget)
        return logistic.logistic_map_table(N, budget)


for _mode in derivatives.MODES:
    _default = _mode == derivatives.DEFAULT_MODE
    interface.register(Symbolic("symbolic" if _default else f"symbolic-{_mode}", _mode),
                       aliases=(f"symbolic-{_mode}",) if _default else (),
                       color=STYLES[_mode][0], label=STYLES[_mode][1])
