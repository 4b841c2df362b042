"""Live routes.yaml reload: good and bad files, by the watcher and by POST /admin/reload, under load."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from gateway.classify.families import FamilyModel
from gateway.classify.scorer import load_weights
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import REPO, Gateway, start_gateway, started

ADMIN = "admin-key-7d1e"
ROUTES = """
version: 1
default_tier: main
tiers:
  main:
    backends:
      - {{name: {backend}, kind: openai, base_url: "{url}", model: {backend}-model}}
routes:
  - {{model: chat, tier: main}}
"""


def bad_versions(ups: dict[str, FakeUpstream]) -> list[str]:
    good = routes_for(ups, "a")
    return [
        "version: 1\ntiers: [unclosed\n",  # not YAML
        good.replace("{model: chat, tier: main}", "{model: chat, tier: nowhere}"),  # unknown tier
        good.replace("kind: openai", "kind: openai, api_key_env: NO_SUCH_KEY_VARIABLE"),  # unset key
    ]


@pytest.fixture(scope="module")
def ups() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {name: FakeUpstream(model=f"{name}-model", reply=f"{name} answered") for name in ("a", "b")}
    with started(fakes):
        yield fakes


def routes_for(ups: dict[str, FakeUpstream], backend: str) -> str:
    return ROUTES.format(backend=backend, url=ups[backend].base_url)


@pytest.fixture(scope="module")
def gw(ups: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = start_gateway(
        tmp_path_factory.mktemp("reload"),
        routes_for(ups, "a"),
        GATEWAY_RELOAD_INTERVAL_S="0.1",
        GATEWAY_ADMIN_KEY=ADMIN,
    )
    yield g
    stop(g.proc)


def routes_path(gw: Gateway) -> Path:
    return gw.log.parent / "routes.yaml"


def write(path: Path, text: str) -> None:
    # As editors and ConfigMaps do: a new file renamed over the old, never a half-written one.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def admin(gw: Gateway, method: str, path: str, key: str | None = ADMIN) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, gw.url + path, headers=headers, timeout=30)


def answered_by(gw: Gateway) -> str:
    client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=10)
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi"}]
    )
    return raw.headers["x-gateway-backend"]


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    """Until the gateway, another process, shows the condition: its state can only be polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def applied(gw: Gateway, path: Path, seen: float) -> bool:
    """The file at `path` is in force, or a reload since `seen` (ok + error count) took it up."""
    in_force = admin(gw, "GET", "/admin/routes").json()["sha256"]
    taken = reloads(gw, "ok") + reloads(gw, "error") > seen
    return taken or in_force == hashlib.sha256(path.read_bytes()).hexdigest()


def reloads(gw: Gateway, result: str) -> float:
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith(f'gateway_config_reloads_total{{result="{result}"}}'):
            return float(line.split()[-1])
    raise AssertionError("no reload counter")


def test_admin_endpoints_need_the_admin_key(gw: Gateway) -> None:
    for key in (None, "wrong"):
        resp = admin(gw, "GET", "/admin/routes", key)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "invalid_api_key"
    assert admin(gw, "POST", "/admin/reload", "wrong").status_code == 401
    shown = admin(gw, "GET", "/admin/routes").json()
    text = routes_path(gw).read_text()
    assert shown["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    backend = shown["routes"]["tiers"]["main"]["backends"][0]
    assert backend["name"] in ("a", "b") and backend["base_url"].startswith("http://127.0.0.1:")


def test_bad_file_is_rejected_and_the_last_good_rules_keep_serving(
    gw: Gateway, ups: dict[str, FakeUpstream]
) -> None:
    path = routes_path(gw)
    write(path, routes_for(ups, "a"))
    assert admin(gw, "POST", "/admin/reload").status_code == 200
    good_sha = admin(gw, "GET", "/admin/routes").json()["sha256"]
    errors_before = reloads(gw, "error")
    bad = bad_versions(ups)
    write(path, bad[1])
    resp = admin(gw, "POST", "/admin/reload")
    assert resp.status_code == 422
    body = resp.json()
    assert body["result"] == "rejected" and body["sha256"] == good_sha
    assert any("nowhere" in p and "routes.yaml" in p for p in body["problems"])
    assert reloads(gw, "error") >= errors_before + 1
    assert answered_by(gw) == "a"
    write(path, bad[2])
    body = admin(gw, "POST", "/admin/reload").json()
    assert any("NO_SUCH_KEY_VARIABLE" in p for p in body["problems"])
    assert answered_by(gw) == "a"
    write(path, routes_for(ups, "b"))
    body = admin(gw, "POST", "/admin/reload").json()
    # The watcher (0.1 s) may have applied the file first: then there is nothing left to reload.
    assert body["result"] in ("reloaded", "unchanged")
    assert body["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() != good_sha
    assert answered_by(gw) == "b"
    assert admin(gw, "POST", "/admin/reload").json()["result"] == "unchanged"


def test_watcher_applies_changes_without_being_asked(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    path = routes_path(gw)
    write(path, routes_for(ups, "a"))
    wait_for(lambda: answered_by(gw) == "a")
    write(path, routes_for(ups, "b"))
    wait_for(lambda: answered_by(gw) == "b")
    log = gw.log.read_text()
    assert "reloaded: sha256" in log


def test_in_flight_request_finishes_on_the_rules_it_started_with(
    gw: Gateway, ups: dict[str, FakeUpstream]
) -> None:
    path = routes_path(gw)
    write(path, routes_for(ups, "a"))
    assert admin(gw, "POST", "/admin/reload").status_code == 200
    assert answered_by(gw) == "a"
    ups["a"].set(mode="slow", delay_ms=1500, times=1)
    ups["a"].arrived.clear()
    result: dict[str, str] = {}

    def slow() -> None:
        result["backend"] = answered_by(gw)

    t = threading.Thread(target=slow)
    t.start()
    assert ups["a"].arrived.wait(10)  # a is answering the slow request now
    write(path, routes_for(ups, "b"))  # backend a leaves the rules while it is answering
    assert admin(gw, "POST", "/admin/reload").json()["result"] in ("reloaded", "unchanged")
    assert admin(gw, "GET", "/admin/routes").json()["routes"]["tiers"]["main"]["backends"][0]["name"] == "b"
    t.join(10)
    assert result == {"backend": "a"}


def test_reloads_under_load_fail_no_request(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    path = routes_path(gw)
    stop_at = time.monotonic() + 6.0
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=10)
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            try:
                if (n + i) % 2:
                    chunks = list(
                        client.chat.completions.create(
                            model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
                        )
                    )
                    ok = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                else:
                    ok = (
                        client.chat.completions.create(
                            model="chat", messages=[{"role": "user", "content": "hi"}]
                        )
                        .choices[0]
                        .message.content
                        or ""
                    )
                outcome = "ok" if ok.endswith("answered") else f"bad answer {ok!r}"
            except openai.APIError as exc:
                outcome = f"error {type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    ok_before, err_before = reloads(gw, "ok"), reloads(gw, "error")
    bad = bad_versions(ups)
    versions = [routes_for(ups, "a"), bad[0], routes_for(ups, "b"), bad[1], bad[2]]
    i = 0
    while time.monotonic() < stop_at - 0.5:
        seen = reloads(gw, "ok") + reloads(gw, "error")
        write(path, versions[i % len(versions)])
        # Every third version is applied by POST /admin/reload, the others are left to the watcher;
        # either way the next write waits until this one was applied or rejected.
        if i % 3 == 0:
            admin(gw, "POST", "/admin/reload")
        else:
            wait_for(lambda seen=seen: applied(gw, path, seen))
        i += 1
    for t in threads:
        t.join()
    failed = [o for o in outcomes if o != "ok"]
    assert len(outcomes) > 100
    assert not failed, failed[:5]
    assert reloads(gw, "ok") - ok_before >= 4
    assert reloads(gw, "error") - err_before >= 4


@pytest.mark.parametrize("shipped", ["default.json", "difficulty-v2.json"])
def test_a_weights_file_rewritten_in_place_reloads_the_rules(
    ups: dict[str, FakeUpstream], tmp_path: Path, shipped: str
) -> None:
    """The shipped weights (v3 families) and the v2 ones, each rewritten as `gateway train` rewrites a
    file: the rules reload and the scores follow."""
    weights = json.loads((REPO / "gateway" / "classify" / "weights" / shipped).read_text())
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(weights))
    routes = routes_for(ups, "a").replace(
        "routes:\n", "classifier: {weights: weights.json}\nroutes:\n  - {model: auto, policy: auto}\n"
    )
    g = start_gateway(tmp_path, routes, GATEWAY_RELOAD_INTERVAL_S="0.1", GATEWAY_ADMIN_KEY=ADMIN)
    try:
        text = "Explain how a hash map handles collisions, with an example in Python."
        body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
        before = httpx.post(g.v1 + "/route/explain", json=body).json()["difficulty"]
        sha = admin(g, "GET", "/admin/routes").json()["sha256"]
        if "calibration" in weights:
            weights["calibration"]["intercept"] += 3.0  # everything much harder
        else:  # labels added everywhere, nearly all of them shortfalls: every family's rate goes up
            for node in weights["families"]["nodes"]:
                node["added"]["labels"] += 1000.0
                node["added"]["shortfalls"] += 990.0
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(weights))
        tmp.replace(path)
        wait_for(lambda: admin(g, "GET", "/admin/routes").json()["sha256"] != sha)
        after = httpx.post(g.v1 + "/route/explain", json=body).json()["difficulty"]
        assert after > before
    finally:
        stop(g.proc)


def test_a_gateway_serves_train_data_weights_as_training_scores_them(
    ups: dict[str, FakeUpstream], tmp_path: Path
) -> None:
    """`gateway train --data` (counts and the operator layer), then `classifier.weights` naming its
    output: a live gateway's difficulty is the offline model's, request by request."""
    from gateway.cli import main
    from gateway.offline.data import load_labelled
    from gateway.offline.encoded import encode
    from gateway.offline.family_train import family_probabilities
    from tests.offline.test_family_train import traffic

    data = traffic(tmp_path / "mine.jsonl", 160, 11)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "weights.json")]) == 0
    weights = json.loads((tmp_path / "weights.json").read_text())
    assert weights["operator"]["labels"] == 160
    rows = load_labelled(data, "small")[:12]
    model = load_weights(tmp_path / "weights.json")
    assert isinstance(model, FamilyModel)
    offline = family_probabilities(model, encode(rows))
    routes = routes_for(ups, "a").replace(
        "routes:\n", "classifier: {weights: weights.json}\nroutes:\n  - {model: auto, policy: auto}\n"
    )
    g = start_gateway(tmp_path, routes)
    try:
        for row, p in zip(rows, offline, strict=True):
            body = {"model": "auto", **row.body}
            got = httpx.post(g.v1 + "/route/explain", json=body).json()["difficulty"]
            assert got == pytest.approx(float(p), abs=1e-4)
    finally:
        stop(g.proc)


CASCADE = """
version: 1
default_tier: main
classifier: {{weights: weights.json}}
tiers:
  main:
    backends: [{{name: a, kind: openai, base_url: "{a}", model: a-model}}]
  big:
    backends: [{{name: b, kind: openai, base_url: "{b}", model: b-model}}]
routes:
  - {{model: cascade, policy: cascade, draft: main, escalate: [big], verify: {{min_confidence: 0}}}}
"""


def test_a_cascade_weighs_a_trained_familys_drafts_against_its_rate(
    ups: dict[str, FakeUpstream], tmp_path: Path
) -> None:
    """`gateway train --data`, then a cascade: each draft of the operator's families is judged
    against the family's rate moved at most 0.5 log-odds by the request's place in it (the scorer's
    `short`), not against its difficulty, which after the operator layer reads near 0 or 1."""
    import math

    from gateway.classify.draft import Draft
    from gateway.classify.scorer import load_scorer
    from gateway.classify.verifier import load_verifier
    from gateway.cli import main
    from gateway.offline.data import load_labelled
    from tests.offline.test_family_train import traffic

    assert (
        main(
            [
                "train",
                "--data",
                str(traffic(tmp_path / "mine.jsonl", 160, 11)),
                "--out",
                str(tmp_path / "weights.json"),
            ]
        )
        == 0
    )
    scorer = load_scorer(tmp_path / "weights.json")
    verifier = load_verifier(REPO / "gateway" / "classify" / "weights" / "verifier.json")
    rows = load_labelled(traffic(tmp_path / "later.jsonl", 30, 12), "small")
    g = start_gateway(tmp_path, CASCADE.format(a=ups["a"].base_url, b=ups["b"].base_url))
    far = 0
    try:
        client = openai.OpenAI(base_url=g.v1, api_key="x", max_retries=0, timeout=30)
        for row in rows:
            hit, difficulty = scorer.family(row.view), scorer.score(row.view)
            assert hit.short is not None and hit.labels > 0
            raw = client.chat.completions.with_raw_response.create(model="cascade", **row.body)
            assert raw.headers["x-gateway-cascade"] == "accepted", raw.headers
            draft = [Draft(raw.parse().choices[0].message.content or "", "stop")]
            want = verifier.confidence(row.view, draft, hit.short, prior_n=hit.labels)
            assert float(raw.headers["x-gateway-confidence"]) == pytest.approx(want, rel=1e-5)
            odds = (math.log(p / (1 - p)) for p in (max(min(q, 0.99), 0.01) for q in (difficulty, hit.short)))
            far += abs(next(odds) - next(odds)) > 1.0
    finally:
        stop(g.proc)
    assert far >= 3  # where the difficulty would have said something else
