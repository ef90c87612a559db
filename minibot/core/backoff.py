"""The one exponential back-off policy: how long to wait before the next try."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# Past this many doublings every sane policy is at its cap; bounding the exponent keeps a
# retry loop that has run for days from overflowing a float.
_MAX_STEPS = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits that grow from `initial_seconds` by `multiplier` per attempt up to
    `max_seconds`. `jitter` is the fraction of each wait left to chance (0: exact; 0.5:
    between half and all of it; 1: "full jitter", anywhere from 0), so many callers
    failing together do not retry together. `random_fraction` returns a number in [0, 1)
    and is injectable so tests can pin the waits."""

    initial_seconds: float
    max_seconds: float
    multiplier: float = 2.0
    jitter: float = 0.0
    random_fraction: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.initial_seconds < 0 or self.max_seconds < 0:
            raise ValueError("back-off waits cannot be negative")
        if self.multiplier < 1:
            raise ValueError("a back-off multiplier below 1 would shrink the waits")
        if not 0 <= self.jitter <= 1:
            raise ValueError("back-off jitter is a fraction between 0 and 1")

    def ceiling(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (counted from 1) before any jitter."""
        steps = min(max(attempt - 1, 0), _MAX_STEPS)
        return min(self.initial_seconds * self.multiplier**steps, self.max_seconds)

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (counted from 1)."""
        ceiling = self.ceiling(attempt)
        if not self.jitter:
            return ceiling
        return ceiling * (1 - self.jitter + self.jitter * self.random_fraction())
