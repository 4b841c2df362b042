"""Learning while serving, end to end, no restart: a gateway whose shadow judge (a fake over real HTTP)
says the cheap tier's answers fall short moves a family to the reference tier after the number of
verdicts the defaults predict (computed below with the gateway's own code, before any request);
ratings do the same, within each tenant's cap; a frozen route does not move; a reset returns to the
prior; two replicas on one redis-server agree; a restart with GATEWAY_STATE_DIR keeps what was learned.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.classify.scorer import default_scorer
from gateway.classify.view import view_of_body
from gateway.learning.layer import LearnedLayer
from gateway.learning.rails import Rails
from gateway.tenancy.learned_store import Decayed
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import REPO, Gateway, start_gateway, start_redis, started

ACME, BETA, ADMIN = "sk-acme-learn-1", "sk-beta-learn-2", "sk-admin-learn-3"
OTHERS = [f"sk-tenant-{i}-learn" for i in range(5)]  # more tenants, each with its own cap
KEYS = ",".join([f"acme:{ACME}", f"beta:{BETA}", *(f"t{i}:{k}" for i, k in enumerate(OTHERS))])
THRESHOLD = 0.5
PROMPT = "What is the capital of France?"
OTHER = "Write a short poem about the sea."  # another family
ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    max_difficulty: THRESHOLD
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}
    backends: [{{name: cheap, kind: openai, base_url: "{small}", model: cheap-model}}]
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "{large}", model: big-model}}]
  judge:
    price: {{input_per_mtok: 5, output_per_mtok: 20}}  # dearer than large: never a routing choice
    backends: [{{name: judge, kind: openai, base_url: "{judge}", model: judge-model}}]
routes:
  - {{model: auto, policy: auto,
      shadow: {{share: 1.0, explore: 0, reference: large, judge: judge, usd_per_day: 100}}}}
  - {{model: frozen, policy: auto, learn: frozen,
      shadow: {{share: 1.0, explore: 0, reference: large, judge: judge, usd_per_day: 100}}}}
  - {{model: rated, policy: auto}}
""".replace("THRESHOLD", str(THRESHOLD))


def _body(model: str = "auto") -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 8}


def predicted(shortfall: float) -> tuple[str, int]:
    """The request's family, and after how many labels all saying `shortfall` the defaults move it
    off the cheap tier: the gateway's own scorer, guard rails and layer, before any request is sent."""
    scorer = default_scorer()
    view = view_of_body(_body())
    score, hit = scorer.scored(view)
    assert hit is not None and score <= THRESHOLD, "the prompt must start on the cheap tier"
    rails = Rails(thresholds=(THRESHOLD, 1.0))
    for n in range(1, 200):
        layer = LearnedLayer(hit.family_set, scorer, rails, lambda: 0.0)  # type: ignore[arg-type]
        layer.load({hit.family: Decayed(float(n), float(n) * shortfall, 0.0)})
        if scorer.with_learned(layer).score(view) > THRESHOLD:  # type: ignore[attr-defined]
            return hit.family, n
    raise AssertionError("never moves")


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, FakeUpstream]]:
    ups = {
        "small": FakeUpstream(model="cheap-model", reply="A cheap answer."),
        "large": FakeUpstream(model="big-model", reply="The reference answer."),
        "judge": FakeUpstream(model="judge-model", reply="TIE"),
    }
    ups["judge"].prefers = "reference answer"  # the reference is better: the cheap tier fell short
    with started(ups):
        yield ups


def _start(tmp: Path, ups: dict[str, FakeUpstream], **env: str) -> Gateway:
    tmp.mkdir(parents=True, exist_ok=True)
    return start_gateway(
        tmp,
        ROUTES.format(**{k: u.base_url for k, u in ups.items()}),
        GATEWAY_API_KEYS=",".join(
            [f"acme:{ACME}", f"beta:{BETA}", *(f"t{i}:{k}" for i, k in enumerate(OTHERS))]
        ),
        GATEWAY_ADMIN_KEY=ADMIN,
        GATEWAY_LEARN_SYNC_S="0.2",
        **env,
    )


def ask(gw: Gateway, model: str = "auto", key: str = ACME) -> httpx.Response:
    r = httpx.post(f"{gw.v1}/chat/completions", json=_body(model), headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r


def state(gw: Gateway) -> dict[str, object]:
    r = httpx.get(f"{gw.url}/admin/learning", headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    data: dict[str, object] = r.json()
    return data


def learned(gw: Gateway, family: str) -> float:
    for f in state(gw)["families"]:  # type: ignore[attr-defined]
        if f["family"] == family:
            return float(f["labels"])
    return 0.0


def wait_for(cond: object, what: str, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_verdicts_move_a_family_after_the_predicted_count_frozen_does_not_and_reset_returns(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    family, n = predicted(1.0)
    print(f"predicted before running: family {family} moves off the cheap tier after {n} verdicts")
    gw = _start(tmp_path, upstreams)
    try:
        tiers = []
        for i in range(n + 2):
            tiers.append(ask(gw).headers["x-gateway-tier"])
            # the judge's verdict labels the family in the background: wait for it to be applied
            wait_for(
                lambda i=i: learned(gw, family) >= min(i + 1, n) - 1e-6 or tiers[-1] == "large", "a label"
            )
        first_large = tiers.index("large")
        assert first_large == n, tiers  # requests 0..n-1 were cheap; the n labels they left moved it
        assert all(t == "large" for t in tiers[first_large:])
        r = ask(gw)
        assert float(r.headers["x-gateway-difficulty"]) > THRESHOLD
        explained = httpx.post(
            f"{gw.v1}/route/explain", json=_body(), headers={"authorization": f"Bearer {ACME}"}
        ).json()
        assert explained["tier"] == "large" and explained["family"] == family and explained["moved"] is True
        # a frozen route reads the same family, and keeps deciding on the prior
        assert ask(gw, "frozen").headers["x-gateway-tier"] == "small"
        fam = {f["family"]: f for f in state(gw)["families"]}  # type: ignore[attr-defined]
        assert fam[family]["in_force"] is True and fam[family]["rate"] > fam[family]["prior_rate"]
        metrics = httpx.get(f"{gw.url}/metrics").text
        assert f'gateway_learning_moved_total{{family="{family}",route="auto"}}' in metrics
        # reset: back to the prior
        r = httpx.post(f"{gw.url}/admin/learning/reset", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200, r.text
        assert ask(gw).headers["x-gateway-tier"] in ("small", "large")  # this one is judged again ...
        assert learned(gw, family) <= 1.0  # ... but what was learned before the reset is gone
    finally:
        stop(gw.proc)


def test_ratings_move_it_too_but_one_tenant_only_up_to_its_cap(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    family, n = predicted(1.0)
    gw = _start(tmp_path, upstreams)
    try:

        async def rate_bad(key: str, count: int) -> None:
            async with httpx.AsyncClient(base_url=gw.v1, headers={"authorization": f"Bearer {key}"}) as c:
                sem = asyncio.Semaphore(8)

                async def one() -> None:
                    async with sem:
                        r = await c.post("/chat/completions", json=_body("rated"))
                        f = await c.post("/feedback", json={"id": r.json()["id"], "label": "bad"})
                        assert f.status_code == 200, f.text

                await asyncio.gather(*(one() for _ in range(count)))

        # Poisoning: one tenant's 1,000 bad ratings on answers that were fine count as ten labels.
        asyncio.run(rate_bad(ACME, 1000))
        wait_for(lambda: learned(gw, family) >= 10 - 1e-6, "the capped labels")
        time.sleep(0.5)
        assert learned(gw, family) == pytest.approx(10.0, abs=0.01)
        assert ask(gw, "rated").headers["x-gateway-tier"] == "small"  # the cap held: nothing moved
        metrics = httpx.get(f"{gw.url}/metrics").text
        capped = [
            line
            for line in metrics.splitlines()
            if "gateway_learning_labels_total" in line and "capped" in line
        ]
        assert capped and float(capped[0].split()[-1]) == 990
        # Other tenants' ratings add their own (capped) tens: past the predicted count, it moves.
        others = [BETA, *OTHERS][: -(-(n - 10) // 10)]
        assert len(others) <= 6, f"the family needs {n} labels"
        for key in others:
            asyncio.run(rate_bad(key, 10))
        wait_for(lambda: learned(gw, family) >= n - 1e-6, "the other tenants' labels")
        assert ask(gw, "rated").headers["x-gateway-tier"] == "large"
    finally:
        stop(gw.proc)


def test_two_replicas_on_one_redis_agree(tmp_path: Path, upstreams: dict[str, FakeUpstream]) -> None:
    family, n = predicted(1.0)
    (tmp_path / "redis").mkdir()
    proc, url = start_redis(tmp_path / "redis")
    a = _start(tmp_path / "a", upstreams, GATEWAY_REDIS_URL=url)
    b = _start(tmp_path / "b", upstreams, GATEWAY_REDIS_URL=url)
    try:
        assert ask(b).headers["x-gateway-tier"] == "small"
        for i in range(n):
            ask(a)
            wait_for(lambda i=i: learned(a, family) >= i + 1 - 1e-6, "a label on replica a")
        # replica b never judged anything: it reads a's labels from Redis within its sync interval
        wait_for(lambda: learned(b, family) >= n - 1e-6, "replica b to read them")
        assert ask(b, "frozen").headers["x-gateway-tier"] == "small"
        wait_for(lambda: ask(b).headers["x-gateway-tier"] == "large", "replica b to move")
    finally:
        for g in (a, b):
            stop(g.proc)
        stop(proc)


def test_a_restart_with_a_state_dir_keeps_what_was_learned(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    family, n = predicted(1.0)
    state_dir = tmp_path / "state"
    gw = _start(tmp_path / "one", upstreams, GATEWAY_STATE_DIR=str(state_dir))
    try:
        for i in range(n):
            ask(gw)
            wait_for(lambda i=i: learned(gw, family) >= i + 1 - 1e-6, "a label")
        assert ask(gw, "frozen").headers["x-gateway-tier"] == "small"
    finally:
        stop(gw.proc)  # SIGTERM: a clean shutdown writes the state file
    assert (state_dir / "learned.json").exists()
    again = _start(tmp_path / "two", upstreams, GATEWAY_STATE_DIR=str(state_dir))
    try:
        # the n verdicts, and the frozen route's request's: a frozen route still counts its labels
        assert learned(again, family) == pytest.approx(n + 1, rel=0.01)
        assert ask(again, "frozen").headers["x-gateway-tier"] == "small"
        ups_judge = upstreams["judge"]
        ups_judge.prefers = None  # no more verdicts that matter: the move comes from the file
        try:
            assert ask(again).headers["x-gateway-tier"] == "large"
        finally:
            ups_judge.prefers = "reference answer"
    finally:
        stop(again.proc)


def _reload(gw: Gateway, routes: Path, weights: Path) -> None:
    """The routes naming `weights`, in force. The gateway also watches the file: its watcher may apply
    the change before the admin call does, which then finds it unchanged but under a new sha256."""

    def reload() -> dict[str, Any]:
        r = httpx.post(f"{gw.url}/admin/reload", headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    before = reload()["sha256"]
    text = routes.read_text()
    head, _, rest = text.partition("tiers:")
    head = head.split("classifier:")[0]
    routes.write_text(f"{head}classifier: {{weights: {weights}}}\ntiers:{rest}")
    after = reload()
    assert after["result"] in ("reloaded", "unchanged") and after["sha256"] != before, after


def test_weights_reloads_keep_fold_or_set_aside_what_was_learned(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    """The same family set keeps its learned counts; an export folds them into a weights file, and
    loading it restarts the layer at zero without moving the family back; another family set starts a
    new layer, the old one kept in the store for export or reset."""
    family, n = predicted(1.0)
    shipped = json.loads((REPO / "gateway" / "classify" / "weights" / "default.json").read_text())
    gw = _start(tmp_path, upstreams)
    routes, judge = tmp_path / "routes.yaml", upstreams["judge"]
    try:
        for i in range(n):
            ask(gw)
            wait_for(lambda i=i: learned(gw, family) >= i + 1 - 1e-6, "a label")
        assert ask(gw).headers["x-gateway-tier"] == "large"
        first_set = state(gw)["family_set"]
        judge.prefers = None  # from here on the judge ties: no verdict says the family falls short
        # The same families under another name: the layer stays, and so does the move.
        same = dict(shipped, name="renamed", meta={**shipped.get("meta", {}), "note": "same families"})
        (tmp_path / "same.json").write_text(json.dumps(same))
        before = learned(gw, family)
        _reload(gw, routes, tmp_path / "same.json")
        assert state(gw)["family_set"] == first_set and learned(gw, family) == pytest.approx(before, abs=0.01)
        assert ask(gw).headers["x-gateway-tier"] == "large"
        # Other families (one top-level family's radius changed: a new set): a new, empty layer; the
        # old set's counts stay in the store until reset.
        other = json.loads(json.dumps(shipped))
        path = {family.split(".")[0]}
        node = next(
            nd for nd in other["families"]["nodes"] if nd["parent"] == "root" and nd["id"] not in path
        )
        node["radius"] = 0.5
        (tmp_path / "other.json").write_text(json.dumps(other))
        _reload(gw, routes, tmp_path / "other.json")
        now = state(gw)
        assert now["family_set"] != first_set and now["labels"] == 0.0
        assert set(now["sets"]) >= {first_set}  # type: ignore[call-overload]
        assert ask(gw).headers["x-gateway-tier"] == "small"  # the prior again: nothing learned here
        # Back to the first set: its layer comes back from the store, and the family with it.
        _reload(gw, routes, tmp_path / "same.json")
        wait_for(lambda: learned(gw, family) >= before - 0.01, "the first set's counts")
        assert ask(gw).headers["x-gateway-tier"] == "large"
        # An export folds the learned counts in; loaded, it resets them: no label counts twice, and the
        # family stays where its labels sent it.
        r = httpx.post(f"{gw.url}/admin/learning/export", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200, r.text
        (tmp_path / "exported.json").write_text(r.text)
        _reload(gw, routes, tmp_path / "exported.json")
        wait_for(lambda: learned(gw, family) < 1.0, "the folded counts to be reset")
        assert state(gw)["family_set"] == first_set
        assert ask(gw).headers["x-gateway-tier"] == "large"
        # a reset names a set the store knows, or is refused
        r = httpx.post(
            f"{gw.url}/admin/learning/reset",
            params={"family_set": "0123456789abcdef"},
            headers={"authorization": f"Bearer {ADMIN}"},
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "family_set", r.text
    finally:
        judge.prefers = "reference answer"
        stop(gw.proc)


def test_a_restart_after_an_export_keeps_what_was_learned_since(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    """An export's labels are reset once, when it is loaded; the labels learned after that survive a
    restart with the exported file still in force (the store remembers the export it folded)."""
    family, n = predicted(1.0)
    state_dir = tmp_path / "state"
    gw = _start(tmp_path / "one", upstreams, GATEWAY_STATE_DIR=str(state_dir))
    routes = tmp_path / "one" / "routes.yaml"
    try:
        for i in range(n):
            ask(gw)
            wait_for(lambda i=i: learned(gw, family) >= i + 1 - 1e-6, "a label")
        r = httpx.post(f"{gw.url}/admin/learning/export", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200, r.text
        (tmp_path / "exported.json").write_text(r.text)
        _reload(gw, routes, tmp_path / "exported.json")
        wait_for(lambda: learned(gw, family) < 1.0, "the folded counts to be reset")
        # learned after the export, in no file: another family's, still on the cheap tier and judged
        other = {"model": "auto", "messages": [{"role": "user", "content": OTHER}], "max_tokens": 8}
        auth = {"authorization": f"Bearer {ACME}"}
        second = httpx.post(f"{gw.v1}/route/explain", json=other, headers=auth).json()["family"]
        assert second != family
        for i in range(3):
            r = httpx.post(f"{gw.v1}/chat/completions", json=other, headers=auth)
            assert r.headers["x-gateway-tier"] == "small", r.headers
            wait_for(lambda i=i: learned(gw, second) >= i + 1 - 1e-6, "a label")
    finally:
        stop(gw.proc)
    again = start_gateway(
        tmp_path / "one",
        routes.read_text(),
        GATEWAY_API_KEYS=KEYS,
        GATEWAY_ADMIN_KEY=ADMIN,
        GATEWAY_LEARN_SYNC_S="0.2",
        GATEWAY_STATE_DIR=str(state_dir),
    )
    try:
        assert learned(again, second) == pytest.approx(3.0, abs=0.01)
        assert learned(again, family) == pytest.approx(0.0, abs=0.01)  # still folded, not back
    finally:
        stop(again.proc)
