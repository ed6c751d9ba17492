"""Timings for the report: a warm-up call, then repeated runs; median and spread recorded.

Process CPU time (time.process_time) is used, as in benchmarks/: on a shared machine wall
time also counts the moments another tenant runs. A call shorter than ``burst`` seconds is
repeated in a burst so the clock's resolution does not dominate.
"""

import statistics
import time


def burst_seconds(fn, seconds):
    """CPU seconds per call of ``fn``, from as many calls as fit in about ``seconds``."""
    count, start = 0, time.process_time()
    while True:
        fn()
        count += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return elapsed / count


def timed(fn, repeats=5, burst=0.02):
    """{"median", "min", "max", "repeats"} seconds per call of ``fn``, after one warm-up call."""
    fn()
    samples = [burst_seconds(fn, burst) for _ in range(repeats)]
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "repeats": repeats}
