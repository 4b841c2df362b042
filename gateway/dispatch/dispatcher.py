"""Runs a request: plan it, walk its plan with the plan's strategy, record what happened.

The entry point the server calls, for plain and streamed answers alike. It reads the live snapshot
once per request, so the plan, the guard and the bill all come from the same rules.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gateway.dispatch.inflight import InFlight
from gateway.dispatch.relay import relay
from gateway.dispatch.strategies import STRATEGIES, Strategy
from gateway.dispatch.walk import PLAIN, STREAMED, Mode, Opened, Walk
from gateway.errors import ContextTooLong, GatewayError, UpstreamUnavailable
from gateway.observability.trace import Trace
from gateway.protocol import BYTES_PER_TOKEN, estimated_usage
from gateway.protocol.choices import answer_text
from gateway.routing.decision import Decision, Hints

if TYPE_CHECKING:
    from gateway.backends.base import Backend, Reply
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
        self._clock = clock
        self._strategies = strategies
        self.flight = InFlight()
        self.shadow = shadow

    def now(self) -> float:
        return self._clock()

    def in_flight(self, name: str) -> int:
        return self.flight[name]

    def decide(
        self, view: RequestView, hints: Hints = _NO_HINTS, snap: Snapshot | None = None, *, fit: bool = True
    ) -> Decision:
        snap = snap or self._snapshot()
        backends, guard, flight, now = snap.backends, snap.guard, self.flight, self._clock()

        def state(name: str) -> tuple[int, bool]:
            backend = backends.get(name)
            if backend is None:
                return 0, False
            return max(backend.queued, flight[name]), guard.available(backend, now)

        return snap.planner.decide(view, hints, now=now, state=state, fit=fit)

    async def count_tokens(self, call: Call, hints: Hints = _NO_HINTS) -> Counted:
        """The call's prompt in the tokens of the backend the route would choose for it now: the first
        candidate of its decision (what POST /v1/route/explain shows), breakers and the tool rule
        considered, counted in the form that backend would get. Nothing is generated or recorded."""
        snap = self._snapshot()
        try:
            decision = self.decide(call.view, hints, snap)
        except ContextTooLong:
            # Too long for every window: still counted (a client compacts by it), for the largest one.
            decision = self.decide(call.view, hints, snap, fit=False)
            windows = snap.planner.windows
            ordered = sorted(decision.plan.candidates, key=lambda c: -windows.get(c.backend, 0))
            decision = replace(decision, plan=replace(decision.plan, candidates=tuple(ordered)))
        now = self._clock()
        walk = Walk(
            snap, self.flight, self.recorder, self._clock, decision, call, Trace(decision.route.name), now
        )
        pairs = walk.candidates(decision.plan)
        if not pairs:
            raise UpstreamUnavailable(f"No backend serves route '{decision.route.name}'.", code="no_backend")
        backend, tier = pairs[0]
        return Counted(await backend.count_tokens(walk.form(backend, call)), decision, backend, tier)

    def _walk(self, call: Call, hints: Hints) -> Walk:
        snap = self._snapshot()
        try:
            decision = self.decide(call.view, hints, snap)
        except GatewayError as err:
            self.recorder.undecided(call, call.view.model, err)
            raise
        plan = decision.plan
        trace = Trace(
            decision.route.name,
            decision.budget_ms,
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
        self.recorder.decided(trace, plan.tier, plan.reason, plan.difficulty, decision.classify_s)
        now = self._clock()
        snap.guard.budget.request(now)
        walk = Walk(snap, self.flight, self.recorder, self._clock, decision, call, trace, now + self._timeout)
        if self.shadow is not None and self.shadow.wants(decision, call, hints):
            trace.shadowed = True
            shadow = self.shadow
            walk.answered = lambda w: shadow.after(w, w.trace.answer_text)
        return walk

    def _strategy(self, decision: Decision) -> Strategy:
        return self._strategies[decision.plan.strategy]

    @staticmethod
    def _committed(walk: Walk, backend: Backend) -> None:
        """What the answering backend made of the request: the hosted tools it went without, the answer
        length its context window allowed."""
        call = walk.call
        if call.hosted and not backend.speaks(call.endpoint):
            walk.trace.dropped_tools = call.hosted
        walk.trace.max_tokens = walk.clamps.get(backend.name)

    async def complete(self, call: Call, hints: Hints = _NO_HINTS, mode: Mode[Reply] = PLAIN) -> Served:
        """A whole answer; `mode` adapts it to the endpoint (PLAIN: as the backend sent it)."""
        walk = self._walk(call, hints)
        trace = walk.trace
        try:
            answer = await self._strategy(walk.decision).run(walk, mode)
        except BaseException as exc:
            self.recorder.failed(trace, call, exc)
            raise
        self._committed(walk, answer.backend)
        self.recorder.handed_over(call, trace)
        reply = answer.result
        if trace.log_content or trace.shadowed:
            trace.answer_text = answer_text(reply.content)
        usage = trace.usage or estimated_usage(call.view.body_bytes, len(reply.content) // BYTES_PER_TOKEN)
        bill = walk.bill(answer.tier, usage)
        self.recorder.answered(trace, call, usage, bill)
        if walk.answered is not None:
            walk.answered(walk)
        return Served(reply, walk.decision, answer.backend, answer.tier, trace, bill.total_usd)

    async def stream(
        self, call: Call, hints: Hints = _NO_HINTS, mode: Mode[Opened] = STREAMED
    ) -> StreamServed:
        walk = self._walk(call, hints)
        try:
            answer = await self._strategy(walk.decision).run(walk, mode)
        except BaseException as exc:
            self.recorder.failed(walk.trace, call, exc)
            raise
        self._committed(walk, answer.backend)
        self.recorder.handed_over(call, walk.trace)
        return StreamServed(relay(walk, answer), walk.decision, answer.backend, answer.tier, walk.trace)
