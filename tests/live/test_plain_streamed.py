"""Plain requests sent upstream as streams (`stream_plain`, backends/openai_compat.py), on a generic
OpenAI-compatible server of your own (`kind: openai`, `judge_silence: true`) with a hosted tier behind it.

Before, such a server had no way to tell a hang from a long answer for a plain request: its token
counters are vLLM's and SGLang's alone, so a plain request waited there for its read timeout (here 10 s,
300 s by default) when the server hung (the requests after it went elsewhere: the silent backend is
ranked last all the same). Now the gateway asks for the plain answer as a stream and puts it back
together: each chunk is news that the server works, so a silent one is left as a stream would be, and
a long answer being written is waited for. The client still gets one plain answer, the one the server
would have sent (checked against the fake's own plain answer and against a real llama.cpp server).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import (
    REPLICA,
    Answered,
    Beside,
    Gateway,
    answered_by,
    chat_once,
    start_gateway,
    started,
    stop,
)
from tests.support import beside as held_beside

READ_S = 10.0
SILENT_S = 2.0  # breaker.silent_s: the least silence taken for a hang


@pytest.fixture(scope="module")
def tiers() -> Iterator[Mapping[str, FakeUpstream]]:
    ups = {"own": FakeUpstream(model="m", reply="from your own server"), "large": FakeUpstream(model="l")}
    with started(ups, **REPLICA) as fakes:
        yield fakes


def routes(own: str, large: str, extra: str = "", kind: str = "openai") -> str:
    return f"""
version: 1
default_tier: medium
tiers:
  medium:
    backends:
      - {{name: own, kind: {kind}, base_url: "{own}", model: m, judge_silence: true, ttft_ms: 20,
          tpot_ms: 0.05{extra}}}
  large:
    price: {{input_per_mtok: 5.0, output_per_mtok: 15.0}}
    backends:
      - {{name: hosted, kind: openai, base_url: "{large}", model: l}}
routes:
  - {{model: m, tier: medium, fallback: [large]}}
"""


def gateway(tmp: Path, tiers: Mapping[str, FakeUpstream], extra: str = "") -> Gateway:
    text = routes(tiers["own"].base_url, tiers["large"].base_url, extra)
    return start_gateway(tmp, text, GATEWAY_READ_TIMEOUT_S=str(READ_S))


@pytest.fixture(scope="module")
def gw(tiers: Mapping[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = gateway(tmp_path_factory.mktemp("plain-streamed"), tiers)
    yield g
    stop(g.proc)


def client_of(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=30)


def answered_by_own(client: openai.OpenAI) -> None:
    answered_by(client, "m", "own", False)


def beside(gw: Gateway, own: FakeUpstream, **script: object) -> Beside:
    """A plain request while `own` follows `script`, and another sent SILENT_S + 0.5 s into it."""
    client = client_of(gw)
    answered_by_own(client)

    def plain() -> Answered:
        return chat_once(client, "m", False)

    return held_beside(own, plain, plain, SILENT_S + 0.5, **script)


def test_a_plain_request_on_a_hung_server_moves_on_once_it_is_silent(
    gw: Gateway, tiers: Mapping[str, FakeUpstream]
) -> None:
    seen = beside(gw, tiers["own"], mode="hang")
    print(seen)  # the figures README and CHANGELOG quote (-s)
    assert seen.first == ("hosted", None) and SILENT_S - 0.1 < seen.first_s < SILENT_S + 1.5, seen
    assert seen.later == ("hosted", None) and seen.later_s < 1.0, seen  # taken as hung: not asked


def test_a_long_answer_does_not_lengthen_the_silence_a_hang_is_given(
    gw: Gateway, tiers: Mapping[str, FakeUpstream]
) -> None:
    """Five plain answers written over 3 s each, their first chunks at once, make the server's
    whole-answer p95 about 3 s while its first-chunk p95 stays at milliseconds. A hang right after is
    left after the 2 s floor, as a stream would leave it; a plain answer read whole waits 4 times the
    whole-answer p95 (12 s here, so the 10 s read timeout, which it did before first chunks were
    measured)."""
    own, client = tiers["own"], client_of(gw)
    answered_by_own(client)
    own.set(mode="slow", delay_ms=3000, spread=True, first_byte_ms=0)
    try:
        with ThreadPoolExecutor(5) as pool:
            done = list(pool.map(lambda _: chat_once(client, "m", False), range(5)))
    finally:
        own.set(**REPLICA)
    assert done == [("own", None)] * 5
    seen = beside(gw, own, mode="hang")
    print(seen)
    assert seen.first == ("hosted", None) and seen.first_s < SILENT_S + 1.5, seen


def test_without_stream_plain_it_waits_for_its_read_timeout(
    tiers: Mapping[str, FakeUpstream], tmp_path: Path
) -> None:
    """The same server with `stream_plain: false`: what every plain request did before."""
    g = gateway(tmp_path, tiers, ", stream_plain: false")
    try:
        seen = beside(g, tiers["own"], mode="hang")
        print(seen)
    finally:
        stop(g.proc)
    assert seen.first == ("hosted", None) and seen.first_s > READ_S - 0.5, seen
    assert seen.later == ("hosted", None) and seen.later_s < 1.0, seen  # ranked last all the same


def test_a_vllm_server_with_stream_plain_is_left_as_a_stream_would_be(
    tiers: Mapping[str, FakeUpstream], tmp_path: Path
) -> None:
    """A `vllm` backend at its default scrapes (every 2 s), hung: a plain request there moves on after
    the silence a stream is given with `stream_plain: true`, and a scrape's lag later without it
    (1.5 x 2 s + 2 s more, once its token counters have stood still). Either way a scrape that finds
    the counters moved by the answers before the hang is news up to one interval late."""
    vllm = FakeUpstream(model="m", reply="from your own server", engine="vllm")
    waited: dict[str, float] = {}
    with started({"own": vllm}, **REPLICA):
        for extra in (", stream_plain: true", ""):
            text = routes(vllm.base_url, tiers["large"].base_url, extra, kind="vllm")
            folder = tmp_path / str(len(waited))
            folder.mkdir()
            g = start_gateway(folder, text, GATEWAY_READ_TIMEOUT_S=str(READ_S))
            try:
                seen = beside(g, vllm, mode="hang")
            finally:
                stop(g.proc)
            assert seen.first == ("hosted", None), seen
            waited[extra] = seen.first_s
    print(waited)
    streamed, counted = waited[", stream_plain: true"], waited[""]
    assert SILENT_S - 0.1 < streamed < SILENT_S + 2.0 + 1.0 < counted < READ_S - 0.5, waited


def test_a_long_plain_answer_being_written_is_waited_for_and_comes_whole(
    gw: Gateway, tiers: Mapping[str, FakeUpstream]
) -> None:
    """Written over 5 s, chunk by chunk: past the 2 s a silent server is given, answered where it was
    sent; so is a request sent beside it 2.5 s in."""
    seen = beside(gw, tiers["own"], mode="slow", delay_ms=5000, spread=True, first_byte_ms=0)
    assert seen.first == ("own", None) and seen.first_s > 4.5, seen
    assert seen.later == ("own", None), seen


def test_a_client_that_leaves_stops_the_answer_upstream(
    gw: Gateway, tiers: Mapping[str, FakeUpstream]
) -> None:
    """The client gives up 1 s into a plain answer written over 5 s: the gateway drops the stream it
    was reading, as a server needs to stop generating (the fake counts a stream whose reader left)."""
    own = tiers["own"]
    answered_by_own(client_of(gw))
    aborted = own.stats.aborted
    own.set(mode="slow", delay_ms=5000, spread=True, first_byte_ms=0)
    try:
        impatient = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=1.0)
        with pytest.raises(openai.APITimeoutError):
            impatient.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        deadline = time.monotonic() + 4.0
        while own.stats.aborted == aborted and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        own.set(**REPLICA)
    assert own.stats.aborted == aborted + 1


def test_the_answer_is_the_servers_plain_one(gw: Gateway, tiers: Mapping[str, FakeUpstream]) -> None:
    """Through the gateway (a stream upstream, put back together) and asked of the fake directly
    (its own plain answer, built by separate code): the same message, finish and usage."""
    own = tiers["own"]
    direct = openai.OpenAI(base_url=own.base_url, api_key="x", max_retries=0, timeout=30)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    answered_by_own(client_of(gw))
    for kw in ({}, {"tools": tools}):
        ask = {"model": "m", "messages": [{"role": "user", "content": "hi there"}], **kw}
        raw = client_of(gw).chat.completions.with_raw_response.create(**ask)  # type: ignore[call-overload]
        sent = own.stats.last_body
        via, plain = raw.parse(), direct.chat.completions.create(**ask)  # type: ignore[call-overload]
        assert raw.headers["x-gateway-backend"] == "own"
        assert sent is not None and sent["stream"] is True
        assert sent["stream_options"] == {"include_usage": True}
        assert via.object == "chat.completion" and via.model == plain.model
        got, want = via.choices[0], plain.choices[0]
        assert got.message.content == want.message.content and got.finish_reason == want.finish_reason
        assert [(t.type, t.function) for t in got.message.tool_calls or []] == [
            (t.type, t.function) for t in want.message.tool_calls or []
        ]
        assert via.usage == plain.usage and via.usage is not None


def test_a_real_server_that_counts_nothing_in_streams_gets_plain_requests_again(
    llama_server: str, tiers: Mapping[str, FakeUpstream], tmp_path: Path
) -> None:
    """llama-cpp-python's own server (the same GGUF) ignores `stream_options`: its streams carry no
    usage. The first plain answer is put together from its stream (the text its plain answer has, no
    usage); the backend then says so once in the log and sends plain requests plain."""
    text = routes(llama_server, tiers["large"].base_url)
    text = text.replace("model: m, judge", "model: smollm2-peer, judge")
    g = start_gateway(tmp_path, text, GATEWAY_READ_TIMEOUT_S="60")
    ask = {"model": "m", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}
    ask["temperature"] = 0
    direct = openai.OpenAI(base_url=llama_server, api_key="x", max_retries=0, timeout=60)
    try:
        client = openai.OpenAI(base_url=g.v1, api_key="x", max_retries=0, timeout=60)
        first = client.chat.completions.with_raw_response.create(**ask)  # type: ignore[call-overload]
        second = client.chat.completions.create(**ask)  # type: ignore[call-overload]
    finally:
        stop(g.proc)
    want = direct.chat.completions.create(**{**ask, "model": "smollm2-peer"})  # type: ignore[call-overload]
    assert first.headers["x-gateway-backend"] == "own"
    got = first.parse()
    assert got.choices[0].message.content == want.choices[0].message.content, (got, want)
    assert got.usage is None and second.usage == want.usage  # the second went plain
    assert second.choices[0].message.content == want.choices[0].message.content
    log = g.log.read_text()
    assert log.count("sent no usage in a stream") == 1, log[-2000:]
