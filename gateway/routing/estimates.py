"""Live per-backend latency estimates: time to first token and time per output token, and their tails.

Each estimate is an exponentially weighted mean of the gateway's own measurements, seeded by a prior.
A lone sample far above the estimate is clipped to a few times it, so one stray outlier moves it a
step rather than a leap; a second one in a row is a trend and counts in full, so a real slowdown moves
traffic within two requests. An estimate nobody refreshes drifts back to its prior, or to what its
replicas last measured where that is faster (`LatencyStats._toward`): traffic that left a slow backend
comes back to try it again. The clock is passed in: deterministic under test.

The tails (a p95 of the time to a whole answer, and of a stream's time to its first chunk) say when a
candidate is late enough to hedge (dispatch/hedge.py): means cannot, since a hung replica is an
outlier, not a shift of the mean.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["TAIL_QUANTILE", "LatencyBook", "LatencyStats"]

_CLIP = 4.0  # a sample counts as at most this many times the current estimate

TAIL_QUANTILE = 0.95
_TAIL_SAMPLES = 64  # recent answers a tail is read from
_TAIL_EVERY = 8  # new samples between two sorts of them, once the tail is warm
_TAIL_MIN = 5  # below this many recent samples the tail is the prior's
_TAIL_SEED = 2.0  # the prior's tail: this many times the prior mean
_TAIL_HORIZON = 4.0  # samples older than this many estimator half-lives no longer count
_SEED_TOKENS = 256  # a whole answer's length before anything was measured (the planner's default)


@dataclass(slots=True)
class _Ewma:
    prior: float
    value: float
    updated: float | None = None
    outlier: bool = False  # the previous sample was clipped

    def current(self, now: float, half_life_s: float, toward: float = math.inf) -> float:
        """The estimate now, drifting back to the prior, or to `toward` where that is faster."""
        target = toward if toward < self.prior else self.prior
        if self.updated is None:
            return target
        keep: float = 0.5 ** (max(0.0, now - self.updated) / half_life_s)
        return target + (self.value - target) * keep

    def observe(self, sample: float, now: float, alpha: float, half_life_s: float, toward: float) -> None:
        self.observe_from(self.current(now, half_life_s, toward), sample, now, alpha)

    def observe_from(self, base: float, sample: float, now: float, alpha: float) -> None:
        """`observe`, with the estimate as of `now` already in hand (`base`)."""
        sample = max(sample, 0.0)
        clipped = base > 0 and sample > _CLIP * base
        if clipped and not self.outlier:
            sample = _CLIP * base
        self.outlier = clipped
        self.value = base + alpha * (sample - base)
        self.updated = now


class _Tail:
    """A decaying p95: the TAIL_QUANTILE of the last _TAIL_SAMPLES samples no older than a horizon.

    O(1) per sample and bounded memory: samples go into a ring; the quantile is re-read from a sorted
    copy of it only every _TAIL_EVERY samples (64 floats: about 2 us), or when its oldest sample ages
    out. Until _TAIL_MIN recent samples exist it is the prior's (`warm` False), so a fresh backend (or
    one nobody used for a while) is hedged late rather than early, unless its replicas say otherwise
    (LatencyStats.tail).
    """

    __slots__ = ("_at", "_expires", "_fresh", "_value", "_values", "seed", "warm")

    def __init__(self, seed: float) -> None:
        self.seed = seed
        self._at: deque[float] = deque(maxlen=_TAIL_SAMPLES)  # when each sample was taken
        self._values: deque[float] = deque(maxlen=_TAIL_SAMPLES)
        self._value = seed
        self._fresh = 0  # samples since the last sort
        self._expires = math.inf  # when the oldest sample read ages out
        self.warm = False  # as of the last read: enough recent samples, the value is theirs

    def observe(self, now: float, seconds: float) -> None:
        self._at.append(now)
        self._values.append(max(0.0, seconds))
        self._fresh += 1

    def value(self, now: float, horizon_s: float) -> float:
        fresh = self._fresh
        young = len(self._values) < _TAIL_MIN + _TAIL_EVERY  # re-read at every sample until warm
        if (fresh and (young or fresh >= _TAIL_EVERY)) or now >= self._expires:
            self._read(now, horizon_s)
        return self._value

    def _read(self, now: float, horizon_s: float) -> None:
        self._fresh = 0
        since = now - horizon_s
        at, values = self._at, self._values
        while at and at[0] < since:
            at.popleft()
            values.popleft()
        self.warm = len(values) >= _TAIL_MIN
        if not self.warm:
            self._value = self.seed
        else:
            xs = sorted(values)
            self._value = xs[math.ceil(TAIL_QUANTILE * len(xs)) - 1]
        self._expires = at[0] + horizon_s if at else math.inf


class LatencyStats:
    def __init__(self, ttft_s: float, tpot_s: float, *, alpha: float, half_life_s: float) -> None:
        self._ttft = _Ewma(ttft_s, ttft_s)
        self._tpot = _Ewma(tpot_s, tpot_s)
        self.alpha = alpha
        self.half_life_s = half_life_s
        self._first_tail = _Tail(_TAIL_SEED * ttft_s)
        self._answer_tail = _Tail(_TAIL_SEED * (ttft_s + _SEED_TOKENS * tpot_s))
        # The other backends serving the same model in the same tier (LatencyBook.replicas).
        self.replicas: tuple[LatencyStats, ...] = ()

    @property
    def measured(self) -> bool:
        """Has anything been measured here yet (an answer, a first chunk, a timeout)?"""
        return self._ttft.updated is not None or self._tpot.updated is not None

    @property
    def borrows(self) -> bool:
        """Does a replica's measurement stand for one of its priors (it measured faster)? At a cold
        start nobody does: every replica stands on its priors, and load spreads as it always did."""
        first, token = self._toward()
        return first < self._ttft.prior or token < self._tpot.prior

    def _toward(self) -> tuple[float, float]:
        """The fastest of what the replicas last measured: where it is faster than a prior, it stands
        for it. Replicas are taken as alike until measured: a prior slower than what they measure (a
        kind's default against a fast GPU) would otherwise keep a replica never measured out from the
        start, and stop the drift of one measured slow once more than the planner's "alike" margin
        behind them, out of rotation for as long as the others keep up. One that is slower is
        measured so by the request that tries it, and tried again once its estimate has drifted."""
        first = token = math.inf  # a loop, not min() over generators: read per replica per request
        for r in self.replicas:
            first, token = min(first, r._ttft.value), min(token, r._tpot.value)
        return first, token  # inf where there are none: never faster than a prior

    def observe(self, now: float, *, ttft_s: float | None = None, tpot_s: float | None = None) -> None:
        first, token = self._toward()
        if ttft_s is not None:
            self._ttft.observe(ttft_s, now, self.alpha, self.half_life_s, first)
        if tpot_s is not None:
            self._tpot.observe(tpot_s, now, self.alpha, self.half_life_s, token)

    def observe_total(self, now: float, elapsed_s: float, tokens: int) -> None:
        """A whole answer of `tokens` took `elapsed_s`: it hides where the first token came, so both
        estimates are scaled by how far the total was from what they predicted."""
        ttft, tpot = self.view(now)
        expected = ttft + tokens * tpot
        if expected > 0:
            ratio, alpha = elapsed_s / expected, self.alpha
            self._ttft.observe_from(ttft, ttft * ratio, now, alpha)
            self._tpot.observe_from(tpot, tpot * ratio, now, alpha)

    def view(self, now: float) -> tuple[float, float]:
        """(time to first token, time per output token) in seconds, as expected now."""
        hl = self.half_life_s
        if not self.replicas:
            return self._ttft.current(now, hl), self._tpot.current(now, hl)
        first, token = self._toward()
        return self._ttft.current(now, hl, first), self._tpot.current(now, hl, token)

    def observe_tail(self, now: float, seconds: float, *, first_chunk: bool) -> None:
        """An attempt committed after `seconds`: a stream at its first chunk, a plain call answered.

        Only answers count: a timeout or a cancelled hedge says only "longer than", and a hung
        replica must not raise its own hedge delay."""
        (self._first_tail if first_chunk else self._answer_tail).observe(now, seconds)

    def tail(self, now: float, *, first_chunk: bool) -> float:
        """The recent p95, in seconds, of a stream's first chunk or of a whole plain answer. With too
        few recent answers of its own, a replica's is its replicas' (the slowest of those that have
        enough) where that is sooner than its prior's: taken as alike until measured, a replica back
        from an ejection that hangs is hedged as late as they would be, not at twice its prior's tail
        (vLLM's defaults: 19 s for a plain answer)."""
        tail = self._first_tail if first_chunk else self._answer_tail
        value = tail.value(now, _TAIL_HORIZON * self.half_life_s)
        if tail.warm or not self.replicas:
            return value
        theirs = -math.inf
        for r in self.replicas:
            other = r._first_tail if first_chunk else r._answer_tail
            seen = other.value(now, _TAIL_HORIZON * r.half_life_s)
            if other.warm:
                theirs = max(theirs, seen)
        return value if theirs == -math.inf else min(value, theirs)


class LatencyBook:
    """One LatencyStats per backend name; survives route reloads so measurements are not lost.

    What dispatch tells it of each attempt, by backend name (the narrow port the snapshot carries:
    dispatch writes the book, the planner reads it; neither reaches through the other)."""

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

    def replicas(self, groups: Iterable[Iterable[str]]) -> None:
        """Which backends are replicas of one another (one tier, one model: routing/board.py), as
        the table now in force says; every other backend has none."""
        for stats in self._stats.values():
            stats.replicas = ()
        for names in groups:
            members = [self._stats[n] for n in names if n in self._stats]
            for stats in members:
                stats.replicas = tuple(m for m in members if m is not stats)

    def answered(self, name: str, now: float, seconds: float, tokens: int) -> None:
        """A whole answer (of `tokens` output tokens; 0: not counted) came after `seconds`."""
        stats = self._stats.get(name)
        if stats is not None:
            stats.observe_tail(now, seconds, first_chunk=False)
            if tokens:
                stats.observe_total(now, seconds, tokens)

    def first_chunk(self, name: str, now: float, seconds: float) -> None:
        """A stream's first chunk came after `seconds`."""
        stats = self._stats.get(name)
        if stats is not None:
            stats.observe(now, ttft_s=seconds)
            stats.observe_tail(now, seconds, first_chunk=True)

    def timed_out(self, name: str, now: float, seconds: float) -> None:
        """Nothing came within `seconds`: at least that long to the first token."""
        stats = self._stats.get(name)
        if stats is not None:
            stats.observe(now, ttft_s=seconds)

    def per_token(self, name: str, now: float, seconds: float) -> None:
        """A stream ended, `seconds` per token after its first."""
        stats = self._stats.get(name)
        if stats is not None:
            stats.observe(now, tpot_s=seconds)

    def tail(self, name: str, now: float, *, first_chunk: bool) -> float:
        """The backend's recent p95 (LatencyStats.tail); 0 for a backend it does not know."""
        stats = self._stats.get(name)
        return stats.tail(now, first_chunk=first_chunk) if stats is not None else 0.0
