"""A real Prometheus scrapes the gateway under a short mixed load; every dashboard panel query and every
alert expression must parse and return data through Prometheus' HTTP API.

Prometheus is Debian's `prometheus` package (deploy/dev.sh installs it for the test command). Without
it the test skips on a workstation and fails in CI, where it must run.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import free_port, stop, wait_http
from tests.live.test_deploy_monitoring import alert_exprs, dashboard_exprs
from tests.support import REPO, Gateway, start_gateway, system_tool

_FALLBACK = re.compile(r"\s*or on\(\) vector\([^)]*\)")
LOAD_S = 12.0
WORKERS = 4

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    max_difficulty: 0.3
    backends:
      - {{name: small-a, kind: openai, base_url: "{small}", model: small-model}}
  medium:
    price: {{usd_per_hour: 1.5}}
    max_difficulty: 0.6
    backends:
      - {{name: vllm-a, kind: vllm, base_url: "{medium}", model: medium-model}}
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10.0}}
    backends:
      - {{name: hosted, kind: openai, base_url: "{large}", model: large-model}}
  broken:
    backends:
      - {{name: broken-a, kind: openai, base_url: "{broken}", model: broken-model}}
  judge:
    price: {{input_per_mtok: 5.0, output_per_mtok: 20.0}}
    backends:
      - {{name: judge-a, kind: openai, base_url: "{judge}", model: judge-model}}
retry: {{attempts: 2, budget_ratio: 0.05, backoff_ms: 1}}
health: {{interval_s: 1}}
routes:
  - {{model: auto, policy: auto, latency_budget_ms: 400}}
  - {{model: large, tier: large, fallback: [small]}}
  - {{model: broken, tier: broken, fallback: [small]}}
  - {{model: cascade, policy: cascade, draft: small, escalate: [large], verify: {{min_confidence: 0.5}}}}
  - {{model: judged, tier: small, shadow: {{share: 0.5, reference: large, judge: large, usd_per_day: 10}}}}
  # Learning while serving: a judge that always prefers the reference moves families; a route that
  # learns nothing leaves its labels uncounted ("off"): the learning panels' series carry data.
  - {{model: learned, policy: auto, shadow: {{share: 1.0, reference: large, judge: judge, usd_per_day: 10}}}}
  - {{model: unlearned, policy: auto, learn: off,
      shadow: {{share: 1.0, reference: large, judge: judge, usd_per_day: 10}}}}
"""

PROMPTS = [
    "hi",
    "Translate 'good morning' into French.",
    "Prove that there are infinitely many primes, step by step, then write a Python function that "
    "returns the first n primes and analyse its complexity.",
    "Write a SQL query that finds the top 3 customers by revenue per region, and explain each join.",
]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, FakeUpstream]]:
    ups = {
        "small": FakeUpstream(model="small-model", reply="small says hi"),
        "medium": FakeUpstream(model="medium-model", reply="medium answers this one"),
        "large": FakeUpstream(model="large-model", reply="the large tier answers at length here"),
        "broken": FakeUpstream(model="broken-model"),
        "judge": FakeUpstream(model="judge-model", reply="TIE"),
    }
    ups["judge"].prefers = "the large tier"  # the reference's answer is always the better one
    for u in ups.values():
        u.start_in_thread()
    ups["medium"].set(mode="slow", delay_ms=30)
    ups["broken"].set(mode="error", status=500)
    yield ups
    for u in ups.values():
        u.stop_thread()


@pytest.fixture(scope="module")
def gw(upstreams: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    routes = ROUTES.format(**{k: u.base_url for k, u in upstreams.items()})
    g = start_gateway(tmp_path_factory.mktemp("gw-prom"), routes)
    yield g
    stop(g.proc)


@pytest.fixture(scope="module")
def prometheus(gw: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = system_tool("prometheus", "prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    target = gw.url.removeprefix("http://")
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{REPO / 'deploy' / 'prometheus' / 'alerts.yml'}']\n"
        "scrape_configs:\n"
        f"  - {{job_name: gateway, static_configs: [{{targets: ['{target}']}}]}}\n"
    )
    port = free_port()
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/-/ready", proc)
        yield url
    finally:
        stop(proc)


def _load(gw: Gateway, until: float) -> int:
    sent = 0
    lock = threading.Lock()

    def worker(i: int) -> None:
        nonlocal sent
        client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=10)
        n = 0
        while time.monotonic() < until:
            n += 1
            model = ["auto", "auto", "large", "broken", "cascade", "judged", "learned", "unlearned"][
                (n + i) % 8
            ]
            stream = (n + i) % 3 == 0
            extra = {"stream_options": {"include_usage": True}} if stream and n % 2 else {}
            try:
                resp = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": PROMPTS[(n * 7 + i) % len(PROMPTS)]}],
                    stream=stream,
                    **extra,  # type: ignore[arg-type]
                )
                if stream:
                    list(resp)  # type: ignore[arg-type]
                elif n % 5 == 0:  # some feedback, so its series carry data too
                    label = "good" if n % 2 else "bad"
                    httpx.post(gw.v1 + "/feedback", json={"id": resp.id, "label": label})  # type: ignore[union-attr]
            except openai.APIError:
                pass
            if n % 7 == 0:  # a hosted tool a chat backend goes without (the tool rule): drops have data
                hosted = {"model": "large", "input": "x", "tools": [{"type": "web_search"}], "store": False}
                httpx.post(gw.v1 + "/responses", json=hosted, timeout=10)
            with lock:
                sent += 1
        # A few client mistakes, so error series carry data too.
        httpx.post(gw.v1 + "/chat/completions", content=b"{bad json")
        with contextlib.suppress(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent


def _requests_served(gw: Gateway) -> float:
    text = httpx.get(gw.url + "/metrics").text
    return sum(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith("gateway_requests_total{")
    )


def _scraped_requests(prom: str) -> float:
    result = _query(prom, "sum(gateway_requests_total)", time.time())
    return float(result[0]["value"][1]) if result else 0.0  # type: ignore[index]


def _bare(expr: str) -> str:
    """The query without its `or on() vector(x)` fallbacks: those keep a panel drawn on a quiet
    gateway, and would also hide a misspelt metric from this test."""
    return _FALLBACK.sub("", expr)


def _query(prom: str, expr: str, at: float) -> list[dict[str, object]]:
    resp = httpx.get(prom + "/api/v1/query", params={"query": expr, "time": at}, timeout=10)
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "success", f"{expr}: {body.get('error')}"
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_every_panel_and_alert_query_returns_data(gw: Gateway, prometheus: str) -> None:
    sent = _load(gw, time.monotonic() + LOAD_S)
    assert sent > 100
    served = _requests_served(gw)
    deadline = time.monotonic() + 15
    # Until Prometheus has scraped the last requests (it is another process: only a poll can tell).
    while _scraped_requests(prometheus) < served:
        assert time.monotonic() < deadline, "Prometheus never scraped the last requests"
        time.sleep(0.2)
    at = time.time()
    up = _query(prometheus, 'up{job="gateway"}', at)
    assert up and up[0]["value"][1] == "1"  # type: ignore[index]

    assert not _query(prometheus, "gateway_no_such_metric_total", at)  # emptiness is detected
    panels = dashboard_exprs()
    assert len(panels) >= 30
    for _, expr in panels:
        _query(prometheus, expr, at)  # as written, with its fallbacks: parses
    empty = [f"{where}: {expr}" for where, expr in panels if not _query(prometheus, _bare(expr), at)]
    assert not empty, "panel queries that return nothing:\n" + "\n".join(empty)

    alerts = alert_exprs()  # which alerts exist is tests/live/test_deploy_monitoring.py's business
    for name, full, query in alerts:
        _query(prometheus, full, at)  # parses and evaluates (empty while not firing)
        assert _query(prometheus, _bare(query), at), f"{name}: {query} returns nothing"

    rules = httpx.get(prometheus + "/api/v1/rules").json()["data"]["groups"]
    loaded = [r for g in rules for r in g["rules"]]
    assert len(loaded) == len(alerts)
    assert all(r["health"] == "ok" for r in loaded), [r for r in loaded if r["health"] != "ok"]
