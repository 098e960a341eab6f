"""Interleaved timing for the benchmarks: ratios that hold on a shared, noisy machine.

``compare`` runs every configuration once to warm up, then all of them in turn (A, B, A, B, ...)
for several rounds, each call timed with ``time.perf_counter``. Load from another process hits
neighbouring calls alike, so the per-round ratio B/A moves less than the times themselves; the
median over rounds and its min-max range are what the benchmarks print.

Plain code rather than ``pyperf``: pyperf calibrates loops of a cheap statement and runs each
benchmark in its own worker processes, one after another. Here one call trains a model for
seconds, the configurations share data already in memory, and the point is to interleave them
within one process, which pyperf does not do.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Median and range of repeated measurements."""

    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        """The median, minimum and maximum of ``values``."""
        return cls(statistics.median(values), min(values), max(values), len(values))

    def scaled(self, factor: float) -> Spread:
        """Each value times ``factor`` (> 0)."""
        return Spread(self.median * factor, self.low * factor, self.high * factor, self.rounds)

    def inverse(self, scale: float = 1.0) -> Spread:
        """``scale`` divided by each value: seconds per call into calls (or images) per second."""
        return Spread(scale / self.median, scale / self.high, scale / self.low, self.rounds)

    def brackets(self, value: float) -> bool:
        """Whether ``value`` lies within the range."""
        return self.low <= value <= self.high

    def overlaps(self, other: Spread) -> bool:
        """Whether two ranges share a value (two runs of one benchmark should)."""
        return self.low <= other.high and other.low <= self.high

    def noisy(self) -> bool:
        """Whether the range is wider than the effect it measures, i.e. it contains 1 or its width
        exceeds the median's distance from 1 (for a ratio)."""
        return self.brackets(1.0) or self.high - self.low > abs(self.median - 1.0)


@dataclass(frozen=True)
class Comparison:
    """Seconds of each configuration per round, in the order they ran."""

    seconds: Mapping[str, list[float]]

    def time(self, name: str) -> Spread:
        """Median and range of ``name``'s seconds per call."""
        return Spread.of(self.seconds[name])

    def ratio(self, numerator: str, denominator: str) -> Spread:
        """Median and range of the per-round ratio of the two configurations' seconds."""
        return Spread.of([a / b for a, b in zip(self.seconds[numerator], self.seconds[denominator])])

    def speedup(self, faster: str, baseline: str) -> Spread:
        """Per-round ``baseline`` seconds / ``faster`` seconds: above 1 when ``faster`` is."""
        return self.ratio(baseline, faster)


def compare(workloads: Mapping[str, Callable[[], object]], rounds: int = 5, warmup: int = 1) -> Comparison:
    """Run each workload ``warmup`` times, then all of them interleaved for ``rounds`` rounds; the
    order within a round rotates so that none always runs first."""
    if rounds < 1:
        raise ValueError(f"rounds={rounds}: need at least 1")
    names = list(workloads)
    for _ in range(warmup):
        for name in names:
            workloads[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            workloads[name]()
            seconds[name].append(time.perf_counter() - started)
    return Comparison(seconds)


def describe(spread: Spread, unit: str = "×") -> str:
    """``1.93 × (1.21-3.40 over 5 rounds)``, with a warning when the range is wider than the effect."""
    text = f"{spread.median:.2f} {unit} ({spread.low:.2f}-{spread.high:.2f} over {spread.rounds} rounds)"
    return text + (": too noisy to call" if spread.noisy() else "")


def describe_value(spread: Spread, unit: str = "s", digits: int = 2) -> str:
    """Median and range of a measured quantity, e.g. ``4.12 s (3.90-5.01)``."""
    return f"{spread.median:.{digits}f} {unit} ({spread.low:.{digits}f}-{spread.high:.{digits}f})"
