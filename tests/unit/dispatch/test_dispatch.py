"""Dispatch in-process: the real planner, walk, strategies and recorder around scripted fake backends.

Fallback order, the request deadline, in-flight accounting, and streams that fail before and after
their first byte, with exact samples read from the harness's own registry. No servers, no sleeps.
"""

from __future__ import annotations

import asyncio
import gc

import pytest

from gateway.errors import (
    StreamInterrupted,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.resilience.breaker import State
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
  - {model: auto, policy: auto}
"""


def harness(**kw: float) -> Harness:
    backends = {n: FakeBackend(n) for n in "abc"}
    return Harness.build(ROUTES, backends, **kw)


def requests(h: Harness, backend: str, outcome: str, tier: str = "small") -> float:
    return h.sample(
        "gateway_requests_total", route="small", tier=tier, backend=backend, endpoint="chat", outcome=outcome
    )


async def test_plain_falls_back_in_plan_order() -> None:
    h = harness()
    a, b, c = h.backends.values()
    a.script(Step.fail(UpstreamError("a broke", code="upstream_error")))
    b.script(Step.fail(UpstreamUnavailable("b is full", code="queue_full")))
    served = await h.dispatcher.complete(chat_call("small"))
    assert (served.backend.name, served.tier) == ("c", "large")
    assert [len(x.calls) for x in (a, b, c)] == [1, 1, 1]
    assert h.sample("gateway_fallbacks_total", route="small", cause="upstream_error") == 1
    assert h.sample("gateway_fallbacks_total", route="small", cause="queue_full") == 1
    assert requests(h, "c", "ok", tier="large") == 1
    assert h.sample("gateway_tokens_total", tier="large", backend="c", type="output") == 2  # "fake answer"
    assert served.cost_usd == pytest.approx((5 * 1.0 + 2 * 2.0) / 1e6)


async def test_a_request_the_backend_refused_does_not_move_on() -> None:
    h = harness()
    a, b, _ = h.backends.values()
    a.script(Step.fail(UpstreamRejected("context too long", code="upstream_rejected")))
    with pytest.raises(UpstreamRejected):
        await h.dispatcher.complete(chat_call("small"))
    assert not b.calls
    assert requests(h, "a", "client_error") == 1


async def test_all_failing_gives_one_error_naming_each_backend() -> None:
    h = harness()
    for x in h.backends.values():
        x.script(Step.fail(UpstreamUnavailable(f"{x.name} is full", headers={"retry-after": "3"})))
    with pytest.raises(UpstreamUnavailable) as info:
        await h.dispatcher.complete(chat_call("small"))
    assert info.value.code == "all_backends_unavailable"
    assert all(f"{n}: {n} is full" in info.value.message for n in "abc")
    assert info.value.headers == {"retry-after": "3"}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_hung_backend_runs_into_the_request_deadline(stream: bool) -> None:
    h = harness(request_timeout_s=0.05)
    h.backends["a"].script(Step.hanging())
    work = h.dispatcher.stream if stream else h.dispatcher.complete
    with pytest.raises(UpstreamTimeout):
        await work(chat_call("small", stream=stream))
    assert not h.backends["b"].calls  # the deadline is the request's, not the attempt's
    assert requests(h, "a", "timeout") == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_a_deadline_that_passed_before_any_attempt_is_a_504(stream: bool) -> None:
    h = harness(request_timeout_s=0.0)
    work = h.dispatcher.stream if stream else h.dispatcher.complete
    with pytest.raises(UpstreamTimeout) as info:
        await work(chat_call("small", stream=stream))
    assert info.value.status == 504
    assert not any(x.calls for x in h.backends.values())


async def test_a_plain_call_is_in_flight_from_its_attempt_to_its_answer() -> None:
    h = harness()
    a = h.backends["a"]
    a.script(Step.hanging())
    task = asyncio.create_task(h.dispatcher.complete(chat_call("small")))
    await a.arrived.wait()
    assert h.dispatcher.in_flight("a") == 1
    a.release()
    await task
    assert h.dispatcher.in_flight("a") == 0


async def test_a_stream_is_in_flight_before_its_first_chunk_and_until_its_end() -> None:
    h = harness()
    a = h.backends["a"]
    # Both measured, as a replica never measured takes one request at a time; b first, so that a,
    # measured from b's estimate (replicas are alike until measured), is no slower and goes first.
    for name in "ba":
        h.snapshot.book.answered(name, h.dispatcher.now(), 0.01, 5)
    a.script(Step.hanging())
    task = asyncio.create_task(h.dispatcher.stream(chat_call("small", stream=True)))
    await a.arrived.wait()
    assert h.dispatcher.in_flight("a") == 1  # waiting for its first token, and visible to the planner
    # The planner ranks alike replicas by what they have outstanding: b goes first now.
    plan = h.dispatcher.decide(chat_call("small").view).plan
    assert [c.backend for c in plan.candidates][:2] == ["b", "a"]
    a.release()
    served = await task
    assert h.dispatcher.in_flight("a") == 1  # committed, not finished
    chunks = [c async for c in served.chunks]
    assert chunks[-1] == b"data: [DONE]\n\n"
    assert h.dispatcher.in_flight("a") == 0
    assert requests(h, "a", "ok") == 1


async def test_a_stream_flowing_is_news_for_the_attempts_waiting_on_its_backend() -> None:
    """Each chunk relayed says its backend answers: an attempt waiting there is queued behind a busy
    backend, not held by a hung one (routing/board.py takes a backend silent too long for hung).
    Before, only first chunks, plain answers and streams' ends were news: a backend busy with long
    streams, its next requests queued, read as silent."""
    t = [1000.0]
    h = harness(clock=lambda: t[0])
    for name in "ab":
        h.backends[name].script(Step(text="one two three four five"))
        h.snapshot.book.answered(name, t[0], 0.01, 5)
    served = await h.dispatcher.stream(chat_call("small", stream=True))
    name = served.backend.name
    waiting = h.snapshot.flight.enter(name, t[0], whole=False)  # another request, queued there
    live = h.snapshot.flight.lives[name]
    heard = []
    async for _ in served.chunks:
        t[0] += 1.0
        heard.append(live.silent_since)
    assert live.silent_since >= 1004.0 and heard[:3] == [1000.0, 1001.0, 1002.0], heard
    waiting.release()


async def test_a_stream_failing_before_its_first_byte_falls_back() -> None:
    h = harness()
    a, b, _ = h.backends.values()
    a.script(Step.fail(UpstreamError("a refused", code="upstream_unreachable")))
    served = await h.dispatcher.stream(chat_call("small", stream=True))
    assert served.backend is b
    body = b"".join([c async for c in served.chunks])
    assert b'"fake"' in body
    assert body.endswith(b"data: [DONE]\n\n")
    assert h.dispatcher.in_flight("a") == h.dispatcher.in_flight("b") == 0
    assert h.sample("gateway_fallbacks_total", route="small", cause="upstream_unreachable") == 1
    assert h.snapshot.guard.breakers.state("a", h.dispatcher.now()) is State.OPEN


async def test_a_stream_failing_after_its_first_byte_ends_in_band_without_fallback() -> None:
    h = harness()
    a, b, _ = h.backends.values()
    a.script(Step.cut(after=2))
    served = await h.dispatcher.stream(chat_call("small", stream=True))
    got: list[bytes] = []

    async def read() -> None:
        async for chunk in served.chunks:
            got.append(chunk)

    with pytest.raises(StreamInterrupted):
        await read()
    assert len(got) == 2
    assert not b.calls
    assert h.dispatcher.in_flight("a") == 0
    assert requests(h, "a", "stream_error") == 1
    assert h.snapshot.guard.breakers.state("a", h.dispatcher.now()) is State.OPEN


async def test_a_client_leaving_mid_stream_gives_no_verdict_on_the_backend() -> None:
    h = harness()
    a = h.backends["a"]
    served = await h.dispatcher.stream(chat_call("small", stream=True))
    await anext(served.chunks)
    await served.chunks.aclose()  # type: ignore[attr-defined]
    assert a.closed == 1
    assert h.dispatcher.in_flight("a") == 0
    assert requests(h, "a", "cancelled") == 1
    assert h.snapshot.guard.breakers.state("a", h.dispatcher.now()) is State.CLOSED


async def test_a_stream_the_server_never_started_gives_its_slot_back() -> None:
    h = harness()
    served = await h.dispatcher.stream(chat_call("small", stream=True))
    assert h.dispatcher.in_flight("a") == 1
    del served
    gc.collect()
    assert h.dispatcher.in_flight("a") == 0


async def test_an_unknown_model_is_counted_without_its_name() -> None:
    h = harness()
    with pytest.raises(Exception, match="does not exist"):
        await h.dispatcher.complete(chat_call("no-such-model"))
    assert (
        h.sample(
            "gateway_requests_total",
            route="unknown",
            tier="none",
            backend="none",
            endpoint="chat",
            outcome="client_error",
        )
        == 1
    )


async def test_auto_routes_by_difficulty_and_records_the_decision() -> None:
    h = harness()
    served = await h.dispatcher.complete(chat_call("auto", "hi"))
    decision = served.decision
    assert decision.plan.difficulty is not None
    plan = decision.plan
    assert h.sample("gateway_routing_decisions_total", route="auto", tier=plan.tier, reason=plan.reason) == 1
    assert h.sample("gateway_classifier_duration_seconds_count") == 1
