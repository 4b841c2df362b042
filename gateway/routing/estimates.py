"""Live per-backend latency estimates: time to first token and time per output token.

Each estimate is an exponentially weighted mean of the gateway's own measurements, seeded by a prior.
A lone sample far above the estimate is clipped to a few times it, so one stray outlier moves it a
step rather than a leap; a second one in a row is a trend and counts in full, so a real slowdown moves
traffic within two requests. An estimate nobody refreshes drifts back to its prior: traffic that left
a slow backend comes back to try it again. The clock is passed in: deterministic under test.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LatencyBook", "LatencyStats"]

_CLIP = 4.0  # a sample counts as at most this many times the current estimate


@dataclass(slots=True)
class _Ewma:
    prior: float
    value: float
    updated: float | None = None
    outlier: bool = False  # the previous sample was clipped

    def current(self, now: float, half_life_s: float) -> float:
        if self.updated is None:
            return self.value
        keep: float = 0.5 ** (max(0.0, now - self.updated) / half_life_s)
        return self.prior + (self.value - self.prior) * keep

    def observe(self, sample: float, now: float, alpha: float, half_life_s: float) -> None:
        base = self.current(now, half_life_s)
        sample = max(sample, 0.0)
        clipped = base > 0 and sample > _CLIP * base
        if clipped and not self.outlier:
            sample = _CLIP * base
        self.outlier = clipped
        self.value = base + alpha * (sample - base)
        self.updated = now


class LatencyStats:
    def __init__(self, ttft_s: float, tpot_s: float, *, alpha: float, half_life_s: float) -> None:
        self._ttft = _Ewma(ttft_s, ttft_s)
        self._tpot = _Ewma(tpot_s, tpot_s)
        self.alpha = alpha
        self.half_life_s = half_life_s

    def observe(self, now: float, *, ttft_s: float | None = None, tpot_s: float | None = None) -> None:
        if ttft_s is not None:
            self._ttft.observe(ttft_s, now, self.alpha, self.half_life_s)
        if tpot_s is not None:
            self._tpot.observe(tpot_s, now, self.alpha, self.half_life_s)

    def observe_total(self, now: float, elapsed_s: float, tokens: int) -> None:
        """A whole answer of `tokens` took `elapsed_s`: it hides where the first token came, so both
        estimates are scaled by how far the total was from what they predicted."""
        hl = self.half_life_s
        ttft, tpot = self._ttft.current(now, hl), self._tpot.current(now, hl)
        expected = ttft + tokens * tpot
        if expected > 0:
            ratio = elapsed_s / expected
            self._ttft.observe(ttft * ratio, now, self.alpha, hl)
            self._tpot.observe(tpot * ratio, now, self.alpha, hl)

    def view(self, now: float) -> tuple[float, float]:
        """(time to first token, time per output token) in seconds, as expected now."""
        return self._ttft.current(now, self.half_life_s), self._tpot.current(now, self.half_life_s)


class LatencyBook:
    """One LatencyStats per backend name; survives route reloads so measurements are not lost."""

    def __init__(self) -> None:
        self._stats: dict[str, LatencyStats] = {}

    def get(
        self, name: str, ttft_s: float, tpot_s: float, *, alpha: float, half_life_s: float
    ) -> LatencyStats:
        stats = self._stats.get(name)
        if stats is None:
            stats = self._stats[name] = LatencyStats(ttft_s, tpot_s, alpha=alpha, half_life_s=half_life_s)
        else:
            stats.alpha, stats.half_life_s = alpha, half_life_s
        return stats
