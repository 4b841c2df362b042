"""Runs a request's plan: its candidate backends in order, until one answers.

A stream counts as answered once its first chunk arrived: before that a failure moves on to the next
candidate, after it there is no fallback (the client already has bytes) and the error travels in-band.
Every call's timing feeds the latency estimates the next plans are made from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.backends.base import Backend, Call, Reply
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from gateway.protocol import completion_tokens
from gateway.routing.estimates import LatencyStats
from gateway.routing.planner import Decision, Hints, Planner
from gateway.routing.rules import RouteTable

__all__ = ["Dispatcher", "Served", "StreamServed"]

log = logging.getLogger(__name__)
_NO_HINTS = Hints()


@dataclass(slots=True)
class Served:
    reply: Reply
    decision: Decision
    backend: Backend


@dataclass(slots=True)
class StreamServed:
    chunks: AsyncIterator[bytes]
    decision: Decision
    backend: Backend


def _before_first_chunk(backend: Backend, exc: BaseException) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"Backend '{backend.name}' sent nothing in time.", code="upstream_timeout")
    return UpstreamError(f"Backend '{backend.name}' sent an empty stream.", code="upstream_protocol")


class Dispatcher:
    def __init__(
        self,
        table: Callable[[], RouteTable],
        backends: Mapping[str, Backend],
        planner: Planner,
        *,
        request_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._backends = backends
        self.planner = planner
        self._timeout = request_timeout_s
        self._clock = clock
        self._in_flight: dict[str, int] = {}

    def _state(self, name: str) -> tuple[int, bool]:
        backend = self._backends.get(name)
        if backend is None:
            return 0, False
        return max(backend.queued, self._in_flight.get(name, 0)), True

    def decide(self, model: str, body: dict[str, Any], hints: Hints) -> Decision:
        return self.planner.decide(self._table(), model, body, hints, now=self._clock(), state=self._state)

    def _candidates(self, decision: Decision) -> list[Backend]:
        return [self._backends[c.backend] for c in decision.plan.candidates if c.backend in self._backends]

    def _stats(self, backend: Backend) -> LatencyStats | None:
        table = self._table()
        for tier in table.spec.tiers.values():
            for spec in tier.backends:
                if spec.name == backend.name:
                    return self.planner.stats(table, spec)
        return None

    def _observe(self, backend: Backend, **sample: float | None) -> None:
        stats = self._stats(backend)
        if stats is not None:
            stats.observe(self._clock(), **sample)

    @staticmethod
    def _exhausted(decision: Decision, failures: list[tuple[Backend, GatewayError]]) -> GatewayError:
        route = decision.route
        if not failures:
            return UpstreamUnavailable(f"No backend serves route '{route.name}'.", code="no_backend")
        last = failures[-1][1]
        if len(failures) > 1 and isinstance(last, UpstreamError):
            tried = "; ".join(f"{b.name}: {e.message}" for b, e in failures)
            last.message = f"All {len(failures)} backends failed for route '{route.name}'. {tried}"
        return last

    async def complete(self, model: str, call: Call, hints: Hints = _NO_HINTS) -> Served:
        decision = self.decide(model, call.body, hints)
        failures: list[tuple[Backend, GatewayError]] = []
        for backend in self._candidates(decision):
            name = backend.name
            self._in_flight[name] = self._in_flight.get(name, 0) + 1
            t0 = self._clock()
            try:
                async with asyncio.timeout(self._timeout):
                    reply = await backend.complete(call)
            except (GatewayError, TimeoutError) as exc:
                err = _before_first_chunk(backend, exc)
                if isinstance(err, UpstreamTimeout):
                    self._observe(backend, ttft_s=self._clock() - t0)
                log.warning("backend %s failed: %s", name, err.message)
                failures.append((backend, err))
                if not err.retryable:
                    raise err from None
                continue
            finally:
                self._in_flight[name] -= 1
            if call.endpoint != "embeddings":
                self._observe_reply(backend, self._clock() - t0, reply.content)
            return Served(reply, decision, backend)
        raise self._exhausted(decision, failures)

    def _observe_reply(self, backend: Backend, elapsed: float, content: bytes) -> None:
        # A whole answer hides its first token: charge the expected first-token time, and the rest
        # to the tokens it produced.
        tokens = completion_tokens(content)
        stats = self._stats(backend)
        if tokens and stats is not None:
            now = self._clock()
            ttft, _ = stats.view(now)
            stats.observe(now, tpot_s=max(0.0, elapsed - ttft) / tokens)

    async def stream(self, model: str, call: Call, hints: Hints = _NO_HINTS) -> StreamServed:
        decision = self.decide(model, call.body, hints)
        failures: list[tuple[Backend, GatewayError]] = []
        for backend in self._candidates(decision):
            chunks = backend.stream(call)
            t0 = self._clock()
            try:
                async with asyncio.timeout(self._timeout):
                    first = await anext(chunks)
            except (GatewayError, TimeoutError, StopAsyncIteration) as exc:
                with contextlib.suppress(GatewayError):
                    await chunks.aclose()  # type: ignore[attr-defined]
                err = _before_first_chunk(backend, exc)
                if isinstance(err, UpstreamTimeout):
                    self._observe(backend, ttft_s=self._clock() - t0)
                log.warning("backend %s failed before streaming: %s", backend.name, err.message)
                failures.append((backend, err))
                if not err.retryable:
                    raise err from None
                continue
            t_first = self._clock()
            self._observe(backend, ttft_s=t_first - t0)
            return StreamServed(self._relay(backend, first, chunks, t_first), decision, backend)
        raise self._exhausted(decision, failures)

    async def _relay(
        self, backend: Backend, first: bytes, rest: AsyncIterator[bytes], t_first: float
    ) -> AsyncIterator[bytes]:
        name = backend.name
        self._in_flight[name] = self._in_flight.get(name, 0) + 1
        events = first.count(b"data: ")
        try:
            yield first
            async for chunk in rest:
                events += chunk.count(b"data: ")
                yield chunk
            # Events beyond the first and the closing [DONE] are about one token each.
            if events > 2:
                self._observe(backend, tpot_s=(self._clock() - t_first) / (events - 2))
        finally:
            self._in_flight[name] -= 1
            # A client that went away cancels us here; closing `rest` cancels the upstream call too.
            aclose = getattr(rest, "aclose", None)
            if aclose is not None:
                await aclose()
