"""Rolling quantiles of recent scores, for thresholds given as a share of traffic (`share: 0.7`).

A tier that takes "the easiest 70% of traffic" needs the score below which 70% of recent requests
fell. `RollingQuantile` keeps the last `window` scores in a ring buffer (bounded memory, O(1) to add)
and answers `threshold(share)` from a sorted copy that is rebuilt at most every `refresh` additions,
so a lookup on the request path is a list index. Pure: no clock, no I/O, no locks (one event loop).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

__all__ = ["FixedQuantile", "Quantiles", "RollingQuantile"]


class Quantiles(Protocol):
    def add(self, score: float) -> None: ...

    def threshold(self, share: float) -> float | None: ...


class RollingQuantile:
    __slots__ = ("_added", "_buf", "_next", "_refresh", "_sorted", "_stale", "min_count", "window")

    def __init__(self, window: int = 4096, *, min_count: int = 200, refresh: int = 64) -> None:
        if window < 1 or refresh < 1:
            raise ValueError("window and refresh must be at least 1")
        if not 1 <= min_count <= window:
            raise ValueError("min_count must be between 1 and window")
        self.window = window
        self.min_count = min_count
        self._refresh = refresh
        self._buf: list[float] = []
        self._next = 0  # where the next score goes once the buffer is full
        self._added = 0
        self._sorted: list[float] = []
        self._stale = 0  # additions since `_sorted` was built

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def added(self) -> int:
        """Scores seen in all (the buffer holds the last `window` of them)."""
        return self._added

    def add(self, score: float) -> None:
        if math.isnan(score):
            return  # an unscored request says nothing about the distribution
        if len(self._buf) < self.window:
            self._buf.append(score)
        else:
            self._buf[self._next] = score
            self._next = (self._next + 1) % self.window
        self._added += 1
        self._stale += 1

    def threshold(self, share: float) -> float | None:
        """The score at or below which `share` of the recent scores lie (0 < share ≤ 1); None until
        `min_count` scores were seen. A request with score ≤ threshold(0.7) is among the easiest 70%."""
        if not 0.0 < share <= 1.0:
            raise ValueError("share must be in (0, 1]")
        n = len(self._buf)
        if n < self.min_count:
            return None
        if self._stale >= self._refresh or len(self._sorted) != n:
            self._sorted = sorted(self._buf)
            self._stale = 0
        # The smallest value with at least share * n scores at or below it.
        return self._sorted[max(0, math.ceil(share * n) - 1)]


class FixedQuantile:
    """The quantiles of a fixed set of scores (`gateway route`: those of the replayed file itself)."""

    __slots__ = ("_sorted",)

    def __init__(self, scores: Iterable[float]) -> None:
        self._sorted = sorted(s for s in scores if not math.isnan(s))

    def add(self, score: float) -> None:
        """A replay decides every line against the whole file's quantiles: nothing moves them."""

    def threshold(self, share: float) -> float | None:
        if not 0.0 < share <= 1.0:
            raise ValueError("share must be in (0, 1]")
        n = len(self._sorted)
        return self._sorted[max(0, math.ceil(share * n) - 1)] if n else None
