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
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.backends.base import Backend, Call, Reply
from gateway.errors import (
    GatewayError,
    StreamInterrupted,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.protocol import Usage, stream_usage, usage_of
from gateway.recorder import BYTES_PER_TOKEN, Recorder, Trace, estimated_usage
from gateway.resilience.guard import Guard
from gateway.routing.estimates import LatencyStats
from gateway.routing.planner import Decision, Hints, Planner
from gateway.routing.rules import RouteTable

__all__ = ["Dispatcher", "Served", "StreamServed"]

log = logging.getLogger(__name__)
_NO_HINTS = Hints()
_T = TypeVar("_T")


@dataclass(slots=True)
class Served:
    reply: Reply
    decision: Decision
    backend: Backend
    cost_usd: float = 0.0


@dataclass(slots=True)
class StreamServed:
    chunks: AsyncIterator[bytes]
    decision: Decision
    backend: Backend


async def _within(seconds: float, work: Awaitable[_T]) -> _T:
    """`work`, or TimeoutError after `seconds`: asyncio.timeout's job, at a third of its cost per call."""
    task = asyncio.current_task()
    assert task is not None
    fired = False

    def fire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    handle = asyncio.get_running_loop().call_later(seconds, fire)
    try:
        return await work
    except asyncio.CancelledError:
        if fired:
            raise TimeoutError from None
        raise
    finally:
        handle.cancel()


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
        guard: Guard,
        recorder: Recorder,
        *,
        request_timeout_s: float,
        first_token_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._backends = backends
        self.planner = planner
        self.guard = guard
        self.recorder = recorder
        self._timeout = request_timeout_s
        self._first_token_default_s = first_token_timeout_s
        self._clock = clock
        self._in_flight: dict[str, int] = {}
        self._stats_for: tuple[str, dict[str, LatencyStats]] = ("", {})

    def now(self) -> float:
        return self._clock()

    def in_flight(self, name: str) -> int:
        return self._in_flight.get(name, 0)

    def _state(self, name: str) -> tuple[int, bool]:
        backend = self._backends.get(name)
        if backend is None:
            return 0, False
        queued = max(backend.queued, self._in_flight.get(name, 0))
        return queued, self.guard.available(backend, self._clock())

    def decide(self, model: str, body: dict[str, Any], hints: Hints) -> Decision:
        return self.planner.decide(self._table(), model, body, hints, now=self._clock(), state=self._state)

    def _plan(self, model: str, call: Call, hints: Hints) -> Decision:
        try:
            decision = self.decide(model, call.body, hints)
        except GatewayError as err:
            self.recorder.undecided(call, model, err)
            raise
        self.recorder.decided(decision)
        return decision

    def _candidates(self, decision: Decision) -> list[tuple[Backend, str]]:
        """The plan's backends, those the breakers let through first; the rest only as a last resort."""
        now = self._clock()
        pairs = [
            (self._backends[c.backend], c.tier)
            for c in decision.plan.candidates
            if c.backend in self._backends
        ]
        allowed = [p for p in pairs if self.guard.breakers.allows(p[0].name, now)]
        return allowed + [p for p in pairs if p not in allowed]

    def _stats(self, backend: Backend) -> LatencyStats | None:
        table = self._table()
        if self._stats_for[0] != table.sha256:
            found = {
                s.name: self.planner.stats(table, s) for t in table.spec.tiers.values() for s in t.backends
            }
            self._stats_for = (table.sha256, found)
        return self._stats_for[1].get(backend.name)

    def _observe(self, backend: Backend, **sample: float | None) -> None:
        stats = self._stats(backend)
        if stats is not None:
            stats.observe(self._clock(), **sample)

    def _first_token_s(self, tier: str) -> float:
        spec = self._table().spec.tiers.get(tier)
        ms = spec.first_token_timeout_ms if spec is not None else None
        return ms / 1000 if ms else self._first_token_default_s

    @staticmethod
    def _exhausted(decision: Decision, failures: list[tuple[Backend, GatewayError]]) -> GatewayError:
        """One error for the client, naming every backend tried; its status says what kind of failure."""
        route = decision.route.name
        if not failures:
            return UpstreamUnavailable(f"No backend serves route '{route}'.", code="no_backend")
        if len(failures) == 1:
            return failures[0][1]
        errors = [e for _, e in failures]
        tried = "; ".join(f"{b.name}: {e.message}" for b, e in failures)
        message = f"All {len(failures)} attempts failed for route '{route}'. {tried}"
        if all(isinstance(e, UpstreamTimeout) for e in errors):
            return UpstreamTimeout(message, code="all_backends_timed_out")
        if all(isinstance(e, UpstreamUnavailable) for e in errors):
            retry = [e.headers["retry-after"] for e in errors if "retry-after" in e.headers]
            headers = {"retry-after": min(retry, key=float)} if retry else None
            return UpstreamUnavailable(message, code="all_backends_unavailable", headers=headers)
        return UpstreamError(message, code="all_backends_failed")

    def _begin(self) -> float:
        now = self._clock()
        self.guard.budget.request(now)
        return now + self._timeout

    def _remaining(self, deadline: float) -> float:
        return max(0.0, deadline - self._clock())

    async def complete(self, model: str, call: Call, hints: Hints = _NO_HINTS) -> Served:
        decision = self._plan(model, call, hints)
        trace = Trace()
        try:
            served = await self._complete(decision, call, trace)
        except BaseException as exc:
            self.recorder.failed(decision, trace, call, exc)
            raise
        self.recorder.handed_over(call, trace)
        usage = trace.usage or estimated_usage(call, len(served.reply.content) // BYTES_PER_TOKEN)
        served.cost_usd = self.recorder.answered(decision, trace, call, usage).cost_usd
        return served

    async def _complete(self, decision: Decision, call: Call, trace: Trace) -> Served:
        deadline = self._begin()
        failures: list[tuple[Backend, GatewayError]] = []
        for backend, tier in self._candidates(decision):
            if self._remaining(deadline) <= 0:
                break
            if failures:
                self.recorder.moved_on(decision, failures[-1][1])
            trace.tier, trace.backend = tier, backend.name

            async def attempt(backend: Backend = backend) -> Reply:
                name = backend.name
                self._in_flight[name] = self._in_flight.get(name, 0) + 1
                t0 = self._clock()
                try:
                    reply = await _within(self._remaining(deadline), backend.complete(call))
                except TimeoutError:
                    self._observe(backend, ttft_s=self._clock() - t0)
                    raise UpstreamTimeout(f"Backend '{name}' timed out.", code="upstream_timeout") from None
                finally:
                    self._in_flight[name] -= 1
                    trace.upstream_s += self._clock() - t0
                # Parsed once: the latency estimate and the bill both read it.
                trace.usage = usage_of(reply.content)
                if call.endpoint != "embeddings":
                    self._observe_reply(backend, self._clock() - t0, trace.usage)
                return reply

            try:
                reply = await self.guard.call(backend, attempt, deadline=deadline, clock=self._clock)
            except GatewayError as err:
                log.warning("backend %s failed: %s", backend.name, err.message)
                failures.append((backend, err))
                if not err.retryable:
                    raise
                continue
            return Served(reply, decision, backend)
        if self._remaining(deadline) <= 0 and not failures:
            failures.append(
                (self._backends[decision.plan.candidates[0].backend], UpstreamTimeout("Deadline passed."))
            )
        raise self._exhausted(decision, failures)

    def _observe_reply(self, backend: Backend, elapsed: float, usage: Usage | None) -> None:
        stats = self._stats(backend)
        if usage is not None and usage.completion_tokens and stats is not None:
            stats.observe_total(self._clock(), elapsed, usage.completion_tokens)

    async def stream(self, model: str, call: Call, hints: Hints = _NO_HINTS) -> StreamServed:
        decision = self._plan(model, call, hints)
        trace = Trace()
        try:
            served = await self._stream(decision, call, trace)
        except BaseException as exc:
            self.recorder.failed(decision, trace, call, exc)
            raise
        self.recorder.handed_over(call, trace)
        return served

    async def _stream(self, decision: Decision, call: Call, trace: Trace) -> StreamServed:
        deadline = self._begin()
        failures: list[tuple[Backend, GatewayError]] = []
        for backend, tier in self._candidates(decision):
            if self._remaining(deadline) <= 0:
                break
            if failures:
                self.recorder.moved_on(decision, failures[-1][1])
            trace.tier, trace.backend = tier, backend.name
            limit = self._first_token_s(tier)

            async def attempt(
                backend: Backend = backend, limit: float = limit
            ) -> tuple[AsyncIterator[bytes], bytes]:
                chunks = backend.stream(call)
                t0 = self._clock()
                try:
                    first = await _within(min(limit, self._remaining(deadline)), anext(chunks))
                except (GatewayError, TimeoutError, StopAsyncIteration) as exc:
                    with contextlib.suppress(GatewayError):
                        await chunks.aclose()  # type: ignore[attr-defined]
                    err = _before_first_chunk(backend, exc)
                    if isinstance(err, UpstreamTimeout):
                        self._observe(backend, ttft_s=self._clock() - t0)
                    raise err from None
                finally:
                    trace.upstream_s += self._clock() - t0
                ttft = self._clock() - t0
                self._observe(backend, ttft_s=ttft)
                self.recorder.first_chunk(trace.tier, backend.name, ttft)
                return chunks, first

            try:
                chunks, first = await self.guard.call(
                    backend, attempt, deadline=deadline, clock=self._clock, settle_later=True
                )
            except GatewayError as err:
                log.warning("backend %s failed before streaming: %s", backend.name, err.message)
                failures.append((backend, err))
                if not err.retryable:
                    raise
                continue
            relay = self._relay(backend, first, chunks, deadline, decision, call, trace)
            return StreamServed(relay, decision, backend)
        raise self._exhausted(decision, failures)

    async def _relay(
        self,
        backend: Backend,
        first: bytes,
        rest: AsyncIterator[bytes],
        deadline: float,
        decision: Decision,
        call: Call,
        trace: Trace,
    ) -> AsyncIterator[bytes]:
        name = backend.name
        self._in_flight[name] = self._in_flight.get(name, 0) + 1
        t_first = self._clock()
        events = first.count(b"data: ")
        # The usage event comes last, and may be split over reads: keep the last few, parse at the end.
        recent: deque[bytes] = deque((first,), maxlen=4)
        settled = False
        outcome = "cancelled"  # until the stream ends one way or the other: the client left
        try:
            yield first
            async for chunk in rest:
                if self._clock() > deadline:
                    raise StreamInterrupted(
                        f"Backend '{name}' exceeded the request deadline.", code="deadline"
                    )
                events += chunk.count(b"data: ")
                recent.append(chunk)
                yield chunk
            self.guard.settle(backend, ok=True, now=self._clock())
            settled = True
            outcome = "ok"
            # Events beyond the first and the closing [DONE] are about one token each.
            if events > 2:
                per_token = (self._clock() - t_first) / (events - 2)
                self._observe(backend, tpot_s=per_token)
                self.recorder.per_token(trace.tier, name, per_token)
        except StreamInterrupted:
            self.guard.settle(backend, ok=False, now=self._clock())
            settled = True
            outcome = "stream_error"
            raise
        finally:
            if not settled:  # the client left mid-stream: no verdict on the backend
                self.guard.breakers.abandon(name)
            self._in_flight[name] -= 1
            # About a token per event, less the role-only first event, the finish event and [DONE].
            tokens = max(0, events - 3)
            usage = stream_usage(b"".join(recent)) or estimated_usage(call, tokens)
            self.recorder.answered(decision, trace, call, usage, outcome)
            # A client that went away cancels us here; closing `rest` cancels the upstream call too.
            aclose = getattr(rest, "aclose", None)
            if aclose is not None:
                await aclose()
