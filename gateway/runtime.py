"""The live gateway: the rules in force, the backends they name, the guard and the dispatcher, and the
reload that swaps rules while requests run.

A reload validates the new file completely (schema, cross-checks, keys and model files) and starts any
new or changed backend before anything is swapped; the swap itself has no await in it, so no request
sees half of it. Requests already running keep the plan and backend objects they started with; a
backend that left the rules is closed once its queue has drained. Breaker states, health streaks,
latency estimates and the retry budget of backends that stay carry over.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from gateway.auth import KeyRing
from gateway.backends.http import make_session
from gateway.backends.registry import backend_specs, build_backend, build_backends, preflight
from gateway.dispatch import Dispatcher
from gateway.errors import ConfigError
from gateway.limits import LimitStore, TenantLimits
from gateway.metrics import BackendRow, Metrics
from gateway.openapi import openapi_document
from gateway.recorder import Recorder
from gateway.redis_limits import RedisLimits
from gateway.resilience.guard import Guard
from gateway.routing.estimates import LatencyBook
from gateway.routing.planner import Planner
from gateway.routing.reload import ReloadResult, RoutesWatcher
from gateway.routing.rules import RouteTable, load_classifier, load_routes

if TYPE_CHECKING:
    import aiohttp
    from prometheus_client import CollectorRegistry

    from gateway.backends.base import Backend
    from gateway.config import Settings

__all__ = ["Gateway"]

log = logging.getLogger(__name__)
_DRAIN_POLL_S = 0.5
_GC_THRESHOLDS = (20_000, 20, 20)


class Gateway:
    """What the handlers reach through app.state: the live route table, backends and dispatcher."""

    def __init__(self, settings: Settings, table: RouteTable, registry: CollectorRegistry) -> None:
        self.settings = settings
        self._table = table
        self.backends: dict[str, Backend] = {}
        self.metrics = Metrics(registry)
        self.keys = KeyRing.from_settings(settings)
        self.limits: LimitStore = (
            RedisLimits.from_url(
                settings.redis_url.get_secret_value(),
                fail_open=settings.limits_fail_open,
                on_error=self.metrics.limit_store_error,
            )
            if settings.redis_url is not None
            else TenantLimits()
        )
        planner = Planner(load_classifier(table), LatencyBook())
        self.guard = Guard.from_spec(table.spec, self.backends, observer=self.metrics)
        self.dispatcher = Dispatcher(
            self.table,
            self.backends,
            planner,
            self.guard,
            Recorder(self.metrics, self.table, limits=self.limits),
            request_timeout_s=settings.request_timeout_s,
            first_token_timeout_s=settings.first_token_timeout_s,
        )
        self.metrics.watch(self.backend_rows, lambda: self._table.sha256)
        self.metrics.prepare(backend_specs(table.spec))
        self.metrics.reloaded(ok=True)
        self._session: aiohttp.ClientSession | None = None
        self._reload_lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self.openapi = msgspec.json.encode(openapi_document(list(table.routes)))
        self.watcher = RoutesWatcher(Path(table.source), self.reload, settings.reload_interval_s)

    def table(self) -> RouteTable:
        return self._table

    def backend_rows(self) -> list[BackendRow]:
        """Each backend's live state, read when Prometheus scrapes."""
        now = self.dispatcher.now()
        return [
            BackendRow(
                tier=tier,
                backend=spec.name,
                up=self.guard.health.up(spec.name),
                breaker=self.guard.breakers.state(spec.name, now).value,
                in_flight=self.dispatcher.in_flight(spec.name),
                queued=self.backends[spec.name].queued if spec.name in self.backends else 0,
            )
            for tier, t in self._table.spec.tiers.items()
            for spec in t.backends
        ]

    async def reload(self) -> ReloadResult:
        """Load the routes file again and swap it in if it is valid; otherwise keep the rules in force."""
        async with self._reload_lock:
            current = self._table
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
        old, new = backend_specs(current.spec), backend_specs(table.spec)
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
        self.guard = Guard.from_spec(table.spec, self.backends, observer=self.metrics, previous=previous)
        self.dispatcher.guard = self.guard
        if table.spec.classifier != current.spec.classifier:
            self.dispatcher.planner.scorer = load_classifier(table)
        self._table = table
        self.openapi = msgspec.json.encode(openapi_document(list(table.routes)))
        self.metrics.prepare(new)
        await previous.health.stop()
        await self.guard.health.check_all()
        self.guard.health.start()
        for backend in retired:
            task = asyncio.get_running_loop().create_task(self._retire(backend))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, backend: Backend) -> None:
        """Close a backend the rules no longer name, once requests it had admitted are done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.request_timeout_s
        try:
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
                build_backends(self._table.spec, session=session, model_threads=s.model_threads)
            )
            await asyncio.gather(*(b.start() for b in self.backends.values()))
            await self.guard.health.check_all()  # readiness is known before the first request
            self.guard.health.start()
            self.watcher.start()
            # Everything loaded so far (routes, weights, clients) lives as long as the process: keep it
            # out of the garbage collector's scans, which otherwise grow with it on every request burst.
            gc.freeze()
            # Each request in flight holds a few hundred container objects (frames, futures, dicts);
            # with CPython's default gen0 threshold (700) a collection ran every ~5 requests at c=64
            # and promoted the in-flight ones into older generations, costing ~75 us per request
            # (loadtests/README.md). Almost all of them die by refcount before 20,000 allocations.
            gc.set_threshold(*_GC_THRESHOLDS)
            if self.keys.open:
                log.warning(
                    "no API keys configured: anyone who can reach %s:%d may use this gateway",
                    s.host,
                    s.port,
                )
            log.info(
                "routes %s (sha256 %s): %d routes, backends: %s",
                self._table.source,
                self._table.sha256[:12],
                len(self._table.routes),
                ", ".join(f"{b.name} ({b.kind})" for b in self.backends.values()),
            )
            yield
        finally:
            await self.watcher.stop()
            for task in list(self._retiring):
                task.cancel()
            await asyncio.gather(*self._retiring, return_exceptions=True)
            await self.guard.health.stop()
            await asyncio.gather(*(b.aclose() for b in self.backends.values()), return_exceptions=True)
            self.backends.clear()
            await session.close()
            await self.limits.aclose()
