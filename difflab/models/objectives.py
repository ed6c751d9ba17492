"""``BatchMean`` is defined in ``difflab.objectives``, where backends can use it without
depending on the model zoo; it stays importable from here and from ``difflab.models``."""

from ..objectives import BatchMean

__all__ = ["BatchMean"]
