"""Moré, Garbow & Hillstrom's unconstrained test problems, written with ``dnp``.

J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing unconstrained optimization software",
ACM TOMS 7 (1981) 17–41: problems 1–29 except the helical valley (7), whose θ(x₁, x₂)
branches on the sign of x₁ — 28 problems. Each is f = Σ r_i(x)² from the paper's residuals,
its standard starting point and the minimum values the paper lists: f* and, where the paper
gives them, the other local minima (``minima``). A minimum "at infinity" (Bard's 17.4286,
Kowalik–Osborne's 1.02734e-3) is listed too: f approaches it as x diverges, and no finite
point is a minimizer there. ``sweep`` runs every Newton variant on every problem and counts,
per method, the runs that claim convergence and the claims that are false.
"""

import math
from typing import Callable, NamedTuple

import numpy as np

import difflab
import difflab.numpy as dnp


class Problem(NamedTuple):
    """One MGH problem: ``residuals(x)``, x₀ and the published minimum values."""

    number: int
    name: str
    residuals: Callable
    x0: np.ndarray
    minima: tuple          # f* first, then other local minima (MGH's "f = … at …")
    at_infinity: tuple = ()  # values approached only as ‖x‖ → ∞

    def f(self, x):
        return dnp.sum(dnp.square(self.residuals(x)))


def _rosenbrock(x):
    return dnp.stack([10 * (x[1] - x[0] ** 2), 1 - x[0]])


def _freudenstein_roth(x):
    return dnp.stack([-13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1],
                      -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1]])


def _powell_badly_scaled(x):
    return dnp.stack([1e4 * x[0] * x[1] - 1, dnp.exp(-x[0]) + dnp.exp(-x[1]) - 1.0001])


def _brown_badly_scaled(x):
    return dnp.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2])


_BEALE_Y = np.array([1.5, 2.25, 2.625])


def _beale(x):
    i = np.arange(1, 4)
    return _BEALE_Y - x[0] * (1 - x[1] ** i)


def _jennrich_sampson(x):
    i = np.arange(1.0, 11.0)
    return 2 + 2 * i - (dnp.exp(i * x[0]) + dnp.exp(i * x[1]))


_BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96,
                    1.34, 2.10, 4.39])


def _bard(x):
    u = np.arange(1.0, 16.0)
    v = 16 - u
    w = np.minimum(u, v)
    return _BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))


_GAUSSIAN_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                        0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])


def _gaussian(x):
    t = (8 - np.arange(1.0, 16.0)) / 2
    return x[0] * dnp.exp(-x[1] * dnp.square(t - x[2]) / 2) - _GAUSSIAN_Y


_MEYER_Y = np.array([34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005,
                     5147, 4427, 3820, 3307, 2872], dtype=float)


def _meyer(x):
    t = 45 + 5 * np.arange(1.0, 17.0)
    return x[0] * dnp.exp(x[1] / (t + x[2])) - _MEYER_Y


def _gulf(x, m=99):
    t = np.arange(1.0, m + 1) / 100
    y = 25 + (-50 * np.log(t)) ** (2 / 3)
    # |y − x₂|^x₃ as exp(x₃ log|y − x₂|): the power of a variable base to a variable exponent
    return dnp.exp(-dnp.exp(x[2] * dnp.log(dnp.abs(y - x[1]))) / x[0]) - t


def _box_3d(x, m=10):
    t = 0.1 * np.arange(1.0, m + 1)
    return dnp.exp(-t * x[0]) - dnp.exp(-t * x[1]) - x[2] * (np.exp(-t) - np.exp(-10 * t))


def _powell_singular(x):
    return dnp.stack([x[0] + 10 * x[1], math.sqrt(5) * (x[2] - x[3]),
                      (x[1] - 2 * x[2]) ** 2, math.sqrt(10) * (x[0] - x[3]) ** 2])


def _wood(x):
    return dnp.stack([10 * (x[1] - x[0] ** 2), 1 - x[0], math.sqrt(90) * (x[3] - x[2] ** 2),
                      1 - x[2], math.sqrt(10) * (x[1] + x[3] - 2), (x[1] - x[3]) / math.sqrt(10)])


_KOWALIK_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323,
                       0.0235, 0.0246])
_KOWALIK_U = np.array([4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


def _kowalik_osborne(x):
    u = _KOWALIK_U
    return _KOWALIK_Y - x[0] * (u ** 2 + u * x[1]) / (u ** 2 + u * x[2] + x[3])


def _brown_dennis(x, m=20):
    t = np.arange(1.0, m + 1) / 5
    return (dnp.square(x[0] + t * x[1] - np.exp(t))
            + dnp.square(x[2] + x[3] * np.sin(t) - np.cos(t)))


_OSBORNE1_Y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784,
                        0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522,
                        0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420,
                        0.414, 0.411, 0.406])


def _osborne1(x):
    t = 10 * np.arange(33.0)
    return _OSBORNE1_Y - (x[0] + x[1] * dnp.exp(-t * x[3]) + x[2] * dnp.exp(-t * x[4]))


def _biggs_exp6(x, m=13):
    t = 0.1 * np.arange(1.0, m + 1)
    y = np.exp(-t) - 5 * np.exp(-10 * t) + 3 * np.exp(-4 * t)
    return (x[2] * dnp.exp(-t * x[0]) - x[3] * dnp.exp(-t * x[1])
            + x[5] * dnp.exp(-t * x[4]) - y)


_OSBORNE2_Y = np.array([
    1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608,
    0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661,
    0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428,
    0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559,
    0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054])


def _osborne2(x):
    t = np.arange(65.0) / 10
    return _OSBORNE2_Y - (x[0] * dnp.exp(-t * x[4])
                          + x[1] * dnp.exp(-dnp.square(t - x[8]) * x[5])
                          + x[2] * dnp.exp(-dnp.square(t - x[9]) * x[6])
                          + x[3] * dnp.exp(-dnp.square(t - x[10]) * x[7]))


def _watson(x):
    n = x.shape[0]
    t = np.arange(1.0, 30.0) / 29
    powers = t[:, None] ** np.arange(n)                  # t_i^(j−1), j = 1 … n
    slope = powers[:, :-1] @ (np.arange(1.0, n) * x[1:])  # Σ_{j≥2} (j−1) x_j t_i^(j−2)
    value = powers @ x                                     # Σ_j x_j t_i^(j−1)
    return dnp.concatenate([slope - dnp.square(value) - 1,
                            dnp.stack([x[0], x[1] - x[0] ** 2 - 1])])


def _extended_rosenbrock(x):
    odd, even = x[0::2], x[1::2]
    return dnp.concatenate([10 * (even - dnp.square(odd)), 1 - odd])


def _extended_powell(x):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return dnp.concatenate([a + 10 * b, math.sqrt(5) * (c - d), dnp.square(b - 2 * c),
                            math.sqrt(10) * dnp.square(a - d)])


def _penalty1(x):
    a = 1e-5
    return dnp.concatenate([math.sqrt(a) * (x - 1),
                            dnp.stack([dnp.sum(dnp.square(x)) - 0.25])])


def _penalty2(x):
    a, n = 1e-5, x.shape[0]
    i = np.arange(2.0, n + 1)
    y = np.exp(i / 10) + np.exp((i - 1) / 10)
    pairs = math.sqrt(a) * (dnp.exp(x[1:] / 10) + dnp.exp(x[:-1] / 10) - y)
    shifted = math.sqrt(a) * (dnp.exp(x[1:] / 10) - math.exp(-0.1))
    weights = np.arange(n, 0, -1.0)                       # n − j + 1
    return dnp.concatenate([dnp.stack([x[0] - 0.2]), pairs, shifted,
                            dnp.stack([dnp.sum(weights * dnp.square(x)) - 1])])


def _variably_dimensioned(x):
    j = np.arange(1.0, x.shape[0] + 1)
    s = dnp.sum(j * (x - 1))
    return dnp.concatenate([x - 1, dnp.stack([s, dnp.square(s)])])


def _trigonometric(x):
    n = x.shape[0]
    i = np.arange(1.0, n + 1)
    return n - dnp.sum(dnp.cos(x)) + i * (1 - dnp.cos(x)) - dnp.sin(x)


def _brown_almost_linear(x):
    n = x.shape[0]
    product = x[0]
    for k in range(1, n):
        product = product * x[k]
    return dnp.concatenate([x[:-1] + dnp.sum(x) - (n + 1), dnp.stack([product - 1])])


def _discrete_boundary_value(x):
    n = x.shape[0]
    h = 1 / (n + 1)
    t = h * np.arange(1.0, n + 1)
    padded = dnp.concatenate([np.zeros(1), x, np.zeros(1)])   # x₀ = x_{n+1} = 0
    return 2 * x - padded[:-2] - padded[2:] + h ** 2 * (x + t + 1) ** 3 / 2


def _discrete_integral_equation(x):
    n = x.shape[0]
    h = 1 / (n + 1)
    t = h * np.arange(1.0, n + 1)
    cube = (x + t + 1) ** 3
    lower = np.tril(np.ones((n, n)))                      # j ≤ i
    upper = 1 - lower                                     # j > i
    return x + h * ((1 - t) * ((lower * t) @ cube) + t * ((upper * (1 - t)) @ cube)) / 2


def _problems():
    n10 = np.arange(1.0, 11.0)
    return [
        Problem(1, "Rosenbrock", _rosenbrock, np.array([-1.2, 1.0]), (0.0,)),
        Problem(2, "Freudenstein and Roth", _freudenstein_roth, np.array([0.5, -2.0]),
                (0.0, 48.9842)),
        Problem(3, "Powell badly scaled", _powell_badly_scaled, np.array([0.0, 1.0]), (0.0,)),
        Problem(4, "Brown badly scaled", _brown_badly_scaled, np.array([1.0, 1.0]), (0.0,)),
        Problem(5, "Beale", _beale, np.array([1.0, 1.0]), (0.0,)),
        Problem(6, "Jennrich and Sampson", _jennrich_sampson, np.array([0.3, 0.4]), (124.362,)),
        Problem(8, "Bard", _bard, np.array([1.0, 1.0, 1.0]), (8.21487e-3,), (17.4286,)),
        Problem(9, "Gaussian", _gaussian, np.array([0.4, 1.0, 0.0]), (1.12793e-8,)),
        Problem(10, "Meyer", _meyer, np.array([0.02, 4000.0, 250.0]), (87.9458,)),
        Problem(11, "Gulf research and development", _gulf, np.array([5.0, 2.5, 0.15]), (0.0,)),
        Problem(12, "Box three-dimensional", _box_3d, np.array([0.0, 10.0, 20.0]), (0.0,)),
        Problem(13, "Powell singular", _powell_singular, np.array([3.0, -1.0, 0.0, 1.0]),
                (0.0,)),
        Problem(14, "Wood", _wood, np.array([-3.0, -1.0, -3.0, -1.0]), (0.0,)),
        Problem(15, "Kowalik and Osborne", _kowalik_osborne, np.array([0.25, 0.39, 0.415, 0.39]),
                (3.07505e-4,), (1.02734e-3,)),
        Problem(16, "Brown and Dennis", _brown_dennis, np.array([25.0, 5.0, -5.0, -1.0]),
                (85822.2,)),
        Problem(17, "Osborne 1", _osborne1, np.array([0.5, 1.5, -1.0, 0.01, 0.02]),
                (5.46489e-5,)),
        Problem(18, "Biggs EXP6", _biggs_exp6, np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0]),
                (0.0, 5.65565e-3)),
        Problem(19, "Osborne 2", _osborne2,
                np.array([1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5]),
                (4.01377e-2,)),
        Problem(20, "Watson (n = 6)", _watson, np.zeros(6), (2.28767e-3,)),
        Problem(21, "Extended Rosenbrock (n = 10)", _extended_rosenbrock,
                np.tile([-1.2, 1.0], 5), (0.0,)),
        Problem(22, "Extended Powell singular (n = 8)", _extended_powell,
                np.tile([3.0, -1.0, 0.0, 1.0], 2), (0.0,)),
        Problem(23, "Penalty I (n = 10)", _penalty1, n10.copy(), (7.08765e-5,)),
        Problem(24, "Penalty II (n = 10)", _penalty2, np.full(10, 0.5), (2.93660e-4,)),
        Problem(25, "Variably dimensioned (n = 10)", _variably_dimensioned, 1 - n10 / 10,
                (0.0,)),
        Problem(26, "Trigonometric (n = 10)", _trigonometric, np.full(10, 0.1),
                (0.0, 2.79506e-5)),
        Problem(27, "Brown almost-linear (n = 10)", _brown_almost_linear, np.full(10, 0.5),
                (0.0, 1.0)),
        Problem(28, "Discrete boundary value (n = 10)", _discrete_boundary_value,
                (n10 / 11) * (n10 / 11 - 1), (0.0,)),
        Problem(29, "Discrete integral equation (n = 10)", _discrete_integral_equation,
                (n10 / 11) * (n10 / 11 - 1), (0.0,)),
    ]


PROBLEMS = {p.name: p for p in _problems()}


def _methods():
    from difflab.optim import gauss_newton, newton, newton_cg
    return {
        "newton": lambda p, **kw: newton(p.f, p.x0, **kw),
        "newton saddle-free": lambda p, **kw: newton(p.f, p.x0, modification="saddle-free",
                                                     **kw),
        "trust-region exact": lambda p, **kw: newton(p.f, p.x0, globalization="trust-region",
                                                     **kw),
        "trust-region steihaug": lambda p, **kw: newton(p.f, p.x0, globalization="trust-region",
                                                        subproblem="steihaug", **kw),
        "newton-cg": lambda p, **kw: newton_cg(p.f, p.x0, **kw),
        "gauss-newton": lambda p, **kw: gauss_newton(p.residuals, p.x0, **kw),
        "levenberg-marquardt": lambda p, **kw: gauss_newton(p.residuals, p.x0,
                                                            damping="levenberg-marquardt", **kw),
    }


METHODS = tuple(_methods())

# The published minima have six significant digits; 10⁻⁵ relative is one unit more.
F_RTOL = 1e-5
# Where f* = 0, f must fall 16 orders below max(1, f(x₀)) (the residuals 8).
F_ATOL_RELATIVE_TO_START = 1e-16


def solved(problem, fun):
    """Is f within the published minimum values' precision of one of them?

    f* = 0 (a zero-residual problem): f ≤ 10⁻¹⁶·max(1, f(x₀)), so that f has fallen by at
    least 16 orders (the residuals by 8). A minimum at infinity is not a minimizer.
    """
    floor = F_ATOL_RELATIVE_TO_START * max(1.0, float(problem.f(problem.x0)))
    return any(abs(fun - value) <= F_RTOL * value + floor for value in problem.minima)


# A local minimizer the paper does not list: f is within 10⁻¹⁰ relative of the minimum of
# the quadratic model there, whose Hessian is positive definite.
DECREMENT_RTOL = 1e-10


def at_local_minimizer(problem, x):
    """Is x a strict local minimizer to working precision, by the Newton decrement?

    H = ∇²f(x) (from AD) positive definite and ½gᵀH⁻¹g ≤ 10⁻¹⁰·|f(x)|: the model's minimum
    lies below f(x) by less than that. The decrement is invariant under any linear change of
    variables, so a badly scaled problem gets no easier or harder test.
    """
    ad = difflab.differentiator("ad")
    g, H = ad.gradient(problem.f, x), ad.hessian(problem.f, x)
    values, vectors = np.linalg.eigh(H)
    if values[0] <= 0:
        return False
    decrement = 0.5 * np.sum((vectors.T @ g) ** 2 / values)
    return bool(decrement <= DECREMENT_RTOL * abs(float(problem.f(x))))


class Outcome(NamedTuple):
    """``solved``: f near a published minimum; ``local``: at another strict local minimizer."""

    problem: str
    method: str
    status: str
    claimed: bool
    solved: bool
    local: bool
    fun: float
    grad_norm: float
    nit: int

    @property
    def false_success(self):
        return self.claimed and not (self.solved or self.local)


def run(problem, method, maxiter=200):
    """One method on one problem, with AD derivatives."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = _methods()[method](problem, maxiter=maxiter)
        local = bool(np.all(np.isfinite(result.x))) and at_local_minimizer(problem, result.x)
    return Outcome(problem.name, method, result.status, result.converged,
                   solved(problem, result.fun), local, result.fun, result.grad_norm,
                   result.nit)


def sweep(problems=None, methods=METHODS, maxiter=200, log=None):
    """Every method on every problem: the outcomes, and per method (solved, claimed, false).

    "solved" counts f near a published minimum or at another strict local minimizer.
    """
    outcomes = []
    for problem in (problems or PROBLEMS.values()):
        for method in methods:
            try:
                outcome = run(problem, method, maxiter)
            except Exception as error:          # a crash is an outcome of the sweep too
                outcome = Outcome(problem.name, method, f"error: {type(error).__name__}",
                                  False, False, False, math.nan, math.nan, -1)
            outcomes.append(outcome)
            if log:
                log(outcome)
    counts = {m: (sum(o.solved or o.local for o in outcomes if o.method == m),
                  sum(o.claimed for o in outcomes if o.method == m),
                  sum(o.false_success for o in outcomes if o.method == m)) for m in methods}
    return outcomes, counts
