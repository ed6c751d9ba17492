"""difflab beside the tools users would otherwise pick, measured the same way in one run (issue 9).

    python benchmarks/peers.py                      # every workload (about 8 minutes)
    python benchmarks/peers.py --quick              # fewer rounds, smaller cases (about 2 minutes)
    python benchmarks/peers.py --only gradient hessian

The peers are HIPS autograd, PyTorch (CPU), JAX, numdifftools, scipy.differentiate (scipy ≥ 1.15)
and plain SymPy: ``pip install -e ".[peers]"``, after the CPU build of torch (``pip install
torch==2.13.0`` where that wheel is on disk). A peer that is missing is skipped with a note.

Workloads, each printed as a table of medians and ratios to difflab and saved as Markdown and a
PNG under ``reports/benchmarks/``:

1. ``gradient``: ∇L of the zoo's tanh MSE MLP, tiny 4-8-8-1/batch 16, small 16-32-32-1/batch 64
   and medium 784-128-64-10/batch 64: difflab AD, hand-written NumPy backprop, autograd,
   PyTorch eager, JAX with and without jit.
2. ``hessian``: the full Hessian of tiny and small: difflab AD, ``autograd.hessian``,
   ``torch.autograd.functional.hessian(vectorize=True)``, ``torch.func.hessian``,
   ``jax.jit(jax.hessian)``.
3. ``numeric``: difflab's finite-difference schemes against numdifftools' and
   scipy.differentiate's defaults: relative error against the truth (``difflab.reference``)
   and evaluations of f.
4. ``symbolic``: difflab's symbolic modes against plain SymPy ``diff`` + ``lambdify`` on the
   4-8-8-1 gradient: setup and evaluation.

Fairness. Every peer computes the same function — tanh MLP, MSE loss, float64, the same θ, X
and Y — and its derivative is compared with difflab's before it is timed; a relative
difference above 1e-10 is printed, not hidden. The process is pinned to one CPU and every
library to one thread: the OpenMP/OpenBLAS/MKL variables are set before NumPy is imported, the
XLA flags before JAX, and torch.set_num_threads(1) after torch. Times are process CPU time
(all threads), medians of interleaved rounds (``ad_speed.interleaved``); a ratio is the median
over rounds of that round's ratio, so a slow spell hits both sides alike. The peers take their
parameters per layer, as their users keep them; difflab and the hand-written backprop take the
flat θ and unravel it inside the timed call. Full Hessians are of the flat θ for everyone.
"""

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def pin_threads():
    """One thread for every library, set before any of them is imported; returns the CPU used.

    XLA's flags alone leave JAX computing on every core (its thread pool is sized from the CPU
    affinity), so the process is pinned to one CPU as well: each library then uses one core.
    """
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


PINNED_CPU = pin_threads() if __name__ == "__main__" else None

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import sympy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mlp_backprop as hand  # noqa: E402
from ad_speed import interleaved, median_ratio  # noqa: E402

import difflab  # noqa: E402
from difflab import ad, models, numeric, ravel, reference, symbolic  # noqa: E402

NETWORKS = {
    "tiny": ((4, 8, 8, 1), 16),
    "small": ((16, 32, 32, 1), 64),
    "medium": ((784, 128, 64, 10), 64),
    "mini": ((2, 3, 3, 1), 8),        # the zoo's default MLP: small enough for reference.hessian
    "tiny, batch 1": ((4, 8, 8, 1), 1),   # where plain SymPy's setup finishes in seconds
}
AGREEMENT = 1e-10                     # relative difference to difflab beyond which we say so
DIFFLAB = "difflab AD"
WORKLOADS = ("gradient", "hessian", "numeric", "symbolic")
OUT = Path(__file__).resolve().parents[1] / "reports" / "benchmarks"


# The peers: imported if present, each missing one a note.

@dataclass(frozen=True)
class Peer:
    name: str
    module: str
    minimum: tuple = ()
    why: str = ""
    hint: str = ""


PEERS = (
    Peer("autograd", "autograd"),
    Peer("torch", "torch", hint="its CPU build first, e.g. pip install torch==2.13.0"),
    Peer("jax", "jax"),
    Peer("numdifftools", "numdifftools"),
    Peer("scipy", "scipy", (1, 15), "scipy.differentiate is new in scipy 1.15"),
)
INSTALL = 'pip install -e ".[peers]"'


def version_tuple(text):
    """(1, 15, 2) from "1.15.2", (2, 13, 0) from "2.13.0+cpu": the leading number of each part."""
    numbers = []
    for part in str(text).split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        numbers.append(int(digits.group()))
    return tuple(numbers)


def installed_version(distribution):
    """The installed version of a distribution ("" if unknown): autograd has no __version__."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        module = sys.modules.get(distribution)
        return str(getattr(module, "__version__", ""))


def load_peers(peers=PEERS):
    """({name: module} of the peers that import, [a note for each one that does not])."""
    found, notes = {}, []
    for peer in peers:
        try:
            module = importlib.import_module(peer.module)
        except Exception as error:   # a broken install is skipped like a missing one
            hint = f" ({peer.hint})" if peer.hint else ""
            notes.append(f"{peer.name}: skipped, it does not import "
                         f"({type(error).__name__}: {error}); {INSTALL}{hint}")
            continue
        version = installed_version(peer.module)
        if peer.minimum and version_tuple(version) < peer.minimum:
            needed = ".".join(map(str, peer.minimum))
            notes.append(f"{peer.name} {version}: skipped, {peer.why} (needs ≥ {needed})")
            continue
        found[peer.name] = module
    return configured(found, notes), notes


def configured(found, notes):
    """The peers set up as measured: float64 and one thread; scipy as scipy.differentiate."""
    if "torch" in found:
        torch = found["torch"]
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:     # only settable before torch's first parallel work
            pass
    if "jax" in found:
        found["jax"].config.update("jax_enable_x64", True)
    if "scipy" in found:
        try:
            found["scipy"] = importlib.import_module("scipy.differentiate")
        except ImportError as error:
            notes.append(f"scipy: skipped, scipy.differentiate does not import ({error})")
            del found["scipy"]
    return found


def skipped(peers, *names):
    """Notes for the peers among ``names`` that a table leaves out."""
    return [f"{name} unavailable (see the notes above the tables): its rows are left out"
            for name in names if name not in peers]


# Tables: printed aligned, saved as Markdown.

@dataclass
class Table:
    title: str
    headers: list
    rows: list = field(default_factory=list)       # each a list of formatted cells
    notes: list = field(default_factory=list)


def text(table):
    """The table as aligned text: the first two columns to the left, numbers to the right."""
    widths = [max(len(str(row[i])) for row in [table.headers, *table.rows])
              for i in range(len(table.headers))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    rule = "-" * len(line(table.headers))
    lines = [table.title, rule, line(table.headers), rule, *map(line, table.rows), rule]
    return "\n".join(lines + [f"  {note}" for note in table.notes])


def markdown(table):
    """The table as a Markdown table, its notes as a list beneath."""
    align = ["---" if i < 2 else "---:" for i in range(len(table.headers))]
    rows = [table.headers, align, *table.rows]
    body = "\n".join("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"
                     for row in rows)
    notes = "".join(f"- {note}\n" for note in table.notes)
    return f"## {table.title}\n\n{body}\n\n{notes}"


def fixed(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


def general(x, digits=3):
    return "—" if x is None else f"{x:.{digits}g}"


def scientific(x):
    return "—" if x is None else f"{x:.1e}"


# One function for every peer: the zoo's tanh MSE MLP over the flat θ.

def problem_of(network):
    widths, batch = NETWORKS[network]
    return models.get("mlp", widths=widths, batch=batch, activation="tanh", loss="mse")


def layer_shapes(widths):
    return list(zip(widths[:-1], widths[1:]))


def mlp_residual(xnp, params, X, Y):
    """ŷ − y with ŷ = h W_L + b_L, h ← tanh(h W_l + b_l) from h = X (networks.mlp); the arrays
    may carry a leading axis of stacked parameter vectors."""
    h = X
    for W, b in params[:-1]:
        h = xnp.tanh(h @ W + b)
    W, b = params[-1]
    return h @ W + b - Y


def mlp_loss(xnp, params, X, Y):
    """L = (1/(B·m)) Σ (ŷ − y)²: the batch mean of networks.mse, in any NumPy-like namespace."""
    residual = mlp_residual(xnp, params, X, Y)
    return xnp.mean(residual * residual)


def unravel_as(xnp, theta, widths):
    """θ's layers [(W, b)] in difflab.ravel's order (each W row-major, then its b)."""
    params, start = [], 0
    for fan_in, fan_out in layer_shapes(widths):
        W = xnp.reshape(theta[start:start + fan_in * fan_out], (fan_in, fan_out))
        start += fan_in * fan_out
        params.append((W, theta[start:start + fan_out]))
        start += fan_out
    return params


def flat_loss(xnp, widths, X, Y):
    """θ ↦ L(θ) for the flat θ, in namespace ``xnp``: what every full Hessian differentiates."""
    return lambda theta: mlp_loss(xnp, unravel_as(xnp, theta, widths), X, Y)


def stacked_loss(problem, widths):
    """L at a stack of parameter vectors, shape (n, …) → (…): the vectorized f that
    scipy.differentiate calls. Per point the same matmuls as the zoo objective."""
    X, Y, n = problem.X, problem.Y, problem.n_params

    def F(points):
        points = np.asarray(points)
        thetas = points.reshape(n, -1).T                  # (k, n)
        params, start = [], 0
        for fan_in, fan_out in layer_shapes(widths):
            W = thetas[:, start:start + fan_in * fan_out].reshape(-1, fan_in, fan_out)
            start += fan_in * fan_out
            params.append((W, thetas[:, None, start:start + fan_out]))
            start += fan_out
        residual = mlp_residual(np, params, X, Y)
        return np.mean(residual * residual, axis=(1, 2)).reshape(points.shape[1:])
    return F


def flat_leaves(leaves):
    """One float64 vector from arrays or tensors in difflab.ravel's order."""
    return np.concatenate([np.asarray(leaf.detach() if hasattr(leaf, "detach") else leaf,
                                      dtype=np.float64).ravel() for leaf in leaves])


def difference(value, truth):
    """‖value − truth‖ / ‖truth‖ (reference.relative_error, in mpmath when truth is mpmath)."""
    return reference.relative_error(np.asarray(value, dtype=np.float64), truth)


def first_call(call):
    """(output, CPU seconds) of the first call: tracing and compilation included."""
    start = time.process_time()
    out = call()
    return out, time.process_time() - start


# Workload 1: gradients.

def gradient_methods(problem, widths, peers):
    """{label: (call, flatten)}: each call computes ∇L(θ₀) its own way, flatten makes it flat."""
    theta, X, Y = np.array(problem.theta0), problem.X, problem.Y
    params = problem.unravel(theta)
    tree = lambda grads: ravel(grads)[0]                    # noqa: E731
    gradient = ad.grad(problem.objective)
    methods = {DIFFLAB: (lambda: gradient(theta), np.asarray),
               "hand-written NumPy": (lambda: hand.value_and_gradient(problem.unravel(theta),
                                                                      X, Y)[1], tree)}
    if "autograd" in peers:
        import autograd.numpy as anp
        autograd_gradient = peers["autograd"].grad(lambda p: mlp_loss(anp, p, X, Y))
        methods["autograd"] = (lambda: autograd_gradient(params), tree)
    if "torch" in peers:
        methods["PyTorch eager"] = torch_gradient(peers["torch"], params, X, Y)
    if "jax" in peers:
        methods.update(jax_gradients(peers["jax"], params, X, Y))
    return methods


def torch_gradient(torch, params, X, Y):
    Xt, Yt = torch.from_numpy(np.array(X)), torch.from_numpy(np.array(Y))
    leaves = [torch.tensor(a, requires_grad=True) for layer in params for a in layer]
    layers = list(zip(leaves[::2], leaves[1::2]))
    return (lambda: torch.autograd.grad(mlp_loss(torch, layers, Xt, Yt), leaves),
            flat_leaves)


def jax_gradients(jax, params, X, Y):
    jnp = jax.numpy
    jX, jY = jnp.asarray(X), jnp.asarray(Y)
    layers = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    gradient = jax.grad(lambda p: mlp_loss(jnp, p, jX, jY))
    compiled = jax.jit(gradient)
    flatten = lambda g: flat_leaves(jax.tree_util.tree_leaves(g))     # noqa: E731
    return {"JAX (no jit)": (lambda: jax.block_until_ready(gradient(layers)), flatten),
            "JAX jit": (lambda: jax.block_until_ready(compiled(layers)), flatten)}


def timed_rows(network, problem, methods, rounds, seconds, notes):
    """Agreement first, then interleaved timing: rows of the table and {label: ratio}."""
    first, expected = {}, None
    agreement = {}
    for label, (call, flatten) in methods.items():
        out, first[label] = first_call(call)
        value = flatten(out)
        expected = value if expected is None else expected
        agreement[label] = difference(value, expected)
        if agreement[label] > AGREEMENT:
            notes.append(f"DISAGREEMENT on {network}: {label} differs from {DIFFLAB} by "
                         f"{agreement[label]:.1e} (relative)")
    times = interleaved({label: call for label, (call, _) in methods.items()}, rounds, seconds)
    ratios, rows = {}, []
    for label in methods:
        ratios[label] = median_ratio(times, label, DIFFLAB)
        rows.append([f"{network} (n={problem.n_params})", label,
                     general(first[label] * 1e3), general(statistics.median(times[label]) * 1e6),
                     fixed(ratios[label]), scientific(agreement[label])])
    return rows, ratios


TIME_HEADERS = ["network", "method", "first call ms", "median µs", "× difflab",
                "‖Δ‖/‖difflab‖"]


def gradient_workload(peers, quick):
    rounds, seconds = (5, 0.05) if quick else (9, 0.2)
    table = Table("Workload 1 — MLP gradient (tanh, MSE)", TIME_HEADERS,
                  notes=skipped(peers, "autograd", "torch", "jax"))
    measured = {}
    for network in ("tiny", "small", "medium"):
        problem = problem_of(network)
        methods = gradient_methods(problem, NETWORKS[network][0], peers)
        rows, measured[network] = timed_rows(network, problem, methods, rounds, seconds,
                                             table.notes)
        table.rows += rows
    table.notes += [f"median of {rounds} interleaved rounds of ≥ {seconds} s each; "
                    "× difflab = method time ÷ difflab AD time (> 1: difflab is faster)",
                    "peers take their parameters per layer (their users' form); difflab AD "
                    "and the hand-written backprop take the flat θ and unravel it inside the "
                    "timed call"]
    return table, measured, gradient_targets(measured)


def faster(measured, network, label):
    ratio = measured.get(network, {}).get(label)
    return None if ratio is None else ratio > 1


def gradient_targets(measured):
    targets = []
    for network in ("tiny", "small"):
        for label in ("autograd", "PyTorch eager"):
            targets.append(Target(f"difflab AD gradient faster than {label} on {network}",
                                  faster(measured, network, label),
                                  ratio_words(measured, network, label)))
    torch_ratio = measured["medium"].get("PyTorch eager")
    targets.append(Target("difflab AD gradient within 1.3× of PyTorch eager on medium",
                          None if torch_ratio is None else 1 / torch_ratio <= 1.3,
                          None if torch_ratio is None else
                          f"difflab = {1 / torch_ratio:.2f}× PyTorch's time"))
    return targets


def ratio_words(measured, network, label):
    ratio = measured.get(network, {}).get(label)
    return None if ratio is None else f"{label} takes {ratio:.2f}× difflab's time"


@dataclass
class Target:
    text: str
    met: bool | None
    numbers: str | None

    def __str__(self):
        verdict = {True: "met", False: "NOT met", None: "not measured"}[self.met]
        return f"{verdict:12} {self.text}" + (f" ({self.numbers})" if self.numbers else "")


# Workload 2: full Hessians.

def hessian_methods(problem, widths, peers):
    """{label: (call, flatten)} for the (n, n) Hessian of L at the flat θ₀."""
    theta, X, Y = np.array(problem.theta0), problem.X, problem.Y
    hessian = ad.hessian(problem.objective)
    methods = {DIFFLAB: (lambda: hessian(theta), np.asarray)}
    if "autograd" in peers:
        import autograd.numpy as anp
        autograd_hessian = peers["autograd"].hessian(flat_loss(anp, widths, X, Y))
        methods["autograd.hessian"] = (lambda: autograd_hessian(theta), np.asarray)
    if "torch" in peers:
        methods.update(torch_hessians(peers["torch"], theta, widths, X, Y))
    if "jax" in peers:
        jax = peers["jax"]
        jnp = jax.numpy
        compiled = jax.jit(jax.hessian(flat_loss(jnp, widths, jnp.asarray(X), jnp.asarray(Y))))
        point = jnp.asarray(theta)
        methods["jax.jit(jax.hessian)"] = (lambda: compiled(point).block_until_ready(),
                                           np.asarray)
    return methods


def torch_hessians(torch, theta, widths, X, Y):
    f = flat_loss(torch, widths, torch.from_numpy(np.array(X)), torch.from_numpy(np.array(Y)))
    point = torch.from_numpy(theta.copy())
    functional = torch.func.hessian(f)
    as_array = lambda H: H.numpy()                # noqa: E731
    return {"torch.autograd.functional.hessian(vectorize=True)":
            (lambda: torch.autograd.functional.hessian(f, point, vectorize=True), as_array),
            "torch.func.hessian": (lambda: functional(point), as_array)}


def hessian_workload(peers, quick):
    table = Table("Workload 2 — full Hessian (tanh MLP, MSE)", TIME_HEADERS,
                  notes=skipped(peers, "autograd", "torch", "jax"))
    measured = {}
    for network, (rounds, seconds) in (("tiny", (5, 0.05) if quick else (9, 0.2)),
                                       ("small", (1, 0.01) if quick else (3, 0.01))):
        problem = problem_of(network)
        methods = hessian_methods(problem, NETWORKS[network][0], peers)
        rows, measured[network] = timed_rows(network, problem, methods, rounds, seconds,
                                             table.notes)
        table.rows += rows
        table.notes.append(f"{network}: median of {rounds} interleaved round(s)")
    table.notes.append("jax.hessian is timed under jit only: without it JAX re-traces "
                       "forward-over-reverse on every call (seconds per call here)")
    targets = [Target(f"difflab AD Hessian faster than {label} on {network}",
                      faster(measured, network, label), ratio_words(measured, network, label))
               for network in ("tiny", "small")
               for label in ("autograd.hessian",
                             "torch.autograd.functional.hessian(vectorize=True)")]
    return table, measured, targets


# Workload 3: numeric derivatives.

class Counted:
    """f with its evaluations counted: real and complex points; a stack of k points counts k."""

    def __init__(self, f, stacked=False):
        self.f, self.stacked = f, stacked
        self.real = self.complex = 0

    def __call__(self, x):
        points = np.asarray(x)
        count = points[0].size if self.stacked else 1
        if np.iscomplexobj(points):
            self.complex += count
        else:
            self.real += count
        return self.f(x)


GRADIENT_SCHEMES = [("forward", 1), ("central", 2), ("central", 4), ("richardson", 2),
                    ("complex-step", 2)]
HESSIAN_ROUTES = [("values", 4), ("values", 2), ("complex-step", 2)]


def numeric_gradients(problem, widths, peers):
    """{label: (run(counted f) → value, stacked?)}: difflab's schemes as called by default
    (with their error estimates; numdifftools and scipy estimate theirs too), then the peers."""
    theta = np.array(problem.theta0)
    runs = {}
    for scheme, order in GRADIENT_SCHEMES:
        runs[gradient_label(scheme, order)] = (
            lambda f, s=scheme, o=order: numeric.gradient(f, theta, s, o).value, False)
    if "numdifftools" in peers:
        runs["numdifftools Gradient"] = (lambda f: peers["numdifftools"].Gradient(f)(theta),
                                         False)
    if "scipy" in peers:
        runs["scipy.differentiate.jacobian"] = (lambda F: peers["scipy"].jacobian(F, theta).df,
                                                True)
    return runs


def gradient_label(scheme, order):
    return f"difflab {scheme} {order}" + (" (default)" if (scheme, order) == ("central", 2)
                                          else "")


def bare_gradient_evaluations(problem, scheme, order):
    """Evaluations of the scheme alone (estimate=False, no complex-step check)."""
    counted = Counted(problem.objective)
    numeric.gradient(counted, np.array(problem.theta0), scheme, order, estimate=False,
                     check=False)
    return counted.real + counted.complex


def numeric_hessians(problem, widths, peers):
    theta = np.array(problem.theta0)
    runs = {}
    for route, order in HESSIAN_ROUTES:
        label = f"difflab {route}" + (f" order {order}" if route == "values" else "")
        label += " (default)" if (route, order) == ("values", 4) else ""
        runs[label] = (lambda f, r=route, o=order:
                       numeric.hessian(f, theta, r, order=o if r == "values" else None).value,
                       False)
    if "numdifftools" in peers:
        runs["numdifftools Hessian"] = (lambda f: peers["numdifftools"].Hessian(f)(theta),
                                        False)
    if "scipy" in peers:
        runs["scipy.differentiate.hessian"] = (lambda F: peers["scipy"].hessian(F, theta).ddf,
                                               True)
    return runs


@lru_cache(maxsize=None)
def reference_gradient(network):
    problem = problem_of(network)
    return reference.gradient(problem.objective, np.array(problem.theta0))


@lru_cache(maxsize=None)
def reference_hessian(network):
    problem = problem_of(network)
    return reference.hessian(problem.objective, np.array(problem.theta0))


def hessian_truth(network, notes):
    """The Hessian to measure against: difflab.reference where it takes seconds (mini), else
    the symbolic Hessian evaluated in mpmath at 50 digits, checked against the reference on
    mini first (reference.hessian of tiny would take over ten minutes)."""
    problem = problem_of(network)
    theta = np.array(problem.theta0)
    if network == "mini":
        return reference_hessian("mini")
    mini = problem_of("mini")
    check = reference.relative_error(
        symbolic.derivative(mini.objective, mini.theta0, "hessian").mpmath(mini.theta0),
        reference_hessian("mini"))
    notes.append(f"{network} Hessian truth: difflab's symbolic Hessian in mpmath at 50 digits "
                 f"(on mini it differs from difflab.reference by {check:.1e})")
    return symbolic.derivative(problem.objective, theta, "hessian").mpmath(theta)


NUMERIC_HEADERS = ["case", "method", "evaluations", "complex", "bare", "× difflab evals",
                   "rel. error", "× difflab error", "CPU s"]


def numeric_rows(case, problem, runs, truth, default, bare=None):
    """Rows of the numeric table and {label: (evaluations, error)} for the targets."""
    widths = problem.config["widths"]
    results = {}
    for label, (run, stacked) in runs.items():
        counted = Counted(stacked_loss(problem, widths) if stacked else problem.objective,
                          stacked)
        value, seconds = first_call(lambda run=run, counted=counted: run(counted))
        results[label] = (counted.real, counted.complex, difference(value, truth), seconds)
    base_evals = sum(results[default][:2])
    base_error = results[default][2]
    rows = [[case, label, str(real), str(cplx), str((bare or {}).get(label, "—")),
             fixed((real + cplx) / base_evals), scientific(error),
             fixed(error / base_error) if base_error else "—", fixed(seconds)]
            for label, (real, cplx, error, seconds) in results.items()]
    return rows, {label: (r[0] + r[1], r[2], r[1] > 0) for label, r in results.items()}


def numeric_workload(peers, quick):
    table = Table("Workload 3 — numeric derivatives: error against the truth and evaluations "
                  "of f", NUMERIC_HEADERS, notes=skipped(peers, "numdifftools", "scipy"))
    check_stacked(table.notes)
    measured = {}
    problem = problem_of("tiny")
    bare = {gradient_label(s, o): bare_gradient_evaluations(problem, s, o)
            for s, o in GRADIENT_SCHEMES}
    case = f"tiny gradient (n={problem.n_params})"
    rows, measured["gradient"] = numeric_rows(
        case, problem, numeric_gradients(problem, NETWORKS["tiny"][0], peers),
        reference_gradient("tiny"), "difflab central 2 (default)", bare)
    table.rows += rows
    for network in ("mini",) if quick else ("mini", "tiny"):
        problem = problem_of(network)
        truth = hessian_truth(network, table.notes)
        rows, measured[f"hessian {network}"] = numeric_rows(
            f"{network} Hessian (n={problem.n_params})", problem,
            numeric_hessians(problem, NETWORKS[network][0], peers), truth,
            "difflab values order 4 (default)")
        table.rows += rows
    table.notes += [
        "gradient truth: difflab.reference (50 digits); evaluations count points where f was "
        "evaluated, complex ones apart; 'bare' = the difflab scheme without its error "
        "estimate (estimate=False)",
        "difflab and numdifftools call the zoo objective point by point; scipy.differentiate "
        "needs a vectorized f and gets the same loss over stacks of points, so its CPU "
        "seconds are not comparable, its evaluations are",
        "× difflab = ratio to difflab's default (central 2 for gradients, values order 4 "
        "for Hessians)"]
    return table, measured, numeric_targets(measured)


def check_stacked(notes):
    """The vectorized loss scipy gets must be the zoo objective to rounding."""
    for network in ("mini", "tiny"):
        problem = problem_of(network)
        theta = np.array(problem.theta0)
        gap = abs(stacked_loss(problem, NETWORKS[network][0])(theta[:, None])[0]
                  - problem.objective(theta))
        if gap > AGREEMENT * abs(problem.objective(theta)):
            notes.append(f"DISAGREEMENT: the vectorized loss differs from the zoo objective "
                         f"on {network} by {gap:.1e}")


def dominating(results, peer, complex_step):
    """The difflab methods with lower error and fewer evaluations than ``peer``: real-valued
    ones, or (``complex_step``) those that count complex evaluations among theirs."""
    evaluations, error, _ = results[peer]
    return [label for label, (e, err, uses_complex) in results.items()
            if label.startswith("difflab") and uses_complex == complex_step
            and e < evaluations and err < error]


def numeric_targets(measured):
    """Met where a real-valued difflab scheme has both lower error and fewer evaluations than
    the peer's default; a complex evaluation costs more than a real one, so the complex step
    is named beside the verdict, not counted in it."""
    targets = []
    for case, results in measured.items():
        default = next(label for label in results if label.endswith("(default)"))
        de, derr, _ = results[default]
        for peer in [label for label in results if not label.startswith("difflab")]:
            real, complex_ = dominating(results, peer, False), dominating(results, peer, True)
            e, err, _ = results[peer]
            numbers = (f"{peer}: {e} evaluations, error {err:.1e}; difflab default: {de}, "
                       f"{derr:.1e}; real-valued difflab schemes with both fewer evaluations "
                       f"and lower error: {', '.join(real) or 'none'}"
                       + (f"; with complex evaluations: {', '.join(complex_)}" if complex_
                          else ""))
            targets.append(Target(f"difflab numeric {case}: lower error with fewer evaluations "
                                  f"than {peer}", bool(real), numbers))
    return targets


# Workload 4: symbolic setup and evaluation.

SYMPY_NAMESPACE = SimpleNamespace(tanh=np.frompyfunc(sympy.tanh, 1, 1), mean=np.mean,
                                  reshape=np.reshape)


def plain_sympy(network, rounds, seconds, messages):
    """In a child process: the gradient as a SymPy user writes it — the loss over the whole
    batch from symbols t0…tn₋₁, the data as numbers; sympy.diff per parameter; lambdify to
    NumPy. Each stage's CPU seconds are sent as it ends, then the value and evaluation time."""
    problem = problem_of(network)
    theta = np.array(problem.theta0)
    messages.put(("start", time.process_time()))
    start = time.process_time()
    symbols = sympy.symbols(f"t0:{theta.size}")
    params = unravel_as(SYMPY_NAMESPACE, np.array(symbols, dtype=object), NETWORKS[network][0])
    loss = mlp_loss(SYMPY_NAMESPACE, params, problem.X, problem.Y)
    start = lap(messages, "build", start)
    partials = [sympy.diff(loss, s) for s in symbols]
    start = lap(messages, "differentiate", start)
    compiled = sympy.lambdify(symbols, partials, "numpy")
    lap(messages, "lambdify", start)
    messages.put(("value", np.array(compiled(*theta), dtype=np.float64)))
    derivative = symbolic.derivative(problem.objective, theta)
    times = interleaved({"plain": lambda: compiled(*theta), "dag": lambda: derivative(theta)},
                        rounds, seconds)
    messages.put(("evaluate", (statistics.median(times["plain"]),
                               median_ratio(times, "plain", "dag"))))


def lap(messages, stage, start):
    now = time.process_time()
    messages.put((stage, now - start))
    return now


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_plain_sympy(network, cap, rounds, seconds):
    """{stage: CPU s, "value", "evaluate", "stopped": CPU s or None}. Setup gets ``cap``
    seconds of wall time; a stage still running then is stopped, and "stopped" holds the
    CPU seconds spent since the child's imports: a lower bound on the setup."""
    context = multiprocessing.get_context("spawn")    # fork is unsafe beside JAX's threads
    messages = context.Queue()
    child = context.Process(target=plain_sympy, args=(network, rounds, seconds, messages),
                            daemon=True)
    before = children_cpu()
    child.start()
    got, deadline = {}, time.monotonic() + cap
    while "evaluate" not in got and time.monotonic() < deadline:
        try:
            key, value = messages.get(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            if not child.is_alive():
                break
            continue
        got[key] = value
        if key == "lambdify":                 # setup done: evaluation gets its own time
            deadline = time.monotonic() + 60 + 4 * rounds * seconds
    stopped = child.is_alive()
    if stopped:
        child.terminate()
    child.join()
    spent = children_cpu() - before - got.get("start", 0.0)
    got["stopped"] = None if "lambdify" in got else spent
    got["failed"] = None if stopped or "lambdify" in got else child.exitcode
    return got


SYMBOLIC_HEADERS = ["case", "method", "setup s", "× difflab setup", "eval µs",
                    "× difflab eval", "rel. error"]


def symbolic_case(network, cap, rounds, seconds, notes):
    """Rows for difflab's modes and plain SymPy on ``network``'s gradient, and the setup ratio
    of plain SymPy to difflab's default mode (a lower bound when plain SymPy was stopped)."""
    problem = problem_of(network)
    theta = np.array(problem.theta0)
    truth = reference_gradient(network)
    case = f"{'-'.join(map(str, NETWORKS[network][0]))}/batch {NETWORKS[network][1]} gradient"
    built, setup = {}, {}
    for mode in symbolic.MODES:
        sympy.core.cache.clear_cache()           # no mode profits from the one before
        built[mode], setup[mode] = first_call(lambda mode=mode: symbolic.derivative(
            problem.objective, theta, "gradient", mode=mode, budget=symbolic.Budget(seconds=600)))
        stages = ", ".join(f"{k} {v:.2f}" for k, v in built[mode].seconds.items())
        notes.append(f"{case}, difflab {mode} stages (wall s): {stages}")
    default = symbolic.DEFAULT_MODE
    times = interleaved({mode: (lambda d=d: d(theta)) for mode, d in built.items()},
                        rounds, seconds)
    rows = [[case, f"difflab {mode}" + (" (default)" if mode == default else ""),
             general(setup[mode]), fixed(setup[mode] / setup[default]),
             general(statistics.median(times[mode]) * 1e6),
             fixed(median_ratio(times, mode, default)), scientific(difference(d(theta), truth))]
            for mode, d in built.items()]
    plain = run_plain_sympy(network, cap, rounds, seconds)
    row, ratio = plain_row(case, plain, setup[default], truth, cap, notes)
    return rows + [row], ratio


def plain_row(case, plain, default_setup, truth, cap, notes):
    stages = [s for s in ("build", "differentiate", "lambdify") if s in plain]
    done = sum(plain[s] for s in stages)
    words = ", ".join(f"{s} {plain[s]:.1f}" for s in stages)
    if plain["failed"] is not None:
        notes.append(f"{case}: plain SymPy's child process ended with exit code "
                     f"{plain['failed']} after {words or 'no stage'}")
        return [case, "plain SymPy diff + lambdify", "failed", "—", "—", "—", "—"], (None, False)
    if plain["stopped"] is not None:
        running = ("build", "differentiate", "lambdify")[len(stages)]
        words += (", " if words else "") + f"{running} > {plain['stopped'] - done:.1f} " \
                                           f"(stopped at the {cap:.0f} s wall-clock cap)"
        setup = plain["stopped"]
        row = [case, "plain SymPy diff + lambdify", f"> {setup:.3g}",
               f"> {setup / default_setup:.0f}", "—", "—", "—"]
    else:
        setup = done
        eval_seconds, eval_ratio = plain.get("evaluate", (None, None))
        error = difference(plain["value"], truth) if "value" in plain else None
        row = [case, "plain SymPy diff + lambdify", general(setup),
               fixed(setup / default_setup), general(eval_seconds and eval_seconds * 1e6),
               fixed(eval_ratio), scientific(error)]
    notes.append(f"{case}, plain SymPy stages (CPU s): {words}")
    return row, (setup / default_setup, plain["stopped"] is not None)


def symbolic_workload(peers, quick):
    rounds, seconds = (5, 0.05) if quick else (9, 0.2)
    cap = 30 if quick else 90
    table = Table("Workload 4 — symbolic gradient: difflab's modes against plain SymPy",
                  SYMBOLIC_HEADERS)
    measured = {}
    for network in ("tiny",) if quick else ("tiny", "tiny, batch 1"):
        rows, measured[network] = symbolic_case(network, cap, rounds, seconds, table.notes)
        table.rows += rows
    table.notes += [
        "setup: CPU seconds from a cold SymPy cache (plain SymPy in a child process, its "
        "imports excluded); eval: median of interleaved rounds; × difflab: ratio to the "
        "default mode (dag); rel. error against difflab.reference",
        "plain SymPy: the loss over the whole batch in symbols with the data as numbers, "
        "sympy.diff per parameter, sympy.lambdify(..., 'numpy'), each with its defaults"]
    ratio, bound = measured["tiny"]
    targets = [Target("difflab symbolic default mode ≥ 20× faster to set up than plain SymPy "
                      "on the 4-8-8-1/batch-16 gradient", None if ratio is None else ratio >= 20,
                      None if ratio is None else
                      f"plain SymPy setup {'>' if bound else '='} {ratio:.0f}× difflab dag's")]
    return table, measured, targets


# Plots and files.

def plot(workload, table, measured, folder):
    """One PNG per workload; returns its file name."""
    from matplotlib.ticker import NullFormatter

    from difflab.report import plots
    if workload in ("gradient", "hessian"):
        fig, ax = plots.figure(width=8.0, height=4.2)
        networks = list(dict.fromkeys(row[0] for row in table.rows))
        labels = list(dict.fromkeys(row[1] for row in table.rows))
        width = 0.8 / len(labels)
        for k, label in enumerate(labels):
            values = [next((float(r[3]) for r in table.rows if r[0] == n and r[1] == label),
                           np.nan) for n in networks]
            ax.bar(np.arange(len(networks)) + k * width, values, width, label=label)
        ax.set_xticks(np.arange(len(networks)) + 0.4 - width / 2, networks)
        ax.set_yscale("log")
        ax.set_ylabel("median µs per call (CPU, one thread)")
        ax.legend(fontsize=7)
    elif workload == "numeric":
        cases = list(dict.fromkeys(row[0] for row in table.rows))
        fig, axes = plots.figure(width=4.6, height=4.2, ncols=len(cases))
        for ax, case in zip(np.atleast_1d(axes), cases):
            for row in (r for r in table.rows if r[0] == case):
                evaluations, error = int(row[2]) + int(row[3]), float(row[6])
                ours = row[1].startswith("difflab")
                ax.scatter(evaluations, error, marker="o" if ours else "s",
                           color=plots.color("ad") if ours else "#d62728")
                ax.annotate(row[1].replace(" (default)", " *"), (evaluations, error),
                            fontsize=6, xytext=(4, 2), textcoords="offset points")
            ax.set(xscale="log", yscale="log", xlabel="evaluations of f (real + complex)",
                   ylabel="relative error", title=case)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.margins(x=0.3)
    else:
        fig, ax = plots.figure(width=8.0, height=4.2)
        labels = [f"{row[0].removesuffix(' gradient')}: {row[1]}" for row in table.rows]
        values = [np.nan if row[2] == "failed" else float(row[2].lstrip("> "))
                  for row in table.rows]
        bars = ax.barh(labels, values, color=[plots.color("ad") if row[1].startswith(
            "difflab") else "#d62728" for row in table.rows])
        for bar, row in zip(bars, table.rows):
            if row[2].startswith(">"):
                bar.set_hatch("//")
            ax.annotate(f" {row[2]} s" + (" (stopped)" if row[2].startswith(">") else ""),
                        (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                        va="center", fontsize=7)
        ax.set_xscale("log")
        ax.margins(x=0.25)
        ax.set_xlabel("setup CPU seconds (log)")
    return plots.save(fig, folder, f"peers-{workload}")


def write_markdown(path, table, targets, facts, picture):
    lines = [f"# difflab beside its peers — {table.title}", "", *[f"- {f}" for f in facts],
             "", markdown(table), "## Targets (issue 9)", "",
             *[f"- {t}" for t in targets], "", f"![{table.title}]({picture})", ""]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text("\n".join(lines), encoding="utf-8")
    os.replace(temporary, path)


def run_facts(peers, notes, quick):
    versions = [f"difflab {difflab.__version__}", f"numpy {np.__version__}",
                f"sympy {sympy.__version__}"]
    versions += [f"{name} {installed_version(name)}".strip() for name in peers]
    pinned = f"process pinned to CPU {PINNED_CPU}" if PINNED_CPU is not None else \
        "process not pinned to a CPU (no sched_setaffinity here)"
    facts = [f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {'quick' if quick else 'full'} run, "
             f"Python {platform.python_version()}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs",
             f"threads pinned to one: {pinned}; "
             + ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARIABLES)
             + f"; XLA_FLAGS='{os.environ.get('XLA_FLAGS', '')}'"
             + ("; torch.set_num_threads(1)" if "torch" in peers else ""),
             "versions: " + ", ".join(versions),
             "float64 everywhere" + (" (jax_enable_x64)" if "jax" in peers else "")]
    if os.environ.get("OPENBLAS_CORETYPE"):
        facts.append(f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set: it slows "
                     "NumPy's BLAS (difflab, autograd, hand-written) but not torch or JAX")
    return facts + notes


RUNNERS = {"gradient": gradient_workload, "hessian": hessian_workload,
           "numeric": numeric_workload, "symbolic": symbolic_workload}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds; no small-network numeric Hessian; 30 s SymPy cap")
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, help="run only these workloads")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args(argv)
    peers, notes = load_peers()
    facts = run_facts(peers, notes, args.quick)
    print("\n".join(facts), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    all_targets = []
    for workload in args.only or WORKLOADS:
        start = time.perf_counter()
        table, measured, targets = RUNNERS[workload](peers, args.quick)
        table.notes.append(f"workload took {time.perf_counter() - start:.0f} s of wall time")
        print("\n" + text(table), flush=True)
        picture = plot(workload, table, measured, args.out)
        write_markdown(args.out / f"peers-{workload}.md", table, targets, facts, picture)
        all_targets += targets
    print("\nTargets (issue 9):")
    print("\n".join(f"  {t}" for t in all_targets))
    print(f"\nMarkdown and plots written to {args.out}")


if __name__ == "__main__":
    main()
