"""Runs a request against the route's candidate backends, in order, until one answers.

A stream counts as answered once its first chunk arrived: before that a failure moves on to the next
candidate, after it there is no fallback (the client already has bytes) and the error travels in-band.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from gateway.backends.base import Backend, Call, Reply
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from gateway.routing.rules import Route, RouteTable

__all__ = ["Dispatcher", "Served", "StreamServed"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Served:
    reply: Reply
    route: Route
    backend: Backend


@dataclass(slots=True)
class StreamServed:
    chunks: AsyncIterator[bytes]
    route: Route
    backend: Backend


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        # A client that went away cancels us here; closing `rest` cancels the upstream call too.
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()


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
        *,
        request_timeout_s: float,
    ) -> None:
        self._table = table
        self._backends = backends
        self._timeout = request_timeout_s

    def candidates(self, model: str) -> tuple[Route, list[Backend]]:
        table = self._table()
        route = table.resolve(model)
        specs = table.tier(route.tier).backends
        chosen = [self._backends[b.name] for b in specs if route.model is None or b.model == route.model]
        return route, chosen

    @staticmethod
    def _exhausted(route: Route, failures: list[tuple[Backend, GatewayError]]) -> GatewayError:
        if not failures:
            return UpstreamUnavailable(f"No backend serves route '{route.name}'.", code="no_backend")
        last = failures[-1][1]
        if len(failures) > 1 and isinstance(last, UpstreamError):
            tried = "; ".join(f"{b.name}: {e.message}" for b, e in failures)
            last.message = f"All {len(failures)} backends failed for route '{route.name}'. {tried}"
        return last

    async def complete(self, model: str, call: Call) -> Served:
        route, backends = self.candidates(model)
        failures: list[tuple[Backend, GatewayError]] = []
        for backend in backends:
            try:
                async with asyncio.timeout(self._timeout):
                    reply = await backend.complete(call)
            except TimeoutError:
                failures.append((backend, UpstreamTimeout(f"Backend '{backend.name}' timed out.")))
                continue
            except GatewayError as exc:
                log.warning("backend %s failed: %s", backend.name, exc.message)
                failures.append((backend, exc))
                if not exc.retryable:
                    raise
                continue
            return Served(reply, route, backend)
        raise self._exhausted(route, failures)

    async def stream(self, model: str, call: Call) -> StreamServed:
        route, backends = self.candidates(model)
        failures: list[tuple[Backend, GatewayError]] = []
        for backend in backends:
            chunks = backend.stream(call)
            try:
                async with asyncio.timeout(self._timeout):
                    first = await anext(chunks)
            except (GatewayError, TimeoutError, StopAsyncIteration) as exc:
                with contextlib.suppress(GatewayError):
                    await chunks.aclose()  # type: ignore[attr-defined]
                err = _before_first_chunk(backend, exc)
                log.warning("backend %s failed before streaming: %s", backend.name, err.message)
                failures.append((backend, err))
                if not err.retryable:
                    raise err from None
                continue
            return StreamServed(_chain(first, chunks), route, backend)
        raise self._exhausted(route, failures)
