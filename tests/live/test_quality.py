"""Routing quality on the operator's own traffic, end to end through the gateway as a real server: the
gateway's own response ids, the decision log file, shadow judging with a scripted judge, feedback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import PROMPT_MARKER, Gateway, start_gateway

ACME, BETA = "sk-acme-quality-1", "sk-beta-quality-2"
ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    max_difficulty: 0.5
    backends: [{{name: cheap, kind: openai, base_url: "{small}", model: cheap-model}}]
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "{large}", model: big-model}}]
  judge:
    price: {{input_per_mtok: 1, output_per_mtok: 1}}
    backends: [{{name: judge, kind: openai, base_url: "{judge}", model: judge-model}}]
routes:
  - {{model: small, tier: small}}
  - {{model: auto, policy: auto, log_features: true}}
  - {{model: judged, tier: small, shadow: {{share: 1.0, reference: large, judge: judge, usd_per_day: 1}}}}
"""


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Gateway, dict[str, FakeUpstream], Path]]:
    ups = {
        "small": FakeUpstream(model="cheap-model", reply="Cheap answer."),
        "large": FakeUpstream(model="big-model", reply="Reference answer."),
        "judge": FakeUpstream(model="judge-model", reply="TIE"),
    }
    for f in ups.values():
        f.start_in_thread()
    tmp = tmp_path_factory.mktemp("quality")
    log = tmp / "logs" / "decisions.jsonl"
    g = start_gateway(
        tmp,
        ROUTES.format(**{k: u.base_url for k, u in ups.items()}),
        GATEWAY_API_KEYS=f"acme:{ACME},beta:{BETA}",
        GATEWAY_DECISION_LOG=str(log),
    )
    yield g, ups, log
    stop(g.proc)
    for f in ups.values():
        f.stop_thread()


def client(gw: Gateway, key: str = ACME) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0, timeout=30)


def logged(path: Path, want: int, deadline_s: float = 5.0) -> list[dict[str, object]]:
    """The log's lines once it holds `want` (the writer is another thread of another process)."""
    end = time.monotonic() + deadline_s
    while True:
        rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        if len(rows) >= want or time.monotonic() > end:
            return rows
        time.sleep(0.05)


def test_clients_see_the_gateways_own_ids(setup: tuple[Gateway, dict[str, FakeUpstream], Path]) -> None:
    gw, _, _ = setup
    plain = client(gw).chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}])
    assert plain.id.startswith("chatcmpl-gw") and plain.id != "fake-1"
    chunks = list(
        client(gw).chat.completions.create(
            model="small", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and next(iter(ids)).startswith("chatcmpl-gw") and ids != {plain.id}


def test_feedback_on_ones_own_answer_only(setup: tuple[Gateway, dict[str, FakeUpstream], Path]) -> None:
    gw, _, log = setup
    answer = client(gw).chat.completions.create(
        model="small", messages=[{"role": "user", "content": PROMPT_MARKER}]
    )

    def rate(body: dict[str, object], key: str = ACME) -> httpx.Response:
        return httpx.post(gw.v1 + "/feedback", json=body, headers={"authorization": f"Bearer {key}"})

    ok = rate({"id": answer.id, "score": 0.8, "comment": "helpful"})
    assert ok.status_code == 200 and ok.json() == {
        "object": "feedback",
        "id": answer.id,
        "label": "good",
        "recorded": True,
    }
    assert rate({"id": answer.id, "label": "bad"}).json()["label"] == "bad"
    assert rate({"id": answer.id, "label": "good"}, key=BETA).status_code == 404  # not beta's answer
    assert rate({"id": "chatcmpl-nope", "label": "good"}).status_code == 404
    bad = rate({"id": answer.id, "score": 3})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "score"
    assert rate({"id": answer.id}).status_code == 400  # neither score nor label
    assert rate({"id": answer.id, "label": "good"}, key="sk-wrong").status_code == 401
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'gateway_feedback_total{label="good",route="small",tier="small"} 1.0' in metrics
    assert 'gateway_feedback_total{label="bad",route="small",tier="small"} 1.0' in metrics
    rows = logged(log, 0)
    feedback = [r for r in rows if r["kind"] == "feedback" and r["id"] == answer.id]
    assert [r["label"] for r in feedback] == ["good", "bad"] and feedback[0]["comment"] == "helpful"
    assert any(r["kind"] == "request" and r["id"] == answer.id and r["tenant"] == "acme" for r in rows)


def test_shadow_judging_end_to_end(setup: tuple[Gateway, dict[str, FakeUpstream], Path]) -> None:
    gw, ups, log = setup
    ups["judge"].replies = ["A", "B"]  # the cheaper answer wins in both orders
    ups["large"].set(mode="slow", delay_ms=3000, times=1)  # the reference takes its time
    t0 = time.perf_counter()
    raw = client(gw).chat.completions.with_raw_response.create(
        model="judged", messages=[{"role": "user", "content": "Q?"}]
    )
    assert time.perf_counter() - t0 < 2.0  # not delayed by the shadow calls (margin for a busy machine)
    answer = raw.parse()
    assert answer.choices[0].message.content == "Cheap answer."  # not changed either
    want = 'gateway_shadow_verdicts_total{route="judged",tier="small",verdict="cheaper_as_good"} 1.0'
    deadline = time.monotonic() + 10
    metrics = ""
    while time.monotonic() < deadline and want not in metrics:  # the series exists from the start, at 0
        metrics = httpx.get(gw.url + "/metrics").text
        time.sleep(0.1)
    assert want in metrics
    rows = logged(log, 0)
    label = [r for r in rows if r["kind"] == "shadow" and r["id"] == answer.id]
    assert label and label[0]["verdict"] == "cheaper_as_good" and label[0]["reference_tier"] == "large"
    assert ups["judge"].stats.last_body is not None  # judged by the judge tier, not by the reference


def test_the_log_holds_no_prompt_by_default(setup: tuple[Gateway, dict[str, FakeUpstream], Path]) -> None:
    gw, _, log = setup
    client(gw).chat.completions.create(model="small", messages=[{"role": "user", "content": PROMPT_MARKER}])
    rows = logged(log, 3)
    assert rows and PROMPT_MARKER not in log.read_text()
    assert PROMPT_MARKER not in gw.log.read_text()
    request = next(r for r in rows if r["kind"] == "request")
    for field in (
        "ts",
        "id",
        "route",
        "tenant",
        "endpoint",
        "tier",
        "backend",
        "outcome",
        "latency_ms",
        "cost_usd",
    ):
        assert field in request


def test_a_logged_request_can_be_scored_again_and_reported(
    setup: tuple[Gateway, dict[str, FakeUpstream], Path], tmp_path: Path
) -> None:
    """What the offline tools read is what the gateway writes: a route with log_features leaves the
    scorer's inputs, which score again to the difficulty the gateway routed on; `gateway report`
    reads the live file."""
    gw, _, log = setup
    prompts = ["hi", "Prove that there are infinitely many primes of the form 4k+3.", "Translate 'cat'."]
    ids = [
        client(gw).chat.completions.create(model="auto", messages=[{"role": "user", "content": p}]).id
        for p in prompts
    ]
    before = len(logged(log, 0))
    rows = logged(log, before)
    mine = {r["id"]: r for r in rows if r.get("id") in ids and r["kind"] == "request"}
    deadline = time.monotonic() + 5
    while len(mine) < len(ids) and time.monotonic() < deadline:
        mine = {r["id"]: r for r in logged(log, 0) if r.get("id") in ids and r["kind"] == "request"}
        time.sleep(0.05)
    assert set(mine) == set(ids)
    assert all(prompt not in log.read_text() for prompt in prompts[1:])  # numbers, not the text

    from gateway.classify.scorer import load_weights
    from gateway.offline.report.log import read_log
    from gateway.offline.report.rescore import rescore

    requests = [r for r in read_log([log]).requests if r.id in ids]
    again = rescore(requests, load_weights(None))
    assert not again.problems
    for i in ids:
        assert abs(again.scores[i] - float(mine[i]["difficulty"])) < 2e-3
    assert len({round(float(mine[i]["difficulty"]), 3) for i in ids}) == 3  # three prompts, three scores

    import subprocess
    import sys

    html = tmp_path / "report.html"
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "report", str(log), "--html", str(html)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "with features: 3" in out.stdout and html.read_text().startswith("<")
