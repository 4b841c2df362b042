"""A lone self-hosted backend that hangs (accepts, never answers), and a hosted tier behind it.

The hosted tier is billed per token, so nothing hedges to it (a cancelled hedge is still billed).
Before, a request waited there for its own bound, a stream's first-token deadline (60 s by default)
or a plain answer's read timeout (300 s), and then fell back; once, not twice (a timed-out attempt
used to be retried on the same hung backend first, doubling the wait).

Now a backend silent far longer than it takes to answer (routing/board.py: SILENT_TAILS times its
p95, at least `breaker.silent_s`, plus `breaker.silent_s_per_ktok` for each thousand tokens of the
longest prompt waiting) is taken as hung: a stream waiting there moves on to the fallback, and the
backend's breaker ejects it. A plain answer is silent while it is written, for as long as it is
long: a plain request moves on only where the engine's own token counters tell writing from
hanging (vLLM's `/metrics`), once they have stood still that long and as late as a scrape may tell
(here: scrapes every 0.25 s, 2.375 s later). Where they move, the plain answer is waited for.

The requests that come while one waits there need not wait at all: taken as hung, the backend is
ranked last, so they go to the fallback at once. Before, each went to the hung backend and waited
its bound, until its breaker had counted five of them. A long prompt is not a hang: it is given the
time to be read (a coding agent's first turn), and requests beside it still go to the backend; so
is one read in chunks for longer than that, while the engine's KV cache fills.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import aiohttp
import openai
import pytest

from gateway.backends.sglang import SGLangBackend
from gateway.backends.vllm import VLLMBackend
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

FIRST_TOKEN_S, READ_S = 8.0, 10.0
SILENT_S, PER_KTOK_S = 2.0, 0.5  # breaker.silent_s and silent_s_per_ktok: their defaults
SCRAPE_S = 0.25
LAG_S = 1.5 * SCRAPE_S + 2.0  # how late a scrape may tell the engine works (backends/vllm.py)


@pytest.fixture(scope="module", params=["vllm", "sglang"])
def engine(request: pytest.FixtureRequest) -> str:
    """The self-hosted server's kind: every test here holds for an SGLang server as for a vLLM one."""
    return str(request.param)


@pytest.fixture(scope="module")
def own(engine: str) -> str:
    return f"{engine}-1"  # the self-hosted backend's name


@pytest.fixture(scope="module")
def tiers(engine: str) -> Iterator[Mapping[str, FakeUpstream]]:
    ups = {
        "medium": FakeUpstream(model="m", reply="from medium", engine=engine),
        "large": FakeUpstream(model="l"),
    }
    with started(ups, **REPLICA) as fakes:
        yield fakes


@pytest.fixture(scope="module")
def gw(
    tiers: Mapping[str, FakeUpstream], engine: str, own: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    medium, large = tiers["medium"], tiers["large"]
    routes = f"""
version: 1
default_tier: medium
tiers:
  medium:
    backends:
      - {{name: {own}, kind: {engine}, base_url: "{medium.base_url}", model: m, ttft_ms: 20, tpot_ms: 0.05,
          scrape_interval_s: {SCRAPE_S}}}
  large:
    price: {{input_per_mtok: 5.0, output_per_mtok: 15.0}}
    backends:
      - {{name: hosted, kind: openai, base_url: "{large.base_url}", model: l}}
routes:
  - {{model: m, tier: medium, fallback: [large]}}
"""
    g = start_gateway(
        tmp_path_factory.mktemp("tier-hang"),
        routes,
        GATEWAY_FIRST_TOKEN_TIMEOUT_S=str(FIRST_TOKEN_S),
        GATEWAY_READ_TIMEOUT_S=str(READ_S),
    )
    yield g
    stop(g.proc)


def beside(
    gw: Gateway,
    own: str,
    medium: FakeUpstream,
    stream: bool,
    first: Callable[[openai.OpenAI], Answered],
    **script: Any,
) -> Beside:
    """`first` while the self-hosted backend `own` follows `script`, and a short request sent beside it
    SILENT_S + 0.5 s later."""
    client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=30)
    answered_by(client, "m", own, stream)

    def later() -> Answered:
        return chat_once(client, "m", stream)

    return held_beside(medium, lambda: first(client), later, SILENT_S + 0.5, **script)


@pytest.mark.parametrize("stream", [True, False])
def test_a_hung_backend_holds_a_request_for_its_bound_once_and_the_next_go_to_the_fallback(
    gw: Gateway, own: str, tiers: Mapping[str, FakeUpstream], stream: bool
) -> None:
    seen = beside(
        gw, own, tiers["medium"], stream, lambda client: chat_once(client, "m", stream), mode="hang"
    )
    assert seen.later == ("hosted", None) and seen.later_s < 1.0, seen  # taken as hung: not asked
    bound = SILENT_S if stream else SILENT_S + LAG_S  # given up once the silence is a hang
    assert seen.first == ("hosted", None) and bound - 0.1 < seen.first_s < bound + 0.9, seen
    assert seen.reached == 1  # once, not twice


def test_a_long_prompt_being_read_is_not_taken_for_a_hang(
    gw: Gateway, own: str, tiers: Mapping[str, FakeUpstream]
) -> None:
    """A 12k-token prompt whose first token takes 3 s (the fake sends nothing until then, as a server
    reading it would) is answered where it was sent, and so is a short request sent beside it after
    2.5 s: the backend may be silent for 2 + 12 x 0.5 s while that prompt waits. Before, the short
    one went to the hosted tier (the backend taken as hung after 2 s of silence)."""
    long_prompt = "lorem ipsum dolor sit amet " * 1800  # 48.6k characters: about 12k tokens

    def first(client: openai.OpenAI) -> Answered:
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": long_prompt}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        return raw.headers.get("x-gateway-backend"), None if text else "empty stream"

    seen = beside(gw, own, tiers["medium"], True, first, mode="slow", delay_ms=3000, spread=False)
    assert seen.first == (own, None) and seen.later == (own, None), seen
    assert seen.reached == 2


def test_a_prompt_read_in_chunks_past_its_allowance_is_not_taken_for_a_hang(
    gw: Gateway, own: str, tiers: Mapping[str, FakeUpstream]
) -> None:
    """A short prompt whose first token takes 4 s, twice what its size allows, while the engine fills
    its KV cache step by step (vLLM reads a long prompt in chunks and reports the cache's usage at
    every step; its token counters move only once the prompt is read): the stream is answered where
    it was sent, and so is a request sent beside it 2.5 s in. Before, the stream moved on to the
    hosted tier after 2 s and the backend was ejected."""
    seen = beside(
        gw,
        own,
        tiers["medium"],
        True,
        lambda client: chat_once(client, "m", True),
        mode="slow",
        delay_ms=4000,
        spread=False,
        prefill=True,
    )
    assert seen.first == (own, None) and seen.first_s > 2 * SILENT_S, seen
    assert seen.later == (own, None) and seen.reached == 2, seen


def test_a_long_plain_answer_being_written_is_not_taken_for_a_hang(
    gw: Gateway, own: str, tiers: Mapping[str, FakeUpstream]
) -> None:
    """A plain answer that takes 5 s to write, its engine's token counter moving all along (the
    fake's, as vLLM's `generation_tokens_total` and SGLang's `realtime_tokens_total` do; SGLang's own
    `generation_tokens_total` stands still until the answer ends), is answered where it was sent,
    past the 4.4 s a silent one is given; a request sent beside it 2.5 s in goes there too. Before,
    the second went to the hosted tier (the backend taken as hung after 2 s of silence)."""
    seen = beside(
        gw,
        own,
        tiers["medium"],
        False,
        lambda client: chat_once(client, "m", False),
        mode="slow",
        delay_ms=5000,
    )
    assert seen.first == (own, None) and seen.first_s > SILENT_S + LAG_S + 0.3, seen
    assert seen.later == (own, None) and seen.reached == 2, seen


async def test_a_servers_token_counters_say_when_its_engine_works(
    engine: str, tiers: Mapping[str, FakeUpstream]
) -> None:
    """What the plain requests above go by (backends/vllm.py, backends/sglang.py): a scrape that finds
    the counters moved sets `progressed_at`; how late they may tell is known once they were shown,
    and unknown again while the metrics are stale (a plain answer is then waited for)."""
    medium = tiers["medium"]
    root = medium.base_url.removesuffix("/v1")
    t = [1000.0]
    kind = SGLangBackend if engine == "sglang" else VLLMBackend
    async with aiohttp.ClientSession() as session:
        backend = kind(
            "v", "m", medium.base_url, session, metrics_url=root + "/metrics", health_url=root + "/health",
            max_waiting=16, max_kv_cache=0.95, scrape_interval_s=1.0, clock=lambda: t[0],
        )  # fmt: skip
        assert backend.progress_lag_s is None  # never scraped
        await backend.scrape()
        assert backend.progress_lag_s == 1.5 * 1.0 + 2.0 and backend.progressed_at == -math.inf
        t[0] += 0.5
        await backend.scrape()
        assert backend.progressed_at == -math.inf  # still
        medium.generated += 3
        t[0] += 0.5
        await backend.scrape()
        assert backend.progressed_at == 1001.0  # moved
        t[0] += 0.5
        await backend.scrape()
        assert backend.progressed_at == 1001.0  # still
        medium.metrics["kv_cache"] += 0.01  # a prompt read in chunks: no token counted yet
        t[0] += 0.5
        await backend.scrape()
        assert backend.progressed_at == 1002.0
        t[0] += 3.5  # no scrape for over 3 intervals: stale
        assert backend.progress_lag_s is None


async def test_a_server_whose_metrics_show_no_load_is_named_once(
    engine: str, tiers: Mapping[str, FakeUpstream], caplog: pytest.LogCaptureFixture
) -> None:
    """Metrics under the other kind's names (an SGLang server taken for vLLM, or one started without
    --enable-metrics) or an error in their place leave the load unknown: the gateway says so once,
    with what to do and without the URL, and again only after the load was seen in between."""
    medium = tiers["medium"]
    root = medium.base_url.removesuffix("/v1")
    right, wrong = (SGLangBackend, VLLMBackend) if engine == "sglang" else (VLLMBackend, SGLangBackend)

    def make(kind: type[VLLMBackend], session: aiohttp.ClientSession) -> VLLMBackend:
        return kind(
            "v", "m", medium.base_url, session, metrics_url=root + "/metrics", health_url=root + "/health",
            max_waiting=16, max_kv_cache=0.95, scrape_interval_s=1.0,
        )  # fmt: skip

    async with aiohttp.ClientSession() as session:
        with caplog.at_level(logging.WARNING, logger="gateway.backends.vllm"):
            mistaken, backend = make(wrong, session), make(right, session)
            for _ in range(3):
                await mistaken.scrape()
            assert mistaken.load() is None
            await backend.scrape()
            assert backend.load() is not None
            saved = dict(medium.metrics)
            medium.metrics.clear()  # the fake's /metrics answers 500
            try:
                await backend.scrape()
                await backend.scrape()
            finally:
                medium.metrics.update(saved)
            await backend.scrape()  # its load seen again: the next failure is told again
            medium.metrics.clear()
            try:
                await backend.scrape()
            finally:
                medium.metrics.update(saved)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    hint = "--enable-metrics" if wrong is SGLangBackend else "--disable-log-stats"
    assert lines[0].startswith(f"backend v ({wrong.kind}): its metrics show none of ") and hint in lines[0]
    assert "answered 500" in lines[1] and lines[1] == lines[2]
    assert all(root not in line for line in lines)
