"""Load-aware spillover, active health, and cancellation, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import Gateway, start_gateway, started, stop

pytestmark = pytest.mark.model  # the gateway loads it for its local tier

PROMPT = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    ups = {n: FakeUpstream(model=f"fake-{n}", reply=f"from {n}") for n in ("a", "b", "large")}
    with started(ups):
        yield ups


@pytest.fixture(autouse=True)
def reset(fakes: dict[str, FakeUpstream]) -> Iterator[None]:
    yield
    for f in fakes.values():
        f.set()
        f.healthy = True
        f.metrics = {"waiting": 0, "running": 0, "kv_cache": 0.1}


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    a, b, large = fakes["a"], fakes["b"], fakes["large"]
    routes = f"""
version: 1
default_tier: medium
health: {{interval_s: 0.2, timeout_s: 0.5, unhealthy_after: 2, healthy_after: 1}}
# Slow fakes send their first byte 3 s late: slow, not hung (at the default 2 s, a stream would move
# on to the next candidate: test_tier_hang.py).
breaker: {{silent_s: 10}}
tiers:
  small:
    backends:
      - {{name: local, kind: llamacpp, n_ctx: 512, queue_size: 0, ttft_ms: 10, tpot_ms: 1}}
  medium:
    price: {{input_per_mtok: 0.2, output_per_mtok: 0.2}}
    backends:
      - {{name: fake-a, kind: vllm, base_url: "{a.base_url}", model: m, scrape_interval_s: 0.2,
          max_waiting: 32, max_kv_cache: 0.9, ttft_ms: 50, tpot_ms: 1}}
      - {{name: fake-b, kind: vllm, base_url: "{b.base_url}", model: m, scrape_interval_s: 0.2,
          max_waiting: 32, max_kv_cache: 0.9, ttft_ms: 50, tpot_ms: 1}}
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends:
      - {{name: fake-large, kind: openai, base_url: "{large.base_url}", model: l, ttft_ms: 50, tpot_ms: 1}}
routes:
  - {{model: vllm, tier: medium, fallback: [large]}}
  - {{model: local, tier: small, fallback: [large]}}
  - {{model: ordered, tier: large, fallback: [medium]}}
"""
    g = start_gateway(tmp_path_factory.mktemp("resilience"), routes)
    yield g
    stop(g.proc)


def backend(gw: Gateway, model: str = "vllm", **extra: object) -> str:
    resp = httpx.post(
        gw.v1 + "/chat/completions", json={"model": model, "messages": PROMPT, **extra}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    return resp.headers["x-gateway-backend"]


def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < within, "condition not reached"
        time.sleep(0.05)


def test_least_loaded_replica_first(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    assert backend(gw) == "fake-a"  # idle: file order
    fakes["a"].metrics = {"waiting": 30, "running": 20, "kv_cache": 0.5}  # below max_waiting: busy, not full
    eventually(lambda: backend(gw) == "fake-b")
    assert httpx.get(gw.url + "/readyz").json()["backends"]["fake-a"]["saturated"] is False


def test_saturated_replicas_spill_to_the_next_tier(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["a"].metrics = {"waiting": 40, "running": 64, "kv_cache": 0.5}  # queue past max_waiting
    fakes["b"].metrics = {"waiting": 0, "running": 64, "kv_cache": 0.97}  # KV cache past max_kv_cache
    eventually(lambda: backend(gw) == "fake-large")
    state = httpx.get(gw.url + "/readyz").json()["backends"]
    assert state["fake-a"]["saturated"] and state["fake-b"]["saturated"]
    fakes["b"].metrics = {"waiting": 0, "running": 1, "kv_cache": 0.2}
    eventually(lambda: backend(gw) == "fake-b")


def test_stale_metrics_count_as_unknown(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["a"].metrics = {"waiting": 50, "running": 64, "kv_cache": 0.99}
    eventually(lambda: backend(gw) == "fake-b")
    fakes["a"].metrics = {}  # /metrics now fails: the last reading goes stale (3 intervals)

    def unknown() -> bool:
        state = httpx.get(gw.url + "/readyz").json()["backends"]["fake-a"]
        return state["saturated"] is False and state["queued"] == 0

    eventually(unknown)  # an unknown load is not a saturated one: fake-a is a candidate again


def test_active_health_check_takes_a_backend_out_and_back(
    gw: Gateway, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["a"].healthy = False  # /health says 503; completions would still work
    eventually(lambda: httpx.get(gw.url + "/readyz").json()["backends"]["fake-a"]["up"] is False)
    assert backend(gw) == "fake-b"
    assert fakes["a"].stats.paths.get("/health", 0) > 0
    assert all(not p.startswith("/v1/models") for p in fakes["a"].stats.paths)  # vLLM: /health, not billed
    fakes["a"].healthy = True
    eventually(lambda: httpx.get(gw.url + "/readyz").json()["backends"]["fake-a"]["up"] is True)


def test_route_fallback_order(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    assert backend(gw, "ordered") == "fake-large"
    fakes["large"].set(mode="error", status=500)
    assert backend(gw, "ordered") == "fake-a"  # large → medium, as the route says


def test_full_local_queue_spills_instead_of_failing(gw: Gateway) -> None:
    """queue_size 0: one generation at a time; concurrent requests go on to the next tier, no errors."""
    body = {"model": "local", "messages": PROMPT, "max_tokens": 64, "logit_bias": {"0": -100, "2": -100}}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gw.v1, timeout=60) as client:
            return await asyncio.gather(*(client.post("/chat/completions", json=body) for _ in range(4)))

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    served = sorted(r.headers["x-gateway-backend"] for r in responses)
    assert "local" in served and "fake-large" in served, served


def test_client_disconnect_cancels_the_upstream_stream(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    for f in (fakes["a"], fakes["b"]):
        f.set(mode="slow", delay_ms=3000)  # spread over the stream's chunks
        f.stats.aborted = 0
    body = {"model": "vllm", "messages": PROMPT, "stream": True}
    with httpx.stream("POST", gw.v1 + "/chat/completions", json=body, timeout=30) as resp:
        served = fakes[resp.headers["x-gateway-backend"].removeprefix("fake-")]
        for line in resp.iter_lines():
            if line.startswith("data:"):
                break  # the client leaves after the first event
    eventually(lambda: served.stats.aborted == 1, within=3.0)
