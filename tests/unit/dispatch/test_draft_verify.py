"""The cascade in-process: the real policy, strategy, verifier and recorder around fake tiers.

Deterministic by threshold: `min_confidence: 0` accepts every draft, `1` rejects every draft (the
verifier's confidence is a calibrated probability, never 1). The end-to-end tests through the openai
client, with the embedded model drafting, are in test_cascade_live.py.
"""

from __future__ import annotations

import json

import pytest

from gateway.errors import UpstreamError
from gateway.routing.decision import Hints
from gateway.serving.results import route_headers
from gateway.testing.fake_backend import FakeBackend, Step
from gateway.testing.harness import Harness, chat_call

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.1}}
    backends: [{{name: draft, kind: openai, base_url: "http://d.x/v1", model: d, ttft_ms: 50, tpot_ms: 10}}]
  medium:
    price: {{input_per_mtok: 1, output_per_mtok: 1}}
    backends: [{{name: mid, kind: openai, base_url: "http://m.x/v1", model: m, ttft_ms: 100, tpot_ms: 20}}]
  large:
    price: {{input_per_mtok: 10, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "http://b.x/v1", model: b, ttft_ms: 300, tpot_ms: 20}}]
retry: {{attempts: 1}}
routes:
  - {{model: cascade, policy: cascade, draft: small, escalate: [medium, large], skip_draft_above: {skip},
      verify: {{samples: {samples}, min_confidence: {threshold}}}, expected_output_tokens: 20}}
  - {{model: always, policy: cascade, draft: small, escalate: [large], cascade: always,
      verify: {{min_confidence: 0}}}}
"""


def harness(threshold: float, samples: int = 1, skip: float = 1.0) -> Harness:
    routes = ROUTES.format(threshold=threshold, samples=samples, skip=skip)
    return Harness.build(routes, {n: FakeBackend(n) for n in ("draft", "mid", "big")})


def cascades(h: Harness, result: str, route: str = "cascade") -> float:
    return h.sample("gateway_cascade_total", route=route, result=result)


async def test_an_accepted_draft_is_the_answer_in_one_choice_without_logprobs() -> None:
    h = harness(threshold=0.0, samples=3)
    draft = h.backends["draft"]
    served = await h.dispatcher.complete(chat_call("cascade", "What is 2 + 2?"))
    assert served.backend.name == "draft" and served.trace.cascade == "accepted"
    first, votes = (c.body for c in draft.calls)  # the first draft, and beside it the other samples
    assert first["logprobs"] is True and "stream" not in first and "n" not in first  # whole, internally
    assert "temperature" not in first  # the request's own (greedy by default)
    assert votes["n"] == 2 and votes["temperature"] == 0.7 and votes["logprobs"] is True
    body = json.loads(served.reply.content)
    assert len(body["choices"]) == 1 and body["choices"][0]["index"] == 0
    assert body["choices"][0]["logprobs"] is None  # the client did not ask for them
    assert not h.backends["mid"].calls and not h.backends["big"].calls
    headers = route_headers(served)
    assert headers["x-gateway-cascade"] == "accepted" and 0 <= float(headers["x-gateway-confidence"]) <= 1
    assert cascades(h, "accepted") == 1 and cascades(h, "escalated") == 0
    assert h.sample("gateway_cascade_confidence_count", route="cascade") == 1
    assert h.sample("gateway_cascade_draft_cost_usd_total", route="cascade") == pytest.approx(served.cost_usd)


async def test_a_rejected_draft_escalates_and_the_client_gets_only_the_next_tier() -> None:
    h = harness(threshold=1.0)
    h.backends["draft"].script(Step.ok("four"))
    h.backends["mid"].script(Step.ok("the medium tier says four"))
    served = await h.dispatcher.complete(chat_call("cascade", "What is 2 + 2?"))
    assert (served.backend.name, served.tier, served.trace.cascade) == ("mid", "medium", "escalated")
    assert json.loads(served.reply.content)["choices"][0]["message"]["content"] == "the medium tier says four"
    assert route_headers(served)["x-gateway-reason"] == "cascade;escalated"
    # Billed: the draft (5 + 1 tokens at $0.1/M) on its tier, the answer (5 + 5 at $1/M) on its own.
    draft_usd, answer_usd = 6 * 0.1e-6, 10 * 1e-6
    assert served.cost_usd == pytest.approx(draft_usd + answer_usd)
    assert h.sample("gateway_cost_usd_total", tier="small", backend="draft") == pytest.approx(draft_usd)
    assert h.sample("gateway_cost_usd_total", tier="medium", backend="mid") == pytest.approx(answer_usd)
    # Savings against always-large (10 tokens at $10/M), net of both.
    assert h.sample("gateway_savings_usd_total", tier="medium", backend="mid") == pytest.approx(
        10 * 10e-6 - draft_usd - answer_usd
    )
    assert h.sample("gateway_tokens_total", tier="small", backend="draft", type="output") == 1
    assert cascades(h, "escalated") == 1
    assert h.sample("gateway_cascade_draft_cost_usd_total", route="cascade") == pytest.approx(draft_usd)


async def test_a_failed_draft_escalates_and_a_failed_escalation_moves_on() -> None:
    h = harness(threshold=0.0)
    h.backends["draft"].script(Step.fail(UpstreamError("draft broke", code="upstream_error")))
    h.backends["mid"].script(Step.fail(UpstreamError("medium broke", code="upstream_error")))
    served = await h.dispatcher.complete(chat_call("cascade"))
    assert served.backend.name == "big" and served.trace.cascade == "escalated"
    assert served.trace.confidence is None  # nothing was judged


@pytest.mark.parametrize("stream", [False, True])
async def test_streaming_clients_get_the_accepted_draft_or_the_escalation_streamed(stream: bool) -> None:
    for threshold, answering in ((0.0, "draft"), (1.0, "mid")):
        h = harness(threshold=threshold)
        call = chat_call("cascade", stream=True, stream_options={"include_usage": True})
        served = await h.dispatcher.stream(call)
        chunks = [c async for c in served.chunks]
        assert served.backend.name == answering
        assert chunks[-1] == b"data: [DONE]\n\n"
        events = [json.loads(c[6:]) for c in chunks[:-1]]
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
        assert text == "fake answer"
        assert events[-1]["usage"]["prompt_tokens"] == 5
        assert h.dispatcher.in_flight(answering) == 0


@pytest.mark.parametrize(
    ("call", "hints", "skip", "why"),
    [
        (
            chat_call("cascade", tools=[{"type": "function", "function": {"name": "f"}}]),
            Hints(),
            1.0,
            "tools",
        ),
        (chat_call("cascade", response_format={"type": "json_object"}), Hints(), 1.0, "JSON"),
        (chat_call("cascade", n=2), Hints(), 1.0, "several choices"),
        (chat_call("cascade"), Hints(budget_ms=200), 1.0, "budget"),
        (chat_call("cascade"), Hints(ttft_slo_ms=100), 1.0, "first-token SLO"),
        (chat_call("cascade"), Hints(), 0.0, "skip_draft_above"),
        (
            chat_call("cascade"),
            Hints(tiers=frozenset({"medium", "large"})),
            1.0,
            "may not use the draft tier",
        ),
    ],
)
async def test_a_skipped_draft_routes_as_auto_would(
    call: object, hints: Hints, skip: float, why: str
) -> None:
    h = harness(threshold=0.0, skip=skip)
    served = await h.dispatcher.complete(call, hints)  # type: ignore[arg-type]
    assert not h.backends["draft"].calls or served.tier != "small" or served.decision.skipped
    assert served.trace.cascade == "skipped"
    assert served.decision.skipped is not None and why in served.decision.skipped
    assert any(why in r for r in served.decision.plan.reasons)
    assert route_headers(served)["x-gateway-cascade"] == "skipped"
    assert cascades(h, "skipped") == 1


async def test_cascade_always_drafts_even_with_tools() -> None:
    h = harness(threshold=0.0)
    served = await h.dispatcher.complete(
        chat_call("always", tools=[{"type": "function", "function": {"name": "f"}}])
    )
    assert served.trace.cascade == "accepted" and served.backend.name == "draft"


async def test_the_budget_counts_the_draft_and_its_escalation() -> None:
    # 20 tokens by the priors: draft 250 ms, medium 500 ms, 750 ms in all. (Fresh harnesses: what the
    # fakes answer in moves the estimates.)
    fits = await harness(threshold=1.0).dispatcher.complete(chat_call("cascade"), Hints(budget_ms=800))
    assert fits.trace.cascade == "escalated"
    tight = await harness(threshold=1.0).dispatcher.complete(chat_call("cascade"), Hints(budget_ms=700))
    assert tight.trace.cascade == "skipped"
    assert tight.decision.skipped is not None and "750" not in tight.decision.skipped  # each part named
    assert "draft (250 ms) + escalation (500 ms)" in tight.decision.skipped


# ---- a family's own record settles its drafts (routing/cascade.py `settled`) ----------------------
SETTLED = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{{name: draft, kind: openai, base_url: "http://d.x/v1", model: d, ttft_ms: 50, tpot_ms: 10}}]
  large:
    price: {{input_per_mtok: 10, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "http://b.x/v1", model: b, ttft_ms: 300, tpot_ms: 20}}]
retry: {{attempts: 1}}
routes:
  - {{model: cascade, policy: cascade, draft: small, escalate: [large],
      verify: {{samples: 3, min_confidence: 0, audit: {audit}}}}}
"""


def with_family(
    monkeypatch: pytest.MonkeyPatch,
    difficulty: float,
    labels: float | None,
    family: str | None = None,
    short: float | None = None,
) -> None:
    """Plans carry this difficulty, label count and P(falls short) as a probability (`short`; None: the
    difficulty), as the family scorer gives them."""
    from dataclasses import replace

    import gateway.routing.cascade as policy
    from gateway.routing.auto import auto
    from gateway.routing.decision import Decision
    from gateway.routing.situation import Situation

    def family_auto(s: Situation) -> Decision:
        d = auto(s)
        plan = replace(d.plan, difficulty=difficulty, labels=labels, family=family, short=short)
        return replace(d, plan=plan)

    monkeypatch.setattr(policy, "auto", family_auto)


def settled_harness(audit: float) -> Harness:
    return Harness.build(SETTLED.format(audit=audit), {n: FakeBackend(n) for n in ("draft", "big")})


async def test_a_family_rarely_right_escalates_without_a_draft(monkeypatch: pytest.MonkeyPatch) -> None:
    with_family(monkeypatch, difficulty=0.98, labels=200)
    h = settled_harness(audit=0)
    served = await h.dispatcher.complete(chat_call("cascade"))
    assert not h.backends["draft"].calls and served.backend.name == "big"
    assert served.trace.cascade == "skipped" and served.decision.skipped is not None
    assert "right 2% of the time over 200 labels" in served.decision.skipped


@pytest.mark.parametrize("labels", [None, 10])
async def test_a_family_without_enough_labels_is_verified(
    monkeypatch: pytest.MonkeyPatch, labels: float | None
) -> None:
    with_family(monkeypatch, difficulty=0.98, labels=labels)
    h = settled_harness(audit=0)
    served = await h.dispatcher.complete(chat_call("cascade"))
    assert len(h.backends["draft"].calls) == 2  # the first draft and its two votes
    assert served.decision.cascade is not None and served.decision.cascade.samples == 3


async def test_a_family_nearly_always_right_drafts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with_family(monkeypatch, difficulty=0.02, labels=200)
    h = settled_harness(audit=0)
    served = await h.dispatcher.complete(chat_call("cascade"))
    assert len(h.backends["draft"].calls) == 1 and served.trace.cascade == "accepted"
    assert served.decision.cascade is not None and served.decision.cascade.samples == 1
    assert any("nearly always right" in r for r in served.decision.plan.reasons)


async def test_a_family_settles_by_its_rate_not_by_where_the_score_ranks_a_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A family right half the time, 200 labels: a request its score puts far out (0.999, long for its
    family) is still drafted and judged. The score ranks; as a probability the scorer gives `short`."""
    with_family(monkeypatch, difficulty=0.999, labels=200, short=0.5)
    h = settled_harness(audit=0)
    served = await h.dispatcher.complete(chat_call("cascade"))
    assert served.decision.skipped is None and len(h.backends["draft"].calls) == 2
    assert served.decision.cascade is not None and served.decision.cascade.samples == 3
    assert served.decision.plan.short == 0.5 and served.decision.plan.p_short == 0.5


async def test_the_verifier_weighs_a_draft_against_the_probability_not_the_rank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same draft of a family with labels (too few to settle it), its score 0.999: judged against
    P(falls short) 0.5 it is more likely right than against the score read as a probability."""
    confidence = {}
    for short in (0.5, None):
        with_family(monkeypatch, difficulty=0.999, labels=10, short=short)
        h = settled_harness(audit=0)
        served = await h.dispatcher.complete(chat_call("cascade", "What is 2 + 2?"))
        assert served.decision.cascade is not None and not served.decision.cascade.neutral_prior
        confidence[short] = served.trace.confidence
    assert confidence[0.5] is not None and confidence[None] is not None
    assert confidence[0.5] > confidence[None] + 0.1, confidence


@pytest.mark.parametrize("difficulty", [0.02, 0.98])
async def test_an_audit_verifies_a_settled_family_without_its_rate(
    monkeypatch: pytest.MonkeyPatch, difficulty: float
) -> None:
    with_family(monkeypatch, difficulty=difficulty, labels=200)
    h = settled_harness(audit=1)
    served = await h.dispatcher.complete(chat_call("cascade", "What is 2 + 2?"))
    how = served.decision.cascade
    assert how is not None and how.neutral_prior and how.samples == 3
    assert len(h.backends["draft"].calls) == 2
    assert served.trace.confidence is not None  # judged on the verifier's default prior, not the family's


async def test_the_plan_carries_the_family_and_a_fresh_gateway_judges_without_its_rate() -> None:
    """The shipped (v3) scorer's family reaches the plan with the deployment's own labels of it: none
    yet. The shipped counts are another model's, so the draft is judged on the verifier's default
    prior, not on 1 - difficulty (routing/cascade.py)."""
    from gateway.classify.scorer import default_scorer

    h = settled_harness(audit=0)
    call = chat_call("cascade", "What is 2 + 2?")
    served = await h.dispatcher.complete(call)
    plan, how = served.decision.plan, served.decision.cascade
    hit = default_scorer().family(call.view)
    assert plan.family == hit.family and plan.labels == 0.0
    assert how is not None and how.neutral_prior and how.samples == 3
    assert served.trace.confidence is not None


async def test_a_family_with_labels_of_its_own_gives_the_verifier_its_prior(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_family(monkeypatch, difficulty=0.3, labels=12, family="f3")
    h = settled_harness(audit=0)
    served = await h.dispatcher.complete(chat_call("cascade", "What is 2 + 2?"))
    how = served.decision.cascade
    assert how is not None and not how.neutral_prior
    assert served.decision.plan.family == "f3" and served.decision.plan.labels == 12
