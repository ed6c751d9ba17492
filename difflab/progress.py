"""A progress bar on standard error for work that may take more than a few seconds.

It stays silent for the first ``delay`` seconds (quick calls print nothing) and when
standard error is not a terminal, unless ``DIFFLAB_PROGRESS=1`` forces it on.
"""

import os
import sys
import time


class Progress:
    """``with Progress(total, "hessian") as bar: ... bar.advance()``."""

    def __init__(self, total, label, *, delay=2.0, stream=None, width=30):
        self.total = max(int(total), 1)
        self.label = label
        self.delay = delay
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False
        forced = os.environ.get("DIFFLAB_PROGRESS") == "1"
        self._enabled = forced or (hasattr(self.stream, "isatty") and self.stream.isatty())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._drawn:
            self._draw(final=True)
            self.stream.write("\n")
            self.stream.flush()
        return False

    def advance(self, count=1):
        self.done += count
        now = time.perf_counter()
        if not self._enabled or now - self._start < self.delay or now - self._last_draw < 0.2:
            return
        self._last_draw = now
        self._draw()

    def _draw(self, final=False):
        elapsed = time.perf_counter() - self._start
        fraction = min(self.done / self.total, 1.0)
        filled = int(round(fraction * self.width))
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 and not final else 0.0
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} "
                          f"{elapsed:6.1f}s elapsed, {eta:6.1f}s left")
        self.stream.flush()
        self._drawn = True
