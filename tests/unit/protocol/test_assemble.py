"""A stream put back together as its plain answer (protocol/assemble.py), on streams shaped as vLLM and
OpenAI send them."""

from __future__ import annotations

from typing import Any

from gateway.protocol.assemble import Assembled
from gateway.protocol.sse import ChatEvents, json_event

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1765000000, "model": "m"}


def chunk(*choices: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**BASE, "choices": list(choices), **top}


def put_together(events: list[dict[str, Any]], endpoint: str = "chat") -> dict[str, Any]:
    a = Assembled("chat" if endpoint == "chat" else "completions")
    for e in events:
        a.add(e)
    return a.answer()


def test_text_logprobs_and_usage_as_the_plain_answer_has_them() -> None:
    lp = [{"token": t, "logprob": -0.5, "bytes": None, "top_logprobs": []} for t in ("Hel", "lo", "!")]
    events = [
        chunk({"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None}),
        chunk({"index": 0, "delta": {"content": "Hel"}, "logprobs": {"content": lp[:1]}}),
        chunk({"index": 0, "delta": {"content": "lo!"}, "logprobs": {"content": lp[1:]}}),
        chunk({"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop", "stop_reason": None}),
        chunk(usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}),
    ]
    assert put_together(events) == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1765000000,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!"},
                "logprobs": {"content": lp},
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def test_tool_calls_are_built_up_by_their_index_and_content_is_null_beside_them() -> None:
    events = [
        chunk({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}),
        chunk(
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get", "arguments": ""},
                        }
                    ]
                },
                "finish_reason": None,
            }
        ),
        chunk({"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"x": '}}]}}),
        chunk(
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "put", "arguments": "{}"},
                        }
                    ]
                },
            }
        ),
        chunk({"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}),
        chunk({"index": 0, "delta": {}, "finish_reason": "tool_calls"}),
    ]
    [choice] = put_together(events)["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get", "arguments": '{"x": 1}'}},
            {"id": "call_b", "type": "function", "function": {"name": "put", "arguments": "{}"}},
        ],
    }
    assert "usage" not in put_together(events)  # none was sent: none is made up


def test_several_choices_interleaved_and_reasoning_kept_apart() -> None:
    events = [
        chunk({"index": 1, "delta": {"role": "assistant", "reasoning_content": "think"}}),
        chunk({"index": 0, "delta": {"role": "assistant", "content": "A"}}),
        chunk({"index": 1, "delta": {"reasoning_content": "ing", "content": "B"}}),
        chunk({"index": 0, "delta": {"content": "a"}, "finish_reason": "length"}),
        chunk({"index": 1, "delta": {"content": "b"}, "finish_reason": "stop"}),
    ]
    first, second = put_together(events)["choices"]
    assert first["index"] == 0 and first["message"] == {"role": "assistant", "content": "Aa"}
    assert first["finish_reason"] == "length"
    assert second["message"] == {"role": "assistant", "reasoning_content": "thinking", "content": "Bb"}
    assert second["finish_reason"] == "stop"


def test_text_completions_join_their_logprob_lists() -> None:
    def piece(text: str, offset: int, reason: str | None = None) -> dict[str, Any]:
        lp = {"tokens": [text], "token_logprobs": [-0.1], "top_logprobs": [{text: -0.1}]}
        lp["text_offset"] = [offset]
        return {
            **BASE,
            "object": "text_completion",
            "choices": [{"index": 0, "text": text, "logprobs": lp, "finish_reason": reason}],
        }

    answer = put_together([piece("1,", 0), piece(" 2", 2, "length")], "completions")
    assert answer["object"] == "text_completion"
    assert answer["choices"] == [
        {
            "index": 0,
            "text": "1, 2",
            "logprobs": {
                "tokens": ["1,", " 2"],
                "token_logprobs": [-0.1, -0.1],
                "top_logprobs": [{"1,": -0.1}, {" 2": -0.1}],
                "text_offset": [0, 2],
            },
            "finish_reason": "length",
        }
    ]


def test_the_first_chunks_top_level_fields_stand_and_any_split_of_the_bytes_reads_the_same() -> None:
    events = [
        chunk({"index": 0, "delta": {"role": "assistant", "content": "é✓"}}, system_fingerprint="fp1"),
        chunk({"index": 0, "delta": {}, "finish_reason": "stop"}, system_fingerprint="fp2", id="other"),
    ]
    raw = b"".join(json_event(e) for e in events) + b"data: [DONE]\n\n"
    for size in (1, 3, 7, len(raw)):
        parser, a, ended = ChatEvents(), Assembled("chat"), False
        for i in range(0, len(raw), size):
            for e in parser.feed(raw[i : i + size]):
                if e is None:
                    ended = True
                else:
                    a.add(e)
        answer = a.answer()
        assert ended and answer["id"] == "chatcmpl-1" and answer["system_fingerprint"] == "fp1"
        assert answer["choices"][0]["message"]["content"] == "é✓"
