"""A seeded training loop: full-batch, mini-batch and stochastic gradient descent.

``train(problem, optimizer, steps=… | epochs=…, batch_size=…)`` runs a first-order optimizer
(``first_order``) on a zoo problem or any objective of a flat θ, with gradients from any
registered differentiator through the shared interface, and returns a ``History``.
"""

import math
import time
from dataclasses import dataclass

import numpy as np

from .. import interface, models
from ..errors import DiffLabError, NonFiniteValueError
from ..models import BatchMean, Problem
from ..progress import Progress
from .first_order import OPTIMIZERS, Optimizer


class TrainingConfigError(DiffLabError, ValueError):
    """``train`` was asked for a run it cannot make (length, batch size, objective, optimizer)."""


@dataclass
class History:
    """What one run did, one entry per step, and the whole objective once per epoch.

    Per step s = 1 … steps: ``loss[s−1]`` is the objective on that step's batch at θ before
    the step, ``grad_norm`` its gradient's ‖·‖₂ before clipping, ``lr`` the rate used, and
    ``time`` the cumulative seconds of training work (loss, gradient, update) after it — the
    per-epoch evaluations of the whole objective are monitoring, not counted.
    ``epoch_loss[i]`` is the objective on the whole data at θ after ``epoch_step[i]`` steps:
    at 0, at every epoch's end and at the last step. ``theta`` is the final θ, ``state`` the
    optimizer's final state.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    lr: np.ndarray
    time: np.ndarray
    epoch_loss: np.ndarray
    epoch_step: np.ndarray
    theta: np.ndarray
    state: dict
    optimizer: Optimizer
    differentiator: str
    batch_size: int | None
    steps_per_epoch: int
    seed: int

    @property
    def steps(self):
        return len(self.loss)

    @property
    def final_loss(self):
        """The objective on the whole data at the final θ."""
        return float(self.epoch_loss[-1])


def train(problem, optimizer, *, steps=None, epochs=None, batch_size=None, differentiator="ad",
          seed=0, theta0=None):
    """Minimize ``problem`` with ``optimizer`` for ``steps`` steps or ``epochs`` passes.

    ``problem``: a zoo name, a ``Problem``, a ``BatchMean`` or any scalar function of a flat
    θ (the last two need ``theta0``). ``optimizer``: a ``first_order`` optimizer or its name
    ("adam", …, with PyTorch's defaults). ``batch_size``: None for full batch (one step per
    epoch), b for mini-batches, 1 for stochastic gradient descent. Each epoch draws a fresh
    permutation of the N examples from ``np.random.default_rng(seed)`` and steps through it
    in ⌈N/b⌉ batches, the last one smaller when b does not divide N (PyTorch's DataLoader
    without drop_last); a batch is ``BatchMean(example_loss, X[idx], Y[idx], penalty)``, so
    the penalty is counted once per step. b ≥ N is full batch. Gradients come from
    ``difflab.differentiator(differentiator)``, prepared once per objective object: the
    symbolic differentiator builds once for full batch but once per mini-batch (each holds
    other data), so use it full batch.
    """
    objective, theta, label = _objective(problem, theta0)
    optimizer = _optimizer(optimizer)
    method = interface.differentiator(differentiator)
    batch_size = _batch_size(objective, batch_size)
    steps_per_epoch = 1 if batch_size is None else math.ceil(objective.batch / batch_size)
    total = _length(steps, epochs, steps_per_epoch)
    rng = np.random.default_rng(seed)

    state = optimizer.init(theta)
    losses, norms, rates, times = [], [], [], []
    epoch_loss, epoch_step = [_value(objective, theta, "the start")], [0]
    work = 0.0
    prepared = {}          # f → its gradient prepared once (the symbolic build, for a run)
    with Progress(total, f"train {label} ({optimizer.name})") as bar:
        while len(losses) < total:
            for f in _batches(objective, batch_size, rng):
                start = time.perf_counter()
                step = len(losses) + 1
                loss = _value(f, theta, f"step {step}")
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    # a gradient that overflows is refused by optimizer.step, naming the step
                    if f not in prepared:
                        prepared.clear()   # a mini-batch's objective is used for one step
                        prepared[f] = method.prepare(f, theta, "gradient")
                    grad = prepared[f](theta).value
                rates.append(optimizer.learning_rate(state["t"]))
                theta, state = optimizer.step(theta, grad, state)
                work += time.perf_counter() - start
                losses.append(loss)
                with np.errstate(over="ignore"):       # an overflowing norm is inf, said so
                    norms.append(float(np.linalg.norm(grad)))
                times.append(work)
                bar.advance()
                if step == total:
                    break
            epoch_loss.append(_value(objective, theta, f"step {len(losses)}"))
            epoch_step.append(len(losses))
    return History(np.array(losses), np.array(norms), np.array(rates), np.array(times),
                   np.array(epoch_loss), np.array(epoch_step), theta, state, optimizer,
                   method.name, batch_size, steps_per_epoch, seed)


def _batches(objective, batch_size, rng):
    """The objectives of one epoch: the whole one, or one BatchMean per slice of a permutation."""
    if batch_size is None:
        yield objective
        return
    order = rng.permutation(objective.batch)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield BatchMean(objective.example_loss, objective.X[idx], objective.Y[idx],
                        objective.penalty)


def _value(f, theta, when):
    """f(θ) as a float, refused with the step's name if it is not finite."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value = float(f(theta))
    if not math.isfinite(value):
        raise NonFiniteValueError(f"train: the objective is {value} at {when}; the iterate has "
                                  "likely diverged: lower lr or clip the gradient")
    return value


def _objective(problem, theta0):
    """(objective, a writable float64 copy of θ₀, a label) from what the caller passed."""
    if isinstance(problem, str):
        problem = models.get(problem)
    if isinstance(problem, Problem):
        start = problem.theta0 if theta0 is None else theta0
        return problem.objective, np.array(start, dtype=float), problem.name
    if not callable(problem):
        raise TrainingConfigError(f"train: cannot train {type(problem).__name__!r}; pass a zoo "
                                  "name, a difflab.models.Problem or a function of θ")
    if theta0 is None:
        raise TrainingConfigError("train: an objective without a zoo problem needs a start; "
                                  "pass theta0=…")
    return problem, np.array(theta0, dtype=float), getattr(problem, "__name__", "objective")


def _optimizer(optimizer):
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]()
    if not isinstance(optimizer, Optimizer):
        raise TrainingConfigError(f"train: unknown optimizer {optimizer!r}; pass one of "
                                  f"difflab.optim's optimizers or a name: {', '.join(OPTIMIZERS)}")
    return optimizer


def _batch_size(objective, batch_size):
    """None for full batch (also for b ≥ N), else b after checking that it makes sense."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise TrainingConfigError(f"train: batch_size must be None (full batch) or an integer "
                                  f"≥ 1, got {batch_size!r}")
    if not isinstance(objective, BatchMean):
        raise TrainingConfigError(
            "train: mini-batches need an objective declared as a BatchMean (a zoo network's "
            "is); this one has no examples to sample, so use batch_size=None")
    return None if batch_size >= objective.batch else int(batch_size)


def _length(steps, epochs, steps_per_epoch):
    if (steps is None) == (epochs is None):
        raise TrainingConfigError(f"train: give exactly one of steps and epochs, got "
                                  f"steps={steps!r}, epochs={epochs!r}")
    count, what = (steps, "steps") if steps is not None else (epochs, "epochs")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise TrainingConfigError(f"train: {what} must be an integer ≥ 1, got {count!r}")
    return int(count) if what == "steps" else int(count) * steps_per_epoch
