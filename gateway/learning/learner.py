"""Labels in, learned counts out: a bounded queue between the request path and the store.

Shadow verdicts and ratings `offer` labels (a deque append; a full queue drops the label and counts
it, never blocks). One task applies them to the store in batches, then reloads the layer the scorer
reads, so the score the gateway decides with includes a label as soon as it is applied on this
replica. Another task re-reads the store every `sync_s` (other replicas' labels, and the decay of
time) and makes the state durable every `flush_s` (the state file; Redis keeps its own).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.learning.labels import Label
from gateway.learning.layer import FamilyPrior, LearnedLayer
from gateway.tenancy.learned_store import Delta

if TYPE_CHECKING:
    from gateway.classify.scorer import Scorer
    from gateway.learning.rails import Rails
    from gateway.tenancy.learned_store import LearnedStore

__all__ = ["Learner"]

log = logging.getLogger(__name__)
_BATCH = 256

# (family, source, result): result is counted, capped (a tenant's tally is full), dropped (the queue
# was full), lost (the store refused it) or stale (learned on another weights file's families)
OnLabel = Callable[[str, str, str], None]


class Learner:
    def __init__(
        self,
        store: LearnedStore,
        rails: Rails,
        *,
        queue_max: int = 10_000,
        sync_s: float = 2.0,
        flush_s: float = 10.0,
        on_label: OnLabel | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rails = rails
        self._queue: deque[Label] = deque()
        self._max = queue_max
        self._sync_s, self._flush_s = sync_s, flush_s
        self._on_label = on_label or (lambda family, source, result: None)
        self._wall = wall
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.layer: LearnedLayer | None = None

    def attach(self, family_set: str, prior: FamilyPrior) -> LearnedLayer:
        """The layer for a weights file's family set: the same one while the set stays (a reload of
        the same families keeps what was learned), a new one for another set (the old set's counts
        stay in the store, for export or reset)."""
        if self.layer is None or self.layer.family_set != family_set:
            self.layer = LearnedLayer(family_set, prior, self.rails, self._wall)
        else:
            self.layer.prior = prior
        return self.layer

    def reading(self, scorer: Scorer) -> Scorer:
        """`scorer` reading this learner's layer, when its weights have families (else itself)."""
        with_learned = getattr(scorer, "with_learned", None)
        family_set = getattr(scorer, "family_set", None)
        if with_learned is None or family_set is None:
            return scorer
        layer = self.attach(family_set, scorer)  # type: ignore[arg-type]  # has families: a prior
        learning: Scorer = with_learned(layer)
        return learning

    async def fold(self, meta: dict[str, Any]) -> str | None:
        """Where the weights in force (their `meta`) hold the layer's learned counts (an export), forget
        them, so that no label counts twice: once per export, which the store remembers, so that a
        restart with the export still in force keeps what was learned since. The set reset, if any."""
        folded = meta.get("learned_folded")
        layer = self.layer
        if not isinstance(folded, dict) or layer is None or folded.get("family_set") != layer.family_set:
            return None
        at = float(folded.get("at", 0.0))
        if at <= await self.store.folded_at(layer.family_set):
            return None
        await self.store.reset(layer.family_set, folded_at=at)
        await self.refresh()
        return layer.family_set

    def rows(self) -> list[tuple[str, float, float, float, bool]]:
        """Per family: (family, labels, rate, the prior's rate, in force), for the metrics."""
        layer = self.layer
        if layer is None:
            return []
        return [(s.family, s.labels, s.rate, s.prior_rate, s.in_force) for s in layer.states()]

    def offer(self, label: Label) -> None:
        """From the request side: never blocks, never raises."""
        if len(self._queue) >= self._max:
            self._on_label(label.family, label.source, "dropped")
            return
        self._queue.append(label)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def apply_pending(self) -> int:
        """Apply what is queued now (the worker's step; tests call it to wait for nothing)."""
        applied = 0
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
            applied += await self._apply(batch)
        return applied

    async def _apply(self, batch: list[Label]) -> int:
        layer = self.layer
        current = [b for b in batch if layer is not None and b.family_set == layer.family_set]
        for b in batch:
            if layer is None or b.family_set != layer.family_set:
                self._on_label(b.family, b.source, "stale")
        if layer is None or not current:
            return 0
        # The family alone, not its ancestors: a burst on one family must not move the level of every
        # family that shares its parent (or the root's, every unlabelled one).
        deltas = [Delta((b.family,), b.shortfall, b.tenant) for b in current]
        rails, now = self.rails, self._wall()
        done = await self.store.add(layer.family_set, deltas, now, rails.half_life_s, rails.tenant_cap)
        for b, ok in zip(current, done, strict=True):
            result = "counted" if ok else ("capped" if b.tenant is not None else "lost")
            self._on_label(b.family, b.source, result)
        await self.refresh()
        return sum(done)

    async def refresh(self) -> None:
        layer = self.layer
        if layer is not None:
            layer.load(await self.store.read(layer.family_set))

    async def reset(self, family_set: str) -> None:
        await self.store.reset(family_set)
        await self.refresh()

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.apply_pending()
            except Exception:  # learning must never take the gateway down
                log.exception("applying learned labels failed")

    async def _sync(self) -> None:
        since_flush = 0.0
        while True:
            await asyncio.sleep(self._sync_s)
            since_flush += self._sync_s
            try:
                await self.refresh()
                if since_flush >= self._flush_s:
                    since_flush = 0.0
                    await self.store.flush()
            except Exception:  # the next round tries again
                log.exception("syncing learned counts failed")

    async def start(self) -> None:
        await self.refresh()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()), loop.create_task(self._sync())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            await self.apply_pending()
        finally:
            await self.store.aclose()
