"""A finished completion's choices: read them, keep one, or replay it as the SSE a client would have
been streamed. The cascade uses these to judge a draft and to hand an accepted one to the client."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.protocol.sse import DONE, json_event

if TYPE_CHECKING:
    from gateway.protocol.view import Endpoint

__all__ = ["Choice", "as_chunks", "choices_of", "keep_one"]

_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    content: str
    finish_reason: str | None
    logprobs: tuple[float, ...] | None  # the sampled tokens' log-probabilities, when the upstream sent them


def _logprobs(choice: dict[str, Any], endpoint: Endpoint) -> tuple[float, ...] | None:
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    if endpoint == "chat":
        items = lp.get("content")
        if not isinstance(items, list):
            return None
        values = [i.get("logprob") for i in items if isinstance(i, dict)]
    else:
        values = lp.get("token_logprobs") or []
    found = tuple(float(v) for v in values if isinstance(v, int | float) and math.isfinite(v))
    return found or None


def choices_of(body: bytes, endpoint: Endpoint) -> tuple[dict[str, Any], list[Choice]]:
    """The decoded body and its choices' text; ValueError when it is not a completion."""
    try:
        data = _decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError("not JSON") from exc
    raw = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ValueError("no choices")
    out = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            raise ValueError("a choice is not an object")
        if endpoint == "chat":
            message = c.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = c.get("text")
        reason = c.get("finish_reason")
        out.append(
            Choice(
                int(c.get("index", i)),
                text if isinstance(text, str) else "",
                reason if isinstance(reason, str) else None,
                _logprobs(c, endpoint),
            )
        )
    return data, out


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
