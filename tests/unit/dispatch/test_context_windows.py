"""Context windows on a route mixing the embedded model (2,048 tokens) and a large-context tier (128k,
the default of `kind: openai`): the planner leaves out candidates that cannot hold the prompt and a
minimum answer, dispatch clamps the answer length to what the chosen one has left (header, decision
log), a prompt no window holds is a 400 before any backend is called, and a backend that says the
request does not fit hands it on."""

from __future__ import annotations

import math

import pytest

from gateway.errors import ContextOverflow, ContextTooLong
from gateway.observability.decision_log import DecisionLog
from gateway.routing.context import SAFETY
from gateway.serving.results import answer_headers, stream_headers
from gateway.testing.fake_backend import FakeBackend, Step
from gateway.testing.harness import Harness, chat_call

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{name: smollm2, kind: llamacpp, n_ctx: 2048}]
  large:
    price: {input_per_mtok: 1.0, output_per_mtok: 2.0}
    backends: [{name: big, kind: openai, base_url: "http://b.invalid/v1", model: big}]
retry: {attempts: 1}
routes:
  - {model: auto, policy: auto}
  - {model: small, tier: small}
  - {model: roomy, tier: small, fallback: [large], min_answer_tokens: 1024}
  - {model: cascade, policy: cascade, draft: small, escalate: [large]}
"""

CLAUDE_CODE_PROMPT = "Run the tests and fix what fails. " * 1800  # ~60 kB: Claude Code's system + tools


def harness(decisions: DecisionLog | None = None) -> Harness:
    return Harness.build(
        ROUTES, {"smollm2": FakeBackend("smollm2"), "big": FakeBackend("big")}, decisions=decisions
    )


async def test_a_claude_code_sized_prompt_goes_to_the_tier_that_holds_it_its_answer_clamped() -> None:
    log = DecisionLog("-", max_bytes=1 << 20, files=1)
    h = harness(log)
    call = chat_call("auto", CLAUDE_CODE_PROMPT, max_tokens=128_000)
    served = await h.dispatcher.complete(call)
    assert served.backend.name == "big" and not h.backends["smollm2"].calls
    left = 128_000 - math.ceil(call.view.prompt_tokens * SAFETY)
    sent = h.backends["big"].calls[-1]
    assert sent.body["max_tokens"] == left == sent.view.output_tokens < 128_000
    assert call.body["max_tokens"] == 128_000  # the client's body is never changed
    assert answer_headers(served)["x-gateway-max-tokens"] == str(left)
    assert log._queue[-1].max_tokens == left  # type: ignore[attr-defined]
    assert any("context: smollm2 (window 2,048)" in r for r in served.decision.plan.reasons)


async def test_a_small_prompt_stays_on_the_embedded_model_unclamped() -> None:
    h = harness()
    served = await h.dispatcher.complete(chat_call("auto", "What is 2 + 2?", max_tokens=64))
    assert served.backend.name == "smollm2" and served.trace.max_tokens is None
    assert "x-gateway-max-tokens" not in answer_headers(served)
    # Asking for more than the window holds is clamped there too, without estimating the prompt.
    served = await h.dispatcher.complete(chat_call("small", "Hi", max_tokens=128_000))
    assert h.backends["smollm2"].calls[-1].body["max_tokens"] == served.trace.max_tokens < 2048


async def test_a_prompt_no_window_holds_is_a_400_before_any_backend_is_called() -> None:
    h = harness()
    with pytest.raises(ContextTooLong) as info:
        await h.dispatcher.complete(chat_call("small", CLAUDE_CODE_PROMPT))
    assert info.value.status == 400 and info.value.code == "context_length_exceeded"
    assert info.value.message == f"prompt is too long: {info.value.tokens} tokens > {2048 - 256} maximum"
    assert not h.backends["smollm2"].calls
    assert (
        h.sample(
            "gateway_requests_total",
            route="small",
            tier="none",
            backend="none",
            endpoint="chat",
            outcome="client_error",
        )
        == 1
    )


async def test_the_minimum_answer_is_the_routes_and_the_stream_says_the_clamp_too() -> None:
    h = harness()
    # ~1,200 prompt tokens: leaves more than 256 on the embedded model, less than the route's 1,024.
    prompt = "word " * 850
    served = await h.dispatcher.stream(chat_call("roomy", prompt, stream=True, max_tokens=199_500))
    assert served.backend.name == "big" and stream_headers(served)["x-gateway-max-tokens"]
    async for _ in served.chunks:
        pass
    served = await h.dispatcher.complete(chat_call("auto", prompt, max_tokens=4000))
    assert served.backend.name == "smollm2"
    assert served.trace.max_tokens is not None and 256 <= served.trace.max_tokens < 1024


async def test_a_cascade_whose_draft_tier_cannot_hold_the_prompt_routes_as_its_escalation() -> None:
    h = harness()
    served = await h.dispatcher.complete(chat_call("cascade", CLAUDE_CODE_PROMPT, max_tokens=1000))
    assert served.backend.name == "big" and served.trace.cascade == "skipped"
    assert served.decision.skipped == "the draft tier's context window cannot hold the prompt"


async def test_a_backend_whose_window_is_short_after_all_hands_the_request_on() -> None:
    h = harness()
    h.backends["smollm2"].script(
        Step.fail(ContextOverflow("Requested tokens (2100) exceed context window of 2048", code="x"))
    )
    served = await h.dispatcher.complete(chat_call("auto", "word " * 1000, max_tokens=100))
    assert [c.backend for c in served.decision.plan.candidates][:1] == ["smollm2"]
    assert served.backend.name == "big" and len(h.backends["smollm2"].calls) == 1


async def test_counting_a_prompt_too_long_for_every_window_counts_it_for_the_largest() -> None:
    h = harness()
    counted = await h.dispatcher.count_tokens(chat_call("roomy", CLAUDE_CODE_PROMPT * 16))
    assert counted.backend.name == "big" and counted.count.tokens > 100_000
