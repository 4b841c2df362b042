"""A stream the client did not ask the usage of is billed by the upstream's count, not an estimate
(`stream_usage`, backends/openai_compat.py and protocol/hidden_usage.py).

Most chat traffic streams, and most clients do not set `stream_options.include_usage`. Before, such a
stream's tokens were estimated (the request's bytes / 4, an event per token) for the decision log, the
cost and savings metrics and the budgets. Now the HTTP backend asks the upstream for the usage itself,
the gateway reads it, and the client gets the stream it asked for: no usage chunk, and none of the
`"usage": null` fields OpenAI's API adds once usage is asked. Real HTTP, the official `openai` SDK, fake
upstreams that speak the protocol (vLLM's spacing; OpenAI's nulls), and llama-cpp-python's own server,
which ignores the option.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import Gateway, logged_as, start_gateway, started, stop

REPLY = "four words of answer"
ASK = [{"role": "user", "content": "Please say something short."}]


@pytest.fixture(scope="module")
def ups() -> Iterator[Mapping[str, FakeUpstream]]:
    fakes = {name: FakeUpstream(model=name, reply=REPLY) for name in ("v", "o", "quiet")}
    fakes["o"].usage_null = True
    with started(fakes) as running:
        yield running


def routes(ups: Mapping[str, FakeUpstream], extra: str = "") -> str:
    return f"""
version: 1
default_tier: medium
tiers:
  medium:
    backends:
      - {{name: v, kind: vllm, base_url: "{ups["v"].base_url}", model: v}}
  large:
    price: {{input_per_mtok: 5.0, output_per_mtok: 15.0}}
    backends:
      - {{name: o, kind: openai, base_url: "{ups["o"].base_url}", model: o}}
  spare:
    backends:
      - {{name: quiet, kind: openai, base_url: "{ups["quiet"].base_url}", model: quiet, stream_usage: false}}
routes:
  - {{model: v, tier: medium}}
  - {{model: o, tier: large}}
  - {{model: quiet, tier: spare}}
{extra}"""


@pytest.fixture(scope="module")
def gw(ups: Mapping[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("stream-usage")
    g = start_gateway(tmp, routes(ups), GATEWAY_DECISION_LOG=str(tmp / "decisions.jsonl"))
    yield g
    stop(g.proc)


def raw_stream(gw: Gateway, model: str, **extra: Any) -> bytes:
    body = {"model": model, "messages": ASK, "stream": True, **extra}
    with httpx.Client(timeout=30) as http:
        r = http.post(f"{gw.v1}/chat/completions", json=body, headers={"authorization": "Bearer x"})
    assert r.status_code == 200, r.text
    return r.content


def events(raw: bytes) -> list[dict[str, Any]]:
    lines = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert lines[-1] == b"[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.parametrize("model", ["v", "o"])
def test_the_client_gets_no_usage_and_the_gateway_bills_the_upstreams_count(
    gw: Gateway, ups: Mapping[str, FakeUpstream], model: str
) -> None:
    raw = raw_stream(gw, model)
    sent = ups[model].stats.last_body
    assert sent is not None and sent["stream_options"] == {"include_usage": True}
    got = events(raw)
    assert b'"usage"' not in raw, raw.decode()[-400:]  # neither the usage chunk nor OpenAI's nulls
    assert all(e["choices"] for e in got)
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in got) == REPLY
    # The fake counts 7 prompt tokens and a token a word; the estimate would have read the request's
    # bytes (about 30 tokens here) and an event per token.
    record = logged_as(gw, got[0]["id"])
    assert (record["prompt_tokens"], record["completion_tokens"]) == (7, len(REPLY.split()))


def test_a_text_completion_stream_is_counted_and_hidden_alike(
    gw: Gateway, ups: Mapping[str, FakeUpstream]
) -> None:
    body = {"model": "v", "prompt": "Once upon a time", "stream": True}
    with httpx.Client(timeout=30) as http:
        r = http.post(f"{gw.v1}/completions", json=body, headers={"authorization": "Bearer x"})
    assert r.status_code == 200 and b'"usage"' not in r.content, r.text[-400:]
    sent = ups["v"].stats.last_body
    assert sent is not None and sent["stream_options"] == {"include_usage": True}
    record = logged_as(gw, events(r.content)[0]["id"])
    assert (record["prompt_tokens"], record["completion_tokens"]) == (7, len(REPLY.split()))


def test_the_sdk_reads_it_as_a_stream_without_usage(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=30)
    chunks = list(client.chat.completions.create(model="o", messages=ASK, stream=True))  # type: ignore[arg-type]
    assert chunks and all(c.choices and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ["v", "o", "quiet"])
def test_a_client_that_asks_gets_the_usage_once(gw: Gateway, model: str) -> None:
    client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=30)
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=ASK,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1 and with_usage[0] is chunks[-1] and chunks[-1].choices == []
    assert with_usage[0].usage is not None and with_usage[0].usage.prompt_tokens == 7
    assert logged_as(gw, chunks[-1].id)["prompt_tokens"] == 7


def test_stream_usage_false_leaves_the_request_as_sent_and_estimates(
    gw: Gateway, ups: Mapping[str, FakeUpstream]
) -> None:
    got = events(raw_stream(gw, "quiet"))
    sent = ups["quiet"].stats.last_body
    assert sent is not None and "stream_options" not in sent
    record = logged_as(gw, got[0]["id"])
    assert record["prompt_tokens"] != 7  # the estimate: the request's bytes / 4


def tpot(gw: Gateway, backend: str) -> tuple[float, float]:
    """The gateway's time-per-token histogram for `backend`: (sum of seconds, count of streams)."""
    text = httpx.get(f"{gw.url}/metrics", timeout=10).text
    found = {}
    for line in text.splitlines():
        if line.startswith("gateway_time_per_output_token_seconds_") and f'backend="{backend}"' in line:
            found[line.split("{")[0].rsplit("_", 1)[1]] = float(line.rsplit(" ", 1)[1])
    return found.get("sum", 0.0), found.get("count", 0.0)


def test_time_per_token_is_read_from_the_count_not_the_events(
    gw: Gateway, ups: Mapping[str, FakeUpstream]
) -> None:
    """A server that writes 4 tokens an event (speculative decoding, --stream-interval 4): 24 words in
    6 events over about 0.7 s. By the count, about 0.7 / 24 = 29 ms a token; by the events (as before),
    about 0.7 / 8 = 87 ms: a backend planned three times slower than it is."""
    v = ups["v"]
    v.reply, v.words_per_event = " ".join(f"w{i}" for i in range(24)), 4
    v.set(mode="slow", delay_ms=700, spread=True)
    before = tpot(gw, "v")
    try:
        got = events(raw_stream(gw, "v"))
    finally:
        v.reply, v.words_per_event = REPLY, 1
        v.set()
    assert sum(1 for e in got if e["choices"][0]["delta"].get("content")) == 6
    after = tpot(gw, "v")
    assert after[1] == before[1] + 1
    per_token = after[0] - before[0]
    assert 0.018 < per_token < 0.045, per_token


def test_the_embedded_models_streams_are_counted_by_its_tokenizer(gguf: Path, tmp_path: Path) -> None:
    """The embedded model's stream ends with its own count (its tokenizer) whether asked or not: the
    client that did not ask sees none, and the log has what a client that asked is told."""
    text = """
version: 1
default_tier: small
tiers:
  small:
    backends:
      - {name: smollm2, kind: llamacpp, model: SmolLM2-135M-Instruct, n_ctx: 1024}
routes:
  - {model: small, tier: small}
"""
    g = start_gateway(tmp_path, text, GATEWAY_DECISION_LOG=str(tmp_path / "decisions.jsonl"))
    extra = {"max_tokens": 8, "temperature": 0}
    try:
        quiet = raw_stream(g, "small", **extra)
        asked = events(raw_stream(g, "small", **extra, stream_options={"include_usage": True}))
        record = logged_as(g, events(quiet)[0]["id"])
    finally:
        stop(g.proc)
    assert b'"usage"' not in quiet and all(e["choices"] for e in events(quiet))
    usage = asked[-1]["usage"]
    assert asked[-1]["choices"] == [] and usage["prompt_tokens"] > 5
    assert (record["prompt_tokens"], record["completion_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


def test_a_real_server_that_counts_nothing_is_named_once_and_estimated(
    llama_server: str, ups: Mapping[str, FakeUpstream], tmp_path: Path
) -> None:
    """llama-cpp-python's own server ignores `stream_options`: its streams carry no usage however
    asked. The stream still comes whole, is billed by the estimate, and the log names the backend
    once (it is not asked again)."""
    text = routes(ups).replace(
        f'base_url: "{ups["v"].base_url}", model: v', f'base_url: "{llama_server}", model: x'
    )
    g = start_gateway(tmp_path, text, GATEWAY_DECISION_LOG=str(tmp_path / "decisions.jsonl"))
    try:
        extra = {"max_tokens": 8, "temperature": 0}
        first, second = events(raw_stream(g, "v", **extra)), events(raw_stream(g, "v", **extra))
        records = [logged_as(g, first[0]["id"]), logged_as(g, second[0]["id"])]
    finally:
        stop(g.proc)
    assert all(e.get("usage") is None for e in first + second)
    assert all(r["completion_tokens"] > 0 for r in records)
    log = g.log.read_text()
    assert log.count("counts nothing in its streams although asked") == 1, log[-2000:]
