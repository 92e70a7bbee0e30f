"""Jittered exponential backoff that never outlives the window it protects."""

from __future__ import annotations

import random
import threading

from . import forks

__all__ = ["Backoff"]


class Backoff:
    """Delays between failed refresh attempts.

    Doubling from `base` with jitter up to a ceiling drawn from `cap` (AWS's 300-600 s), and
    never more than half the time left before `deadline`, so a failing advisory refresh is
    tried again a few times before the mandatory window and a failing mandatory refresh is
    tried again before the credentials expire. Once the deadline has passed (nothing valid
    is left) the doubling goes on, capped at `expired_cap`, so a dead STS is not hammered
    but a recovered one is found again quickly.
    """

    def __init__(
        self,
        base: float = 1.0,
        cap: tuple[float, float] = (300.0, 600.0),
        floor: float = 0.25,
        expired_cap: float = 30.0,
    ) -> None:
        self.base = base
        self.cap = cap
        self.floor = floor
        self.expired_cap = expired_cap
        self.failures = 0
        self._random = random.Random()
        self._lock = threading.Lock()
        forks.reset_in_child(self, "_lock")

    def next_delay(self, now: float, deadline: float) -> float:
        with self._lock:
            self.failures += 1
            ceiling = min(self._random.uniform(*self.cap), self.base * 2 ** min(self.failures, 30))
            delay = self._random.uniform(ceiling / 2, ceiling)
        half_left = (deadline - now) / 2
        if half_left > self.floor:
            return max(self.floor, min(delay, half_left))
        return max(self.floor, min(delay, self.expired_cap))

    def reset(self) -> None:
        with self._lock:
            self.failures = 0
