"""`model: auto` end to end: the real embedded model as the small tier, fake medium and large tiers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.classify.scorer import default_scorer
from gateway.classify.view import view_of_body
from gateway.testing.fake_upstream import FakeUpstream
from tests.support import Gateway, start_gateway, started, stop

pytestmark = pytest.mark.model  # the gateway serves the small tier from it

EASY = "hi"
HARD = "Prove that there are infinitely many primes, step by step."


def difficulty(text: str) -> float:
    return default_scorer().score(view_of_body({"messages": [{"role": "user", "content": text}]}))


@pytest.fixture(scope="module")
def tiers() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {
        "medium": FakeUpstream(model="fake-medium", reply="medium here"),
        "large": FakeUpstream(model="fake-large", reply="large here"),
    }
    with started(fakes):
        yield fakes


@pytest.fixture(scope="module")
def gw(tiers: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    easy, hard = difficulty(EASY), difficulty(HARD)
    assert easy < hard - 0.01, (easy, hard)  # v3: a greeting ~0.0001, the proof ~0.05
    routes = f"""
version: 1
default_tier: small
estimator: {{half_life_s: 1.0}}
tiers:
  small:
    max_difficulty: {(easy + hard) / 2:.4f}
    backends:
      - {{name: smollm2, kind: llamacpp, n_ctx: 1024, ttft_ms: 50, tpot_ms: 10}}
  medium:
    price: {{input_per_mtok: 0.2, output_per_mtok: 0.2}}
    backends:
      - {{name: fake-medium, kind: openai, base_url: "{tiers["medium"].base_url}", model: fake-medium,
          ttft_ms: 50, tpot_ms: 1}}
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends:
      - {{name: fake-large, kind: openai, base_url: "{tiers["large"].base_url}", model: fake-large,
          ttft_ms: 100, tpot_ms: 2}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: budgeted, policy: auto, latency_budget_ms: 400, expected_output_tokens: 10}}
  - {{model: strict, policy: auto, on_budget_miss: reject, expected_output_tokens: 10}}
"""
    g = start_gateway(tmp_path_factory.mktemp("routing"), routes)
    yield g
    stop(g.proc)


@pytest.fixture(autouse=True)
def healthy(tiers: dict[str, FakeUpstream]) -> Iterator[None]:
    for f in tiers.values():
        f.set()
    yield
    for f in tiers.values():
        f.set()


def chat(
    gw: Gateway, model: str, text: str, headers: dict[str, str] | None = None, **extra: object
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 8, **extra}
    return httpx.post(gw.v1 + "/chat/completions", json=body, headers=headers or {}, timeout=30)


def test_easy_goes_to_the_embedded_model_hard_to_medium(gw: Gateway) -> None:
    easy = chat(gw, "auto", EASY)
    assert easy.status_code == 200, easy.text
    assert easy.headers["x-gateway-tier"] == "small"
    assert easy.json()["model"] == "SmolLM2-135M-Instruct"
    # six significant digits, not three decimals: a short prompt's 1e-5 is not read as 0
    assert float(easy.headers["x-gateway-difficulty"]) == pytest.approx(difficulty(EASY), rel=1e-5)
    assert easy.headers["x-gateway-reason"] == "cheapest_capable"
    hard = chat(gw, "auto", HARD)
    assert hard.headers["x-gateway-tier"] == "medium"
    assert hard.json()["choices"][0]["message"]["content"] == "medium here"


def test_streaming_auto_route(gw: Gateway) -> None:
    with httpx.stream(
        "POST",
        gw.v1 + "/chat/completions",
        timeout=30,
        json={"model": "auto", "stream": True, "messages": [{"role": "user", "content": HARD}]},
    ) as r:
        assert r.headers["x-gateway-tier"] == "medium"
        assert "[DONE]" in r.read().decode()


def test_budget_header_moves_an_easy_request_off_the_slow_tier(gw: Gateway) -> None:
    # 10 expected tokens: small 50 + 100 = 150 ms, medium 50 + 10 = 60 ms
    assert chat(gw, "budgeted", EASY).headers["x-gateway-tier"] == "small"
    tight = chat(gw, "budgeted", EASY, {"x-latency-budget-ms": "100"})
    assert tight.headers["x-gateway-tier"] == "medium"
    assert tight.headers["x-gateway-reason"] == "cheapest_capable_in_budget"
    ttft = chat(gw, "budgeted", EASY, {"x-slo-ttft-ms": "0.001"})  # nobody: the fastest capable
    assert ttft.headers["x-gateway-reason"] == "budget_miss_fastest_capable"


def test_unmeetable_budget_can_be_refused(gw: Gateway) -> None:
    resp = chat(gw, "strict", HARD, {"x-latency-budget-ms": "5"})
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "latency_budget_unmeetable"
    assert "expected" in err["message"]


@pytest.mark.parametrize("value", ["soon", "-5", "0", "nan", "1e99"])
def test_bad_budget_header_is_400(gw: Gateway, value: str) -> None:
    resp = chat(gw, "auto", EASY, {"x-latency-budget-ms": value})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "x-latency-budget-ms"


def test_explain_decides_without_generating(gw: Gateway, tiers: dict[str, FakeUpstream]) -> None:
    before = dict(tiers["medium"].stats.paths)
    resp = httpx.post(
        gw.v1 + "/route/explain",
        headers={"x-latency-budget-ms": "1000"},
        json={"model": "auto", "messages": [{"role": "user", "content": HARD}]},
    )
    assert resp.status_code == 200
    d = resp.json()
    assert (d["tier"], d["backend"], d["reason"]) == ("medium", "fake-medium", "cheapest_capable_in_budget")
    assert d["difficulty"] == pytest.approx(difficulty(HARD), abs=1e-3)
    assert [c["tier"] for c in d["candidates"]] == ["medium", "large", "small"]
    assert d["features"]["reasoning"] is True
    assert tiers["medium"].stats.paths == before


def test_failed_tier_falls_back_to_the_next(gw: Gateway, tiers: dict[str, FakeUpstream]) -> None:
    tiers["medium"].set(mode="error", status=500)
    resp = chat(gw, "auto", HARD)
    assert resp.status_code == 200
    assert resp.headers["x-gateway-tier"] == "large"
    assert resp.headers["x-gateway-reason"] == "cheapest_capable;fallback"


@pytest.mark.parametrize("stream", [False, True])
def test_traffic_leaves_a_slow_tier_and_returns(
    gw: Gateway, tiers: dict[str, FakeUpstream], stream: bool
) -> None:
    medium = tiers["medium"]

    def tier() -> str:
        if not stream:
            return chat(gw, "budgeted", HARD).headers["x-gateway-tier"]
        body = {"model": "budgeted", "stream": True, "messages": [{"role": "user", "content": HARD}]}
        with httpx.stream("POST", gw.v1 + "/chat/completions", json=body, timeout=30) as r:
            r.read()
            return r.headers["x-gateway-tier"]

    time.sleep(2.5)  # earlier tests' samples decay
    assert tier() == "medium"
    medium.set(mode="slow", delay_ms=1000)
    sent_before = sum(medium.stats.paths.values())
    tiers_seen = [tier() for _ in range(6)]
    slow_hits = sum(medium.stats.paths.values()) - sent_before
    assert tiers_seen[-3:] == ["large"] * 3, tiers_seen
    assert slow_hits <= 3, tiers_seen  # left within a bounded number of requests

    medium.set()  # recovered
    t0 = time.monotonic()
    while tier() != "medium":
        assert time.monotonic() - t0 < 10, "traffic did not come back"
        time.sleep(0.2)
    assert [tier() for _ in range(3)] == ["medium"] * 3
