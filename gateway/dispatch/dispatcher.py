"""Runs a request: plan it, walk its plan with the plan's strategy, record what happened once.

The entry point serving calls, for plain and streamed answers alike. The snapshot of the rules comes
down with the request (read once, when it was admitted: dispatch/snapshot.py's Admitted), so the plan,
the guard and the bill all come from the same rules; a caller without one (a test, shadow judging)
gets the one in force. What happened is kept in the request's trace and recorded once, at its end:
here for a whole answer, by the relay for a stream (dispatch/relay.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gateway.dispatch.modes import PLAIN, STREAMED, Mode, Opened
from gateway.dispatch.relay import relay
from gateway.dispatch.strategies import STRATEGIES, Strategy
from gateway.dispatch.walk import Walk
from gateway.errors import ContextTooLong, GatewayError, UpstreamUnavailable
from gateway.observability.trace import NONE, Trace
from gateway.protocol import BYTES_PER_TOKEN, estimated_usage
from gateway.protocol.choices import answer_text
from gateway.routing.decision import Decision, Hints

if TYPE_CHECKING:
    from gateway.backends.base import Backend, Reply
    from gateway.dispatch.inflight import InFlight
    from gateway.dispatch.shadow import Shadow
    from gateway.dispatch.snapshot import Snapshot
    from gateway.observability.recorder import Recorder
    from gateway.protocol import Call, RequestView
    from gateway.protocol.tokens import TokenCount

__all__ = ["Counted", "Dispatcher", "Served", "StreamServed"]

_NO_HINTS = Hints()


@dataclass(slots=True)
class Served:
    reply: Reply
    decision: Decision
    backend: Backend
    tier: str
    trace: Trace
    cost_usd: float = 0.0


@dataclass(slots=True)
class StreamServed:
    chunks: AsyncIterator[bytes]
    decision: Decision
    backend: Backend
    tier: str
    trace: Trace


@dataclass(frozen=True, slots=True)
class Counted:
    """A prompt counted for the backend the route would choose for it now."""

    count: TokenCount
    decision: Decision
    backend: Backend
    tier: str


class Dispatcher:
    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        recorder: Recorder,
        *,
        request_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        strategies: Mapping[str, Strategy] = STRATEGIES,
        shadow: Shadow | None = None,
    ) -> None:
        self._snapshot = snapshot
        self.recorder = recorder
        self._timeout = request_timeout_s
        self.clock = clock  # a value handlers read the time with (time.monotonic unless a test's)
        self._strategies = strategies
        self.shadow = shadow

    def now(self) -> float:
        return self.clock()

    @property
    def flight(self) -> InFlight:
        return self._snapshot().flight

    def in_flight(self, name: str) -> int:
        return self._snapshot().flight[name]

    def decide(
        self, view: RequestView, hints: Hints = _NO_HINTS, snap: Snapshot | None = None, *, fit: bool = True
    ) -> Decision:
        snap = snap or self._snapshot()
        return snap.planner.decide(view, hints, now=self.clock(), lives=snap.flight.lives, fit=fit)

    async def count_tokens(
        self, call: Call, hints: Hints = _NO_HINTS, *, snap: Snapshot | None = None
    ) -> Counted:
        """The call's prompt in the tokens of the backend the route would choose for it now: the first
        candidate of its decision (what POST /v1/route/explain shows), breakers and the tool rule
        considered, counted in the form that backend would get. Nothing is generated or recorded."""
        snap = snap or self._snapshot()
        try:
            decision = self.decide(call.view, hints, snap)
        except ContextTooLong:
            # Too long for every window: still counted (a client compacts by it), for the largest one.
            decision = self.decide(call.view, hints, snap, fit=False)
            windows = snap.windows
            ordered = sorted(decision.plan.candidates, key=lambda c: -windows.get(c.backend, 0))
            decision = replace(decision, plan=replace(decision.plan, candidates=tuple(ordered)))
        walk = Walk(snap, self.recorder, self.clock, decision, call, Trace(decision.route.name), self.clock())
        pairs = walk.candidates(decision.plan)
        if not pairs:
            raise UpstreamUnavailable(f"No backend serves route '{decision.route.name}'.", code="no_backend")
        backend, tier = pairs[0]
        return Counted(await backend.count_tokens(walk.form(backend, call)), decision, backend, tier)

    def _walk(self, call: Call, hints: Hints, snap: Snapshot | None) -> Walk:
        snap = snap or self._snapshot()
        now = self.clock()
        try:
            decision = snap.planner.decide(call.view, hints, now=now, lives=snap.flight.lives)
        except GatewayError as err:
            self.recorder.undecided(call, call.view.model, err)
            raise
        plan = decision.plan
        trace = Trace(
            decision.route.name,
            decision.budget_ms,
            plan.tier or NONE,
            decision.classify_s,
            reason=plan.reason,
            difficulty=plan.difficulty,
            session=call.session,
        )
        if decision.skipped is not None:
            trace.cascade = "skipped"
        if plan.family is not None:
            trace.family, trace.family_set = plan.family, decision.family_set
            trace.within, trace.prior_tier = decision.within, decision.prior_tier
        spec = decision.route.spec
        if spec is not None and self.recorder.logs_decisions:
            trace.log_content, trace.log_features = spec.log_content, spec.log_features
            trace.features = decision.features
        walk = Walk(snap, self.recorder, self.clock, decision, call, trace, self.clock() + self._timeout)
        if self.shadow is not None and self.shadow.wants(decision, call, hints):
            trace.shadowed = True
            shadow = self.shadow
            walk.answered = lambda w: shadow.after(w, w.trace.answer_text)
        return walk

    def _handed_over(self, walk: Walk, backend: Backend) -> None:
        """The answer is about to leave: what the answering backend made of the request (the hosted
        tools it went without, the answer length its context window allowed) and the gateway's own
        share of the time so far."""
        call, trace = walk.call, walk.trace
        if call.hosted and not backend.speaks(call.endpoint):
            trace.dropped_tools = call.hosted
        trace.max_tokens = walk.clamps.get(backend.name)
        own = self.clock() - call.received - trace.upstream_s
        trace.own_s = own if own > 0.0 else 0.0

    async def complete(
        self, call: Call, hints: Hints = _NO_HINTS, mode: Mode[Reply] = PLAIN, *, snap: Snapshot | None = None
    ) -> Served:
        """A whole answer; `mode` adapts it to the endpoint (PLAIN: as the backend sent it)."""
        walk = self._walk(call, hints, snap)
        trace = walk.trace
        try:
            answer = await self._strategies[walk.decision.plan.strategy].run(walk, mode)
        except BaseException as exc:
            walk.end_failed(exc)
            raise
        self._handed_over(walk, answer.backend)
        reply = answer.result
        if trace.log_content or trace.shadowed:
            trace.answer_text = answer_text(reply.content)
        usage = trace.usage or estimated_usage(call.view.body_bytes, len(reply.content) // BYTES_PER_TOKEN)
        bill = walk.end(usage)
        if walk.answered is not None:
            walk.answered(walk)
        return Served(reply, walk.decision, answer.backend, answer.tier, trace, bill.total_usd)

    async def stream(
        self,
        call: Call,
        hints: Hints = _NO_HINTS,
        mode: Mode[Opened] = STREAMED,
        *,
        snap: Snapshot | None = None,
    ) -> StreamServed:
        """A stream, committed at its first chunk; the relay passes the rest on and records it."""
        walk = self._walk(call, hints, snap)
        try:
            answer = await self._strategies[walk.decision.plan.strategy].run(walk, mode)
        except BaseException as exc:
            walk.end_failed(exc)
            raise
        self._handed_over(walk, answer.backend)
        return StreamServed(relay(walk, answer, mode), walk.decision, answer.backend, answer.tier, walk.trace)
