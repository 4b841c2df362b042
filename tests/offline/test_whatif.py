"""`gateway report --what-if`: the logged traffic decided again under another routes file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.classify.scorer import load_weights
from gateway.cli import main
from gateway.offline.report.log import Log, read_log
from gateway.offline.report.rescore import rescore
from gateway.offline.report.whatif import WhatIf, what_if
from gateway.protocol import chat_view
from gateway.routing.decision import Hints
from gateway.routing.estimates import LatencyBook
from gateway.routing.planner import Planner
from gateway.rules import load_routes
from tests.offline.synthetic_log import Truth, routes_yaml, write_log


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth, Log]:
    path = tmp_path_factory.mktemp("whatif") / "decisions.jsonl"
    truth = write_log(path, n=3000, seed=5)
    return path, truth, read_log([path])


def _what_if(log: Log, tmp: Path, text: str) -> WhatIf:
    path = tmp / "new-routes.yaml"
    path.write_text(text)
    table = load_routes(path)
    return what_if(log, table, rescore(log.requests, load_weights(None)))


def test_the_rules_in_force_change_nothing(logged: tuple[Path, Truth, Log], tmp_path: Path) -> None:
    _, truth, log = logged
    w = _what_if(log, tmp_path, routes_yaml(truth.threshold))
    assert w.changed == 0.0 and w.moves == {}
    assert w.new_mix == w.old_mix == {k: float(v) for k, v in truth.tiers.items()}
    assert w.cost_new == pytest.approx(w.cost_old)
    assert w.quality_delta is not None and w.quality_delta.p == pytest.approx(0.0, abs=1e-12)
    assert w.reference_new == pytest.approx(truth.reference_usd)


def test_a_lower_small_threshold_moves_traffic_up(logged: tuple[Path, Truth, Log], tmp_path: Path) -> None:
    _, truth, log = logged
    w = _what_if(log, tmp_path, routes_yaml(0.4))
    moved = [
        r
        for r in log.requests
        if r.route == "auto" and r.difficulty is not None and 0.4 < r.difficulty <= 0.6
    ]
    assert moved, "the generated log has requests between the two thresholds"
    n = len(log.requests)
    assert w.changed == pytest.approx(len(moved) / n)
    assert w.moves == {("small", "large"): pytest.approx(len(moved))}
    assert w.new_mix["small"] == pytest.approx(truth.tiers["small"] - len(moved))
    # the small tier is free: each moved request now costs what it would have on the reference
    assert w.cost_new - w.cost_old == pytest.approx(sum(r.reference_usd for r in moved))
    assert w.quality_old is not None and w.quality_new is not None and w.quality_delta is not None
    assert w.quality_new.p > w.quality_old.p
    true_old = 1 - sum(truth.fail[r.id] for r in log.requests if r.tier == "small") / n
    true_gain = sum(truth.fail[r.id] for r in moved) / n
    assert w.quality_old.lo <= true_old <= w.quality_old.hi
    assert w.quality_delta.lo <= true_gain <= w.quality_delta.hi
    assert w.quality_delta.lo > 0
    # the tier's average would have put the gain at a fraction of it: the moved requests are the hard ones
    average = len(moved) / n * (1 - w.quality_of["small"].p)
    assert w.quality_delta.p > 1.5 * average


def test_a_higher_threshold_saves_and_says_its_quality_is_a_guess(
    logged: tuple[Path, Truth, Log], tmp_path: Path
) -> None:
    _, _, log = logged
    w = _what_if(log, tmp_path, routes_yaml(0.8))
    assert w.cost_new < w.cost_old
    assert w.new_mix["small"] > w.old_mix["small"]
    assert w.extrapolated > 0
    assert any("a guess" in n for n in w.notes)


LOG = [
    {"id": "a", "route": "auto", "tier": "small", "difficulty": 0.1, "confidence": 0.9, "tenant": "acme"},
    {"id": "b", "route": "auto", "tier": "large", "difficulty": 0.1, "confidence": 0.3},
    {"id": "c", "route": "auto", "tier": "small", "difficulty": 0.1},
    {"id": "d", "route": "auto", "tier": "small", "difficulty": 0.1},
    {"id": "e", "route": "gone", "tier": "small", "difficulty": None},
]


def _small_log(tmp: Path) -> Log:
    path = tmp / "d.jsonl"
    base = {"kind": "request", "outcome": "ok", "reference_tier": "large", "prompt_tokens": 10,
            "completion_tokens": 100}  # fmt: skip
    path.write_text("".join(json.dumps({**base, "ts": i, **r}) + "\n" for i, r in enumerate(LOG)))
    return read_log([path])


def test_a_cascade_takes_the_logged_confidence(tmp_path: Path) -> None:
    cascade = routes_yaml(0.5).replace(
        "{model: auto, policy: auto, expected_output_tokens: 100}",
        "{model: auto, policy: cascade, draft: small, escalate: [large], verify: {min_confidence: 0.6}}",
    )
    w = _what_if(_small_log(tmp_path), tmp_path, cascade)
    # a (0.9) is accepted, b (0.3) escalated, c and d were not drafted: accepted at the logged rate, 1/2
    assert w.new_mix == {"small": pytest.approx(2.0), "large": pytest.approx(2.0)}
    assert w.not_served == {"no route": 1}


def test_tenant_tiers_and_missing_routes(tmp_path: Path) -> None:
    text = routes_yaml(0.5) + "tenants:\n  acme: {tiers: [large]}\n"
    w = _what_if(_small_log(tmp_path), tmp_path, text)
    assert w.new_mix == {"large": 1.0, "small": 3.0}  # a is acme's: large; b, c, d: small
    assert w.moves[("small", "large")] == pytest.approx(1.0)
    assert w.moves[("large", "small")] == pytest.approx(1.0)  # b: 0.1 is small's now
    assert w.not_served == {"no route": 1}
    assert w.changed == pytest.approx(3 / 5)  # a, b, and e (not served)


def test_the_planner_decides_from_a_given_difficulty(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(routes_yaml(0.5))
    table = load_routes(path)
    from gateway.classify.scorer import default_scorer

    planner = Planner(table, default_scorer(), LatencyBook())
    view = chat_view(
        {"model": "auto", "messages": [{"role": "user", "content": "Prove it step by step."}]}, 0
    )
    scored = planner.decide(view, Hints(), now=0.0)
    assert scored.plan.difficulty is not None
    blank = chat_view({"model": "auto", "messages": []}, 0)
    given = planner.decide(blank, Hints(), now=0.0, difficulty=scored.plan.difficulty)
    assert (given.plan.tier, given.plan.reason, given.plan.difficulty) == (
        scored.plan.tier,
        scored.plan.reason,
        scored.plan.difficulty,
    )
    assert given.features is None and given.classify_s is None
    for d, tier in ((0.49, "small"), (0.51, "large")):
        assert planner.decide(blank, Hints(), now=0.0, difficulty=d).plan.tier == tier


def test_cli_what_if(
    logged: tuple[Path, Truth, Log], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = tmp_path / "lower.yaml"
    routes.write_text(routes_yaml(0.4))
    html = tmp_path / "r.html"
    assert main(["report", "--what-if", str(routes), str(logged[0]), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "requests changing tier:" in out and "small -> large" in out
    assert "What if" in html.read_text()
