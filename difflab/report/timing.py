"""Timings for the report: interleaved repeats, raw samples kept, medians with intervals.

Process CPU time (time.process_time) is used, as in benchmarks/: on a shared machine wall
time also counts the moments another tenant runs. A call shorter than ``burst`` seconds is
repeated in a burst so the clock's resolution does not dominate.

The calls of one cell (a method and the forward pass it is measured against) are timed in
*interleaved rounds*: each round times every call once, in order on even rounds and reversed
on odd ones, so a slow moment of the machine falls on all of them and their per-round ratios
cancel it.

Two intervals, both at 95% by default:

- ``median_interval``: the distribution-free order-statistics interval for the median,
  [x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎], which covers it with probability 1 − 2·P(B ≤ j − 1), B ~ Binomial(n, ½)
  (Conover, *Practical Nonparametric Statistics*, 3rd ed., §3.2). No j reaches 95% below six
  samples; then the interval is the whole range and its lower coverage is recorded (three
  samples: 75%), not hidden.
- ``resampled_medians`` + ``percentile_interval``: the percentile bootstrap (Efron & Tibshirani,
  *An Introduction to the Bootstrap*, 1993, ch. 13) for statistics of several medians — fitted
  slopes, break-even counts. The caller passes the seeded generator, so a rerun of the
  rendering gives the same interval.
"""

import math
import statistics
import time

import numpy as np

LEVEL = 0.95
DRAWS = 2000            # bootstrap resamples: the interval's ends move by ~1% between seeds


def burst_seconds(fn, seconds):
    """CPU seconds per call of ``fn``, from as many calls as fit in about ``seconds``."""
    count, start = 0, time.process_time()
    while True:
        fn()
        count += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return elapsed / count


def interleaved(timers, rounds):
    """{name: [seconds, one per round]}: each round runs every timer once (a zero-argument
    function returning the seconds it measured), in order on even rounds and reversed on odd
    ones. Warm the calls up before: the first round is kept."""
    names = list(timers)
    samples = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            samples[name].append(float(timers[name]()))
    return samples


def timed(fn, repeats=5, burst=0.02):
    """The summary of ``repeats`` bursts of ``fn`` (seconds per call), after one warm-up."""
    fn()
    return summary(interleaved({"fn": lambda: burst_seconds(fn, burst)}, repeats)["fn"])


def summary(samples, level=LEVEL):
    """{"samples", "median", "low", "high", "confidence", "repeats"}: the raw samples, their
    median and its order-statistics interval with the coverage it reaches."""
    samples = [float(s) for s in samples]
    low, high, confidence = median_interval(samples, level)
    return {"samples": samples, "median": statistics.median(samples), "low": low,
            "high": high, "confidence": confidence, "repeats": len(samples)}


def median_coverage(count, j):
    """P(x₍ⱼ₎ ≤ median ≤ x₍count+1−j₎) for ``count`` independent samples of a continuous
    distribution: 1 − 2·P(Binomial(count, ½) ≤ j − 1)."""
    return 1 - 2 * sum(math.comb(count, i) for i in range(j)) / 2 ** count


def median_ranks(count, level=LEVEL):
    """(j, coverage): the largest j with coverage ≥ ``level`` (the narrowest such interval),
    or j = 1 (the whole range) with its coverage when no j reaches ``level``."""
    j = 1
    while j + 1 <= (count + 1) // 2 and median_coverage(count, j + 1) >= level:
        j += 1
    return j, median_coverage(count, j)


def median_interval(samples, level=LEVEL):
    """(low, high, coverage): the order-statistics interval of the median of ``samples``."""
    ordered = sorted(samples)
    j, coverage = median_ranks(len(ordered), level)
    return ordered[j - 1], ordered[-j], coverage


def resampled_medians(samples, draws, rng):
    """Medians of ``draws`` bootstrap resamples of the rows (rounds) of ``samples``: shape
    (draws,) for a list, (draws, columns) for rows of columns — the calls of one round are
    resampled together, so they stay paired."""
    samples = np.asarray(samples, float)
    rows = rng.integers(len(samples), size=(draws, len(samples)))
    return np.median(samples[rows], axis=1)


def percentile_interval(values, level=LEVEL):
    """(low, high): the bootstrap percentile interval; values may be ±inf (the ends are
    order statistics of the draws, never interpolated)."""
    tail = (1 - level) / 2
    low, high = np.quantile(np.asarray(values, float), [tail, 1 - tail],
                            method="inverted_cdf")
    return float(low), float(high)


def separate(a, b):
    """-1 when interval ``a`` lies wholly below ``b``, 1 when wholly above, 0 when they
    overlap (the data cannot tell the two apart)."""
    return -1 if a[1] < b[0] else 1 if a[0] > b[1] else 0


def seconds_text(seconds):
    """'1.23 s', '4.56 ms' or '789 µs': three significant digits in a readable unit."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"
