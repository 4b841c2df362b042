"""How an OpenAI-compatible upstream's refusals become the gateway's errors: a request too long for
the model's context window is one the walk hands to the next candidate; other refusals stop it."""

from __future__ import annotations

import json

import pytest

from gateway.backends.openai_compat import status_error
from gateway.errors import ContextOverflow, UpstreamRejected


def body(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()


@pytest.mark.parametrize(
    "message",
    [
        # vLLM
        "This model's maximum context length is 32768 tokens. However, you requested 140000 tokens "
        "(12000 in the messages, 128000 in the completion).",
        # OpenAI
        "This model's maximum context length is 128000 tokens. Please reduce the length of the messages.",
        # llama.cpp's server
        "the request exceeds the available context size, try increasing it",
        # Anthropic-style
        "prompt is too long: 250000 tokens > 200000 maximum",
    ],
)
def test_a_request_too_long_for_the_window_is_a_context_overflow(message: str) -> None:
    err = status_error("b", 400, body(message), {})
    assert isinstance(err, ContextOverflow) and err.code == "context_length_exceeded" and err.status == 400


def test_other_refusals_stay_refusals() -> None:
    err = status_error("b", 400, body("temperature must be at most 2"), {})
    assert type(err) is UpstreamRejected and err.code == "upstream_rejected"
