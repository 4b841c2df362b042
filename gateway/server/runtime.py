"""The live gateway: the snapshot of the rules in force, the backends they name, and the reload that
swaps them while requests run.

A reload validates the new file completely (schema, cross-checks, keys and model files) and starts any
new or changed backend before anything is swapped; the swap itself has no await in it, so no request
sees half of it. Everything derived from the table is built once, as one Snapshot. Requests already
running keep the snapshot and backend objects they started with; a backend that left the rules is
closed once its queue has drained. Breaker states, health streaks, latency estimates and the retry
budget of backends that stay carry over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.backends.http import Session, make_session
from gateway.backends.registry import build_backend, build_backends, preflight
from gateway.classify.inputs import scorer_inputs
from gateway.classify.loader import verifier_for, weights_path
from gateway.dispatch import Dispatcher, Snapshot
from gateway.dispatch.inflight import InFlight
from gateway.dispatch.shadow import Shadow
from gateway.errors import ConfigError
from gateway.learning.intake import Intake
from gateway.learning.rails import rails_for
from gateway.observability.decision_log import DecisionLog
from gateway.observability.journal import Journal
from gateway.observability.metrics import BackendRow, Metrics
from gateway.observability.recorder import Recorder
from gateway.protocol.ids import ResponseIds
from gateway.resilience.guard import Guard
from gateway.routing.estimates import LatencyBook
from gateway.routing.quantiles import RollingQuantile
from gateway.routing.reload import ReloadResult, RoutesWatcher
from gateway.rules import load_routes
from gateway.rules.table import weights_files
from gateway.server.disconnect import Watch
from gateway.server.heap import HeapTrimmer, release_freed_memory
from gateway.server.scoring import learning_for, load_refit, scorer_in_force
from gateway.server.sockets import Sockets
from gateway.serving.compaction import CompactServing
from gateway.serving.explain import ExplainServing
from gateway.serving.feedback import FeedbackServing
from gateway.serving.learning import LearningServing
from gateway.serving.messages import MessagesServing
from gateway.serving.openai import OpenAIServing
from gateway.serving.responses import ResponsesServing
from gateway.serving.tokens import TokenCounting
from gateway.tenancy.keys import KeyRing
from gateway.tenancy.ledger import TenantLedger
from gateway.tenancy.stores import StoreErrors, build_stores

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from gateway.backends.base import Backend
    from gateway.classify.scorer import Scorer
    from gateway.classify.verifier import Verifier
    from gateway.config import Settings
    from gateway.dispatch.walk import Walk
    from gateway.rules import RouteTable

__all__ = ["Gateway"]

log = logging.getLogger(__name__)
_DRAIN_POLL_S = 0.5


class Gateway:
    """What the handlers reach through app.state: the live snapshot, backends and dispatcher."""

    def __init__(self, settings: Settings, table: RouteTable, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.backends: dict[str, Backend] = {}
        self.metrics = Metrics(registry)
        self.keys = KeyRing.from_settings(settings)
        m = self.metrics
        self.ids = ResponseIds()
        self.stores = build_stores(
            settings, StoreErrors(m.limit_store_error, m.response_store_error, m.answer_index_error)
        )
        self.decisions = DecisionLog.from_settings(settings, self.metrics.decision_log_dropped)
        self._book = LatencyBook()
        self._flight = InFlight()  # each backend's live state: outlives reloads, bound at each swap
        self._quantiles = RollingQuantile()  # share-of-traffic thresholds: per replica, across reloads
        # Learning while serving (gateway/learning/): labels in, the family counts the scorer reads out;
        # with GATEWAY_REFIT_LABELS, every so many labels the scorer refitted on the log's.
        self.learner, self.refit = learning_for(settings, table, self.stores.learned, m.learning)
        self._scorer: Scorer = scorer_in_force(table, self.learner, self.refit)
        self._verifier: Verifier = verifier_for(table)
        self._snap = self._derive(table, Guard.from_spec(table.spec, self.backends, observer=self.metrics))
        journal = Journal(
            self.decisions,
            inputs=scorer_inputs,
            reference_tier=lambda: self._snap.costs.reference_tier,  # for requests never routed
        )
        ledger = TenantLedger(self.stores.answers, self.stores.limits)
        self.dispatcher = Dispatcher(
            self.snapshot,
            Recorder(self.metrics, ledger=ledger, journal=journal),
            request_timeout_s=settings.request_timeout_s,
            shadow=Shadow(
                self.metrics,
                self.stores.shadow_budget,
                lambda: self.decisions,
                wall=time.time,
                on_verdict=self._verdict,
            ),
        )
        self.intake = Intake(self.learner, self._learn_mode, self._reference_tier, m.learning.label)
        self.clock = self.dispatcher.clock  # what handlers read the time with (a value, no call in)
        # The serving layer, one object per API family (serving/); handlers reach them through here.
        self.openai = OpenAIServing(self.dispatcher, self.ids)
        self.tokens = TokenCounting(self.dispatcher)  # every API's token counting endpoint
        self.responses_api = ResponsesServing(
            self.dispatcher,
            self.ids,
            self.stores.responses,
            self.tokens,
            max_bytes=settings.max_body_bytes,
            on_not_stored=self.metrics.not_stored,
        )
        self.watch = Watch()  # requests whose client may leave (server/disconnect.py)
        self.heap = HeapTrimmer()
        self.sockets = Sockets(settings.ws_max_sockets_per_key, self.metrics.sockets)  # WebSocket mode's
        self.compaction = CompactServing(self.dispatcher, self.ids, self.responses_api)
        self.explain = ExplainServing(self.dispatcher)
        self.messages = MessagesServing(self.dispatcher, self.ids, self.tokens)
        self.feedback = FeedbackServing(
            self.stores.answers, self.metrics.rated, lambda: self.decisions, time.time, self.intake.rating
        )
        self.learning = LearningServing(self.learner, lambda: self._scorer, self.table, self.refit)
        m.learning.watch(self.learner.rows)
        self.metrics.watch(self.backend_rows, lambda: self._snap.table.sha256)
        self.metrics.prepare(table.spec.backends())
        self.metrics.reloaded(ok=True)
        self._session: Session | None = None
        self._reload_lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self.watcher = RoutesWatcher(
            Path(table.source),
            self.reload,
            settings.reload_interval_s,
            also=lambda: weights_files(self.table().spec, self.table().source),
        )

    def _derive(self, table: RouteTable, guard: Guard) -> Snapshot:
        self._openapi_models: list[str] = list(table.routes)
        self._openapi: bytes | None = None
        self.metrics.prepare_cascades(r.model for r in table.spec.routes if r.policy == "cascade")
        self.metrics.prepare_shadows((r.model for r in table.spec.routes if r.shadow), table.spec.tiers)
        self.metrics.prepare_hedges(
            (t, b.name) for t, tier in table.spec.tiers.items() for b in tier.backends
        )
        return Snapshot.build(
            table,
            self.backends,
            guard,
            self._scorer,
            self._verifier,
            self._book,
            self._quantiles,
            first_token_timeout_s=self.settings.first_token_timeout_s,
            flight=self._flight,
        )

    @property
    def openapi(self) -> bytes:
        """GET /openapi.json's body, built on the first request for it after a (re)load: building it
        (pydantic's schema generation) costs a process that never serves it ~1 MiB it keeps."""
        if self._openapi is None:
            from gateway.server.openapi import openapi_document

            self._openapi = msgspec.json.encode(openapi_document(self._openapi_models))
        return self._openapi

    async def _refit_step(self) -> None:
        """One refit (learning/refit.py), served if the table still names the weights it built on."""
        assert self.refit is not None
        base = weights_path(self.table())

        async def adopt(path: Path) -> bool:
            async with self._reload_lock:
                table = self.table()
                if weights_path(table) != base:
                    return False  # other weights were named meanwhile: the next refit builds on them
                self._scorer, held = await load_refit(table, self.learner, path)
                self._snap = self._derive(table, self.guard)
                if held is not None:
                    await self.learner.reset(held)
            return True

        await self.refit.refit(base, adopt)

    def _learn_mode(self, route: str) -> str | None:
        found = self.table().routes.get(route)
        return found.spec.learn if found is not None and found.spec is not None else None

    def _reference_tier(self) -> str | None:
        return self._snap.costs.reference_tier

    def _verdict(self, walk: Walk, tier: str, verdict: str) -> None:
        self.intake.verdict(walk.decision.route.name, walk.trace.family, walk.trace.family_set, verdict)

    def snapshot(self) -> Snapshot:
        return self._snap

    def table(self) -> RouteTable:
        return self._snap.table

    @property
    def guard(self) -> Guard:
        return self._snap.guard

    def backend_rows(self) -> list[BackendRow]:
        """Each backend's live state, read when Prometheus scrapes."""
        snap, now = self._snap, self.dispatcher.now()
        guard = snap.guard
        return [
            BackendRow(
                tier=tier,
                backend=spec.name,
                up=guard.health.up(spec.name),
                breaker=guard.breakers.state(spec.name, now).value,
                in_flight=self.dispatcher.in_flight(spec.name),
                queued=self.backends[spec.name].queued if spec.name in self.backends else 0,
            )
            for tier, t in snap.table.spec.tiers.items()
            for spec in t.backends
        ]

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Routes loaded and at least one backend up, from the last health checks (no probe per call)."""
        guard, now = self.guard, self.dispatcher.now()
        backends = {name: guard.report(b, now) for name, b in self.backends.items()}
        body: dict[str, Any] = {
            "status": "ready",
            "routes_sha256": self.table().sha256,
            "backends": backends,
            "retries": {"granted": guard.budget.granted, "denied_by_budget": guard.budget.denied},
            "runtime": {"tasks": len(asyncio.all_tasks())},  # a leak shows here first
        }
        return any(v["up"] for v in backends.values()), body

    async def reload(self) -> ReloadResult:
        """Load the routes file again and swap it in if it is valid; otherwise keep the rules in force."""
        async with self._reload_lock:
            current = self.table()
            try:
                table = load_routes(Path(current.source))
                problems = preflight(table.spec)
                if problems:
                    raise ConfigError(f"{table.source}: backends cannot start", problems)
                if table.sha256 == current.sha256:
                    return ReloadResult(True, False, current.sha256)
                await self._swap(current, table)
            except ConfigError as exc:
                problems = exc.problems
                self.metrics.reloaded(ok=False)
                log.error(
                    "routes %s rejected, still serving sha256 %s: %s",
                    current.source,
                    current.sha256[:12],
                    "; ".join(problems),
                )
                return ReloadResult(False, False, current.sha256, problems)
            self.metrics.reloaded(ok=True)
            log.info("routes %s reloaded: sha256 %s", table.source, table.sha256[:12])
            return ReloadResult(True, True, table.sha256)

    async def _swap(self, current: RouteTable, table: RouteTable) -> None:
        assert self._session is not None, "reload before the gateway started"
        old, new = current.spec.backends(), table.spec.backends()
        # Weights first: a file that cannot be read rejects the reload before any backend starts.
        # A swap means the table's hash changed, and the hash covers the weights files: one named the
        # same may have been rewritten in place, so named weights are read again (not compared).
        scorer: Scorer
        self.learner.rails = rails = rails_for(self.settings, table)
        if self.learner.layer is not None:
            self.learner.layer.rails = rails
        if table.spec.classifier != current.spec.classifier or weights_files(table.spec, table.source):
            scorer, verifier = scorer_in_force(table, self.learner, self.refit), verifier_for(table)
        else:
            scorer, verifier = self._scorer, self._verifier
        changed = {name: spec for name, spec in new.items() if old.get(name) != spec}
        fresh = {
            name: build_backend(spec, session=self._session, model_threads=self.settings.model_threads)
            for name, spec in changed.items()
        }
        started = await asyncio.gather(*(b.start() for b in fresh.values()), return_exceptions=True)
        failed = [f"backend '{n}': {type(r).__name__}" for n, r in zip(fresh, started, strict=True) if r]
        if failed:
            await asyncio.gather(*(b.aclose() for b in fresh.values()), return_exceptions=True)
            raise ConfigError(f"{table.source}: backends cannot start", failed)
        retired = [self.backends[n] for n in old if (n not in new or n in changed) and n in self.backends]
        # From here to the end of the swap: no await, so every request sees the old rules or the new.
        for name in old.keys() - new.keys():
            self.backends.pop(name, None)
        self.backends.update(fresh)
        previous = self.guard
        guard = Guard.from_spec(table.spec, self.backends, observer=self.metrics, previous=previous)
        self._scorer, self._verifier = scorer, verifier
        self._snap = self._derive(table, guard)
        self.metrics.prepare(new)
        await self.learner.fold(self._scorer.meta)
        await previous.health.stop()
        await guard.health.check_all()
        guard.health.start()
        for backend in retired:
            task = asyncio.get_running_loop().create_task(self._retire(backend))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, backend: Backend) -> None:
        """Close a backend the rules no longer name, once requests it had admitted are done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.request_timeout_s
        try:
            # A request admitted under the old rules a moment ago may not have reached its backend
            # yet (its body was still arriving): it gets one poll's time to start.
            await asyncio.sleep(_DRAIN_POLL_S)
            # Polling: the counters belong to the backend and the dispatcher; hooks in both for one
            # rare event would cost every request.
            while loop.time() < deadline and (  # noqa: ASYNC110
                backend.queued > 0
                or (backend.name not in self.backends and self.dispatcher.in_flight(backend.name) > 0)
            ):
                await asyncio.sleep(_DRAIN_POLL_S)
        finally:
            await backend.aclose()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        s = self.settings
        self._session = session = make_session(
            max_connections=s.max_upstream_connections,
            connect_timeout_s=s.connect_timeout_s,
            read_timeout_s=s.read_timeout_s,
        )
        try:
            self.backends.update(
                build_backends(self.table().spec, session=session, model_threads=s.model_threads)
            )
            self._snap = self._derive(self.table(), self.guard)  # the rules with their backends, started
            await asyncio.gather(*(b.start() for b in self.backends.values()))
            await self.guard.health.check_all()  # readiness is known before the first request
            self.guard.health.start()
            await self.learner.fold(self._scorer.meta)
            await self.learner.start()
            if self.refit is not None:
                self.refit.start(self._refit_step)
            self.watcher.start()
            self.watch.start()
            if self.decisions is not None:
                self.decisions.start()
            if self.keys.open:
                log.warning(
                    "no API keys configured: anyone who can reach %s:%d may use this gateway",
                    s.host,
                    s.port,
                )
            table = self.table()
            log.info(
                "routes %s (sha256 %s): %d routes, backends: %s",
                table.source,
                table.sha256[:12],
                len(table.named()),
                ", ".join(f"{b.name} ({b.kind})" for b in self.backends.values()),
            )
            release_freed_memory()
            self.heap.start()
            yield
        finally:
            await self.watcher.stop()
            if self.refit is not None:
                await self.refit.stop()
            await self.heap.stop()
            await self.watch.stop()
            for task in list(self._retiring):
                task.cancel()
            await asyncio.gather(*self._retiring, return_exceptions=True)
            await self.guard.health.stop()
            await asyncio.gather(*(b.aclose() for b in self.backends.values()), return_exceptions=True)
            self.backends.clear()
            await session.close()
            if self.dispatcher.shadow is not None:
                await self.dispatcher.shadow.drain()
            await self.learner.stop()  # what is queued is applied, the state file written
            await self.stores.aclose()
            if self.decisions is not None:
                # Off the loop: the writer may be stuck on a slow disk; it gets its few seconds.
                await asyncio.get_running_loop().run_in_executor(None, self.decisions.close)
