"""The one candidate walk: a request's candidates in order until one answers, plain or streamed alike.

A mode says how an answer is obtained and when it is committed to the client: a plain answer when the
whole reply arrived, a stream at its first chunk. Before that point a failure moves on to the next
candidate; the walk owns everything else for both (the deadline, retries through the guard, in-flight
accounting from the first attempt, latency observations, and one error naming every backend tried).
Strategies (strategies.py) decide which candidates a walk runs, and in which mode.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import msgspec

from gateway.dispatch.hedge import race
from gateway.dispatch.timeouts import within
from gateway.errors import (
    ContextOverflow,
    GatewayError,
    InvalidRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.observability.trace import Trace
from gateway.protocol import usage_of
from gateway.protocol.choices import as_chunks
from gateway.routing.context import room

if TYPE_CHECKING:
    from gateway.backends.base import Backend, Reply
    from gateway.dispatch.inflight import InFlight, Slot
    from gateway.dispatch.snapshot import Snapshot
    from gateway.observability.cost import Bill
    from gateway.observability.recorder import Recorder
    from gateway.protocol import Call, Usage
    from gateway.routing.decision import Decision
    from gateway.routing.plan import Plan

__all__ = ["PLAIN", "STREAMED", "Answer", "Mode", "Opened", "Walk"]

# Who serves a request that needs its API natively, per API, for the 400 when a route has none.
_NATIVE = {
    "responses": "a backend that speaks the Responses API natively (`responses: true`)",
    "compact": "a backend that speaks the Responses API natively (`responses: true`)",
    "messages": "a backend that speaks the Anthropic Messages API natively (no backend kind does yet)",
}

log = logging.getLogger(__name__)
_decode = msgspec.json.Decoder().decode
_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Answer(Generic[_T]):
    backend: Backend
    tier: str
    result: _T


@dataclass(slots=True)
class Opened:
    """A stream that has sent its first chunk: committed to the client from here on."""

    first: bytes
    rest: AsyncIterator[bytes]
    # Its place in the backend's in-flight count, released by the relay; None when the stream is
    # replayed from an answer already in hand (an accepted draft), whose usage it then carries.
    slot: Slot | None
    usage: Usage | None = None


class Mode(Protocol[_T_co]):
    # Streams have succeeded only once they ended well, which the relay reports to the breaker.
    settle_later: bool
    # May two attempts run at once (a hedge, dispatch/hedge.py)? Not when attempts share state that
    # the one answer committed must own alone.
    hedgeable: bool

    async def attempt(self, walk: Walk, backend: Backend, tier: str, call: Call) -> _T_co: ...

    def of_reply(self, walk: Walk, reply: Reply) -> _T_co:
        """An answer already in hand (a plain reply), served in this mode."""
        ...


class Walk:
    """One request on its way: its snapshot, decision, call, trace and deadline."""

    def __init__(
        self,
        snap: Snapshot,
        flight: InFlight,
        recorder: Recorder,
        clock: Callable[[], float],
        decision: Decision,
        call: Call,
        trace: Trace,
        deadline: float,
    ) -> None:
        self.snap = snap
        self.flight = flight
        self.recorder = recorder
        self.clock = clock
        self.decision = decision
        self.call = call
        self.trace = trace
        self.deadline = deadline
        # Told once the client has the whole answer (shadow judging); None for most requests.
        self.answered: Callable[[Walk], None] | None = None
        # The answer length each backend was asked for, where its context window cut the request's.
        self.clamps: dict[str, int] = {}

    def fork(self) -> Walk:
        """The same request on a second walk beside this one (a cascade's votes), with its own trace."""
        trace = Trace(self.trace.route, self.trace.budget_ms)
        return Walk(
            self.snap, self.flight, self.recorder, self.clock, self.decision, self.call, trace, self.deadline
        )

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def candidates(self, plan: Plan) -> list[tuple[Backend, str]]:
        """The plan's backends, those the breakers let through first; the rest only as a last resort.

        The tool rule (protocol/tools.py): a request that needs its API served natively (`needs`)
        keeps only backends that speak it, and is refused when there is none; one that merely offers
        hosted tools (`hosted`) goes to such backends first, then to the others in chat form."""
        backends, breakers, now = self.snap.backends, self.snap.guard.breakers, self.clock()
        pairs = [(backends[c.backend], c.tier) for c in plan.candidates if c.backend in backends]
        call = self.call
        if call.needs is not None or call.hosted:
            native = [p for p in pairs if p[0].speaks(call.endpoint)]
            if call.needs is None:
                pairs = native + [p for p in pairs if p not in native]
            elif native:
                pairs = native
            else:
                native_kind = _NATIVE.get(call.endpoint, "a native backend")
                raise InvalidRequest(
                    f"This request uses {call.needs}, which only {native_kind} can serve; none of route "
                    f"'{self.decision.route.name}' does.",
                    code="unsupported_feature",
                )
        allowed = [p for p in pairs if breakers.allows(p[0].name, now)]
        return allowed + [p for p in pairs if p not in allowed]

    def form(self, backend: Backend, call: Call) -> Call:
        """The call as `backend` gets it: as the client sent it where the backend speaks its API,
        otherwise in chat form (without the hosted tools it offers); asking for no more answer than
        the backend's context window has room for (routing/context.py), which is noted."""
        sent = call if call.chat is None or backend.speaks(call.endpoint) else call.chat
        window = self.snap.planner.windows.get(backend.name)
        left = room(window, sent.view) if window is not None else None
        if left is None:
            return sent
        self.clamps[backend.name] = left = max(1, left)
        return sent.with_max_tokens(left)

    def bill(self, tier: str, usage: Usage) -> Bill:
        """The answer's bill, with what a rejected draft cost on the way to it."""
        bill = self.snap.costs.bill(tier, usage)
        draft = self.trace.draft
        return bill if draft is None else replace(bill, elsewhere_usd=draft.bill.cost_usd)

    def observe(self, backend: Backend, *, ttft_s: float | None = None, tpot_s: float | None = None) -> None:
        stats = self.snap.planner.stats.get(backend.name)
        if stats is not None:
            stats.observe(self.clock(), ttft_s=ttft_s, tpot_s=tpot_s)

    async def run(
        self,
        pairs: list[tuple[Backend, str]],
        mode: Mode[_T],
        call: Call | None = None,
        deadline: float | None = None,
    ) -> Answer[_T]:
        """Try `pairs` in order in `mode` until one answers; raise one error for all that failed.

        `call` and `deadline` default to the request's own (a cascade's draft has its own of both).
        """
        call = call or self.call
        trace = self.trace
        request_deadline = self.deadline
        if deadline is not None:
            self.deadline = min(deadline, request_deadline)
        try:
            return await self._run(pairs, mode, call, trace)
        finally:
            self.deadline = request_deadline

    def attempt_on(self, backend: Backend, tier: str, mode: Mode[_T], call: Call) -> Coroutine[Any, Any, _T]:
        """One candidate's attempts in `mode`, through the guard (breaker, retries, budget)."""

        sent = self.form(backend, call)

        def attempt() -> Awaitable[_T]:
            return mode.attempt(self, backend, tier, sent)

        return self.snap.guard.call(
            backend, attempt, deadline=self.deadline, clock=self.clock, settle_later=mode.settle_later
        )

    async def discard(self, backend: Backend, result: object) -> None:
        """An answer nobody will read (a hedge's race lost in the same instant): let go of it."""
        if isinstance(result, Opened) and result.slot is not None:
            self.snap.guard.breakers.abandon(backend.name)  # never streamed: no verdict
            result.slot.release()
            with contextlib.suppress(GatewayError):
                await result.rest.aclose()  # type: ignore[attr-defined]

    def hedge_delay(
        self, pairs: list[tuple[Backend, str]], i: int, mode: Mode[_T], call: Call
    ) -> float | None:
        """When candidate i gets a hedge (the next candidate), or None when it does not."""
        if i + 1 >= len(pairs) or not (mode.hedgeable and call.hedgeable):
            return None
        hedging = self.snap.hedging
        backend, tier = pairs[i]
        policy = hedging.get(tier)
        if policy is None or pairs[i + 1][1] not in hedging:
            return None
        now = self.clock()
        stats = self.snap.planner.stats.get(backend.name)
        p95 = stats.tail(now, first_chunk=mode.settle_later) if stats is not None else 0.0
        delay = policy.delay(p95)
        return delay if now + delay < self.deadline else None

    async def _run(
        self, pairs: list[tuple[Backend, str]], mode: Mode[_T], call: Call, trace: Trace
    ) -> Answer[_T]:
        failures: list[tuple[Backend, GatewayError]] = []
        i, n = 0, len(pairs)
        while i < n:
            if self.remaining() <= 0:
                break
            if failures:
                self.recorder.moved_on(trace, failures[-1][1])
            backend, tier = pairs[i]
            trace.tier, trace.backend = tier, backend.name
            delay = self.hedge_delay(pairs, i, mode, call)
            if delay is not None:
                used, won = await race(self, mode, call, pairs[i], pairs[i + 1], delay, failures)
                if won is not None:
                    trace.tier, trace.backend = won[1], won[0].name
                    return Answer(*won)
                i += used
                continue
            try:
                result = await self.attempt_on(backend, tier, mode, call)
            except GatewayError as err:
                log.warning("backend %s failed: %s", backend.name, err.message)
                failures.append((backend, err))
                # A window too small for the request: the next candidate may have a larger one.
                if not err.retryable and not isinstance(err, ContextOverflow):
                    raise
                i += 1
                continue
            return Answer(backend, tier, result)
        if not failures and pairs:
            failures.append((pairs[0][0], UpstreamTimeout("The request's deadline passed.", code="deadline")))
        raise exhausted(self.decision.route.name, failures)


def exhausted(route: str, failures: list[tuple[Backend, GatewayError]]) -> GatewayError:
    """One error for the client, naming every backend tried; its status says what kind of failure."""
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


class _Plain:
    """Committed when the whole reply is in."""

    settle_later = False
    hedgeable = True

    async def attempt(self, walk: Walk, backend: Backend, tier: str, call: Call) -> Reply:
        name, clock, trace = backend.name, walk.clock, walk.trace
        slot = walk.flight.enter(name)
        t0 = clock()
        try:
            reply = await within(walk.remaining(), backend.complete(call))
        except TimeoutError:
            walk.observe(backend, ttft_s=clock() - t0)
            raise UpstreamTimeout(f"Backend '{name}' timed out.", code="upstream_timeout") from None
        finally:
            slot.release()
            trace.upstream_s += clock() - t0
        # Parsed once: the latency estimate and the bill both read it.
        trace.usage = usage = usage_of(reply.content)
        stats = walk.snap.planner.stats.get(name)
        if stats is not None:
            now = clock()
            stats.observe_tail(now, now - t0, first_chunk=False)
            if usage is not None and usage.completion_tokens and call.endpoint != "embeddings":
                stats.observe_total(now, now - t0, usage.completion_tokens)
        return reply

    def of_reply(self, walk: Walk, reply: Reply) -> Reply:
        return reply


def _before_first_chunk(backend: Backend, exc: BaseException) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"Backend '{backend.name}' sent nothing in time.", code="upstream_timeout")
    return UpstreamError(f"Backend '{backend.name}' sent an empty stream.", code="upstream_protocol")


class _Streamed:
    """Committed at the first chunk: until then another candidate may still answer."""

    settle_later = True
    hedgeable = True

    async def attempt(self, walk: Walk, backend: Backend, tier: str, call: Call) -> Opened:
        clock, trace = walk.clock, walk.trace
        limit = min(walk.snap.first_token_s.get(tier, walk.remaining()), walk.remaining())
        slot = walk.flight.enter(backend.name)
        chunks = backend.stream(call)
        t0 = clock()
        try:
            first = await within(limit, anext(chunks))
        except (GatewayError, TimeoutError, StopAsyncIteration) as exc:
            slot.release()
            with contextlib.suppress(GatewayError):
                await chunks.aclose()  # type: ignore[attr-defined]
            err = _before_first_chunk(backend, exc)
            if isinstance(err, UpstreamTimeout):
                walk.observe(backend, ttft_s=clock() - t0)
            raise err from None
        except BaseException:
            slot.release()
            raise
        finally:
            trace.upstream_s += clock() - t0
        now = clock()
        ttft = now - t0
        trace.ttft_s = now - walk.call.received
        stats = walk.snap.planner.stats.get(backend.name)
        if stats is not None:
            stats.observe(now, ttft_s=ttft)
            stats.observe_tail(now, ttft, first_chunk=True)
        walk.recorder.first_chunk(tier, backend.name, ttft)
        return Opened(first, chunks, slot)

    def of_reply(self, walk: Walk, reply: Reply) -> Opened:
        data = _decode(reply.content)
        call = walk.call.chat or walk.call  # a translated request's answer in hand is a chat answer
        chunks = as_chunks(data, call.endpoint, include_usage=call.include_usage)
        return Opened(chunks[0], _replay(chunks[1:]), None, walk.trace.usage)


async def _replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


PLAIN: Mode[Reply] = _Plain()
STREAMED: Mode[Opened] = _Streamed()
