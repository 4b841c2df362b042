"""The cascade end to end: the official openai client against the gateway as a real server, the
embedded SmolLM2 drafting (with its token log-probabilities), a fake hosted tier escalated to.
Which way each route goes is fixed by its threshold: 0 accepts every draft, 1 rejects every draft."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, start_gateway

pytestmark = pytest.mark.model

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    price: {{input_per_mtok: 1, output_per_mtok: 1}}
    backends: [{{name: smollm2, kind: llamacpp, model: SmolLM2-135M-Instruct, n_ctx: 1024, queue_size: 4}}]
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: hosted, kind: openai, base_url: "{large}", model: hosted-model}}]
  broken:
    backends: [{{name: broken, kind: openai, base_url: "{broken}", model: broken-model}}]
retry: {{attempts: 1}}
routes:
  - {{model: accept, policy: cascade, draft: small, escalate: [large], verify: {{min_confidence: 0}}}}
  - {{model: reject, policy: cascade, draft: small, escalate: [large], verify: {{min_confidence: 1}}}}
  - {{model: sampled, policy: cascade, draft: small, escalate: [large],
      verify: {{samples: 3, min_confidence: 0}}}}
  - {{model: never-draft, policy: cascade, draft: small, escalate: [large], skip_draft_above: 0}}
  - {{model: broken-draft, policy: cascade, draft: broken, escalate: [large], verify: {{min_confidence: 0}}}}
"""
ASK = [{"role": "user", "content": "What is 2 + 2? Answer with the number only."}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    large = FakeUpstream(model="hosted-model", reply="The large tier says 4.")
    broken = FakeUpstream(model="broken-model")
    broken.set(mode="error", status=500)
    for f in (large, broken):
        f.start_in_thread()
    g = start_gateway(
        tmp_path_factory.mktemp("cascade"), ROUTES.format(large=large.base_url, broken=broken.base_url)
    )
    yield g
    stop(g.proc)
    for f in (large, broken):
        f.stop_thread()


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=120)


@pytest.mark.parametrize("stream", [False, True])
def test_an_accepted_draft_is_the_embedded_models_answer(gw: Gateway, stream: bool) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(
        model="accept",
        messages=ASK,
        max_tokens=8,
        stream=stream,  # type: ignore[call-overload]
    )
    h = raw.headers
    assert (h["x-gateway-cascade"], h["x-gateway-tier"], h["x-gateway-backend"]) == (
        "accepted",
        "small",
        "smollm2",
    )
    assert 0 <= float(h["x-gateway-confidence"]) <= 1
    if stream:
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        reply = raw.parse()
        assert len(reply.choices) == 1 and reply.choices[0].logprobs is None  # internal, not asked for
        text = reply.choices[0].message.content or ""
        assert float(h["x-gateway-cost-usd"]) > 0  # the draft's tokens, at the small tier's price
    assert text


def test_a_client_that_asks_for_logprobs_gets_the_drafts(gw: Gateway) -> None:
    reply = client(gw).chat.completions.create(model="accept", messages=ASK, max_tokens=4, logprobs=True)
    assert reply.choices[0].logprobs is not None
    values = [t.logprob for t in reply.choices[0].logprobs.content or []]
    assert values and all(v <= 0 for v in values)


@pytest.mark.parametrize("stream", [False, True])
def test_a_rejected_draft_escalates_and_only_the_next_tier_answers(gw: Gateway, stream: bool) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(
        model="reject",
        messages=ASK,
        max_tokens=8,
        stream=stream,  # type: ignore[call-overload]
    )
    h = raw.headers
    assert (h["x-gateway-cascade"], h["x-gateway-tier"], h["x-gateway-backend"]) == (
        "escalated",
        "large",
        "hosted",
    )
    assert h["x-gateway-reason"] == "cascade;escalated"
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        text = raw.parse().choices[0].message.content or ""
        # The hosted answer (7 + 6 tokens at $2.5 / $10 per million) plus the draft's tokens.
        assert float(h["x-gateway-cost-usd"]) > (7 * 2.5 + 6 * 10) / 1e6
    assert text == "The large tier says 4."


def test_three_samples_are_drafted_and_one_answer_returned(gw: Gateway) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(model="sampled", messages=ASK, max_tokens=6)
    assert raw.headers["x-gateway-cascade"] == "accepted"
    assert len(raw.parse().choices) == 1


def test_skipped_drafts_route_as_auto(gw: Gateway) -> None:
    c = client(gw)
    # skip_draft_above: 0 skips whatever scores above 0 (a question as short as ASK rounds to 0.0000)
    proof = [{"role": "user", "content": "Prove that there are infinitely many primes of the form 4k+3."}]
    skipped = c.chat.completions.with_raw_response.create(model="never-draft", messages=proof, max_tokens=4)
    assert skipped.headers["x-gateway-cascade"] == "skipped"
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    with_tools = c.chat.completions.with_raw_response.create(
        model="accept",
        messages=ASK,
        max_tokens=4,
        tools=tools,  # type: ignore[arg-type]
    )
    assert with_tools.headers["x-gateway-cascade"] == "skipped"
    budget = c.chat.completions.with_raw_response.create(
        model="reject", messages=ASK, max_tokens=4, extra_headers={"x-latency-budget-ms": "5"}
    )
    assert budget.headers["x-gateway-cascade"] == "skipped"


def test_a_failing_draft_tier_escalates(gw: Gateway) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(model="broken-draft", messages=ASK)
    assert (raw.headers["x-gateway-cascade"], raw.headers["x-gateway-tier"]) == ("escalated", "large")


def test_cascade_metrics(gw: Gateway) -> None:
    client(gw).chat.completions.create(model="accept", messages=ASK, max_tokens=2)
    text = httpx.get(gw.url + "/metrics").text
    assert 'gateway_cascade_total{result="accepted",route="accept"}' in text
    assert 'gateway_cascade_confidence_count{route="accept"}' in text
    assert 'gateway_cascade_draft_cost_usd_total{route="reject"}' in text


def test_explain_judges_a_draft_as_replay_does(gw: Gateway) -> None:
    body = {
        "request": {"model": "reject", "messages": ASK},
        "draft": {"content": "4", "finish_reason": "stop"},
    }
    explained = httpx.post(gw.v1 + "/route/explain", json=body)
    assert explained.status_code == 200
    out = explained.json()
    assert out["route"] == "reject" and out["reason"] == "cascade"
    assert 0 <= out["confidence"] <= 1 and out["decision"] == "escalate"  # min_confidence 1
    bad = httpx.post(gw.v1 + "/route/explain", json={**body, "draft": {"content": None}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "draft"
