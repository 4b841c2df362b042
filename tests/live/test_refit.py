"""The scorer refitted on the gateway's own labels while it serves (GATEWAY_REFIT_LABELS), end to end:
two kinds of question that the shipped families put together, one the cheap tier answers well and
one it does not, rated so by their clients; after the configured number of labels the gateway runs
`gateway train --from-log` on its decision log in a child process, serves the result without a
restart, tells the two kinds apart where the shipped weights ranked them by length alone, and
serves the same refit again after a restart. The route is `learn: frozen`, so that its decisions
move by the refit alone (learning while serving keeps counting, and only the refit can move them)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.classify.scorer import default_scorer
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, start_gateway, started

ADMIN = "sk-admin-refit-1"
TENANTS = [f"sk-tenant-{i}-refit" for i in range(8)]  # a tenant's ratings count 10 labels a family
# Questions the shipped weights put in one family (f8), with the cheap tier rated good on the first
# kind and bad on the second (a subject it knows, and two it does not).
EASY = [
    "Who invented the phonograph?",
    "Which inventor is credited with patenting the telephone in 1876?",
    "Name the scientist who created the World Wide Web.",
    "Which German goldsmith introduced the movable-type printing press to Europe?",
    "Answer with a name: who invented dynamite?",
    "Who developed the first vaccine, against smallpox, in 1796?",
    "The diesel engine is named after its inventor. What was his full name?",
    "Which American inventor gave his name to a code of dots and dashes?",
    "Name the Finnish programmer who started the Linux kernel.",
    "Which Motorola engineer made the first handheld mobile phone call in 1973?",
    "Who invented the cotton gin?",
    "The process of heating milk to kill germs is named after which French scientist?",
    "Who invented the safety brake that made passenger elevators safe?",
]
HARD = [
    "Which language do most people in Mexico speak?",
    "Answer with one word: what language is spoken in Japan?",
    "What is the main language of Germany?",
    "Which language is the official language of Egypt?",
    "What language is mainly spoken in Greece?",
    "What language do most people in Poland speak?",
    "Which language is the main language of Israel?",
    "In what year did World War I begin?",
    "In what year did Christopher Columbus first reach the Americas?",
    "In what year did the French Revolution begin with the storming of the Bastille?",
    "In what year did World War II begin in Europe, when Germany invaded Poland?",
    "In what year did the September 11 attacks on New York take place?",
    "In what year were the first modern Olympic Games held in Athens?",
]
ASKED = 3  # times each: 78 labels, all in one family (8 tenants x their cap of 10 hold them)
LABELS = ASKED * (len(EASY) + len(HARD))
ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    max_difficulty: 1.0
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}
    backends: [{{name: cheap, kind: openai, base_url: "{small}", model: cheap-model}}]
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "{large}", model: big-model}}]
routes:
  - {{model: auto, policy: auto, learn: frozen, log_features: true}}
"""


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, FakeUpstream]]:
    ups = {
        "small": FakeUpstream(model="cheap-model", reply="A cheap answer."),
        "large": FakeUpstream(model="big-model", reply="The reference answer."),
    }
    with started(ups):
        yield ups


def _start(tmp: Path, ups: dict[str, FakeUpstream], labels: int = LABELS, learn: str = "frozen") -> Gateway:
    return start_gateway(
        tmp,
        ROUTES.format(**{k: u.base_url for k, u in ups.items()}).replace("learn: frozen", f"learn: {learn}"),
        GATEWAY_API_KEYS=",".join(f"t{i}:{k}" for i, k in enumerate(TENANTS)),
        GATEWAY_ADMIN_KEY=ADMIN,
        GATEWAY_DECISION_LOG=str(tmp / "decisions.jsonl"),
        GATEWAY_STATE_DIR=str(tmp / "state"),
        GATEWAY_REFIT_LABELS=str(labels),
        GATEWAY_REFIT_MIN_S="0",
        GATEWAY_LEARN_SYNC_S="0.2",
    )


def _body(prompt: str) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": prompt}], "max_tokens": 8}


def scores(gw: Gateway) -> tuple[dict[str, float], set[str]]:
    """Every prompt's difficulty as the gateway now reads it, and the families they land in."""
    out, families = {}, set()
    with httpx.Client(headers={"authorization": f"Bearer {TENANTS[0]}"}) as c:
        for p in EASY + HARD:
            r = c.post(f"{gw.v1}/route/explain", json=_body(p))
            assert r.status_code == 200, r.text
            out[p] = float(r.json()["difficulty"])
            families.add(r.json()["family"])
    return out, families


def auc(s: dict[str, float]) -> float:
    """How often a HARD prompt reads harder than an EASY one."""
    pairs = [(s[h] > s[e]) + 0.5 * (s[h] == s[e]) for h in HARD for e in EASY]
    return sum(pairs) / len(pairs)


def refit_state(gw: Gateway) -> dict[str, object]:
    r = httpx.get(f"{gw.url}/admin/learning", headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    state: dict[str, object] = r.json()["refit"]
    return state


def test_the_gateway_refits_on_its_own_labels_and_keeps_the_refit_across_a_restart(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    shipped = {nid for nid in default_scorer().families()}
    gw = _start(tmp_path, upstreams)
    try:
        before, fams = scores(gw)
        assert fams <= shipped and len(fams) == 1, fams  # the shipped weights put them together
        print(f"before: AUC {auc(before):.3f} in {sorted(fams)}")
        assert auc(before) < 0.75
        keys = itertools.cycle(TENANTS)
        for prompt in ASKED * (EASY + HARD):
            key = next(keys)
            with httpx.Client(base_url=gw.v1, headers={"authorization": f"Bearer {key}"}) as c:
                r = c.post("/chat/completions", json=_body(prompt))
                assert r.status_code == 200 and r.headers["x-gateway-tier"] == "small", r.text
                label = "bad" if prompt in HARD else "good"
                f = c.post("/feedback", json={"id": r.json()["id"], "label": label})
                assert f.status_code == 200, f.text
        end = time.monotonic() + 90
        while (last := refit_state(gw)["last"]) is None:
            assert time.monotonic() < end, "no refit"
            time.sleep(0.2)
        assert last["result"] == "adopted", last  # type: ignore[index]
        after, fams = scores(gw)
        print(f"after {last}: AUC {auc(after):.3f} in {sorted(fams)}")
        assert auc(after) >= 0.95 and fams - shipped  # new families: the labels split the shipped one
        metrics = httpx.get(f"{gw.url}/metrics").text
        assert 'gateway_learning_refits_total{result="adopted"} 1.0' in metrics
    finally:
        stop(gw.proc)
    assert "Which language" not in gw.log.read_text()  # the child's output names no prompt
    gw = _start(tmp_path, upstreams)
    try:
        again, _ = scores(gw)
        assert again == pytest.approx(after, abs=1e-6)  # the refit is served again after a restart
        assert refit_state(gw)["last"] is None
    finally:
        stop(gw.proc)


def test_a_refit_that_keeps_the_families_resets_the_labels_it_now_holds(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    """Too few labels to split a family: the refit adds them to f8's counts and keeps the family set,
    so the learned counts of f8, the same labels, are reset as it is adopted (else they count twice)."""
    few = 20  # under the 50 a split (and the operator layer) needs
    gw = _start(tmp_path, upstreams, labels=few, learn="on")
    admin = {"authorization": f"Bearer {ADMIN}"}
    try:
        set_before = httpx.get(f"{gw.url}/admin/learning", headers=admin).json()["family_set"]
        keys = itertools.cycle(TENANTS)
        for prompt in (HARD * 2)[:few]:
            with httpx.Client(base_url=gw.v1, headers={"authorization": f"Bearer {next(keys)}"}) as c:
                r = c.post("/chat/completions", json=_body(prompt))
                assert c.post("/feedback", json={"id": r.json()["id"], "label": "bad"}).status_code == 200
        end = time.monotonic() + 90
        while (last := refit_state(gw)["last"]) is None:
            assert time.monotonic() < end, "no refit"
            time.sleep(0.2)
        assert last["result"] == "adopted", last  # type: ignore[index]
        state = httpx.get(f"{gw.url}/admin/learning", headers=admin).json()
        assert state["family_set"] == set_before  # no split: the same families
        assert state["labels"] == pytest.approx(0.0, abs=1e-6)  # the learned counts, now in the file
        with httpx.Client(headers={"authorization": f"Bearer {TENANTS[0]}"}) as c:
            explained = c.post(f"{gw.v1}/route/explain", json=_body(HARD[0])).json()
        assert explained["family"] == "f8"
        assert f"({few} labels of this gateway's own)" in explained["reasons"][1]  # counted once
    finally:
        stop(gw.proc)
