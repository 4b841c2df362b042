"""The gateway's response ids (protocol/ids.py): issued unique per process and endpoint, and put on an
upstream's answer and stream in place of the upstream's own."""

from __future__ import annotations

import json

import pytest

from gateway.protocol.ids import IdStream, ResponseIds, claim


def test_ids_carry_the_endpoints_prefix_and_never_repeat() -> None:
    ids = ResponseIds()
    made = [ids.new("chat") for _ in range(1000)]
    assert len(set(made)) == 1000
    assert all(i.startswith("chatcmpl-gw") for i in made)
    assert ids.new("completions").startswith("cmpl-gw")
    assert ids.new("responses").startswith("resp_gw")
    assert ids.new("something-else").startswith("gw-gw")


def test_two_processes_issue_different_ids() -> None:
    # A per-process random prefix: two replicas counting from 1 must not collide.
    assert ResponseIds().new("chat") != ResponseIds().new("chat")


def test_claim_replaces_the_top_level_id_only() -> None:
    body = json.dumps(
        {"id": "chatcmpl-up", "choices": [{"message": {"content": 'say "chatcmpl-up"'}}], "x": "chatcmpl-up"}
    ).encode()
    out = json.loads(claim(body, "chatcmpl-ours"))
    assert out["id"] == "chatcmpl-ours"
    # Only the first occurrence by value (the top-level id comes first in every OpenAI answer).
    assert out["choices"][0]["message"]["content"] == 'say "chatcmpl-up"'
    assert out["x"] == "chatcmpl-up"


@pytest.mark.parametrize(
    "body",
    [b'{"object": "list", "data": []}', b'{"id": null}', b'{"id": ""}', b"not json", b"[1, 2]"],
)
def test_claim_leaves_answers_without_an_id_alone(body: bytes) -> None:
    assert claim(body, "chatcmpl-ours") == body


def test_a_stream_gets_the_id_on_every_event() -> None:
    ids = IdStream("chatcmpl-ours")
    first = b'data: {"id":"up-1","choices":[{"delta":{"content":"hi"}}]}\n\n'
    second = b'data: {"id":"up-1","choices":[{"delta":{"content":" there"}}]}\n\ndata: [DONE]\n\n'
    assert ids(first) == first.replace(b'"up-1"', b'"chatcmpl-ours"')
    assert ids(second) == second.replace(b'"up-1"', b'"chatcmpl-ours"')


def test_a_stream_passes_chunks_it_cannot_read_yet() -> None:
    ids = IdStream("chatcmpl-ours")
    assert ids(b": keep-alive\n\n") == b": keep-alive\n\n"  # no data line: nothing learned yet
    partial = b'data: {"id":"up-2"'
    assert ids(partial) == partial  # no end of line: the id is not known until one arrives
    whole = b'data: {"id":"up-2","choices":[]}\n\n'
    assert ids(whole) == whole.replace(b'"up-2"', b'"chatcmpl-ours"')


def test_a_stream_without_an_id_is_untouched() -> None:
    ids = IdStream("chatcmpl-ours")
    chunk = b'data: {"choices":[{"delta":{"content":"up-3"}}]}\n\n'
    assert ids(chunk) == chunk
    assert ids(chunk) == chunk
