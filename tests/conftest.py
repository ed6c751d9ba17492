"""Hypothesis profiles: "dev" locally, "ci" (reproducible draws) when the CI variable is set;
and truths several modules share."""

import os

import pytest
from hypothesis import settings

from difflab import models, reference

# Wall-clock deadlines fail at random on loaded 2-core machines, so no test has one.
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def zoo_hessian():
    """name → the default zoo model's reference Hessian at θ₀. The 50-digit Hessian is the
    slowest truth, and several modules compare against the mlp's, so each is computed once."""
    cache = {}

    def get(name):
        if name not in cache:
            problem = models.get(name)
            cache[name] = reference.hessian(problem.objective, problem.theta0)
        return cache[name].copy()
    return get
