"""Composites: the NumPy functions written in dnp's primitives (DESIGN.md §1).

Each works in every number system and under every differentiator with no rule of its own:
its derivative is the chain rule through the primitives, right by construction. A function
is a primitive instead (``difflab.numpy``) only for precision, for being non-differentiable,
or because a composite would be asymptotically slower.
"""

__all__ = []
