"""`gateway report` on a generated decision log whose ground truth is known
(tests/offline/synthetic_log.py)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.offline.report.curve import threshold_curve
from gateway.offline.report.html import page
from gateway.offline.report.log import Log, read_lines, read_log
from gateway.offline.report.summary import Summary, summarize
from gateway.offline.report.svg import ticks
from gateway.offline.report.text import families_text
from gateway.offline.stats import wilson
from tests.offline.synthetic_log import Truth, routes_yaml, write_log

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("report") / "decisions.jsonl"
    return path, write_log(path, n=3000, seed=3)


@pytest.fixture(scope="module")
def summary(logged: tuple[Path, Truth]) -> Summary:
    return summarize(read_log([logged[0]]))


def test_wilson_intervals() -> None:
    r = wilson(5, 10)
    assert (round(r.lo, 4), round(r.hi, 4)) == (0.2366, 0.7634)
    r = wilson(0, 10)
    assert r.lo == 0.0 and round(r.hi, 4) == 0.2775
    assert wilson(0, 0).n == 0


def test_lines_are_counted_and_bad_ones_skipped(logged: tuple[Path, Truth], summary: Summary) -> None:
    _, truth = logged
    assert summary.requests == truth.requests
    assert summary.malformed == truth.malformed
    assert summary.unknown_kinds == {"audit": truth.unknown}
    assert summary.shadow_lines == truth.shadow
    assert summary.feedback_lines == truth.feedback
    assert summary.lines == truth.requests + truth.shadow + truth.feedback + truth.malformed + truth.unknown
    assert len(summary.malformed_at) == 5 and all(":" in m for m in summary.malformed_at)


def test_a_neutral_rating_is_feedback_without_a_label() -> None:
    """What POST /v1/feedback writes for `score: 0` (label "neutral") is a rating, not a bad line; it
    labels the answer neither good nor bad, and a score alone is read by its sign."""
    log = Log()
    lines = [
        b'{"ts": 1, "kind": "feedback", "id": "a", "label": "neutral", "score": 0}',
        b'{"ts": 1, "kind": "feedback", "id": "b", "score": -0.5}',
        b'{"ts": 1, "kind": "feedback", "id": "c", "label": "meh"}',
    ]
    read_lines(log, lines, "t")
    assert (log.feedback_lines, log.malformed) == (2, 1)
    assert {k: v.value for k, v in log.feedback.items()} == {"b": "bad"}


def test_each_family_shows_its_rate_and_what_learning_moved() -> None:
    """`family` and `prior_tier` on logged lines: each family's shortfall rate from the cheaper tier's
    labels (a verdict outranking a rating, the reference's ratings left out), its tier mix as served
    and as the prior alone would have had it."""

    def req(i: int, family: str, tier: str, prior: str | None = None) -> bytes:
        p = f', "prior_tier": "{prior}"' if prior else ""
        return (
            f'{{"kind": "request", "ts": {i}, "id": "r{i}", "route": "auto", "outcome": "ok", '
            f'"tier": "{tier}", "reference_tier": "large", "family": "{family}"{p}}}'
        ).encode()

    lines = [req(i, "f1", "small") for i in range(4)] + [req(i, "f1", "large", "small") for i in range(4, 10)]
    lines += [req(10, "f2", "small"), req(11, "f2", "large")]
    verdicts = ["reference_better", "reference_better", "reference_better", "cheaper_as_good"]
    lines += [
        f'{{"ts": 20, "kind": "shadow", "id": "r{i}", "verdict": "{v}"}}'.encode()
        for i, v in enumerate(verdicts)
    ]
    lines += [
        b'{"ts": 21, "kind": "feedback", "id": "r0", "label": "good"}',  # outranked by the verdict
        b'{"ts": 21, "kind": "feedback", "id": "r10", "label": "bad"}',
        b'{"ts": 21, "kind": "feedback", "id": "r11", "label": "bad"}',  # the reference's own: no label
    ]
    log = Log()
    read_lines(log, lines, "t")
    rows = {f.family: f for f in summarize(log).families}
    assert (rows["f1"].fell_short.k, rows["f1"].fell_short.n) == (3, 4)
    assert rows["f1"].served == {"small": 4, "large": 6} and rows["f1"].prior == {"small": 10}
    assert rows["f1"].moved == 6
    assert (rows["f2"].fell_short.k, rows["f2"].fell_short.n, rows["f2"].moved) == (1, 1, 0)
    text = "\n".join(families_text(summarize(log)))
    assert "f1" in text and "large 60%, small 40% / small 100%" in text


def test_tier_mix_and_cost_against_the_reference(logged: tuple[Path, Truth], summary: Summary) -> None:
    _, truth = logged
    assert {t.tier: t.requests for t in summary.tiers} == truth.tiers
    assert [t.tier for t in summary.tiers] == ["small", "large"]  # cheapest first
    assert summary.cost_usd == pytest.approx(truth.cost_usd)
    assert summary.reference_usd == pytest.approx(truth.reference_usd)
    assert summary.saved_share == pytest.approx(1 - truth.cost_usd / truth.reference_usd)
    assert summary.reference_tiers == ["large"]


def test_quality_kept_intervals_hold_the_true_rates(summary: Summary, logged: tuple[Path, Truth]) -> None:
    _, truth = logged
    small = next(t for t in summary.tiers if t.tier == "small")
    true_kept = 1 - sum(truth.judged_fail) / len(truth.judged_fail)
    assert small.kept.n == len(truth.judged_fail)
    assert small.kept.lo <= true_kept <= small.kept.hi
    assert small.wrong.p == pytest.approx(1 - small.kept.p)
    true_good = 1 - sum(truth.rated_small_fail) / len(truth.rated_small_fail)
    assert small.rated_good.n == len(truth.rated_small_fail)
    assert small.rated_good.lo <= true_good <= small.rated_good.hi
    large = next(t for t in summary.tiers if t.tier == "large")
    assert large.is_reference and large.kept.n == 0  # nothing judges the reference against itself


def test_budget_misses(summary: Summary, logged: tuple[Path, Truth]) -> None:
    _, truth = logged
    assert (summary.budget_missed.k, summary.budget_missed.n) == (truth.budget_missed, truth.with_budget)
    assert summary.planned_misses == truth.planned


def test_rotated_files_read_in_any_order(
    logged: tuple[Path, Truth], summary: Summary, tmp_path: Path
) -> None:
    lines = logged[0].read_bytes().splitlines(keepends=True)
    old, new = tmp_path / "decisions.jsonl.1", tmp_path / "decisions.jsonl"
    old.write_bytes(b"".join(lines[: len(lines) // 2]))  # a request here, its verdict in the newer file
    new.write_bytes(b"".join(lines[len(lines) // 2 :]))
    again = summarize(read_log([new, old]))
    assert [(t.tier, t.requests, t.kept, t.rated_good) for t in again.tiers] == [
        (t.tier, t.requests, t.kept, t.rated_good) for t in summary.tiers
    ]
    assert again.orphan_labels == 0


def test_the_curve_replays_lower_thresholds(logged: tuple[Path, Truth], summary: Summary) -> None:
    log = read_log([logged[0]])
    points = summary.curves["small"]
    assert set(summary.curves) == {"small"}
    first, now = points[0], points[-1]
    assert (first.threshold, first.kept, first.quality, first.cost) == (None, 0.0, 1.0, 1.0)
    small = next(t for t in summary.tiers if t.tier == "small")
    assert now.kept == 1.0 and now.quality == pytest.approx(small.kept.p) and now.cost == 0.0
    assert all(a.quality >= b.quality for a, b in itertools.pairwise(points))
    assert all(a.kept < b.kept for a, b in itertools.pairwise(points))
    # one point by brute force: keep the judged small requests scored <= t
    mid = points[len(points) // 2]
    judged = [
        r for r in log.requests if r.tier == "small" and r.id in log.verdicts and r.difficulty is not None
    ]
    kept = [
        r
        for r in judged
        if r.difficulty is not None and mid.threshold is not None and r.difficulty <= mid.threshold
    ]
    ok = sum(log.verdicts[r.id].value != "reference_better" for r in kept)
    assert mid.quality == pytest.approx((ok + len(judged) - len(kept)) / len(judged))
    moved_ref = sum(r.reference_usd for r in judged if r not in kept)
    assert mid.cost == pytest.approx(moved_ref / sum(r.reference_usd for r in judged))
    assert mid.lo <= mid.quality <= mid.hi
    assert threshold_curve([], log.verdicts) == []


def test_ticks_are_round() -> None:
    assert ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert ticks(0.77, 1.0) == [0.8, 0.85, 0.9, 0.95, 1.0]
    assert ticks(3.0, 3.0) == [3.0]


def test_the_html_is_one_well_formed_file_with_the_plot(summary: Summary) -> None:
    html = page(summary)
    root = ET.fromstring(html)  # well-formed as XML, not only as HTML
    svgs = root.findall(f".//{SVG}svg")
    assert len(svgs) == 1
    polyline = svgs[0].find(f"{SVG}polyline")
    assert polyline is not None
    points = polyline.get("points", "").split()
    assert len(points) == len(summary.curves["small"]) >= 20
    assert svgs[0].find(f"{SVG}circle") is not None  # the current operating point
    assert svgs[0].find(f"{SVG}polygon") is not None  # its interval band
    assert root.find(".//script") is None
    for el in root.iter():
        for attr in ("src", "href"):
            assert el.get(attr) is None, f"{el.tag} refers to {el.get(attr)}: the file must stand alone"
    assert len(root.findall(".//table")) >= 2


def test_cli_report_writes_the_html(
    logged: tuple[Path, Truth], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(logged[0]), "--html", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3,000 requests" in text and "quality kept" in text and "saved" in text
    assert "<svg" in out.read_text()


def test_cli_report_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such decision log" in capsys.readouterr().err
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"kind": "shadow"}\nnot json\n')
    assert main(["report", str(junk)]) == 2
    assert "no request lines" in capsys.readouterr().err
    log = tmp_path / "one.jsonl"
    log.write_text('{"kind": "request", "id": "a", "route": "auto", "outcome": "ok", "tier": "small"}\n')
    bad = tmp_path / "bad.yaml"
    bad.write_text(routes_yaml(0.5).replace("max_difficulty: 0.5", "max_difficulty: 7"))
    assert main(["report", str(log), "--what-if", str(bad)]) == 1
    assert "bad.yaml:5: tiers.small.max_difficulty" in capsys.readouterr().err
