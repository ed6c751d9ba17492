"""Size and time budgets for the symbolic stages: trace, share, differentiate, compile.

Expression swell is the symbolic method's known failure: a derivative can be exponentially
larger than its function, and SymPy or Python's compiler would then run for hours or die with
a RecursionError. Each stage runs under a ``Budget``; going past one raises
``SwellLimitError`` naming the stage, the size or time reached, and what to do.
"""

import ctypes
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace

from ..errors import DiffLabError, SwellLimitError

STAGES = ("trace", "share", "differentiate", "compile")


@dataclass(frozen=True)
class Budget:
    """Limits per stage: seconds of wall time, and sizes.

    ``nodes``: distinct subexpressions of the traced function; ``derivative_nodes``: nodes of
    the derivative as it will be compiled (tree nodes in ``tree``/``cse`` mode, assignments'
    nodes in ``dag``); ``lines``: lines of generated code. ``None`` lifts a limit, and
    ``budget=None`` where a budget is asked for lifts them all (``UNLIMITED``).
    """

    seconds: float | None = 30.0
    nodes: int | None = 200_000
    derivative_nodes: int | None = 2_000_000
    lines: int | None = 2_000_000

    def __post_init__(self):
        for limit in fields(self):
            value = getattr(self, limit.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
                    or value <= 0:
                raise DiffLabError(f"Budget({limit.name}={value!r}): a limit is a positive "
                                   "number, or None for no limit")

    def raised(self, factor=10):
        """The same budget with every limit multiplied by ``factor``."""
        return replace(self, **{k: None if v is None else v * factor
                                for k, v in self.__dict__.items()})


DEFAULT = Budget()
UNLIMITED = Budget(seconds=None, nodes=None, derivative_nodes=None, lines=None)


def resolve(budget):
    """The Budget a caller means: ``None`` is no limit at all, as documented."""
    if budget is None:
        return UNLIMITED
    if not isinstance(budget, Budget):
        raise DiffLabError(f"symbolic: budget must be a difflab.symbolic.Budget or None (no "
                           f"limit), got {type(budget).__name__}")
    return budget


def advice(stage, mode):
    other = "mode='dag'" if mode != "dag" else "a smaller model (or a per-example objective, " \
        "difflab.models.BatchMean, so the data do not enter the expression)"
    return (f"Raise the limit with budget=Budget(...) (e.g. difflab.symbolic.DEFAULT.raised(10), "
            f"or None to lift it) or use {other}.")


def check_size(stage, what, size, limit, mode):
    if limit is not None and size > limit:
        raise SwellLimitError(stage, what, size, limit, advice(stage, mode))


class _Expired(SwellLimitError):
    """Raised asynchronously in a thread whose stage ran out of time. The interpreter makes it
    without arguments, so ``timed`` replaces it by a SwellLimitError that names the stage."""

    def __init__(self):
        self.stage = self.what = self.reached = self.limit = None
        DiffLabError.__init__(self, "symbolic: a stage ran past its time budget. Raise it "
                              "with budget=Budget(seconds=...) (None lifts it) or use mode='dag'")


def _raise_in(thread, exception):
    """Make ``thread`` raise ``exception`` (a class) at its next bytecode; None cancels one
    not yet raised. CPython's PyThreadState_SetAsyncExc, the means a thread has to interrupt
    another, as a signal handler interrupts the main thread."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread), None if exception is None else ctypes.py_object(exception))


_INTERRUPTS = hasattr(ctypes, "pythonapi") and hasattr(ctypes.pythonapi,
                                                       "PyThreadState_SetAsyncExc")


class _Watchdog:
    """Interrupts the thread that made it once ``seconds`` have passed, and again every
    ``seconds / 4`` (at least 20 ms) until stopped: SymPy catches ``Exception`` in places and
    could swell on after swallowing one interruption.

    It replaces SIGALRM, which only the main thread can receive and which shares the process's
    one real-time timer with the user's own ``signal.alarm``; this needs neither.
    """

    def __init__(self, seconds):
        self.thread = threading.get_ident()
        self.lock = threading.Lock()
        self.fired = False
        self.stopped = threading.Event()
        threading.Thread(target=self._watch, args=(seconds,), daemon=True,
                         name="difflab-symbolic-budget").start()

    def _watch(self, seconds):
        wait = seconds
        while not self.stopped.wait(wait):
            with self.lock:
                if self.stopped.is_set():
                    return
                self.fired = True
                _raise_in(self.thread, _Expired)
            wait = max(seconds / 4, 0.02)

    def stop(self):
        with self.lock:
            self.stopped.set()
            if self.fired:
                _raise_in(self.thread, None)



@contextmanager
def timed(stage, budget, mode, seconds_spent):
    """Run a stage, interrupting it once it passes ``budget.seconds``; record its time.

    A watchdog thread interrupts the stage wherever it is, in any thread, and leaves the
    process's signals and timers alone; where the interpreter offers no way to interrupt a
    thread, the time is checked when the stage ends.
    """
    limit = resolve(budget).seconds
    start = time.perf_counter()
    watchdog = _Watchdog(limit) if limit is not None and _INTERRUPTS else None
    try:
        try:
            yield
        finally:
            if watchdog is not None:
                watchdog.stop()
    except _Expired:
        if watchdog is not None:
            watchdog.stop()
        raise SwellLimitError(stage, "seconds", time.perf_counter() - start, limit,
                              advice(stage, mode)) from None
    except RecursionError:
        depth = sys.getrecursionlimit()
        raise SwellLimitError(stage, "expression depth", depth, depth,
                              "SymPy recursed past Python's limit on a deep expression. "
                              + advice(stage, mode)) from None
    finally:
        seconds_spent[stage] = seconds_spent.get(stage, 0.0) + time.perf_counter() - start
    if limit is not None and seconds_spent[stage] > limit:
        raise SwellLimitError(stage, "seconds", seconds_spent[stage], limit, advice(stage, mode))
