"""Size and time budgets for the symbolic stages: trace, share, differentiate, compile.

Expression swell is the symbolic method's known failure: a derivative can be exponentially
larger than its function, and SymPy or Python's compiler would then run for hours or die with
a RecursionError. Each stage runs under a ``Budget``; going past one raises
``SwellLimitError`` naming the stage, the size or time reached, and what to do.
"""

import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

from ..errors import SwellLimitError

STAGES = ("trace", "share", "differentiate", "compile")


@dataclass(frozen=True)
class Budget:
    """Limits per stage: seconds of wall time, and sizes.

    ``nodes``: distinct subexpressions of the traced function; ``derivative_nodes``: nodes of
    the derivative as it will be compiled (tree nodes in ``tree``/``cse`` mode, assignments'
    nodes in ``dag``); ``lines``: lines of generated code. ``None`` lifts a limit.
    """

    seconds: float | None = 30.0
    nodes: int | None = 200_000
    derivative_nodes: int | None = 2_000_000
    lines: int | None = 2_000_000

    def raised(self, factor=10):
        """The same budget with every limit multiplied by ``factor``."""
        return replace(self, **{k: None if v is None else v * factor
                                for k, v in self.__dict__.items()})


DEFAULT = Budget()


def advice(stage, mode):
    other = "mode='dag'" if mode != "dag" else "a smaller model (or a per-example objective, " \
        "difflab.models.BatchMean, so the data do not enter the expression)"
    return (f"Raise the limit with budget=Budget(...) (e.g. difflab.symbolic.DEFAULT.raised(10), "
            f"or None to lift it) or use {other}.")


def check_size(stage, what, size, limit, mode):
    if limit is not None and size > limit:
        raise SwellLimitError(stage, what, size, limit, advice(stage, mode))


@contextmanager
def timed(stage, budget, mode, seconds_spent):
    """Run a stage, interrupting it once it passes ``budget.seconds``; record its time.

    In the main thread an interval timer (SIGALRM) interrupts SymPy wherever it is, so a swell
    never hangs; elsewhere the time is checked when the stage ends.
    """
    limit = budget.seconds
    start = time.perf_counter()

    def interrupt(signum, frame):
        raise SwellLimitError(stage, "seconds", time.perf_counter() - start, limit,
                              advice(stage, mode))

    armed = (limit is not None and hasattr(signal, "setitimer")
             and threading.current_thread() is threading.main_thread())
    if armed:
        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    except RecursionError:
        depth = sys.getrecursionlimit()
        raise SwellLimitError(stage, "expression depth", depth, depth,
                              "SymPy recursed past Python's limit on a deep expression. "
                              + advice(stage, mode)) from None
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        seconds_spent[stage] = seconds_spent.get(stage, 0.0) + time.perf_counter() - start
    if limit is not None and seconds_spent[stage] > limit:
        raise SwellLimitError(stage, "seconds", seconds_spent[stage], limit, advice(stage, mode))

