"""`gateway route` (batch replay of JSONL) and `gateway explain`, as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.live  # each runs the command in a process of its own

ROUTES = """\
version: 1
default_tier: small
tiers:
  small:
    max_difficulty: 0.5
    backends: [{name: local, kind: llamacpp, ttft_ms: 40, tpot_ms: 10}]
  large:
    price: {input_per_mtok: 2.5, output_per_mtok: 10}
    backends: [{name: hosted, kind: openai, base_url: "https://api.example.com/v1", model: big,
                ttft_ms: 400, tpot_ms: 20}]
routes:
  - {model: auto, policy: auto, expected_output_tokens: 100}
  - {model: large, tier: large}
"""


def gateway(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_route_replays_a_file(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    lines = [
        {"model": "auto", "messages": [{"role": "user", "content": "What is the capital of France?"}]},
        {
            "model": "auto",
            "messages": [{"role": "user", "content": "Prove Fermat's last theorem, step by step."}],
            "max_tokens": 2000,
        },
        {"model": "large", "messages": [{"role": "user", "content": "hi"}]},
        {"model": "unknown", "messages": [{"role": "user", "content": "hi"}]},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n{broken\n\n"
    out = gateway("route", "--routes", str(routes), "--header", "x-latency-budget-ms: 1500", stdin=stdin)
    assert out.returncode == 1  # some lines failed: the run went on, and says so
    assert "2 line(s) could not be routed" in out.stderr
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(rows) == 5  # one per non-empty line, errors included
    for row in rows[:2]:
        assert set(row) >= {"difficulty", "tier", "backend", "reasons", "candidates"}
        assert 0 < row["difficulty"] < 1
    assert rows[0]["difficulty"] < rows[1]["difficulty"]
    # 2000 tokens fit nowhere within 1.5 s: the fastest capable tier, and the reason says so
    assert rows[1]["reason"] == "budget_miss_fastest_capable"
    assert rows[2] == {
        **rows[2],
        "tier": "large",
        "backend": "hosted",
        "reason": "pinned",
        "difficulty": None,
    }
    assert rows[3]["error"]["code"] == "model_not_found" and rows[3]["line"] == 4
    assert rows[4]["error"]["code"] == "invalid_json" and rows[4]["line"] == 5
    good = gateway("route", "--routes", str(routes), stdin="\n".join(json.dumps(x) for x in lines[:3]))
    assert good.returncode == 0, good.stderr


def test_route_keeps_the_order_of_short_prompts(tmp_path: Path) -> None:
    """The family model puts a prompt far shorter than its family's mean at 1e-5 and below. Rounded to
    four decimals, half of these read 0.0, and whoever ranks `gateway route`'s output ranked them at
    random; six significant digits keep every one, and their order."""
    from gateway.classify.assess import reported
    from gateway.classify.scorer import default_scorer
    from gateway.classify.view import view_of_body

    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    texts = [
        "Compose a short poem about the sea.",
        "Tell me a joke about cats.",
        "Describe your ideal weekend in three sentences.",
        "Explain quantum entanglement to a 10-year-old.",
        "Imagine you are a pirate captain. Give a speech to your crew before a storm.",
        "Suggest five names for a coffee shop.",
        "Write a haiku about autumn.",
    ]
    bodies = [{"model": "auto", "messages": [{"role": "user", "content": t}]} for t in texts]
    out = gateway("route", "--routes", str(routes), stdin="\n".join(json.dumps(b) for b in bodies))
    assert out.returncode == 0, out.stderr
    got = [json.loads(x)["difficulty"] for x in out.stdout.splitlines()]
    scorer = default_scorer()
    want = [scorer.score(view_of_body(b)) for b in bodies]
    assert sum(round(w, 4) == 0 for w in want) >= 3  # what four decimals tied
    assert got == [reported(w) for w in want] and all(g > 0 for g in got)
    assert len(set(got)) == len(set(want))


def test_route_rejects_bad_header_and_bad_routes(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    bad = gateway("route", "--routes", str(routes), "--header", "x-other: 1")
    assert bad.returncode == 2 and "unsupported header" in bad.stderr
    routes.write_text(ROUTES.replace("max_difficulty: 0.5", "max_difficulty: 5"))
    broken = gateway("route", "--routes", str(routes))
    assert broken.returncode == 1 and "tiers.small.max_difficulty" in broken.stderr


def test_explain_one_prompt(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    out = gateway("explain", "Write a haiku", "--routes", str(routes), "--header", "x-slo-ttft-ms: 100")
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    assert decision["route"] == "auto"
    assert decision["features"]["prompt_tokens"] == 4


def test_explain_and_route_without_a_routes_file_fail(tmp_path: Path) -> None:
    for args in (("explain", "hi"), ("route",)):
        out = subprocess.run(
            [sys.executable, "-m", "gateway", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 1, args
        assert "cannot read routes file" in out.stderr
        assert not out.stdout


def test_route_judges_drafts_and_names_the_bad_ones(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    ask = {
        "model": "auto",
        "messages": [{"role": "user", "content": "What is 2 + 2? Answer with the number."}],
    }
    lines = [
        {
            "request": ask,
            "draft": {
                "content": "4",
                "finish_reason": "stop",
                "logprobs": [{"token": "4", "logprob": -0.05}],
            },
        },
        {"request": ask, "draft": {"content": "I'm not sure, maybe five?", "finish_reason": "length"}},
        {"request": ask, "draft": [{"content": "4"}, {"content": "4"}, {"content": "4"}]},
        {"request": ask, "draft": {"content": 4}},
        ask,
    ]
    out = gateway("route", "--routes", str(routes), stdin="\n".join(json.dumps(x) for x in lines))
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert out.returncode == 1 and len(rows) == 5
    sure, unsure, agreed = rows[:3]
    for row in (sure, unsure, agreed):
        assert 0 <= row["confidence"] <= 1 and row["decision"] in ("accept", "escalate")
        assert row["tier"] is not None  # the decision for the request itself is there too
    assert sure["confidence"] > unsure["confidence"]  # hedged, cut by max_tokens, no number
    assert unsure["decision"] == "escalate"
    assert rows[3]["error"]["param"] == "draft" and rows[3]["line"] == 4
    assert "confidence" not in rows[4]  # no draft, no verdict


def test_route_shows_what_a_cascade_weighs_drafts_against_in_your_families(tmp_path: Path) -> None:
    """With `classifier.weights` from `gateway train --data`, a line whose family has labels of the
    operator's own carries `p_short`, the scorer's probability (not its difficulty); the shipped
    weights' lines, in families without such labels, do not."""
    from gateway.classify.assess import reported
    from gateway.classify.scorer import default_scorer, load_scorer
    from gateway.offline.data import load_labelled
    from tests.offline.test_family_train import traffic

    data = traffic(tmp_path / "mine.jsonl", 160, 11)
    assert gateway("train", "--data", str(data), "--out", str(tmp_path / "w.json")).returncode == 0
    scorer = load_scorer(tmp_path / "w.json")
    rows = load_labelled(traffic(tmp_path / "later.jsonl", 8, 12), "small")
    stdin = "".join(json.dumps({"model": "auto", **r.body}) + "\n" for r in rows)
    for weights in ("w.json", None):
        routes = tmp_path / "routes.yaml"
        extra = f"classifier: {{weights: {weights}}}\n" if weights else ""
        routes.write_text(ROUTES.replace("routes:\n", extra + "routes:\n"))
        out = gateway("route", "--routes", str(routes), stdin=stdin)
        assert out.returncode == 0, out.stderr
        got = [json.loads(x) for x in out.stdout.splitlines()]
        if weights is None:
            assert not any("p_short" in g for g in got)
            assert [g["difficulty"] for g in got] == [reported(default_scorer().score(r.view)) for r in rows]
            continue
        for g, r in zip(got, rows, strict=True):
            hit = scorer.family(r.view)
            assert hit.labels > 0 and hit.short is not None
            assert g["p_short"] == reported(hit.short) and g["difficulty"] == reported(scorer.score(r.view))
        assert any(abs(g["p_short"] - g["difficulty"]) > 0.05 for g in got)
