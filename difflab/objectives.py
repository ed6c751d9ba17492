"""Objectives that declare their structure: a batch mean of per-example losses.

f(θ) = (1/B) Σᵢ ℓ(θ, xᵢ, yᵢ) + r(θ) is what supervised training minimizes. Declaring it as a
``BatchMean`` instead of an opaque closure lets a differentiator use the structure: the
symbolic one differentiates ℓ once, with one example's inputs as symbols, and evaluates the
result vectorized over the batch, so expression size does not grow with the data.

It lives beside the interface, not in the model zoo, because both sides of the seam use it:
the zoo and users declare objectives with it, and backends read its structure.
"""

import difflab.numpy as dnp


class BatchMean:
    """f(θ) = mean(example_loss(θ, X, Y)) + penalty(θ); a callable of θ like any objective.

    ``example_loss(θ, X, Y)`` maps a batch (leading axis) to one loss per example, shape (B,);
    ``penalty(θ)`` (optional) is the part that does not depend on the data, e.g. a ridge term.
    """

    def __init__(self, example_loss, X, Y, penalty=None):
        self.example_loss, self.X, self.Y, self.penalty = example_loss, X, Y, penalty

    def __call__(self, theta):
        data_term = dnp.mean(self.example_loss(theta, self.X, self.Y))
        return data_term + self.penalty(theta) if self.penalty is not None else data_term

    @property
    def batch(self):
        return dnp.shape_of(self.X)[0]
