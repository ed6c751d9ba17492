"""Classic test functions that are not networks, written with ``dnp`` like the models."""

from .. import numpy as dnp


def rosenbrock(x):
    """f(x) = Σ_{i=1}^{n−1} 100 (x_{i+1} − x_i²)² + (1 − x_i)²; minimum 0 at x = (1, …, 1)."""
    head, tail = x[:-1], x[1:]
    return dnp.sum(dnp.square(tail - dnp.square(head)) * 100 + dnp.square(1 - head))


def rosenbrock_residuals(x):
    """r = [10 (x_{i+1} − x_i²), then 1 − x_i, for i < n]: f(x) = ‖r‖², the Gauss–Newton form."""
    head, tail = x[:-1], x[1:]
    return dnp.concatenate([(tail - dnp.square(head)) * 10, 1 - head])


def logistic_map(l0, n):
    """The orbit [l_1, …, l_n] of l_{k+1} = 4 l_k (1 − l_k).

    Closed form l_n = sin²(2ⁿ arcsin √l_0); written out as an expression in l_0 it is the
    textbook case of expression swell (a polynomial of degree 2ⁿ).
    """
    orbit = []
    l = l0
    for _ in range(n):
        l = 4 * l * (1 - l)
        orbit.append(l)
    return orbit
