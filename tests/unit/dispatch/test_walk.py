"""The candidate walk itself (dispatch/walk.py), driven directly: the order it tries candidates in,
what moves it on and what stops it, the deadline it runs under, the error it ends with, and the
in-flight slots and bills it keeps. The planner, guard and recorder around it are the real ones."""

from __future__ import annotations

import asyncio

import pytest

from gateway.backends.base import Reply
from gateway.dispatch.modes import PLAIN, STREAMED
from gateway.dispatch.walk import Walk, exhausted
from gateway.errors import (
    InvalidRequest,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.observability.cost import Bill
from gateway.observability.trace import Spent, Trace
from gateway.protocol import Usage, responses_view
from gateway.testing.fake_backend import FakeBackend, Step
from gateway.testing.harness import Harness, chat_call

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends:
      - {name: a, kind: openai, base_url: "http://a.invalid/v1", model: m}
      - {name: b, kind: openai, base_url: "http://b.invalid/v1", model: m}
  large:
    price: {input_per_mtok: 1.0, output_per_mtok: 2.0}
    backends:
      - {name: c, kind: openai, base_url: "http://c.invalid/v1", model: big}
retry: {attempts: 1}
breaker: {consecutive_failures: 1}
routes:
  - {model: small, tier: small, fallback: [large]}
"""


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def walk_of(
    h: Harness, clock: Clock, *, deadline_s: float = 10.0, stream: bool = False, **call: object
) -> Walk:
    c = chat_call("small", stream=stream)
    for k, v in call.items():
        setattr(c, k, v)
    decision = h.dispatcher.decide(c.view)
    return Walk(
        h.snapshot,
        h.dispatcher.recorder,
        clock,
        decision,
        c,
        Trace("small"),
        clock() + deadline_s,
    )


def setup() -> tuple[Harness, Clock, FakeBackend, FakeBackend, FakeBackend]:
    clock = Clock()
    h = Harness.build(ROUTES, {n: FakeBackend(n) for n in "abc"}, clock=clock)
    a, b, c = h.backends.values()
    return h, clock, a, b, c


def test_candidates_follow_the_plan_and_a_breaker_keeps_a_backend_for_last() -> None:
    h, clock, *_ = setup()
    walk = walk_of(h, clock)
    assert [(b.name, t) for b, t in walk.candidates(walk.decision.plan)] == [
        ("a", "small"),
        ("b", "small"),
        ("c", "large"),
    ]
    h.snapshot.guard.breakers.failure("a", clock())  # one failure ejects (consecutive_failures: 1)
    assert [b.name for b, _ in walk.candidates(walk.decision.plan)] == ["b", "c", "a"]


def test_a_request_only_a_native_backend_serves_keeps_only_those() -> None:
    h, clock, _, _, c = setup()
    view = responses_view({"model": "small", "input": "hi"}, [], 64)
    walk = walk_of(h, clock, needs="tool_choice 'web_search'", view=view)
    with pytest.raises(InvalidRequest, match="web_search"):
        walk.candidates(walk.decision.plan)
    c.responses = True  # what `responses: true` on its spec makes of a backend
    assert [b.name for b, _ in walk.candidates(walk.decision.plan)] == ["c"]


async def test_retryable_failures_move_on_and_the_first_answer_wins() -> None:
    h, clock, a, b, c = setup()
    a.script(Step.fail(UpstreamUnavailable("a is full", code="queue_full")))
    walk = walk_of(h, clock)
    answer = await walk.run(walk.candidates(walk.decision.plan), PLAIN)
    assert (answer.backend.name, answer.tier) == ("b", "small")
    assert [len(x.calls) for x in (a, b, c)] == [1, 1, 0]
    assert (walk.trace.tier, walk.trace.backend) == ("small", "b")
    assert walk.trace.usage is not None and walk.trace.usage.completion_tokens == 2


async def test_a_failure_no_other_candidate_can_mend_stops_the_walk() -> None:
    h, clock, a, b, _ = setup()
    a.script(Step.fail(UpstreamRejected("context too long", code="upstream_rejected")))
    walk = walk_of(h, clock)
    with pytest.raises(UpstreamRejected):
        await walk.run(walk.candidates(walk.decision.plan), PLAIN)
    assert not b.calls


async def test_a_passed_deadline_tries_nothing_and_is_a_timeout() -> None:
    h, clock, a, *_ = setup()
    walk = walk_of(h, clock, deadline_s=0.0)
    with pytest.raises(UpstreamTimeout, match="deadline"):
        await walk.run(walk.candidates(walk.decision.plan), PLAIN)
    assert not a.calls


async def test_a_shorter_deadline_holds_for_one_run_only() -> None:
    h, clock, *_ = setup()
    walk = walk_of(h, clock, deadline_s=10.0)
    request_deadline = walk.deadline
    pairs = walk.candidates(walk.decision.plan)
    with pytest.raises(UpstreamTimeout):
        await walk.run(pairs, PLAIN, deadline=clock() - 1)  # a draft's own deadline, already passed
    assert walk.deadline == request_deadline
    assert (await walk.run(pairs, PLAIN)).backend.name == "a"  # the request's own deadline still holds


async def test_a_plain_attempt_gives_its_slot_back_and_a_stream_keeps_it() -> None:
    h, clock, *_ = setup()
    walk = walk_of(h, clock)
    await walk.run(walk.candidates(walk.decision.plan), PLAIN)
    assert h.dispatcher.in_flight("a") == 0
    walk = walk_of(h, clock, stream=True)
    opened = await walk.run(walk.candidates(walk.decision.plan), STREAMED)
    assert opened.result.first.startswith(b"data: ")
    assert h.dispatcher.in_flight("a") == 1  # until the relay has the stream's end
    assert opened.result.slot is not None
    opened.result.slot.release()
    assert h.dispatcher.in_flight("a") == 0


async def test_a_cancelled_attempt_does_not_keep_the_probe() -> None:
    """(Moved here from the guard's tests: the walk runs an attempt, the guard hears its outcome.)"""
    h, clock, a, *_ = setup()
    breakers = h.snapshot.guard.breakers
    breakers.failure("a", clock())  # ejected (consecutive_failures: 1)
    clock.t += 60  # past the ejection: half-open
    a.script(Step.hanging())
    walk = walk_of(h, clock)
    task = asyncio.create_task(walk.run([(a, "small")], PLAIN))
    await a.arrived.wait()
    assert not breakers.allows("a", clock())  # the probe is out
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breakers.allows("a", clock())  # and given back
    assert a.cancelled == 1


async def test_a_stream_that_fails_before_its_first_chunk_moves_on() -> None:
    h, clock, a, *_ = setup()
    a.script(Step.fail(UpstreamError("a broke", code="upstream_error")))
    walk = walk_of(h, clock, stream=True)
    opened = await walk.run(walk.candidates(walk.decision.plan), STREAMED)
    assert opened.backend.name == "b"
    assert h.dispatcher.in_flight("a") == 0


async def test_an_answer_in_hand_replays_as_a_stream_without_a_slot() -> None:
    h, clock, *_ = setup()
    walk = walk_of(h, clock, stream=True)
    reply = Reply(b'{"id":"x","choices":[{"index":0,"message":{"content":"hi"},"finish_reason":"stop"}]}')
    assert PLAIN.of_reply(walk, reply) is reply
    opened = STREAMED.of_reply(walk, reply)
    assert opened.slot is None  # nothing upstream is held open for it
    rest = [chunk async for chunk in opened.rest]
    assert b'"role":"assistant"' in opened.first and rest[-1] == b"data: [DONE]\n\n"
    assert b'"content":"hi"' in rest[0]


def test_the_bill_adds_what_a_rejected_draft_cost() -> None:
    h, clock, *_ = setup()
    walk = walk_of(h, clock)
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=0)
    walk.trace.tier = "large"
    bill = walk.end(usage)  # the request's end: recorded once, billed
    assert bill.cost_usd == pytest.approx(1.0)
    assert bill.elsewhere_usd == 0.0
    walk = walk_of(h, clock)
    walk.trace.tier = "large"
    walk.trace.draft = Spent("small", "a", usage, Bill(0.25, 0.0))
    assert walk.end(usage).elsewhere_usd == pytest.approx(0.25)


def a() -> FakeBackend:
    return FakeBackend("a")


def test_exhausted_names_every_backend_and_picks_the_status() -> None:
    b = FakeBackend("b")
    assert exhausted("r", []).code == "no_backend"
    one = UpstreamError("boom", code="upstream_error")
    assert exhausted("r", [(a(), one)]) is one
    timeouts = exhausted("r", [(a(), UpstreamTimeout("t1")), (b, UpstreamTimeout("t2"))])
    assert isinstance(timeouts, UpstreamTimeout) and timeouts.code == "all_backends_timed_out"
    assert "a: t1" in timeouts.message and "b: t2" in timeouts.message
    full = exhausted(
        "r",
        [
            (a(), UpstreamUnavailable("full", headers={"retry-after": "9"})),
            (b, UpstreamUnavailable("full", headers={"retry-after": "2"})),
        ],
    )
    assert isinstance(full, UpstreamUnavailable) and full.headers["retry-after"] == "2"
    mixed = exhausted("r", [(a(), UpstreamTimeout("t")), (b, UpstreamUnavailable("u"))])
    assert type(mixed) is UpstreamError and mixed.code == "all_backends_failed"


async def test_a_timeout_moves_on_to_the_next_candidate_and_is_retried_only_on_the_last() -> None:
    """A backend that did not answer in time (a first-token or read timeout: a hung process) is not
    waited for twice while another candidate remains: with a 60 s first-token deadline, a lone hung
    replica held each streamed request 120 s before its hosted fallback answered. Other failures
    are still retried there; the last candidate gets its retry, a timeout included."""
    routes = ROUTES.replace("retry: {attempts: 1}", "retry: {attempts: 2, backoff_ms: 0}").replace(
        "breaker: {consecutive_failures: 1}", "breaker: {consecutive_failures: 5}"
    )
    clock = Clock()
    h = Harness.build(routes, {n: FakeBackend(n) for n in "abc"}, clock=clock)
    a, _, c = h.backends.values()

    def timeout() -> Step:
        return Step.fail(UpstreamTimeout("Backend 'a' sent nothing in time.", code="upstream_timeout"))

    a.script(timeout())
    walk = walk_of(h, clock)
    answer = await walk.run([(a, "small"), (c, "large")], PLAIN)
    assert answer.backend.name == "c" and len(a.calls) == 1
    assert walk.trace.fallbacks == ["upstream_timeout"]

    a.calls.clear()
    a.script(Step.fail(UpstreamError("a broke", code="upstream_error")))
    walk = walk_of(h, clock)
    assert (await walk.run([(a, "small"), (c, "large")], PLAIN)).backend.name == "a"
    assert len(a.calls) == 2  # a 502 is retried on the same backend first

    a.calls.clear()
    a.script(timeout())
    walk = walk_of(h, clock)
    assert (await walk.run([(a, "small")], PLAIN)).backend.name == "a"
    assert len(a.calls) == 2  # the last candidate: its timeout is retried


async def test_a_probe_of_a_backend_that_hangs_gives_way_to_the_next_candidate() -> None:
    """A half-open backend that accepts and never answers (a hung process) holds the request at most a
    few of its recent p95s (at least PROBE_FLOOR_S), then the next candidate answers and the breaker
    hears the probe failed. The last candidate is waited for as long as the request may take."""
    from gateway.dispatch.walk import PROBE_FLOOR_S

    h, clock, a, _, c = setup()
    for _ in range(64):  # a's recent answers took 10 ms: its p95
        h.snapshot.book.answered("a", clock(), 0.01, 5)
    breakers = h.snapshot.guard.breakers
    breakers.failure("a", clock())  # ejected (consecutive_failures: 1)
    clock.t += 60  # past the ejection: half-open
    a.script(Step.hanging())
    walk = walk_of(h, clock)
    t0 = asyncio.get_running_loop().time()
    answer = await walk.run([(a, "small"), (c, "large")], PLAIN)  # the next tier (not hedged to)
    waited = asyncio.get_running_loop().time() - t0
    assert answer.backend.name == "c" and walk.trace.fallbacks == ["upstream_timeout"]
    assert PROBE_FLOOR_S - 0.05 <= waited < PROBE_FLOOR_S + 1.0
    assert not breakers.allows("a", clock())  # the probe failed: ejected again
    # The same backend as the only candidate left: no bound but the request's own deadline.
    clock.t += 600
    a.script(Step.hanging())
    walk = walk_of(h, clock, deadline_s=30.0)
    task = asyncio.create_task(walk.run([(a, "small")], PLAIN))
    await asyncio.sleep(PROBE_FLOOR_S + 0.3)
    assert not task.done()
    a.released.set()
    assert (await task).backend.name == "a"


async def test_a_stream_on_a_backend_gone_silent_gives_way_to_the_next_candidate() -> None:
    """A backend that has sent nothing while a stream waited there for as long as the planner takes for
    a hang (routing/board.py: SILENT_TAILS times its p95, at least `breaker.silent_s`, and more for a
    long prompt) is left for the next candidate, long before the first-token deadline, and ejected at
    once. The last candidate is not, nor a backend not judged by its silence (KindSpec.may_hang), nor
    a plain answer (silent for as long as it is long) unless its engine's counters tell writing from
    hanging (vLLM's metrics)."""
    floor, per_ktok = 0.3, 0.05
    unjudged = ROUTES.replace(
        "breaker: {consecutive_failures: 1}",
        f"breaker: {{consecutive_failures: 5, silent_s: {floor}, silent_s_per_ktok: {per_ktok}}}",
    )
    # `a` is a server of our own (an `openai` backend is not judged by its silence unless it says so:
    # it may be a hosted API whose reasoning models think for a minute before their first token).
    judged = unjudged.replace(
        "model: m}\n      - {name: b", "model: m, judge_silence: true}\n      - {name: b"
    )
    assert judged != unjudged
    loop = asyncio.get_running_loop()

    async def waited(
        text: str,
        *,
        stream: bool = True,
        last: bool = False,
        judge: bool = True,
        lag: float | None = None,
        working: bool = False,
        quiet: bool = False,
    ) -> tuple[str, float, Walk, Harness]:
        fakes = {n: FakeBackend(n) for n in "abc"}
        fakes["a"].lag = lag  # its engine's counters tell (vLLM's metrics), this late

        async def counters_move() -> None:  # an engine writing a long plain answer
            while True:
                fakes["a"].progressed_at = loop.time()
                await asyncio.sleep(0.05)

        async def metrics_go_quiet() -> None:  # stale: its counters tell nothing now
            await asyncio.sleep(0.2)
            fakes["a"].lag = None

        mover = asyncio.create_task(counters_move()) if working else None
        if quiet:
            mover = asyncio.create_task(metrics_go_quiet())
        h = Harness.build(judged if judge else unjudged, fakes, clock=loop.time)
        a, _, c = h.backends.values()
        for _ in range(64):  # a's answers came in 10 ms: 4 x its p95 is sooner than the floor
            h.snapshot.book.first_chunk("a", loop.time(), 0.01)
            h.snapshot.book.answered("a", loop.time(), 0.01, 5)
        a.script(Step.hanging())
        call = chat_call("small", text, stream=stream)
        decision = h.dispatcher.decide(call.view)
        walk = Walk(
            h.snapshot, h.dispatcher.recorder, loop.time, decision, call, Trace("small"), loop.time() + 2.5
        )
        t0 = loop.time()
        pairs = [(a, "small")] if last else [(a, "small"), (c, "large")]
        try:
            answer = await walk.run(pairs, STREAMED if stream else PLAIN)
            name = answer.backend.name
        except UpstreamTimeout:
            name = "-"
        finally:
            if mover is not None:
                mover.cancel()
        return name, loop.time() - t0, walk, h

    name, took, walk, h = await waited("hi")
    assert name == "c" and floor - 0.02 < took < floor + 0.25, took
    assert walk.trace.fallbacks == ["upstream_silent"] and h.backends["a"].cancelled == 1
    assert h.snapshot.flight.lives["a"].waiting == 0  # its slot given back
    assert not h.snapshot.guard.breakers.allows("a", loop.time())  # ejected at the first hang
    name, took, _, _ = await waited("word " * 3200)  # 16k bytes: 4k tokens, 0.2 s more to read it
    assert name == "c" and floor + 0.18 < took < floor + 0.45, took
    name, took, _, _ = await waited("hi", stream=False)  # plain: waited for to the deadline
    assert name == "-" and took > 2.4
    # ... unless its engine's counters tell writing from hanging: still for `lag` longer, given up
    name, took, walk, h = await waited("hi", stream=False, lag=0.4)
    assert name == "c" and floor + 0.38 < took < floor + 0.65, took
    assert walk.trace.fallbacks == ["upstream_silent"] and not h.snapshot.guard.breakers.allows(
        "a", loop.time()
    )
    name, took, _, _ = await waited("hi", stream=False, lag=0.4, working=True)  # moving: writing
    assert name == "-" and took > 2.4
    name, took, _, _ = await waited("hi", stream=False, lag=0.4, quiet=True)  # can no longer tell
    assert name == "-" and took > 2.4
    name, took, _, _ = await waited("hi", last=True)  # nothing after it: waited for to the deadline
    assert name == "-" and took > 2.4
    name, took, _, _ = await waited("hi", judge=False)  # not a server of our own: its bound
    assert name == "-" and took > 2.4
