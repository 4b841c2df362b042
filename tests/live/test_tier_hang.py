"""A lone self-hosted backend that hangs (accepts, never answers), and a hosted tier behind it.

The hosted tier is billed per token, so nothing hedges to it (a cancelled hedge is still billed): a
request waits for the self-hosted attempt's own bound, a stream's first-token deadline or, for a
plain answer, the read timeout (60 s and 300 s by default; 4 s and 4.5 s here), and then falls back.
Once, not twice: a timed-out attempt used to be retried on the same hung backend before the fallback
(`retry.attempts` is 2 by default), doubling the wait (a streamed request waited 120 s at the
defaults in a scratch run).

The requests that come while one waits there need not wait at all: a backend silent far longer than
it takes to answer (routing/board.py: SILENT_TAILS times its p95, at least `breaker.silent_s`) is taken as
hung and ranked last, so they go to the fallback at once. Before, each went to the hung backend and
waited its bound, until its breaker had counted five of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping

import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import REPLICA, Gateway, chat_once, start_gateway, started, stop

FIRST_TOKEN_S, READ_S = 4.0, 4.5
SILENT_S = 2.0  # breaker.silent_s: its default


@pytest.fixture(scope="module")
def tiers() -> Iterator[Mapping[str, FakeUpstream]]:
    ups = {"medium": FakeUpstream(model="m", reply="from medium"), "large": FakeUpstream(model="l")}
    with started(ups, **REPLICA) as fakes:
        yield fakes


@pytest.fixture(scope="module")
def gw(tiers: Mapping[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    medium, large = tiers["medium"], tiers["large"]
    routes = f"""
version: 1
default_tier: medium
tiers:
  medium:
    backends:
      - {{name: vllm-1, kind: vllm, base_url: "{medium.base_url}", model: m, ttft_ms: 20, tpot_ms: 0.05}}
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


@pytest.mark.parametrize("stream", [True, False])
def test_a_hung_backend_holds_a_request_for_its_bound_once_and_the_next_go_to_the_fallback(
    gw: Gateway, tiers: Mapping[str, FakeUpstream], stream: bool
) -> None:
    client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=30)
    medium = tiers["medium"]
    assert chat_once(client, "m", stream) == ("vllm-1", None)
    medium.set(mode="hang")
    held: list[tuple[tuple[str | None, str | None], float]] = []

    def first() -> None:
        t0 = time.monotonic()
        got = chat_once(client, "m", stream)
        held.append((got, time.monotonic() - t0))

    try:
        reached = medium.stats.paths.get("/v1/chat/completions", 0)
        thread = threading.Thread(target=first)
        thread.start()
        time.sleep(SILENT_S + 0.5)  # it waits there, unanswered
        t0 = time.monotonic()
        later = chat_once(client, "m", stream)
        took = time.monotonic() - t0
        thread.join(30)
    finally:
        medium.set(**REPLICA)
    assert later == ("hosted", None) and took < 1.0, (later, took)  # taken as hung: not asked
    [(got, waited)] = held
    bound = FIRST_TOKEN_S if stream else READ_S
    assert got == ("hosted", None) and bound - 0.1 < waited < bound + 0.9, waited  # once, not twice
    assert medium.stats.paths.get("/v1/chat/completions", 0) - reached == 1
