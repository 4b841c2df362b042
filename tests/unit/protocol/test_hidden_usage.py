"""protocol/hidden_usage.py: the usage the gateway asked for on its own, taken out before the client.

The streams here are built as the upstreams write them (json.dumps's spacing, as vLLM's Python servers
and the fake upstream do; OpenAI's compact JSON with `"usage":null` on every chunk once usage is asked)
and compared, in every split, with the stream the same upstream sends a client that did not ask."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.protocol.hidden_usage import HiddenUsage
from gateway.protocol.ids import IdStream

BASE = {"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {**BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def sse(events: list[dict[str, Any]], compact: bool) -> bytes:
    sep = (",", ":") if compact else (", ", ": ")
    return b"".join(b"data: " + json.dumps(e, separators=sep).encode() + b"\n\n" for e in events) + (
        b"data: [DONE]\n\n"
    )


def stream(compact: bool, asked: bool, text: str = "Hello there") -> bytes:
    """A stream as the upstream sends it when usage is asked (`asked`) or not."""
    extra = {"usage": None} if asked and compact else {}  # OpenAI's API: null on every other chunk
    events = [chunk({"role": "assistant", "content": ""}, **extra)]
    events += [chunk({"content": w}, **extra) for w in text.split(" ")]
    events.append(chunk({}, "stop", **extra))
    if asked:
        events.append({**BASE, "choices": [], "usage": USAGE})
    return sse(events, compact)


def fed(raw: bytes, split: int | None, ours: str | None = None) -> bytes:
    """The stream through the relay's feed: the upstream's id kept (it is the gateway's own in
    `ours`), its usage hidden."""
    feed = IdStream(ours or BASE["id"], HiddenUsage())
    pieces = [raw] if split is None else [raw[i : i + split] for i in range(0, len(raw), split)]
    return b"".join(feed(p) for p in pieces) + feed.flush()


@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize("split", [None, 1, 3, 17, 64])
def test_the_client_gets_the_stream_it_would_have_without_asking(compact: bool, split: int | None) -> None:
    assert fed(stream(compact, asked=True), split) == stream(compact, asked=False)


@pytest.mark.parametrize("split", [None, 1, 2, 5, 64])
def test_events_ended_by_crlf_lose_their_usage_alike(split: int | None) -> None:
    """SSE allows CRLF line ends; a server that writes them gets the same treatment."""
    crlf = stream(compact=True, asked=True).replace(b"\n", b"\r\n")
    assert fed(crlf, split) == stream(compact=True, asked=False).replace(b"\n", b"\r\n")


@pytest.mark.parametrize("split", [None, 1, 7])
def test_a_stream_without_usage_passes_unchanged(split: int | None) -> None:
    for compact in (True, False):
        raw = stream(compact, asked=False)
        assert fed(raw, split) == raw


def test_text_that_looks_like_usage_is_the_answer_and_stays() -> None:
    """JSON escapes a quote in text, so an answer quoting a usage object cannot be taken for one."""
    text = 'It said {"usage": null, "prompt_tokens": 5} and {"choices": [], "usage": {"total_tokens": 1}}'
    raw = sse([chunk({"content": text}), chunk({}, "stop")], compact=False)
    assert fed(raw, None) == raw and fed(raw, 5) == raw


def test_usage_on_a_chunk_with_choices_stays() -> None:
    """vLLM's continuous usage stats put a count on every chunk: those chunks are the answer's."""
    raw = sse([chunk({"content": "Hi"}, usage=USAGE), chunk({}, "stop", usage=USAGE)], compact=True)
    assert fed(raw, None) == raw


def test_what_an_upstream_left_unended_is_passed_on_at_the_end() -> None:
    raw = stream(compact=False, asked=False).rstrip(b"\n")
    feed = IdStream(BASE["id"], HiddenUsage())
    head = feed(raw)
    assert raw.startswith(head) and len(head) < len(raw)  # the unended line waits
    assert head + feed.flush() == raw and feed.flush() == b""


def test_the_gateways_ids_go_on_what_is_left() -> None:
    got = fed(stream(compact=True, asked=True), 9, "chatcmpl-gw1")
    assert got == stream(compact=True, asked=False).replace(b'"up-1"', b'"chatcmpl-gw1"')
