"""Hedging in-process: the real walk, guard, breakers and recorder around scripted fake backends.

A hanging candidate is hedged after its delay and the hedge answers; the loser lets go of its slot and
its stream; the breaker hears of the hung one; fast answers, an empty budget, per-token tiers and
requests that must not run twice get no hedge. The tiers here cap the delay at 10 ms so that a hedge
fires at once; the backends hang until released, so who wins is decided by events, not by timing.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from gateway.dispatch.snapshot import Hedging
from gateway.dispatch.timeouts import within
from gateway.dispatch.translated import TranslatedPlain, TranslatedStreamed
from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.observability.metrics import HEDGE_RESULTS
from gateway.protocol import Call
from gateway.resilience.breaker import State
from gateway.rules import Price, RoutesFile, TierSpec
from gateway.testing.fake_backend import FakeBackend, Step
from gateway.testing.harness import Harness, chat_call

QUICK = "hedge: {floor_ms: 1, max_ms: 10}"
ROUTES = f"""
version: 1
default_tier: local
tiers:
  local:
    {QUICK}
    backends:
      - {{name: a, kind: openai, base_url: "http://a.invalid/v1", model: m}}
      - {{name: b, kind: openai, base_url: "http://b.invalid/v1", model: m}}
  calm:
    hedge: {{floor_ms: 5000}}
    backends:
      - {{name: e, kind: openai, base_url: "http://e.invalid/v1", model: m}}
      - {{name: f, kind: openai, base_url: "http://f.invalid/v1", model: m}}
  paid:
    price: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}
    {QUICK}
    backends:
      - {{name: c, kind: openai, base_url: "http://c.invalid/v1", model: m}}
      - {{name: d, kind: openai, base_url: "http://d.invalid/v1", model: m}}
  paid_hedged:
    price: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}
    hedge: {{enabled: true, floor_ms: 1, max_ms: 10}}
    backends:
      - {{name: g, kind: openai, base_url: "http://g.invalid/v1", model: m}}
      - {{name: h, kind: openai, base_url: "http://h.invalid/v1", model: m}}
retry: {{attempts: 1}}
breaker: {{consecutive_failures: 1}}
routes:
  - {{model: local, tier: local}}
  - {{model: calm, tier: calm}}
  - {{model: paid, tier: paid}}
  - {{model: paid_hedged, tier: paid_hedged}}
"""
NAMES = "abefcdgh"


def harness(request_timeout_s: float = 10.0) -> Harness:
    return Harness.build(ROUTES, {n: FakeBackend(n) for n in NAMES}, request_timeout_s=request_timeout_s)


def hedges(h: Harness, backend: str, result: str, tier: str = "local") -> float:
    return h.sample("gateway_hedges_total", tier=tier, backend=backend, result=result)


def counts(h: Harness, backend: str, tier: str = "local") -> dict[str, float]:
    return {r: hedges(h, backend, r, tier) for r in HEDGE_RESULTS}


def only(result: str | None) -> dict[str, float]:
    return {r: float(r == result) for r in HEDGE_RESULTS}


async def served_by(h: Harness, model: str, stream: bool) -> str:
    """Serve one request (a stream read to its end); the backend that answered."""
    if stream:
        served = await h.dispatcher.stream(chat_call(model, stream=True))
        body = b"".join([c async for c in served.chunks])
        assert body.endswith(b"data: [DONE]\n\n")
        return served.backend.name
    return (await h.dispatcher.complete(chat_call(model))).backend.name


@pytest.mark.parametrize("stream", [False, True])
async def test_a_hung_candidate_is_hedged_and_the_hedge_answers(stream: bool) -> None:
    h = harness()
    a, b = h.backends["a"], h.backends["b"]
    a.script(Step.hanging())
    assert await served_by(h, "local", stream) == "b"
    assert (len(a.calls), len(b.calls)) == (1, 1)
    assert a.cancelled == 1  # the hung call was cancelled: its upstream request closed
    assert h.dispatcher.in_flight("a") == h.dispatcher.in_flight("b") == 0
    # A hedge lost to a replica that never answered is a failure for outlier detection.
    now = h.dispatcher.now()
    assert h.snapshot.guard.breakers.state("a", now) is State.OPEN
    assert h.snapshot.guard.breakers.state("b", now) is State.CLOSED
    assert counts(h, "a") == only("won")
    assert counts(h, "b") == only(None)
    ok = dict(route="local", tier="local", endpoint="chat", outcome="ok")
    assert h.sample("gateway_requests_total", backend="b", **ok) == 1
    assert h.sample("gateway_requests_total", backend="a", **ok) == 0
    assert h.snapshot.guard.budget.granted == 1  # the hedge spent the retry budget
    assert h.snapshot.guard.budget.in_flight == 0  # and gave its slot back once it answered


@pytest.mark.parametrize("stream", [False, True])
async def test_when_the_original_answers_first_the_hedge_is_cancelled_without_a_verdict(stream: bool) -> None:
    h = harness()
    a, b = h.backends["a"], h.backends["b"]
    a.script(Step.hanging())
    b.script(Step.hanging())
    task = asyncio.create_task(served_by(h, "local", stream))
    await b.arrived.wait()  # the hedge went out
    assert h.dispatcher.in_flight("a") == h.dispatcher.in_flight("b") == 1
    assert h.snapshot.guard.budget.in_flight == 1  # a hedge in flight holds a slot of the budget
    a.release()
    assert await task == "a"
    assert b.cancelled == 1
    assert h.snapshot.guard.budget.in_flight == 0  # cancelled, it gave its slot back
    assert h.dispatcher.in_flight("a") == h.dispatcher.in_flight("b") == 0
    breaker = h.snapshot.guard.breakers.get("b")
    assert breaker is not None and breaker.state is State.CLOSED and not breaker.calls
    assert counts(h, "a") == only("lost")


async def test_a_candidate_failing_while_its_hedge_runs_leaves_the_hedge_to_answer() -> None:
    h = harness()
    a, b = h.backends["a"], h.backends["b"]
    a.script(Step(hang=True, error=UpstreamError("a broke", code="upstream_error")))
    b.script(Step.hanging())
    task = asyncio.create_task(h.dispatcher.complete(chat_call("local")))
    await b.arrived.wait()
    a.release()
    await asyncio.sleep(0)
    assert not task.done()
    b.release()
    served = await task
    assert served.backend.name == "b"
    assert counts(h, "a") == only("won")
    assert h.sample("gateway_fallbacks_total", route="local", cause="upstream_error") == 1
    assert h.dispatcher.in_flight("a") == h.dispatcher.in_flight("b") == 0


async def test_both_failing_gives_one_error_naming_both() -> None:
    h = harness()
    a, b = h.backends["a"], h.backends["b"]
    a.script(Step(hang=True, error=UpstreamError("a broke", code="upstream_error")))
    b.script(Step.fail(UpstreamError("b broke", code="upstream_error")))
    task = asyncio.create_task(h.dispatcher.complete(chat_call("local")))
    await b.arrived.wait()
    a.release()
    with pytest.raises(UpstreamError) as info:
        await task
    assert info.value.code == "all_backends_failed"
    assert "a: a broke" in info.value.message and "b: b broke" in info.value.message
    assert counts(h, "a") == only("failed")


async def test_a_candidate_failing_before_the_delay_is_a_fallback_not_a_hedge() -> None:
    h = harness()
    a, b = h.backends["a"], h.backends["b"]
    a.script(Step.fail(UpstreamError("a broke", code="upstream_error")))
    assert (await h.dispatcher.complete(chat_call("local"))).backend is b
    assert (len(a.calls), len(b.calls)) == (1, 1)
    assert counts(h, "a") == only(None)
    assert h.sample("gateway_fallbacks_total", route="local", cause="upstream_error") == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_a_fast_candidate_is_not_hedged(stream: bool) -> None:
    h = harness()
    e, f = h.backends["e"], h.backends["f"]
    for _ in range(3):
        assert await served_by(h, "calm", stream) in ("e", "f")
    assert len(e.calls) + len(f.calls) == 3  # one call per request, nothing extra
    assert counts(h, "e", "calm") == counts(h, "f", "calm") == only(None)
    assert h.snapshot.guard.budget.granted == 0


async def test_no_hedge_when_the_retry_budget_is_spent_and_it_is_counted() -> None:
    h = harness(request_timeout_s=0.2)
    budget = h.snapshot.guard.budget
    while budget.acquire(h.dispatcher.now()):  # the floor: 3 in flight, none given back
        pass
    h.backends["a"].script(Step.hanging())
    with pytest.raises(UpstreamTimeout):
        await h.dispatcher.complete(chat_call("local"))
    assert not h.backends["b"].calls
    assert counts(h, "a") == only("denied")


async def test_no_hedge_to_a_candidate_its_breaker_keeps_out() -> None:
    h = harness(request_timeout_s=0.2)
    h.snapshot.guard.breakers.failure("b", h.dispatcher.now())  # b ejected
    h.backends["a"].script(Step.hanging())
    with pytest.raises(UpstreamTimeout):
        await h.dispatcher.complete(chat_call("local"))
    assert not h.backends["b"].calls
    assert counts(h, "a") == only(None)
    assert h.snapshot.guard.budget.granted == 0


async def test_a_tier_billed_per_token_is_not_hedged_unless_it_says_so() -> None:
    h = harness(request_timeout_s=0.2)
    h.backends["c"].script(Step.hanging())
    with pytest.raises(UpstreamTimeout):
        await h.dispatcher.complete(chat_call("paid"))
    assert not h.backends["d"].calls
    assert counts(h, "c", "paid") == only(None)

    h.backends["g"].script(Step.hanging())
    assert (await h.dispatcher.complete(chat_call("paid_hedged"))).backend.name == "h"
    assert counts(h, "g", "paid_hedged") == only("won")


@pytest.mark.parametrize(
    ("extra", "repeatable"),
    [({"store": True}, True), ({}, False)],
    ids=["store-true", "handler-says-not-repeatable"],
)
async def test_a_request_not_safe_to_repeat_is_never_hedged(extra: dict[str, Any], repeatable: bool) -> None:
    h = harness(request_timeout_s=0.2)
    h.backends["a"].script(Step.hanging())
    call = chat_call("local", **extra)
    call.repeatable = repeatable
    assert not call.hedgeable
    with pytest.raises(UpstreamTimeout):
        await h.dispatcher.complete(call)
    assert not h.backends["b"].calls
    assert counts(h, "a") == only(None)


async def test_a_client_leaving_mid_race_cancels_both_and_leaks_nothing() -> None:
    h = harness()
    a, b = h.backends["a"], h.backends["b"]
    a.script(Step.hanging())
    b.script(Step.hanging())
    task = asyncio.create_task(h.dispatcher.stream(chat_call("local", stream=True)))
    await b.arrived.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(3):  # the hedge's task unwinds on the loop's next turns
        await asyncio.sleep(0)
    assert (a.cancelled, b.cancelled) == (1, 1)
    assert h.dispatcher.in_flight("a") == h.dispatcher.in_flight("b") == 0
    assert h.snapshot.guard.budget.in_flight == 0
    for name in "ab":  # no verdict on either: the client left
        breaker = h.snapshot.guard.breakers.get(name)
        assert breaker is not None and breaker.state is State.CLOSED and not breaker.calls
    assert counts(h, "a") == only(None)


async def test_every_backend_has_its_hedge_series_from_the_start() -> None:
    h = harness()
    for tier, names in (("local", "ab"), ("calm", "ef"), ("paid", "cd"), ("paid_hedged", "gh")):
        for name in names:
            for result in HEDGE_RESULTS:
                labels = {"tier": tier, "backend": name, "result": result}
                assert h.metrics.registry.get_sample_value("gateway_hedges_total", labels) == 0.0


def test_hedging_is_on_by_default_only_where_a_cancelled_call_costs_no_tokens() -> None:
    spec = {"backends": [{"name": "x", "kind": "openai", "base_url": "http://x.invalid/v1", "model": "m"}]}
    cases = [
        ({}, None, True),  # free (self-hosted, or a stand-in)
        ({"usd_per_hour": 4.0}, None, True),  # paid by the hour: a cancelled hedge costs GPU time
        ({"output_per_mtok": 0.6}, None, False),
        ({"cached_input_per_mtok": 0.1}, None, False),
        ({"output_per_mtok": 0.6, "usd_per_hour": 4.0}, None, False),  # still billed per token
        ({"output_per_mtok": 0.6}, True, True),
        ({}, False, False),
    ]
    for price, enabled, hedged in cases:
        tier = TierSpec.model_validate({**spec, "price": Price(**price), "hedge": {"enabled": enabled}})
        assert tier.hedged is hedged, (price, enabled)
        assert (Hedging.of(tier) is not None) is hedged


@pytest.mark.parametrize(
    ("hedge", "message"),
    [
        ({"factor": 0.5}, "greater than or equal to 1"),
        ({"floor_ms": 0}, "greater than 0"),
        ({"floor_ms": 100, "max_ms": 50}, "below floor_ms"),
        ({"delay_ms": 5}, "Extra inputs are not permitted"),
    ],
)
def test_hedge_settings_are_validated(hedge: dict[str, float], message: str) -> None:
    tiers = {
        "t": {
            "hedge": hedge,
            "backends": [{"name": "x", "kind": "openai", "base_url": "http://x.invalid/v1", "model": "m"}],
        }
    }
    with pytest.raises(ValueError, match=message):
        RoutesFile.model_validate({"default_tier": "t", "tiers": tiers})


def test_the_delay_is_factor_times_p95_within_floor_and_cap() -> None:
    h = Hedging(factor=2.0, floor_s=0.05, max_s=1.0)
    assert h.delay(0.01) == 0.05
    assert h.delay(0.2) == pytest.approx(0.4)
    assert h.delay(3.0) == 1.0
    assert Hedging(2.0, 0.05).max_s == math.inf


def test_what_may_be_hedged() -> None:
    call = chat_call("local")
    assert call.hedgeable
    assert not chat_call("local", store=True).hedgeable
    assert chat_call("local", store=False).hedgeable
    native_only = Call(call.view, call.body, needs="the 'mcp' tool")
    assert not native_only.hedgeable


def test_responses_modes_are_not_hedged_yet() -> None:
    # Their translation state is one per request: two attempts at once would both write it.
    assert not TranslatedPlain.hedgeable and not TranslatedStreamed.hedgeable


async def test_a_timeout_takes_back_only_its_own_cancellation() -> None:
    task = asyncio.current_task()
    assert task is not None
    with pytest.raises(TimeoutError):
        await within(0.001, asyncio.Event().wait())
    assert task.cancelling() == 0  # as asyncio.timeout leaves it

    async def cancelled_with_the_deadline() -> None:
        me = asyncio.current_task()
        assert me is not None
        loop = asyncio.get_running_loop()
        loop.call_later(0.001, me.cancel)  # e.g. a hedge that won, in the same instant
        await within(0.001, asyncio.sleep(1))

    inner = asyncio.create_task(cancelled_with_the_deadline())
    with pytest.raises(asyncio.CancelledError):
        await inner
