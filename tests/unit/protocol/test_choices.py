"""A finished completion handed over (protocol/choices.py): decoded, cut to one choice, replayed as the
SSE a streaming client expects, and its text read back for the decision log and shadow judging."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.protocol.choices import answer_text, as_chunks, completion_of, keep_one, streamed_text
from gateway.protocol.sse import DONE


def chat(*texts: str, usage: bool = True, **choice: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 7,
        "model": "m",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": t},
                "logprobs": {"content": [{"token": t, "logprob": -0.1}]},
                "finish_reason": "stop",
                **choice,
            }
            for i, t in enumerate(texts)
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return body


def events(chunks: list[bytes]) -> list[dict[str, Any]]:
    assert chunks[-1] == DONE
    out = []
    for c in chunks[:-1]:
        assert c.startswith(b"data: ") and c.endswith(b"\n\n")
        out.append(json.loads(c[6:]))
    return out


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"nope", "not JSON"),
        (b"[]", "no choices"),
        (b'{"choices": []}', "no choices"),
        (b'{"choices": [1]}', "no choices"),
    ],
)
def test_completion_of_refuses_what_is_not_a_completion(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        completion_of(body)


def test_keep_one_renumbers_and_strips_logprobs_unless_asked() -> None:
    data = chat("first", "second")
    kept = keep_one(data, 1, logprobs=False)
    assert [c["message"]["content"] for c in kept["choices"]] == ["second"]
    assert kept["choices"][0]["index"] == 0 and kept["choices"][0]["logprobs"] is None
    assert keep_one(data, 1, logprobs=True)["choices"][0]["logprobs"] is not None
    assert data["choices"][1]["index"] == 1  # the original is not mutated


def test_a_chat_answer_replays_as_role_content_finish_and_usage() -> None:
    out = events(as_chunks(chat("hello"), "chat", include_usage=True))
    assert [e["object"] for e in out] == ["chat.completion.chunk"] * 4
    assert all(e["id"] == "chatcmpl-1" and e["model"] == "m" and e["created"] == 7 for e in out)
    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert out[1]["choices"][0]["delta"] == {"content": "hello"}
    assert out[1]["choices"][0]["logprobs"] == {"content": [{"token": "hello", "logprob": -0.1}]}
    assert out[2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert out[3] == {
        **out[3],
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def test_usage_is_replayed_only_when_asked_for() -> None:
    assert len(events(as_chunks(chat("hello"), "chat", include_usage=False))) == 3
    assert len(events(as_chunks(chat("hello", usage=False), "chat", include_usage=True))) == 3


def test_tool_calls_replay_with_their_index() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    data = chat("", finish_reason="tool_calls")
    data["choices"][0]["message"]["tool_calls"] = calls
    out = events(as_chunks(data, "chat", include_usage=False))
    assert out[1]["choices"][0]["delta"]["tool_calls"] == [{"index": 0, **calls[0]}]
    assert out[2]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_text_completion_replays_as_text_events() -> None:
    data = {
        "id": "cmpl-1",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "text": "42", "finish_reason": "length"}],
    }
    out = events(as_chunks(data, "completions", include_usage=True))
    assert [e["object"] for e in out] == ["text_completion", "text_completion"]
    assert out[0]["choices"][0]["text"] == "42" and out[1]["choices"][0]["finish_reason"] == "length"


def test_answer_text_reads_chat_completions_and_responses() -> None:
    assert answer_text(json.dumps(chat("hi there")).encode()) == "hi there"
    assert answer_text(b'{"choices": [{"text": "plain"}]}') == "plain"
    response = {
        "object": "response",
        "output": [
            {"type": "reasoning", "summary": []},
            {
                "type": "message",
                "content": [{"type": "output_text", "text": "a"}, {"type": "output_text", "text": "b"}],
            },
        ],
    }
    assert answer_text(json.dumps(response).encode()) == "ab"
    assert answer_text(b"not json") is None
    assert answer_text(b"[1]") is None
    assert answer_text(b'{"choices": []}') == ""


def test_streamed_text_joins_deltas_of_every_kind() -> None:
    raw = b"".join(as_chunks(chat("hello world"), "chat", include_usage=True))
    assert streamed_text(raw) == "hello world"
    responses = (
        b'data: {"type": "response.created"}\n\n'
        b'data: {"type": "response.output_text.delta", "delta": "to"}\n\n'
        b'data: {"type": "response.output_text.delta", "delta": "gether"}\n\n'
    )
    assert streamed_text(responses) == "together"
    assert streamed_text(b"data: {broken\n\ndata: [DONE]\n\n: comment\n") == ""
