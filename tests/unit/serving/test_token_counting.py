"""Token counting for the backend the route would choose now (dispatch's count_tokens and the serving
helper every API's counting endpoint uses): the first candidate, its form of the request, its count."""

from __future__ import annotations

import pytest

from gateway.backends.base import Call as BaseCall
from gateway.errors import InvalidRequest
from gateway.protocol import Call, chat_view, responses_view
from gateway.protocol.tokens import TokenCount
from gateway.serving.tokens import TokenCounting
from gateway.testing.fake_backend import FakeBackend
from gateway.testing.harness import Harness, chat_call

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{name: local, kind: openai, base_url: "http://a.invalid/v1", model: m}]
  large:
    price: {input_per_mtok: 1.0, output_per_mtok: 2.0}
    backends: [{name: hosted, kind: openai, base_url: "http://b.invalid/v1", model: big}]
breaker: {consecutive_failures: 1}
routes:
  - {model: small, tier: small, fallback: [large]}
  - {model: large, tier: large}
"""


class Counting(FakeBackend):
    """A backend with a tokenizer at hand: counts exactly (what the embedded model does)."""

    async def count_tokens(self, call: BaseCall) -> TokenCount:
        self.calls.append(call)
        return TokenCount(42, exact=True)


def harness() -> Harness:
    return Harness.build(ROUTES, {"local": Counting("local"), "hosted": FakeBackend("hosted")})


async def test_the_first_candidate_counts_exactly_and_the_headers_say_so() -> None:
    h = harness()
    tally = await TokenCounting(h.dispatcher).count(chat_call("small", "hello"), h.admitted())
    assert (tally.tokens, tally.exact) == (42, True)
    assert tally.headers == {
        "x-gateway-route": "small",
        "x-gateway-tier": "small",
        "x-gateway-backend": "local",
        "x-gateway-token-count": "exact",
    }
    assert not h.backends["hosted"].calls  # nothing generated anywhere


async def test_a_backend_without_a_tokenizer_gives_the_views_estimate() -> None:
    h = harness()
    call = chat_call("large", "hello " * 100)
    tally = await TokenCounting(h.dispatcher).count(call, h.admitted())
    assert (tally.tokens, tally.exact) == (call.view.prompt_tokens, False)
    assert tally.headers["x-gateway-token-count"] == "estimate"


async def test_an_ejected_backend_is_not_the_one_counted_for() -> None:
    h = harness()
    h.snapshot.guard.breakers.failure("local", h.dispatcher.now())  # ejected: the walk tries it last
    counted = await h.dispatcher.count_tokens(chat_call("small"))
    assert counted.backend.name == "hosted" and counted.tier == "large"


async def test_a_translated_request_is_counted_in_the_form_the_backend_gets() -> None:
    h = harness()
    chat = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}
    raw = {"model": "small", "input": "hi"}
    call = Call(
        responses_view(raw, [], 10), raw, chat=Call(chat_view(chat, 10), chat), hosted=("web_search",)
    )
    await h.dispatcher.count_tokens(call)
    assert h.backends["local"].calls[-1].endpoint == "chat"
    with pytest.raises(InvalidRequest, match="web_search"):  # the tool rule applies as for a request
        await h.dispatcher.count_tokens(Call(call.view, raw, needs="tool_choice 'web_search'"))
