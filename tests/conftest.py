"""Hypothesis profiles: "dev" locally, "ci" (reproducible draws) when the CI variable is set."""

import os

from hypothesis import settings

# Wall-clock deadlines fail at random on loaded 2-core machines, so no test has one.
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
