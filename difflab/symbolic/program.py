"""Straight-line programs over SymPy expressions: the common form of every symbolic mode.

A ``Program`` is what gets compiled: ``assignments`` bind fresh symbols to small expressions
in earlier symbols and the inputs, in order, and ``outputs`` are expressions in those symbols.
The ``tree`` mode has no assignments (each output is a whole expression tree) and ``cse`` has
SymPy's common-subexpression temporaries; the ``dag`` mode has its own program of plain
nodes (``graph``), because SymPy objects cost too much to build one per operation.
"""

from dataclasses import dataclass, field

import sympy


@dataclass
class Program:
    """``inputs``: named groups of input symbols, e.g. (("theta", θ₀…θₙ₋₁), ("x", x₀…)).

    ``assignments``: [(symbol, expression)], each expression using only input symbols and
    symbols assigned before it. ``outputs``: expressions in the same symbols.
    """

    inputs: tuple
    assignments: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def input_symbols(self):
        return [s for _, group in self.inputs for s in group]


def is_leaf(node):
    """Symbols, numbers and boolean constants: printed in place, never assigned."""
    return not node.args or node.is_Symbol or node.is_Number or node.is_NumberSymbol


def is_value(node):
    """An expression that gets its own assignment; conditions and Piecewise pairs stay inline."""
    return isinstance(node, sympy.Expr) and not is_leaf(node)


def prune(program):
    """Drop the assignments no output needs (dead code after differentiation)."""
    needed = set()
    for output in program.outputs:
        needed |= output.free_symbols
    kept = []
    for symbol, expression in reversed(program.assignments):
        if symbol in needed:
            kept.append((symbol, expression))
            needed |= expression.free_symbols
    return Program(program.inputs, kept[::-1], program.outputs)
