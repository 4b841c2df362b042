"""A finished completion: decode it, keep one of its choices, or replay it as the SSE a client would
have been streamed. The cascade uses these to hand an accepted draft to the client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from gateway.protocol.sse import DONE, PREFIX, json_event

if TYPE_CHECKING:
    from gateway.protocol.view import Endpoint

__all__ = ["answer_text", "as_chunks", "completion_of", "keep_one", "streamed_text"]

_decode = msgspec.json.Decoder().decode


def completion_of(body: bytes) -> dict[str, Any]:
    """A completion's decoded body; ValueError when it is not one (no choices)."""
    try:
        data = _decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError("not JSON") from exc
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
        raise ValueError("no choices")
    found: dict[str, Any] = data
    return found


def keep_one(data: dict[str, Any], position: int, *, logprobs: bool) -> dict[str, Any]:
    """The body with only the choice at `position` (as index 0), its logprobs only if asked for."""
    choice = dict(data["choices"][position])
    choice["index"] = 0
    if not logprobs:
        choice["logprobs"] = None
    return {**data, "choices": [choice]}


def as_chunks(data: dict[str, Any], endpoint: Endpoint, *, include_usage: bool) -> list[bytes]:
    """A one-choice completion as the SSE events a streaming client expects, [DONE] last."""
    choice = data["choices"][0]
    base = {"id": data.get("id"), "created": data.get("created"), "model": data.get("model")}
    reason = choice.get("finish_reason")
    events: list[dict[str, Any]]
    if endpoint == "chat":
        base["object"] = "chat.completion.chunk"
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **t} for i, t in enumerate(message["tool_calls"])]
        events = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": choice.get("logprobs"), "finish_reason": None}
                ]
            },
            {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]},
        ]
    else:
        base["object"] = "text_completion"
        text = choice.get("text") or ""
        events = [
            {
                "choices": [
                    {"index": 0, "text": text, "logprobs": choice.get("logprobs"), "finish_reason": None}
                ]
            },
            {"choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": reason}]},
        ]
    if include_usage and data.get("usage") is not None:
        events.append({"choices": [], "usage": data["usage"]})
    return [*(json_event({**base, **e}) for e in events), DONE]


def _choice_text(choice: Any) -> str:
    if not isinstance(choice, dict):
        return ""
    message = choice.get("message") or choice.get("delta") or {}
    text = message.get("content") if isinstance(message, dict) else None
    if text is None:
        text = choice.get("text")
    return text if isinstance(text, str) else ""


def answer_text(body: bytes) -> str | None:
    """The text of an answer (chat, completions, a Response or a Message), for a route that logs
    content and for shadow judging."""
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("type") == "message":
        return "".join(
            b.get("text", "")
            for b in data.get("content") or []
            if isinstance(b, dict) and b.get("type") == "text"
        )
    if data.get("object") == "response":
        return "".join(
            p.get("text", "")
            for item in data.get("output") or []
            if isinstance(item, dict) and item.get("type") == "message"
            for p in item.get("content") or []
            if isinstance(p, dict)
        )
    return _choice_text((data.get("choices") or [None])[0])


def streamed_text(raw: bytes) -> str:
    """The text a stream carried: chat or completion deltas, a Responses stream's text deltas, or a
    Messages stream's text deltas."""
    out = []
    for line in raw.split(b"\n"):
        if not line.startswith(PREFIX) or line[len(PREFIX) :].strip() == b"[DONE]":
            continue
        try:
            event = _decode(line[len(PREFIX) :])
        except msgspec.DecodeError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind == "response.output_text.delta":
            out.append(str(event.get("delta", "")))
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            if event["delta"].get("type") == "text_delta":
                out.append(str(event["delta"].get("text", "")))
        elif event.get("choices"):
            out.append(_choice_text(event["choices"][0]))
    return "".join(out)
