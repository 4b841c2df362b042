"""The shipped scorer against the data it was trained on (../shared/data): serving computes what
training computed, the family model's floors on left-out families (`gateway evaluate`), calibration on
held-out rows, and `gateway train` reproducing the shipped weights (v3, and v2 with --replace) and
learning from an operator's traffic alone (--replace). Adding labels to the family counts:
tests/offline/test_family_train.py."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.classify.scorer import default_scorer, load_scorer, v2_scorer
from gateway.classify.view import view_of_body
from tests.support import ARENA, DATA, RB, REPO, needs_data

SHIPPED = REPO / "gateway" / "classify" / "weights" / "default.json"
V2 = REPO / "gateway" / "classify" / "weights" / "difficulty-v2.json"

# docs/routing-eval.md: at 0 labels, the family model is never below prompt length on a left-out family
# by more than a few thousandths (a tie); measured +0.001 to +0.016 (Mixtral label).
APGR_TOLERANCE = 0.005
MAX_ECE = 0.08  # v2 on the held-out rows (Mistral-7B label); measured 0.05
MAX_ECE_V3 = 0.09  # the shipped v3 file (Mixtral-8x7B label); measured 0.076 (docs/routing-eval.md)


def user(text: str, **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def gateway(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@needs_data
@pytest.mark.parametrize("which", ["v3", "v2"])
def test_serving_matches_training(which: str) -> None:
    import numpy as np

    from gateway.offline.data import load_arena, load_routerbench
    from gateway.offline.family_fit import logits as family_logits
    from gateway.offline.family_train import labelled
    from gateway.offline.scorer_train import encode, logits

    examples = load_routerbench(RB)[::25] + load_arena(ARENA)[::5]
    if which == "v2":
        v2 = v2_scorer()
        offline = logits(v2.spec, encode(examples))
        online = np.array([v2.logit(e.view) for e in examples])
        assert np.abs(offline - online).max() < 1e-4
        return
    v3 = default_scorer()
    rows = labelled(examples, "mixtral")
    offline, leaf = family_logits(v3.model, rows.x, rows.enc.mean_emb)
    online = np.array([v3.logit(e.view) for e in examples])
    families = [v3.family(e.view).family for e in examples]
    assert families == leaf.tolist()
    assert np.abs(offline - online).max() < 1e-4


def left_out_table(report: str) -> dict[str, dict[str, str]]:
    """The report's left-out families at 0 labels, alone: each family's row, as cells by column name."""
    after = report.split("### Left-out family alone\n", 1)[1].lstrip("\n")
    lines = itertools.takewhile(lambda line: line.startswith("|"), after.splitlines())
    header, _rule, *rows = ([cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines)
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


@needs_data
@pytest.mark.live
def test_selection_rule_floors(tmp_path: Path) -> None:
    """`gateway evaluate`, as CI runs it: on every left-out family at 0 labels the family model is no
    more than a few thousandths below prompt length, inside each family it orders requests exactly as
    length does, and the agent-turn reading ranks agent turns by the new turn. Fails if a change
    makes routing on unseen families worse than prompt length."""
    from gateway.offline.family_eval import TASKS

    out = tmp_path / "eval.md"
    gateway("evaluate", "--data-dir", str(DATA), "--bootstrap", "20", "--orders", "2", "--out", str(out))
    report = out.read_text()
    assert "**The family model is never below prompt length on a left-out family.**" in report
    table = left_out_table(report)
    assert sorted(table) == sorted(TASKS)
    for family, row in table.items():
        assert float(row["family - length"]) >= -APGR_TOLERANCE, (family, row)
        length = float(row["prompt length"].split()[0])
        assert float(row["family model, 0 labels"].split()[0]) >= length - APGR_TOLERANCE, (family, row)
    guarantee = report.split("## The guarantee", 1)[1].split("##", 1)[0]
    taus = re.findall(r"^\| [a-z-]+ \| ([0-9.]+) \(", guarantee, re.MULTILINE)
    assert len(taus) == len(TASKS) and all(float(t) == 1.0 for t in taus), taus
    agents = report.split("## Agent turns", 1)[1].split("\n## ", 1)[0]
    shipped = re.search(r"agent-turn reading \(shipped\)\*\* \| [0-9.]+ \[[^]]+\] \| (\d+)%", agents)
    assert shipped is not None and int(shipped.group(1)) <= 60, agents  # was 100%: every turn "long"
    assert re.search(r"agent-turn reading \*\*1\.000\*\*", agents), agents


@needs_data
@pytest.mark.parametrize("which", ["v3", "v2"])
def test_calibrated_on_held_out_rows(which: str) -> None:
    import numpy as np

    from gateway.offline.data import load_arena, load_routerbench
    from gateway.offline.family_train import labelled
    from gateway.offline.stats import reliability

    held = [e for e in load_routerbench(RB) + load_arena(ARENA) if e.split == "test"]
    if which == "v2":
        p = np.array([v2_scorer().score(e.view) for e in held])
        _, ece = reliability(p, np.array([e.label for e in held], dtype=float))
        assert ece <= MAX_ECE, ece
        return
    y = labelled(held, "mixtral").y
    ok = ~np.isnan(y)
    p = np.array([default_scorer().score(e.view) for e in held])
    _, ece = reliability(p[ok], y[ok])
    assert ece <= MAX_ECE_V3, ece


@needs_data
def test_a_labelled_familys_probability_is_calibrated_where_its_score_is_not(tmp_path: Path) -> None:
    """After `gateway train --data` on 70% of a family left out of the fit (three orders), the cascade's
    probability (FamilyHit.short: the family's rate moved by the request's place at most 0.5
    log-odds) predicts the family's later rows better than the score read as a probability, on
    every family: measured log loss 0.356 / 0.548 / 0.545 / 0.701 against 0.378 / 0.556 / 0.550 /
    0.940 (ARC, MBPP, Winogrande, arena), ECE over all of those rows 0.020 against 0.042
    (docs/cascade.md). The rows are those in families with the operator's labels (over 90%)."""
    import numpy as np

    from gateway.offline.data import load_arena, load_routerbench
    from gateway.offline.family_eval import TASKS, Bench
    from gateway.offline.stats import ece, log_loss

    bench = Bench(load_routerbench(RB) + load_arena(ARENA), "mixtral")
    pooled: dict[str, list[float]] = {"score": [], "short": [], "y": []}
    for task in TASKS:
        loss = {"score": 0.0, "short": 0.0}
        for seed in range(3):
            order = np.random.default_rng(seed).permutation(bench.held(task))
            n = min(1000, int(len(order) * 0.7))
            out = tmp_path / f"{task}-{seed}.json"
            out.write_text(bench.add(bench.fit(bench.train_mask(task)), order[:n]).dumps())
            served = load_scorer(out)
            later = [i for i in order[n:] if not np.isnan(bench.rows.y[i])]
            y = bench.rows.y[later]
            read = [served.scored(bench.examples[i].view) for i in later]
            # the rows a cascade weighs by it: those in families with the operator's labels
            mine = np.array([hit.short is not None for _, hit in read])
            assert mine.mean() > 0.9, mine.mean()
            y = y[mine]
            score = np.array([p for (p, hit), m in zip(read, mine, strict=True) if m])
            short = np.array([hit.short for (_, hit), m in zip(read, mine, strict=True) if m])
            loss["score"] += log_loss(score, y) / 3
            loss["short"] += log_loss(short, y) / 3
            pooled["score"] += score.tolist()
            pooled["short"] += short.tolist()
            pooled["y"] += y.tolist()
        assert loss["short"] < loss["score"], (task, loss)
    y = np.array(pooled["y"])
    assert ece(np.array(pooled["short"]), y) < 0.8 * ece(np.array(pooled["score"]), y)


@needs_data
def test_a_half_seen_family_scores_exactly_the_half_its_fit_never_saw() -> None:
    """routing-eval.md's "a family half seen": each half is scored once, by the fit on the other half's
    `train` rows and the other families; the two halves split the family, topic by topic."""
    import numpy as np

    from gateway.offline.data import load_arena, load_routerbench
    from gateway.offline.family_eval import Bench, halves

    bench = Bench(load_routerbench(RB)[::3] + load_arena(ARENA), "mixtral")
    rows = bench.held("arena")
    a, b = halves(bench, "arena")
    assert len(np.intersect1d(a.unseen, b.unseen)) == 0
    assert sorted(np.concatenate([a.unseen, b.unseen]).tolist()) == rows.tolist()
    assert a.seen == len(b.unseen) and b.seen == len(a.unseen)
    assert min(len(a.unseen), len(b.unseen)) >= len(rows) // 5  # two topics, not one and a stray
    for h in (a, b):
        assert 0.0 <= h.length <= 1.0 and 0.0 <= h.family <= 1.0 and -1.0 <= h.tau <= 1.0


def _train(*args: str, out: Path) -> None:
    gateway("train", *args, "--out", str(out))


@needs_data
@pytest.mark.live
def test_training_reproduces_the_shipped_weights(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    _train("--routerbench", str(RB), "--arena", str(ARENA), out=out)
    assert out.read_bytes() == SHIPPED.read_bytes()  # byte for byte


@needs_data
@pytest.mark.live
def test_training_reproduces_the_v2_weights(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    _train("--routerbench", str(RB), "--arena", str(ARENA), "--replace", out=out)
    assert json.loads(out.read_text()) == json.loads(V2.read_text())


@pytest.mark.live
@pytest.mark.parametrize("tasks", [1, 2])
def test_training_on_operator_traffic_alone(tmp_path: Path, tasks: int) -> None:
    """--replace: v2 weights fitted on the operator's file alone (what --data did before issue 21)."""
    rows = [
        {"prompt": f"easy question number {i}", "tier": "small", "task": f"t{i % tasks}"} for i in range(40)
    ]
    rows += [
        {"prompt": f"prove this hard theorem rigorously {i}", "tier": "large", "task": f"t{i % tasks}"}
        for i in range(40)
    ]
    data = tmp_path / "traffic.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "mine.json"
    _train("--data", str(data), "--replace", out=out)
    mine = load_scorer(out)
    assert mine.meta["tasks"] == [f"t{i}" for i in range(tasks)]
    easy = mine.score(view_of_body(user("easy question number 99")))
    hard = mine.score(view_of_body(user("prove this hard theorem rigorously 99")))
    assert easy < 0.3 < 0.7 < hard
