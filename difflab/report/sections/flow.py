"""Gradient flow: per-layer gradient norms against depth, and what gradient clipping does.

Backprop multiplies the error signal by act'(z_l)·W_lᵀ once per layer, so its size changes
geometrically with depth: with sigmoid (σ' ≤ 1/4) it shrinks towards the input, the
vanishing gradient (Bengio et al. 1994; Glorot & Bengio 2010). A residual layer
h ← h + act(hW + b) has the Jacobian I + act'(z)·W instead, whose identity part carries the
signal through (He et al. 2016), but whose norm exceeds 1, so unscaled residual nets can make
the gradient explode. The sweep measures ‖∂f/∂W_l‖_F on the hidden layers of zoo MLPs at
their seeded Glorot/He start, for several draws per (activation, connections, depth); the
clipping cells train a net whose gradient explodes with SGD, unclipped and clipped by global
norm and by value (Pascanu et al. 2013).
"""

import math
from functools import partial

import numpy as np

from ... import models
from ...interface import differentiator
from ...optim import SGD, NonFiniteGradientError
from .. import plots
from ..page import Rendered, Table
from ..runner import Cell

NAME = "flow"
TITLE = "Gradient flow"

ACTIVATIONS = ("sigmoid", "tanh", "relu")
LAYERS = ("batchnorm", "dropout")     # beside the plain tanh net: what they do to the flow
LAYER_NAMES = {None: "plain", "batchnorm": "batch norm", "dropout": "dropout"}
ACTIVATION_COLORS = {"sigmoid": "#d62728", "tanh": "#1f77b4", "relu": "#2ca02c"}
SPREAD = 100            # a change beyond 100× either way is called vanishing or exploding

# The clipping experiment: residual tanh nets explode at this depth from the zoo's start, and
# the same SGD step size trains them once the gradient is clipped.
CLIPPED_NET = dict(activation="tanh", residual=True)
LEARNING_RATE = 0.03
CLIP_NORM = 1.0         # c: a norm-clipped update is at most lr·c long
CLIP_VALUE = 0.1        # v: a value-clipped update moves no entry more than lr·v
CLIP_RULES = ("none", "norm", "value")
CLIP_COLORS = {"none": "#d62728", "norm": "#1f77b4", "value": "#ff7f0e"}

AD = differentiator("ad")


def cells(profile):
    """One cell per (activation, connections, depth), and one per clipping rule."""
    width = profile.pick(8, 16, 32)
    batch = profile.pick(8, 16, 64)
    depths = profile.pick((2, 6), (2, 4, 8, 16, 32), (2, 4, 8, 16, 32, 64, 128))
    seeds = tuple(range(profile.seed, profile.seed + profile.pick(2, 8, 20)))
    sweep = [Cell(_key(activation, residual, depth),
                  partial(layer_norms, activation, residual, depth, width, batch, seeds))
             for activation in ACTIVATIONS for residual in (False, True) for depth in depths]
    # batch norm and dropout beside the plain tanh net, at the same depths
    sweep += [Cell(f"tanh-{layer}-d{depth}",
                   partial(layer_norms, "tanh", False, depth, width, batch, seeds, layer))
              for layer in LAYERS for depth in depths]
    net = dict(depth=profile.pick(16, 16, 24), width=width, batch=batch,
               steps=profile.pick(15, 40, 100), seed=profile.seed)
    clipping = [Cell(f"clip-{rule}", partial(clipped_training, rule, **net))
                for rule in CLIP_RULES]
    return sweep + clipping


def _key(activation, residual, depth):
    return f"{activation}-{'residual' if residual else 'plain'}-d{depth}"


def network(activation, residual, depth, width, batch, seed, layer=None):
    """A zoo MLP with ``depth`` hidden layers of ``width`` fed by ``width`` inputs; ``layer``
    "batchnorm" or "dropout" takes the zoo's batch-norm or dropout MLP instead.

    Inputs as wide as the hidden layers make every hidden W_l the same shape, so their norms
    compare the flow, not the shapes.
    """
    widths = (width,) * (depth + 1) + (1,)
    name = {None: "residual-mlp" if residual else "mlp", "batchnorm": "batchnorm-mlp",
            "dropout": "dropout-mlp"}[layer]
    return models.get(name, widths=widths, activation=activation, batch=batch, seed=seed)


def layer_norms(activation, residual, depth, width, batch, seeds, layer=None):
    """‖∂f/∂W_l‖_F for every layer l = 1 … depth + 1 (the last is the output), per seed."""
    norms = []
    for seed in seeds:
        problem = network(activation, residual, depth, width, batch, seed, layer)
        layers = problem.unravel(AD.gradient(problem.objective, problem.theta0))
        norms.append([float(np.linalg.norm(W)) for W, *_ in layers])
    return {"activation": activation, "residual": residual, "depth": depth, "width": width,
            "batch": batch, "seeds": list(seeds), "norms": norms,
            **({"layer": layer} if layer else {})}


def clipped_training(rule, depth, width, batch, steps, seed):
    """Full-batch SGD on the exploding net with clipping ``rule``: none, norm or value.

    ``loss[k]`` = f(θ_k); per step, ``grad_norm`` = ‖∇f(θ_k)‖ before clipping and
    ``update_norm``/``update_max`` = ‖θ_{k+1} − θ_k‖₂/∞. A run stops at the first value
    that is not finite and says where in ``stopped``. optim.train would stop such a run with
    an error and keeps no per-step updates, hence this loop over the same optimizer.
    """
    problem = network(depth=depth, width=width, batch=batch, seed=seed, **CLIPPED_NET)
    optimizer = SGD(lr=LEARNING_RATE, clip_norm=CLIP_NORM if rule == "norm" else None,
                    clip_value=CLIP_VALUE if rule == "value" else None)
    record = {"rule": rule, **CLIPPED_NET, "depth": depth, "width": width, "batch": batch,
              "seed": seed, "steps": steps, "lr": LEARNING_RATE,
              "clip_norm": optimizer.clip_norm, "clip_value": optimizer.clip_value,
              "loss": [], "grad_norm": [], "update_norm": [], "update_max": [],
              "stopped": None}
    theta, state = np.array(problem.theta0), optimizer.init(problem.theta0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # divergence is data
        for step in range(steps + 1):
            loss = float(problem.objective(theta))
            if not math.isfinite(loss):
                record["stopped"] = f"the loss overflowed at step {step}"
                break
            record["loss"].append(loss)
            if step == steps:
                break
            grad = AD.gradient(problem.objective, theta)
            grad_norm = float(np.linalg.norm(grad))
            if not math.isfinite(grad_norm):
                record["stopped"] = f"the gradient overflowed at step {step + 1}"
                break
            try:
                new_theta, state = optimizer.step(theta, grad, state)
            except NonFiniteGradientError:
                record["stopped"] = f"the update overflowed at step {step + 1}"
                break
            record["grad_norm"].append(grad_norm)
            record["update_norm"].append(float(np.linalg.norm(new_theta - theta)))
            record["update_max"].append(float(np.max(np.abs(new_theta - theta))))
            theta = new_theta
    return record


# Rendering: whatever subset of the cells succeeded.

def render(results, folder):
    sweep = _sweep(results)
    runs = {r["rule"]: r for r in results.values() if "rule" in r}
    rendered = Rendered()
    if sweep:
        deepest = max(d for family in sweep.values() for d in family)
        rendered.figures.append((_plot_layers(sweep, folder),
                                 "Median ‖∂f/∂W_l‖ over the draws on hidden layer l (1 = next to "
                                 f"the input), one line per depth D up to {deepest}, at the "
                                 "zoo's start"))
        rendered.figures.append((_plot_depth(sweep, folder),
                                 "Left: first ÷ last hidden layer's gradient norm; right: the "
                                 "first layer's norm; median over the draws, against depth"
                                 + _ratio_range(sweep)))
        rendered.tables.append(_ratio_table(sweep))
        rendered.reading += _read_layers(sweep) + _read_depth(sweep)
    layered = _layered(results)
    if len(layered) > 1:
        rendered.tables.append(_layer_table(layered))
        rendered.reading += _read_layered(layered)
    if runs:
        rendered.figures.append((_plot_clipping(runs, folder),
                                 f"Full-batch SGD on {_clipped_net(runs)} with and without "
                                 "clipping: loss and gradient norm (before clipping) per step; "
                                 + "; ".join(f"{_label(run)}: " + (
                                     run["stopped"] if run["stopped"] else
                                     f"final loss {run['loss'][-1]:.3g}")
                                     for run in runs.values()) + "."))
        rendered.tables.append(_clipping_table(runs))
        rendered.reading += _read_clipping(runs)
    return rendered


def _sweep(results):
    """{(activation, residual): {depth: (median per hidden layer, median first/last ratio)}}."""
    sweep = {}
    for result in results.values():
        if "norms" not in result or "layer" in result:
            continue
        depth = result["depth"]
        hidden = np.array(result["norms"])[:, :depth]
        ratios = [_ratio(row[0], row[-1]) for row in hidden]
        ratios = [r for r in ratios if r is not None]
        ratio = float(np.median(ratios)) if ratios else None
        family = sweep.setdefault((result["activation"], result["residual"]), {})
        family[depth] = (np.median(hidden, axis=0), ratio)
    return sweep


def _ratio_range(sweep):
    """'; the ratio runs from 1e-05 (sigmoid, plain, depth 8) to …' for a caption."""
    found = [(v[1], activation, residual, depth)
             for (activation, residual), family in sweep.items()
             for depth, v in family.items() if v[1] is not None]
    if not found:
        return ""
    low, high = min(found), max(found)
    return "; the ratio runs from " + " to ".join(
        f"{r:.2g} ({a}, {_connections(res)}, depth {d})" for r, a, res, d in (low, high)) + "."


def _layered(results):
    """{layer (None for plain): {depth: median first ÷ last ratio}} of the tanh nets without
    residual connections: the plain sweep beside batch norm and dropout."""
    found = {}
    for result in results.values():
        if "norms" not in result or result["activation"] != "tanh" or result["residual"]:
            continue
        depth = result["depth"]
        ratios = [_ratio(row[0], row[depth - 1]) for row in result["norms"]]
        ratios = [r for r in ratios if r is not None]
        if ratios:
            found.setdefault(result.get("layer"), {})[depth] = float(np.median(ratios))
    return found


def _layer_table(layered):
    depths = sorted({d for family in layered.values() for d in family})
    rows = [[f"tanh, {LAYER_NAMES[layer]}"] + [_g(family.get(d)) if d in family else "–"
                                              for d in depths]
            for layer, family in sorted(layered.items(), key=lambda i: list(LAYER_NAMES)
                                        .index(i[0]))]
    return Table("Batch norm and dropout beside the plain tanh net: first ÷ last hidden "
                 "layer's gradient norm (median over the draws)",
                 ["network"] + [f"D = {d}" for d in depths], rows)


def _read_layered(layered):
    """At the deepest depth all measured, each variant's first ÷ last ratio against plain."""
    common = set.intersection(*(set(family) for family in layered.values()))
    if not common or None not in layered:
        return []
    depth = max(common)
    plain = layered[None][depth]
    parts = [f"{LAYER_NAMES[layer]} {_g(family[depth])} ({_verdict(family[depth])})"
             for layer, family in layered.items() if layer is not None]
    return [f"At depth {depth}, the tanh net's first ÷ last hidden-layer gradient norm is "
            f"{_g(plain)} plain ({_verdict(plain)}); with " + ", with ".join(parts) + "."]


def _families(sweep):
    """The sweep's families in the order activation, then plain before residual."""
    return [((activation, residual), sweep[activation, residual]) for activation in ACTIVATIONS
            for residual in (False, True) if (activation, residual) in sweep]


def _ratio(a, b):
    """a/b, or None where either norm is exactly zero (a dead relu layer) and no ratio reads."""
    return float(a) / float(b) if a > 0 and b > 0 else None


def _connections(residual):
    return "residual" if residual else "plain"


def _label(run):
    """The clipping a run used, from its record: 'no clipping', 'global norm clipped to 1', …"""
    if run["clip_norm"] is not None:
        return f"global norm clipped to {run['clip_norm']:g}"
    if run["clip_value"] is not None:
        return f"entries clipped to ±{run['clip_value']:g}"
    return "no clipping"


def _plot_layers(sweep, folder):
    depths = sorted({d for family in sweep.values() for d in family})
    shades = plots.plt.cm.viridis(np.linspace(0, 0.9, len(depths)))
    fig, axes = plots.plt.subplots(2, len(ACTIVATIONS), figsize=(13, 7), squeeze=False)
    for row, residual in enumerate((False, True)):
        for col, activation in enumerate(ACTIVATIONS):
            ax = axes[row, col]
            ax.set_title(f"{activation}, {_connections(residual)}")
            family = sweep.get((activation, residual), {})
            if not family:
                ax.text(0.5, 0.5, "no cells measured", ha="center", transform=ax.transAxes)
                continue
            for depth, shade in zip(depths, shades):
                if depth in family:
                    median = family[depth][0]
                    ax.semilogy(range(1, depth + 1), median, ".-", color=shade,
                                label=f"D = {depth}")
            ax.set_xlabel("hidden layer l")
            ax.set_ylabel(r"$\|\partial f/\partial W_l\|$")
            ax.legend(fontsize="small")
    return plots.save(fig, folder, "flow-layers")


def _plot_depth(sweep, folder):
    fig, (left, right) = plots.figure(ncols=2)
    for (activation, residual), family in _families(sweep):
        depths = sorted(family)
        style = dict(color=ACTIVATION_COLORS[activation], marker="o",
                     linestyle="--" if residual else "-",
                     label=f"{activation}, {_connections(residual)}")
        ratios = [(d, family[d][1]) for d in depths if family[d][1] is not None]
        if ratios:
            left.loglog(*zip(*ratios), **style)
        right.loglog(depths, [family[d][0][0] for d in depths], **style)
    left.axhline(1.0, color="#999", linewidth=0.8)
    left.set_ylabel(r"$\|\partial f/\partial W_1\| \;/\; \|\partial f/\partial W_D\|$")
    right.set_ylabel(r"$\|\partial f/\partial W_1\|$")
    depths = sorted({d for family in sweep.values() for d in family})
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.minorticks_off()
        ax.set_xlabel("depth D (hidden layers)")
    right.legend(fontsize="small")
    return plots.save(fig, folder, "flow-depth")


def _plot_clipping(runs, folder):
    fig, (left, right) = plots.figure(ncols=2)
    for rule in CLIP_RULES:
        if rule not in runs:
            continue
        run = runs[rule]
        style = dict(color=CLIP_COLORS[rule], label=_label(run))
        left.semilogy(range(len(run["loss"])), run["loss"], **style)
        right.semilogy(range(len(run["grad_norm"])), run["grad_norm"], **style)
        if run["stopped"]:
            left.semilogy([len(run["loss"]) - 1], [run["loss"][-1]], "x", markersize=10,
                          color=CLIP_COLORS[rule])
    left.set_ylabel(r"loss $f(\theta_k)$")
    right.set_ylabel(r"$\|\nabla f(\theta_k)\|$ before clipping")
    for ax in (left, right):
        ax.set_xlabel("step k")
    left.legend(fontsize="small")
    return plots.save(fig, folder, "flow-clipping")


def _ratio_table(sweep):
    depths = sorted({d for family in sweep.values() for d in family})
    rows = [[activation, _connections(residual)]
            + [_g(family[d][1]) if d in family else "–" for d in depths]
            for (activation, residual), family in _families(sweep)]
    return Table("First ÷ last hidden layer's gradient norm (median over the draws)",
                 ["activation", "connections"] + [f"D = {d}" for d in depths], rows)


def _clipping_table(runs):
    rows = []
    for rule in CLIP_RULES:
        if rule in runs:
            run = runs[rule]
            rows.append([_label(run), len(run["grad_norm"]), _g(run["loss"][0]),
                         _g(run["loss"][-1]), _g(max(run["grad_norm"], default=None)),
                         _g(max(run["update_norm"], default=None)),
                         run["stopped"] or "ran every step"])
    return Table("SGD with and without clipping", ["clipping", "steps taken", "loss at start",
                 "loss at end", "largest ‖∇f‖", "largest ‖Δθ‖", "outcome"], rows)


# Readings: sentences computed from the medians.

def _read_layers(sweep):
    """Per activation: the first-to-last ratio at the deepest plain and residual nets."""
    sentences = []
    for activation in ACTIVATIONS:
        parts = []
        for residual in (False, True):
            family = {d: v for d, v in sweep.get((activation, residual), {}).items()
                      if v[1] is not None}
            if not family:
                continue
            depth = max(family)
            ratio = family[depth][1]
            per_layer = ratio ** (1 / (depth - 1))
            subject = "it is" if parts else "the first hidden layer's gradient is"
            where = "with residual connections " if residual else ""
            parts.append(f"{where}{subject} {_of(ratio)} the last's at depth {depth} "
                         f"(×{per_layer:.3g} per layer: {_verdict(ratio)})")
        if parts:
            sentences.append(f"With {activation}, " + "; ".join(parts) + ".")
    return sentences


def _read_depth(sweep):
    """Families whose first-layer gradient itself grows or shrinks by more than SPREAD."""
    grows, shrinks = [], []
    for activation in ACTIVATIONS:
        for residual in (False, True):
            family = sweep.get((activation, residual), {})
            if len(family) < 2:
                continue
            low, high = min(family), max(family)
            start, end = family[low][0][0], family[high][0][0]
            if start <= 0 or end <= 0:
                continue
            change = end / start
            text = (f"{_connections(residual)} {activation} ({_g(start)} at depth {low}, "
                    f"{_g(end)} at depth {high}: ×{change ** (1 / (high - low)):.3g} per added "
                    "layer)")
            if change > SPREAD:
                grows.append(text)
            elif change < 1 / SPREAD:
                shrinks.append(text)
    clauses = ([f"explodes with depth for {_join(grows)}"] if grows else []) + \
              ([f"vanishes with depth for {_join(shrinks)}"] if shrinks else [])
    if clauses:
        return ["The first layer's gradient " + ", and ".join(clauses) + "."]
    if any(len(family) > 1 for family in sweep.values()):
        return [f"No family's first-layer gradient changes by more than {SPREAD}× across the "
                "depths measured."]
    return []


def _clipped_net(runs):
    """'the residual tanh net of depth 16 and width 16 (lr 0.03, 40 steps)'."""
    run = next(iter(runs.values()))
    return (f"the {_connections(run['residual'])} {run['activation']} net of depth "
            f"{run['depth']} and width {run['width']} (lr {run['lr']:g}, {run['steps']} steps)")


def _read_clipping(runs):
    net = f"On {_clipped_net(runs)} with full-batch SGD"
    parts = []
    for rule in CLIP_RULES:
        if rule not in runs:
            continue
        run = runs[rule]
        what = (f"without clipping the loss went from {_g(run['loss'][0])} to "
                f"{_g(run['loss'][-1])}" if rule == "none" else
                f"with the {_label(run)} it went to {_g(run['loss'][-1])}")
        if run["grad_norm"]:
            what += f" (‖∇f‖ from {_g(run['grad_norm'][0])} to {_g(run['grad_norm'][-1])}"
            if rule == "norm":
                what += (f", every update ≤ lr·c = {run['lr'] * run['clip_norm']:.2g}, the "
                         f"largest {_g(max(run['update_norm']))}")
            what += ")"
        if run["stopped"]:
            what += f", and stopped: {run['stopped']}"
        parts.append(what)
    return [net + ", " + "; ".join(parts) + "."]


def _verdict(ratio):
    if ratio < 1 / SPREAD:
        return "vanishing"
    if ratio > SPREAD:
        return "exploding"
    return f"within {SPREAD}×"


def _of(ratio):
    """'0.61 of' / '2.5 times' within SPREAD of 1, '10^-19.1 of' / '10^3.2 times' beyond."""
    word = "of" if ratio < 1 else "times"
    if 1 / SPREAD <= ratio <= SPREAD:
        return f"{ratio:.2g} {word}"
    return f"10^{math.log10(ratio):.1f} {word}"


def _g(x):
    """Two significant digits, exponents without '+' or leading zeros: 1.7e12, 3e-05 → 3e-5."""
    if x is None:
        return "–"
    text = f"{x:.2g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def _join(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
