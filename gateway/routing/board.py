"""The board of tiers a policy reads: every tier of the table as one request sees it now.

A tier's view (routing/plan.py: TierView) is its trust threshold, its price and, for each backend, its
expected time to the first token and per token (the latency book), the wait behind its queue (the
kind's queue model), whether it may be called and how many requests it has outstanding. The last two
come from `lives`, one value per backend that dispatch keeps current (dispatch/live.py): the board
reads them as attributes, never by calling back into whoever keeps them. Views are built on first use
and kept for the request, so a policy may ask for a tier twice at the price of once.

What does not change between requests (each tier's backends, their priors, queue models and
concurrency) is compiled once per table (`Tiers`, built with the planner); a Board is the part that
does: the clock reading, the live values, the request's expected answer length.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.routing.plan import BackendView, TierView

if TYPE_CHECKING:
    from gateway.routing.estimates import LatencyBook, LatencyStats
    from gateway.routing.quantiles import Quantiles
    from gateway.rules import RouteTable

__all__ = ["Board", "Live", "Tiers", "silence_left"]


class Live(Protocol):
    """One backend's state as routing reads it: a value dispatch keeps current, read, never asked."""

    @property
    def load(self) -> int:
        """Requests outstanding there (the gateway's own count, or the backend's queue if larger)."""
        ...

    @property
    def until(self) -> float:
        """When it may be called (-inf: now; inf: down, ejected with its probe out, or saturated)."""
        ...

    @property
    def silent_since(self) -> float:
        """Since when attempts sent there have waited with nothing from it (inf: none waits)."""
        ...

    @property
    def waiting_whole(self) -> int:
        """How many of those wait for a whole plain answer (the rest for a stream's first chunk)."""
        ...

    @property
    def waiting_ktok(self) -> float:
        """The longest prompt among those sent since none waited, in thousands of tokens."""
        ...


# A backend whose waiting attempts have heard nothing from it for this many times its recent p95 (of a
# first chunk, or of a whole answer when a plain one waits), and at least `breaker.silent_s`, is taken
# as hung: a process that accepts and never answers. Its breaker would hear of it only when those
# attempts time out (60 s to a stream's first chunk, 300 s of read silence, by default), and where
# nothing hedges away from it (the next tier is billed per token) every request until then would
# wait as long. A stream waiting there gives up by the same rule (dispatch/modes.py).
# A long prompt is read before anything comes back (a coding agent's first turn: 30k tokens, seconds
# of prefill): `breaker.silent_s_per_ktok` more per thousand tokens of the longest prompt waiting.
SILENT_TAILS = 4.0


def silence_left(
    now: float, live: Live, tail: Callable[..., float], floor_s: float, per_ktok_s: float
) -> float:
    """Seconds until the silence of the attempts waiting on a backend is taken for a hang (at or
    below 0: it is); `tail(now, first_chunk=...)` is its recent p95 (LatencyStats.tail)."""
    limit = max(floor_s, SILENT_TAILS * tail(now, first_chunk=not live.waiting_whole))
    return live.silent_since + limit + live.waiting_ktok * per_ktok_s - now


@dataclass(frozen=True, slots=True)
class _Backend:
    name: str
    model: str
    stats: LatencyStats
    may_hang: bool  # its kind's: a server of its own, whose silence may be a hang
    prefills: float  # the queue model (rules/backends.py): what each request ahead costs
    answers: float


@dataclass(frozen=True, slots=True)
class _Tier:
    name: str
    max_difficulty: float
    share: float | None
    cost: float
    backends: tuple[_Backend, ...]


class Tiers:
    """One table's tiers, compiled for the board: built with the planner, once per table."""

    def __init__(self, table: RouteTable, book: LatencyBook) -> None:
        spec = table.spec
        est = spec.estimator
        self.names: tuple[str, ...] = tuple(spec.tiers)  # file order
        self.silent_s = spec.breaker.silent_s
        self.silent_s_per_ktok = spec.breaker.silent_s_per_ktok
        specs = spec.backends()
        # Several samples of one request run side by side there (a cascade's votes).
        self.concurrent = frozenset(n for n, s in specs.items() if s.concurrent_samples)
        stats = {
            name: book.get(name, *s.priors(), alpha=est.alpha, half_life_s=est.half_life_s)
            for name, s in specs.items()
        }
        # Backends of one tier serving one model are replicas: taken as alike until measured.
        book.replicas(
            [b.name for b in t.backends if b.model == model]
            for t in spec.tiers.values()
            for model in {b.model for b in t.backends}
        )
        self._tiers: dict[str, _Tier] = {
            name: _Tier(
                name,
                t.max_difficulty,
                t.share,
                t.price.per_mtok,
                tuple(
                    _Backend(b.name, b.model, stats[b.name], b.may_hang, *b.queue_model) for b in t.backends
                ),
            )
            for name, t in spec.tiers.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self._tiers

    def get(self, name: str) -> _Tier:
        return self._tiers[name]


class Board:
    """The tiers as one request sees them now (module docstring). `lives` None: every backend idle and
    up (offline replays decide as a fresh gateway would)."""

    __slots__ = ("_lives", "_quantiles", "_seen", "now", "tiers", "tokens")

    def __init__(
        self,
        tiers: Tiers,
        lives: Mapping[str, Live] | None,
        quantiles: Quantiles,
        now: float,
        tokens: int,
    ) -> None:
        self.tiers = tiers
        self._lives = lives
        self._quantiles = quantiles
        self.now = now
        self.tokens = tokens  # the answer length expected, for the time to a whole answer
        self._seen: dict[tuple[str, str | None], TierView] = {}

    @property
    def names(self) -> tuple[str, ...]:
        """Every tier, in the file's order."""
        return self.tiers.names

    def concurrent(self, backend: str) -> bool:
        """Do several samples of one request run side by side on this backend?"""
        return backend in self.tiers.concurrent

    def tier(self, name: str, model: str | None = None) -> TierView:
        """The tier as seen now; with `model`, only its backends serving that model."""
        key = (name, model)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = self._view(self.tiers.get(name), model)
        return seen

    def _view(self, tier: _Tier, model: str | None) -> TierView:
        now, tokens, lives = self.now, self.tokens, self._lives
        silent_floor, per_ktok = self.tiers.silent_s, self.tiers.silent_s_per_ktok
        views = []
        for b in tier.backends:
            if model is not None and b.model != model:
                continue
            ttft, tpot = b.stats.view(now)
            if lives is None:
                queued, healthy = 0, True
            else:
                live = lives.get(b.name)
                if live is None:  # not running (yet): nothing to send it
                    queued, healthy = 0, False
                else:
                    queued, healthy = live.load, live.until <= now
                    if healthy and b.may_hang and now - live.silent_since > silent_floor:
                        healthy = silence_left(now, live, b.stats.tail, silent_floor, per_ktok) >= 0
                    if queued and not b.stats.measured and b.stats.borrows:
                        # Taken as fast as its replicas, a replica never measured would take a
                        # request per client before its first answer; one at a time, as a probe,
                        # so that a new replica that hangs holds one request, not one per client.
                        healthy = False
            wait = queued * (b.prefills * ttft + b.answers * tokens * tpot) if queued else 0.0
            views.append(BackendView(b.name, ttft, tpot, wait, healthy, queued))
        limit = tier.max_difficulty
        if tier.share is not None:
            warm = self._quantiles.threshold(tier.share)
            limit = warm if warm is not None else limit  # until warm: the calibrated threshold
        return TierView(tier.name, limit, tier.cost, tuple(views))
