"""The one candidate walk: a request's candidates in order until one answers, plain or streamed alike.

A mode (dispatch/modes.py) says how an answer is obtained and when it is committed to the client: a
plain answer when the whole reply arrived, a stream at its first chunk. Before that point a failure
moves on to the next candidate; the walk owns everything else for both (the deadline, retries through
the guard, in-flight accounting from the first attempt, latency observations, and one error naming
every backend tried).
Strategies (strategies.py) decide which candidates a walk runs, and in which mode.

Values go down and outcomes come back: the walk reads each backend's gate (resilience/gate.py) and the
decision's answer room as values, writes what each attempt took to the latency book (the snapshot's),
and keeps what happened in the request's trace (fallbacks, hedges, first chunks); a failure is told to
the guard when it happens, the answers the request took once at its end (`end`), when the recorder
also records the whole request, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from gateway.dispatch.hedge import ends_request, race
from gateway.dispatch.modes import Answer, Opened
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.observability.trace import Trace
from gateway.routing.context import room

if TYPE_CHECKING:
    from gateway.backends.base import Backend
    from gateway.dispatch.hedge import Outcome
    from gateway.dispatch.modes import Mode
    from gateway.dispatch.snapshot import Snapshot
    from gateway.observability.cost import Bill
    from gateway.observability.recorder import Recorder
    from gateway.protocol import Call, Usage
    from gateway.routing.decision import Decision
    from gateway.routing.plan import Plan

__all__ = ["Walk", "exhausted"]

# Who serves a request that needs its API natively, per API, for the 400 when a route has none.
_NATIVE = {
    "responses": "a backend that speaks the Responses API natively (`responses: true`)",
    "compact": "a backend that speaks the Responses API natively (`responses: true`)",
    "messages": "a backend that speaks the Anthropic Messages API natively (`kind: anthropic`)",
}

log = logging.getLogger(__name__)
_decode = msgspec.json.Decoder().decode
_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_CLOSED = -math.inf  # a gate's `until` while its breaker is closed: no word to the guard needed
# An attempt on a backend whose breaker is not closed, with another candidate left, is bounded by this
# many times the backend's recent p95 latency, and never less than PROBE_FLOOR_S (walk._probe_s).
PROBE_TAILS = 4.0
PROBE_FLOOR_S = 1.0


class Walk:
    """One request on its way: its snapshot, decision, call, trace and deadline."""

    def __init__(
        self,
        snap: Snapshot,
        recorder: Recorder,
        clock: Callable[[], float],
        decision: Decision,
        call: Call,
        trace: Trace,
        deadline: float,
    ) -> None:
        self.snap = snap
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
        # Backends whose answers this request took: their breakers hear it when the request ends.
        self.took: list[str] = []

    def fork(self) -> Walk:
        """The same request on a second walk beside this one (a cascade's votes), with its own trace."""
        trace = Trace(self.trace.route, self.trace.budget_ms)
        return Walk(self.snap, self.recorder, self.clock, self.decision, self.call, trace, self.deadline)

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def candidates(self, plan: Plan) -> list[tuple[Backend, str]]:
        """The plan's backends, those the breakers let through first; the rest only as a last resort.

        The tool rule (protocol/tools.py): a request that needs its API served natively (`needs`)
        keeps only backends that speak it, and is refused when there is none; one that merely offers
        hosted tools (`hosted`) goes to such backends first, then to the others in chat form."""
        backends, gates, now = self.snap.backends, self.snap.guard.gates, self.clock()
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
        held = [p for p in pairs if (g := gates.get(p[0].name)) is not None and now < g.until]
        return pairs if not held else [p for p in pairs if p not in held] + held

    def form(self, backend: Backend, call: Call) -> Call:
        """The call as `backend` gets it: as the client sent it where the backend speaks its API,
        otherwise in chat form (without the hosted tools it offers); asking for no more answer than
        the backend's context window has room for (routing/context.py), which is noted."""
        sent = call if call.chat is None or backend.speaks(call.endpoint) else call.chat
        name = backend.name
        if sent.view is self.call.view:  # the view the request was planned by: its rooms are known
            rooms = self.decision.rooms
            left = rooms.get(name) if rooms is not None else None
        else:
            window = self.snap.windows.get(name)
            left = room(window, sent.view) if window is not None else None
        if left is None:
            return sent
        self.clamps[name] = left = max(1, left)
        return sent.with_max_tokens(left)

    def end(self, usage: Usage, outcome: str = "ok") -> Bill:
        """The request answered (a stream: ended): the breakers of the backends it took hear it, the
        retry budget counts it, and the recorder records it, once. Returns its bill."""
        snap = self.snap
        snap.guard.finished(self.took, self.clock())
        return self.recorder.answered(self.trace, self.call, usage, snap.costs, outcome)

    def end_failed(self, exc: BaseException) -> None:
        """The request failed: as `end`, with the answers it took on the way (a cascade's draft)."""
        self.snap.guard.finished(self.took, self.clock())
        self.recorder.failed(self.trace, self.call, exc)

    async def run(
        self,
        pairs: list[tuple[Backend, str]],
        mode: Mode[_T],
        call: Call | None = None,
        deadline: float | None = None,
    ) -> Answer[_T]:
        """Try `pairs` in order in `mode` until one answers; raise one error for all that failed.

        `call` and `deadline` default to the request's own (a cascade's draft has its own of both,
        within the request's)."""
        call = call or self.call
        deadline = self.deadline if deadline is None else min(deadline, self.deadline)
        trace, clock = self.trace, self.clock
        failures: list[tuple[Backend, GatewayError]] = []
        i, n = 0, len(pairs)
        while i < n:
            if clock() >= deadline:
                break
            if failures:
                trace.fallbacks.append(failures[-1][1].code or "unknown")
            backend, tier = pairs[i]
            trace.tier, trace.backend = tier, backend.name
            delay = self._hedge_delay(pairs, i, mode, call, deadline)
            if delay is not None:
                outcome = await self._race(pairs[i], pairs[i + 1], mode, call, deadline, delay)
                for index, err in outcome.errors:
                    failures.append((pairs[i + index][0], err))
                if outcome.winner is not None:
                    won, won_tier = pairs[i + outcome.winner]
                    trace.tier, trace.backend = won_tier, won.name
                    return Answer(won, won_tier, outcome.result)  # type: ignore[arg-type]
                if outcome.errors and ends_request(outcome.errors[-1][1]):
                    raise outcome.errors[-1][1]
                i += 1 if outcome.hedge is None else 2
                continue
            # One attempt, as `_attempt` makes it, written out here: a frame less on the hot path.
            name, guard = backend.name, self.snap.guard
            sent = self.form(backend, call)
            gate = guard.gates.get(name)
            limit = deadline
            if gate is None or gate.until != _CLOSED:
                now = clock()
                guard.start(name, now)  # the breaker is not closed: this may be its probe
                if gate is not None and i + 1 < n:
                    limit = min(deadline, now + self._probe_s(name, now, mode.streams))
            try:
                result = await mode.attempt(self, backend, tier, sent, limit, i + 1 < n)
            except GatewayError as first:
                try:
                    result = await self._again(backend, tier, mode, sent, limit, first, i + 1 < n)
                except GatewayError as err:
                    log.warning("backend %s failed: %s", name, err.message)
                    failures.append((backend, err))
                    if ends_request(err):
                        raise
                    i += 1
                    continue
            except BaseException:
                guard.abandon(name)  # cancelled: no verdict, and a half-open probe is given back
                raise
            if not mode.streams:  # a stream has answered well only once it ended (the relay says)
                self.took.append(name)
            return Answer(backend, tier, result)
        if not failures and pairs:
            failures.append((pairs[0][0], UpstreamTimeout("The request's deadline passed.", code="deadline")))
        raise exhausted(self.decision.route.name, failures)

    def _probe_s(self, name: str, now: float, streams: bool) -> float:
        """How long an attempt on a backend whose breaker is not closed may take (to its first chunk,
        or its whole plain answer) while another candidate remains: a probe of a backend that may
        still be down must not hold the request (a hung backend accepts and never answers). A few
        times its recent p95 (without recent answers, its replicas' or its priors': LatencyStats.tail),
        and at least PROBE_FLOOR_S."""
        return max(PROBE_FLOOR_S, PROBE_TAILS * self.snap.book.tail(name, now, first_chunk=streams))

    def attempt(
        self, backend: Backend, tier: str, mode: Mode[_T], call: Call, deadline: float, others: bool = False
    ) -> Coroutine[Any, Any, _T]:
        """One candidate's attempts in `mode`: the first sent as is, more through the guard (`others`:
        another candidate remains, which a timeout moves on to)."""
        return self._attempt(backend, tier, mode, self.form(backend, call), deadline, others)

    async def _attempt(
        self, backend: Backend, tier: str, mode: Mode[_T], sent: Call, deadline: float, others: bool
    ) -> _T:
        name = backend.name
        guard = self.snap.guard
        gate = guard.gates.get(name)
        if gate is None or gate.until != _CLOSED:
            guard.start(name, self.clock())  # the breaker is not closed: this may be its probe
        try:
            result = await mode.attempt(self, backend, tier, sent, deadline, others)
        except GatewayError as err:
            result = await self._again(backend, tier, mode, sent, deadline, err, others)
        except BaseException:
            # Cancelled (the client left, a hedge won) or worse: no verdict, and a half-open probe
            # must not stay taken forever.
            guard.abandon(name)
            raise
        if not mode.streams:  # a stream has answered well only once it ended (the relay says)
            self.took.append(name)
        return result

    def _again(
        self,
        backend: Backend,
        tier: str,
        mode: Mode[_T],
        sent: Call,
        deadline: float,
        err: GatewayError,
        others: bool,
    ) -> Coroutine[Any, Any, _T]:
        """The attempt failed with `err`: the guard hears it, and retries it while its bounds allow
        (a timeout only where no other candidate remains: `others`)."""
        return self.snap.guard.retried(
            backend,
            err,
            lambda: mode.attempt(self, backend, tier, sent, deadline, others),
            deadline=deadline,
            clock=self.clock,
            timeouts=not others,
        )

    def _let_go(self, backend: Backend) -> Callable[[int, object], None]:
        def let_go(_: int, result: object) -> None:
            if isinstance(result, Opened) and result.slot is not None:
                self.snap.guard.abandon(backend.name)  # never streamed: no verdict
                result.slot.release()
                _close_later(result.rest)

        return let_go

    def _hedge_delay(
        self, pairs: list[tuple[Backend, str]], i: int, mode: Mode[_T], call: Call, deadline: float
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
        delay = policy.delay(self.snap.book.tail(backend.name, now, first_chunk=mode.streams))
        return delay if now + delay < deadline else None

    async def _race(
        self,
        first: tuple[Backend, str],
        second: tuple[Backend, str],
        mode: Mode[_T],
        call: Call,
        deadline: float,
        delay: float,
    ) -> Outcome[_T]:
        """Candidate `first`, hedged with `second` after `delay`; its outcome settled and recorded."""
        (slow, slow_tier), (other, other_tier) = first, second
        trace, guard = self.trace, self.snap.guard

        def may_hedge() -> bool:
            now = self.clock()
            if now >= deadline:
                return False
            granted = guard.may_hedge(other, now)
            if granted is False:
                trace.hedges.append((slow_tier, slow.name, "denied"))
            if granted:
                log.debug("hedging %s with %s", slow.name, other.name)
            return bool(granted)

        lost = self._let_go(slow), self._let_go(other)
        outcome = await race(
            lambda: self.attempt(slow, slow_tier, mode, call, deadline, others=True),
            lambda: self.attempt(other, other_tier, mode, call, deadline),
            delay,
            may_hedge,
            lambda index, result: lost[index](index, result),
            guard.hedge_ended,
        )
        for index, err in outcome.errors:
            log.warning("backend %s failed: %s", (slow, other)[index].name, err.message)
        if outcome.fell_back:  # the first failed while its hedge ran: a fallback to it
            trace.fallbacks.append(outcome.errors[0][1].code or "unknown")
        if outcome.hedge is not None:
            trace.hedges.append((slow_tier, slow.name, outcome.hedge))
        if outcome.winner == 1 and not outcome.errors:
            # The first never answered within the hedge's time: an outlier, which its breaker hears
            # (a failure on its own in the same instant was recorded already).
            guard.settle(slow, ok=False, now=self.clock())
        return outcome


def _close_later(rest: AsyncIterator[bytes]) -> None:
    """Close a stream nobody will read, in a task of its own (its close may await the upstream)."""

    async def close() -> None:
        with contextlib.suppress(GatewayError):
            await rest.aclose()  # type: ignore[attr-defined]

    task = asyncio.get_running_loop().create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task[None]] = set()  # closes of streams nobody reads, held until they ran


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
