"""Expression swell, measured: how big a derivative is as a tree, as a DAG, after sharing.

All sizes are counted on a ``Program`` without writing its expressions out, so they stay
cheap when the tree is astronomically large: a symbol assigned once and used k times counts
k times in the tree measures (memoized per symbol) and once in the shared ones.

- ``tree_ops``: operations of the outputs written out as trees; an n-ary sum or product
  counts n − 1, a power, function or Piecewise branch 1 — SymPy's ``count_ops`` without its
  separate counting of negations and divisions.
- ``tree_nodes``: nodes of those trees (every occurrence of every subexpression).
- ``dag_nodes``: distinct subexpressions (non-leaf nodes), each counted once.
- ``ops``: operations of the program as it is evaluated (temporaries are leaves).
- ``temporaries``: assignments (CSE temporaries, DAG intermediates).
"""

from dataclasses import dataclass, fields

import sympy

from .program import is_leaf


@dataclass(frozen=True)
class Sizes:
    tree_ops: int
    tree_nodes: int
    dag_nodes: int
    ops: int
    temporaries: int

    def ratio(self, base):
        """Each size divided by the same size of ``base`` (the function's own)."""
        return {f.name: getattr(self, f.name) / max(getattr(base, f.name), 1)
                for f in fields(self)}


def own_ops(node):
    """Operations of one node itself (not its arguments)."""
    if is_leaf(node):
        return 0
    if node.is_Add or node.is_Mul:
        return len(node.args) - 1
    if isinstance(node, sympy.Piecewise):
        return len(node.args)
    if isinstance(node, (sympy.Expr, sympy.logic.boolalg.Boolean)):
        return 1
    return 0      # an ExprCondPair or tuple only groups its arguments


def measure(program):
    """The ``Sizes`` of a Program's outputs (see the module docstring)."""
    defined = dict(program.assignments)
    tree = {}              # node -> (ops, nodes) of its tree, temporaries expanded
    seen = set()           # distinct non-leaf nodes, temporaries expanded once
    flat = {}              # the same with temporaries as leaves: what evaluation runs
    bodies = [e for _, e in program.assignments] + list(program.outputs)
    for body in bodies:
        _walk(body, {}, flat, set())
    shared_ops = sum(flat[body][0] for body in bodies)
    roots = list(program.outputs)
    for root in roots:
        _walk(root, defined, tree, seen)
    tree_ops = sum(tree[root][0] for root in roots)
    tree_nodes = sum(tree[root][1] for root in roots)
    return Sizes(tree_ops, tree_nodes, len(seen), shared_ops, len(program.assignments))


def tree_size(expression, memo):
    """(operations, nodes) of ``expression`` written out as a tree; ``memo`` (a dict) carries
    the counts of subexpressions already seen, so the entries of one derivative share them."""
    _walk(expression, {}, memo, set())
    return memo[expression]


def _walk(root, defined, tree, seen):
    """Fill ``tree`` for every node under root, post-order with an explicit stack."""
    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if node in tree:
            continue
        if node in defined:
            body = defined[node]
            if ready:
                tree[node] = tree[body]
            else:
                stack.append((node, True))
                stack.append((body, False))
        elif is_leaf(node):
            tree[node] = (0, 1)
        elif ready:
            seen.add(node)
            ops, nodes = own_ops(node), 1
            for arg in node.args:
                ops += tree[arg][0]
                nodes += tree[arg][1]
            tree[node] = (ops, nodes)
        else:
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.args if arg not in tree)
