"""Light traffic, and a replica that hangs for good while in rotation (it accepts, never answers).

One client sends a request about every 0.3 s. Every request the hung replica accepts must be hedged to
its replica, and answered in about the hedge's delay, until its breaker ejects it. Before, the retry
budget's floor was a count per window (3 in 10 s): the fourth request A accepted was refused its hedge
and waited for its client's timeout (30 s in a scratch run), although B was idle. The floor is now
retries in flight at once, as in Envoy's retry budget (resilience/retry.py), so hedges that each end
before the next is asked for are never refused.

Everything is at its defaults but the replicas' latency priors (close to what the fakes measure) and
the estimator's half-life (1 s): a hedged request makes A look slow, and A is tried again once that
has drifted back, so that A accepts more requests in the hang than the old floor allowed hedges for
(at the default 30 s, it accepted 2 to 5 in scratch runs, and a run with 3 or fewer shows nothing).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import Gateway, chat_once, replica_routes, start_gateway, stop

WARM_S, HANG_S, PAUSE_S = 1.5, 5.0, 0.3
CLIENT_TIMEOUT_S = 8.0  # a request the gateway failed to rescue fails here
CHAT = "/v1/chat/completions"


@dataclass
class Answer:
    start: float
    seconds: float
    backend: str | None
    error: str | None


@pytest.fixture(scope="module")
def gw(
    replica_fakes: Mapping[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    routes = replica_routes(replica_fakes, half_life_s=1, priors="ttft_ms: 20, tpot_ms: 0.05")
    g = start_gateway(tmp_path_factory.mktemp("light-hang"), routes)
    yield g
    stop(g.proc)


def won_hedges(gw: Gateway) -> float:
    text = httpx.get(gw.url + "/metrics", timeout=5).text
    m = re.search(r'^gateway_hedges_total\{backend="rep-a",result="won",tier="local"\} (\S+)$', text, re.M)
    return float(m[1]) if m else 0.0


def send(client: openai.OpenAI, stream: bool) -> Answer:
    start = time.monotonic()
    backend, error = chat_once(client, "local", stream)
    return Answer(start, time.monotonic() - start, backend, error)


def test_every_request_a_hung_replica_accepts_is_hedged(
    gw: Gateway, replica_fakes: Mapping[str, FakeUpstream]
) -> None:
    a = replica_fakes["a"]
    client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=CLIENT_TIMEOUT_S)
    answers: list[Answer] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < WARM_S:
        answers.append(send(client, len(answers) % 2 == 0))
        time.sleep(PAUSE_S)
    reached = a.stats.paths.get(CHAT, 0)
    assert reached > 0  # A took its share before it hung
    a.set(mode="hang")
    t_hang = time.monotonic()
    while time.monotonic() - t_hang < HANG_S:
        answers.append(send(client, len(answers) % 2 == 0))
        time.sleep(PAUSE_S)
    hung = [x for x in answers if x.start >= t_hang]
    accepted = a.stats.paths.get(CHAT, 0) - reached  # requests A accepted while it hung
    slowest, won = max(x.seconds for x in hung), won_hedges(gw)
    print(f"\nLIGHT-HANG requests={len(hung)} a_accepted={accepted} won={won} slowest={slowest:.3f}s")

    assert not [x for x in answers if x.error], [x for x in answers if x.error]
    assert accepted >= 4  # more than the old floor allowed hedges for in a window
    assert won >= accepted  # each was answered by its hedge
    assert all(x.backend == "rep-b" for x in hung)
    assert slowest < 2.0, slowest  # the hedge's delay (a few times B's p95), not a timeout
