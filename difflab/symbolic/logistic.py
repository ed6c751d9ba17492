"""The logistic map's expression swell (Baydin et al., JMLR 2018, Table 1): how the tree of
lₙ's derivative grows against the expanded polynomial and the dag mode's program."""

from dataclasses import dataclass

import sympy

from ..errors import SwellLimitError
from .budget import DEFAULT, timed
from .graph import Graph, GraphProgram
from .swell import tree_size


@dataclass(frozen=True)
class LogisticRow:
    """One row of the logistic-map swell table (Baydin et al., JMLR 2018, Table 1)."""

    n: int
    function: sympy.Expr          # lₙ, built by the recurrence
    derivative: sympy.Expr        # d lₙ/dx as SymPy's product rule gives it
    simplified: sympy.Expr        # the same as an expanded polynomial
    function_ops: int
    derivative_ops: int           # tree operations of the product-rule form
    simplified_ops: int
    dag_ops: int                  # operations of the dag mode's derivative program


def logistic_map_table(N, budget=None):
    """Rows n = 1…N for l₁ = x, lₙ₊₁ = 4lₙ(1 − lₙ), stopping early at a SwellLimitError.

    Returns (rows, error): ``error`` is the SwellLimitError that stopped the table, or None.
    """
    budget = DEFAULT if budget is None else budget
    x = sympy.Symbol("x", real=True)
    rows, l, seconds, counted = [], x, {}, {}
    polynomial = sympy.Poly(x, x)      # lₙ expanded, by the same recurrence on polynomials
    try:
        for n in range(1, N + 1):
            with timed("differentiate", budget, "tree", seconds):
                derivative = sympy.diff(l, x)
                simplified = polynomial.diff(x).as_expr()
            inputs = (("x", (x,)),)
            graph = Graph(inputs, (x,))
            dag = GraphProgram(graph, inputs, graph.sweep(graph.convert(l, {}),
                                                          [graph.symbols[x]]))
            rows.append(LogisticRow(n, l, derivative, simplified,
                                    *(tree_size(e, counted)[0]
                                      for e in (l, derivative, simplified)),
                                    dag.sizes().ops))
            l = 4 * l * (1 - l)
            polynomial = 4 * polynomial * (1 - polynomial)
    except SwellLimitError as error:
        return rows, error
    return rows, None
