"""First-order optimizers on a flat float64 vector θ, in PyTorch's conventions.

Each optimizer is a frozen description of its hyperparameters with two pure functions, as in
optax: ``init(θ) -> state`` and ``step(θ, g, state) -> (θ', state')``. The state is a dict
holding the step count ``t`` and the optimizer's buffers; ``step`` returns new arrays and
never writes into the ones it was given, so a state can be kept and stepped from again.

One step k = t − 1 (the number of steps taken before it, 0 for the first) does, in order:

1. refuse a gradient with NaN or ±inf, naming the step (``NonFiniteGradientError``);
2. clip it, if asked: by value (``clip_value``), then by global norm (``clip_norm``);
3. add weight decay, g ← g + λθ (PyTorch's coupled L2 form, not AdamW's decoupled one);
4. θ ← θ − lr(k)·d, with d the direction of the optimizer's rule below.

``lr`` is a positive number or a schedule k ↦ lr(k) (``constant``, ``step_decay``,
``exponential_decay``, ``cosine_decay`` or any function), evaluated afresh every step.

The rules and their defaults are PyTorch's (torch.optim); ε sits outside the square root
everywhere, as there, so a coordinate whose gradient has always been zero gets a zero step.
"""

import math
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from ..errors import DiffLabError, NonFiniteValueError, ShapeError
from ..pytree import tree_leaves, tree_map


class OptimizerConfigError(DiffLabError, ValueError):
    """A hyperparameter of an optimizer, clipping rule or schedule is out of its range."""


class NonFiniteGradientError(NonFiniteValueError):
    """A step met a gradient (or produced a θ) with NaN or ±inf; ``step`` is its number t."""

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


# Hyperparameter checks: each names the optimizer, the parameter, its range and the value.

def _finite(value):
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and math.isfinite(value))


def _check_positive(owner, name, value):
    if not (_finite(value) and value > 0):
        raise OptimizerConfigError(f"{owner}: {name} must be a finite number > 0, got {value!r}")


def _check_nonnegative(owner, name, value):
    if not (_finite(value) and value >= 0):
        raise OptimizerConfigError(f"{owner}: {name} must be a finite number ≥ 0, got {value!r}")


def _check_unit(owner, name, value):
    """β ∈ [0, 1): at β = 1 the average never forgets its zero start (and bias correction
    divides by 1 − βᵗ = 0)."""
    if not (_finite(value) and 0 <= value < 1):
        raise OptimizerConfigError(f"{owner}: {name} must be in [0, 1), got {value!r}")


# Gradient clipping.

def clip_by_value(grad, limit):
    """Each entry clipped to [−c, c], c = ``limit`` (torch.nn.utils.clip_grad_value_).

    ``grad`` is an array or a pytree of arrays; the result has its structure.
    """
    _check_positive("clip_by_value", "limit", limit)
    return tree_map(lambda g: np.clip(np.asarray(g, dtype=float), -limit, limit), grad)


def global_norm(grad):
    """‖g‖₂ over every entry of every leaf, as if the pytree were one flat vector."""
    return math.sqrt(sum(float(np.sum(np.square(g))) for g in tree_leaves(grad)))


def clip_by_global_norm(grad, max_norm):
    """g·min(1, c/‖g‖₂), c = ``max_norm``: the direction kept, the length at most c.

    ‖g‖₂ is the global norm over all leaves of a pytree (torch.nn.utils.clip_grad_norm_).
    PyTorch divides by ‖g‖ + 10⁻⁶; here the ratio is exact, so a clipped gradient has norm
    c to rounding (the division is safe: it happens only when ‖g‖ > c > 0).
    """
    _check_positive("clip_by_global_norm", "max_norm", max_norm)
    norm = global_norm(grad)
    scale = max_norm / norm if norm > max_norm else 1.0
    return tree_map(lambda g: np.asarray(g, dtype=float) * scale, grad)


# Learning-rate schedules: functions of k = the number of steps already taken (0, 1, 2, …),
# so the first step uses the base rate, as PyTorch's schedulers do before their first step().

def _label(schedule):
    return getattr(schedule, "__name__", None) or repr(schedule)


def _named(schedule, text):
    schedule.__name__ = schedule.__qualname__ = text
    return schedule


def constant(lr):
    """lr(k) = lr."""
    _check_positive("constant", "lr", lr)
    return _named(lambda k: lr, f"constant({lr:g})")


def step_decay(lr, every, factor=0.1):
    """lr(k) = lr·γ^⌊k/s⌋, s = ``every``, γ = ``factor`` (torch StepLR)."""
    _check_positive("step_decay", "lr", lr)
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise OptimizerConfigError(f"step_decay: every must be an integer ≥ 1 (steps between "
                                   f"decays), got {every!r}")
    if not (_finite(factor) and 0 < factor <= 1):
        raise OptimizerConfigError(f"step_decay: factor must be in (0, 1], got {factor!r}")
    return _named(lambda k: lr * factor ** (k // every),
                  f"step_decay({lr:g}, every={every}, factor={factor:g})")


def exponential_decay(lr, gamma):
    """lr(k) = lr·γᵏ (torch ExponentialLR)."""
    _check_positive("exponential_decay", "lr", lr)
    if not (_finite(gamma) and 0 < gamma <= 1):
        raise OptimizerConfigError(f"exponential_decay: gamma must be in (0, 1], got {gamma!r}")
    return _named(lambda k: lr * gamma ** k, f"exponential_decay({lr:g}, gamma={gamma:g})")


def cosine_decay(lr, total, lr_min=0.0):
    """lr(k) = lr_min + ½(lr − lr_min)(1 + cos(πk/K)) for k ≤ K = ``total``, then lr_min.

    torch CosineAnnealingLR's closed form over one half period; PyTorch lets the cosine rise
    again after K, here it stays at lr_min, so a run longer than K ends at the floor.
    """
    _check_positive("cosine_decay", "lr", lr)
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
        raise OptimizerConfigError(f"cosine_decay: total must be an integer ≥ 1 (steps to "
                                   f"reach lr_min), got {total!r}")
    if not (_finite(lr_min) and 0 <= lr_min <= lr):
        raise OptimizerConfigError(f"cosine_decay: lr_min must be in [0, lr] = [0, {lr:g}], "
                                   f"got {lr_min!r}")

    def schedule(k):
        return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * min(k, total) / total)) / 2
    return _named(schedule, f"cosine_decay({lr:g}, total={total}, lr_min={lr_min:g})")


# The optimizers.

@dataclass(frozen=True, kw_only=True)
class Optimizer:
    """The part every rule shares: the learning rate, weight decay, clipping and the checks.

    A subclass states its rule as ``_direction(g, state, t) -> (d, buffers)`` with the
    buffers' zero state from ``_buffers(θ)``; ``step`` makes θ ← θ − lr(t − 1)·d.
    """

    name: ClassVar[str] = "optimizer"
    lr: float | Callable = 1e-3
    weight_decay: float = 0.0
    clip_value: float | None = None
    clip_norm: float | None = None

    def __post_init__(self):
        if not callable(self.lr):
            _check_positive(self.name, "lr", self.lr)
        _check_nonnegative(self.name, "weight_decay", self.weight_decay)
        if self.clip_value is not None:
            _check_positive(self.name, "clip_value", self.clip_value)
        if self.clip_norm is not None:
            _check_positive(self.name, "clip_norm", self.clip_norm)
        self._check()

    def _check(self):
        """Check the rule's own hyperparameters (overridden by rules that have some)."""

    def learning_rate(self, k):
        """lr(k) for the step with k steps before it: the number, or the schedule's value."""
        if not callable(self.lr):
            return float(self.lr)
        value = self.lr(k)
        if not (_finite(value) and value >= 0):
            raise OptimizerConfigError(f"{self.name}: the schedule {_label(self.lr)} gave "
                                       f"lr = {value!r} at step {k + 1}; a learning rate must "
                                       "be a finite number ≥ 0")
        return float(value)

    def init(self, theta):
        """The state before the first step: t = 0 and the rule's buffers at zero."""
        theta = _flat(self.name, theta)
        return {"t": 0, **self._buffers(theta)}

    def step(self, theta, grad, state):
        """(θ − lr(t − 1)·d, new state) for gradient g at θ, t = state["t"] + 1."""
        theta = _flat(self.name, theta)
        grad = np.asarray(grad, dtype=float)
        t = state["t"] + 1
        if grad.shape != theta.shape:
            raise ShapeError(f"{self.name} step {t}: the gradient has shape {grad.shape} but "
                             f"θ has shape {theta.shape}; pass ∇f at θ, flattened like θ")
        if not np.all(np.isfinite(grad)):
            bad = np.flatnonzero(~np.isfinite(grad))
            raise NonFiniteGradientError(
                f"{self.name} step {t}: the gradient is not finite at entries "
                f"{bad[:10].tolist()} (‖θ‖∞ = {np.max(np.abs(theta), initial=0):.3g}); the "
                "iterate has likely diverged: lower lr, clip the gradient (clip_norm=…) or "
                "check the objective at this θ", t)
        grad = self.clip(grad)
        if self.weight_decay:
            grad = grad + self.weight_decay * theta
        direction, buffers = self._direction(grad, state, t)
        with np.errstate(over="ignore", invalid="ignore"):
            new_theta = theta - self.learning_rate(t - 1) * direction
        if not np.all(np.isfinite(new_theta)):
            raise NonFiniteGradientError(
                f"{self.name} step {t}: the update overflowed (θ is no longer finite); lower "
                "lr or clip the gradient", t)
        return new_theta, {"t": t, **buffers}

    def clip(self, grad):
        """g after this optimizer's clipping: by value to ±clip_value, then to norm ≤ clip_norm."""
        if self.clip_value is not None:
            grad = clip_by_value(grad, self.clip_value)
        if self.clip_norm is not None:
            grad = clip_by_global_norm(grad, self.clip_norm)
        return grad

    def _buffers(self, theta):
        return {}

    def _direction(self, grad, state, t):
        raise NotImplementedError


def _flat(owner, theta):
    theta = np.asarray(theta, dtype=float)
    if theta.ndim != 1:
        raise ShapeError(f"{owner}: θ must be a flat vector, got shape {theta.shape}; flatten "
                         "a pytree with difflab.ravel")
    return theta


@dataclass(frozen=True, kw_only=True)
class SGD(Optimizer):
    """Stochastic gradient descent, with optional heavy-ball or Nesterov momentum μ.

    μ = 0: d = g. Otherwise, in PyTorch's form (torch.optim.SGD, dampening 0),
    b ← μ·b + g (b₀ = 0, so b₁ = g), and d = b (heavy ball) or d = g + μ·b (Nesterov).
    The rate multiplies b at each step, so a schedule changes the size of the whole
    accumulated step, unlike the v ← μv − lr·g form of Sutskever et al.
    """

    name: ClassVar[str] = "sgd"
    momentum: float = 0.0
    nesterov: bool = False

    def _check(self):
        _check_unit(self.name, "momentum", self.momentum)
        if self.nesterov and self.momentum == 0:
            raise OptimizerConfigError(f"{self.name}: Nesterov needs a momentum μ in (0, 1), "
                                       "got 0; set momentum=0.9, say, or nesterov=False")

    def _buffers(self, theta):
        return {"b": np.zeros_like(theta)} if self.momentum else {}

    def _direction(self, grad, state, t):
        if not self.momentum:
            return grad, {}
        b = self.momentum * state["b"] + grad
        return (grad + self.momentum * b if self.nesterov else b), {"b": b}


@dataclass(frozen=True, kw_only=True)
class Momentum(SGD):
    """Heavy ball (Polyak): b ← μ·b + g, θ ← θ − lr·b; μ = 0.9 by default (SGD's rule)."""

    name: ClassVar[str] = "momentum"
    momentum: float = 0.9


@dataclass(frozen=True, kw_only=True)
class Nesterov(SGD):
    """Nesterov momentum: b ← μ·b + g, θ ← θ − lr·(g + μ·b); μ = 0.9 by default (SGD's rule).

    This is PyTorch's form, the look-ahead written at the current iterate (Sutskever et al.
    2013), not the gradient evaluated at θ + μv.
    """

    name: ClassVar[str] = "nesterov"
    momentum: float = 0.9
    nesterov: bool = True


@dataclass(frozen=True, kw_only=True)
class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): s ← s + g², d = g/(√s + ε).

    PyTorch's conventions: ε outside the square root, s₀ = ``initial_accumulator`` (0 by
    default), lr = 10⁻², ε = 10⁻¹⁰. PyTorch's lr_decay is a schedule here:
    ``lr=lambda k: lr0/(1 + k·η)``.
    """

    name: ClassVar[str] = "adagrad"
    lr: float | Callable = 1e-2
    eps: float = 1e-10
    initial_accumulator: float = 0.0

    def _check(self):
        _check_positive(self.name, "eps", self.eps)
        _check_nonnegative(self.name, "initial_accumulator", self.initial_accumulator)

    def _buffers(self, theta):
        return {"s": np.full_like(theta, self.initial_accumulator)}

    def _direction(self, grad, state, t):
        s = state["s"] + grad ** 2
        return grad / (np.sqrt(s) + self.eps), {"s": s}


@dataclass(frozen=True, kw_only=True)
class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e): v ← α·v + (1 − α)·g², d = g/(√v + ε).

    PyTorch's conventions: ε outside the square root, v₀ = 0, no bias correction,
    lr = 10⁻², α = 0.99, ε = 10⁻⁸. (PyTorch's centered and momentum variants are not here.)
    """

    name: ClassVar[str] = "rmsprop"
    lr: float | Callable = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8

    def _check(self):
        _check_unit(self.name, "alpha", self.alpha)
        _check_positive(self.name, "eps", self.eps)

    def _buffers(self, theta):
        return {"v": np.zeros_like(theta)}

    def _direction(self, grad, state, t):
        v = self.alpha * state["v"] + (1 - self.alpha) * grad ** 2
        return grad / (np.sqrt(v) + self.eps), {"v": v}


@dataclass(frozen=True, kw_only=True)
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g²,
    m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), d = m̂/(√v̂ + ε).

    PyTorch's conventions: ε added to √v̂ (after bias correction, not to √v before it),
    lr = 10⁻³, β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸; weight decay is the coupled L2 form.
    """

    name: ClassVar[str] = "adam"
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def _check(self):
        _check_unit(self.name, "beta1", self.beta1)
        _check_unit(self.name, "beta2", self.beta2)
        _check_positive(self.name, "eps", self.eps)

    def _buffers(self, theta):
        return {"m": np.zeros_like(theta), "v": np.zeros_like(theta)}

    def _direction(self, grad, state, t):
        m = self.beta1 * state["m"] + (1 - self.beta1) * grad
        v = self.beta2 * state["v"] + (1 - self.beta2) * grad ** 2
        m_hat = m / (1 - self.beta1 ** t)
        v_hat = v / (1 - self.beta2 ** t)
        return m_hat / (np.sqrt(v_hat) + self.eps), {"m": m, "v": v}


@dataclass(frozen=True, kw_only=True)
class Nadam(Adam):
    """Nadam (Dozat 2016) with PyTorch's momentum schedule μₜ = β₁(1 − ½·0.96^(tψ)):

        m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,
        m̂ = μₜ₊₁·m/(1 − Π_{i≤t+1} μᵢ) + (1 − μₜ)·g/(1 − Π_{i≤t} μᵢ),
        v̂ = v/(1 − β₂ᵗ),  d = m̂/(√v̂ + ε).

    ψ = ``momentum_decay`` (PyTorch's 4·10⁻³; ψ = 0 makes μₜ = β₁/2); lr = 2·10⁻³, and the
    rest as Adam. The state carries Π_{i≤t} μᵢ as ``mu_product``.
    """

    name: ClassVar[str] = "nadam"
    lr: float | Callable = 2e-3
    momentum_decay: float = 4e-3

    def _check(self):
        super()._check()
        _check_nonnegative(self.name, "momentum_decay", self.momentum_decay)

    def mu(self, t):
        """μₜ = β₁(1 − ½·0.96^(tψ)), the momentum coefficient of step t."""
        return self.beta1 * (1 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def _buffers(self, theta):
        return {**super()._buffers(theta), "mu_product": 1.0}

    def _direction(self, grad, state, t):
        mu, mu_next = self.mu(t), self.mu(t + 1)
        mu_product = state["mu_product"] * mu
        m = self.beta1 * state["m"] + (1 - self.beta1) * grad
        v = self.beta2 * state["v"] + (1 - self.beta2) * grad ** 2
        m_hat = mu_next * m / (1 - mu_product * mu_next) + (1 - mu) * grad / (1 - mu_product)
        v_hat = v / (1 - self.beta2 ** t)
        return m_hat / (np.sqrt(v_hat) + self.eps), {"m": m, "v": v, "mu_product": mu_product}


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam, Nadam)}
