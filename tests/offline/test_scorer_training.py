"""The shipped scorer against the data it was trained on (../shared/data): serving computes what
training computed, the selection rule's floors, calibration on held-out rows, and `gateway train`
reproducing the shipped weights and learning from an operator's traffic."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.classify.scorer import default_scorer, load_scorer
from gateway.classify.view import view_of_body
from tests.support import ARENA, DATA, RB, REPO, needs_data

SHIPPED = REPO / "gateway" / "classify" / "weights" / "default.json"

# The selection rule (docs/routing-eval.md): the shipped recipe's APGR at least prompt length's on
# every leave-one-task-out split and on the arena split. The floors allow this much below it before a
# regression fails, a tenth of the bootstrap intervals' half-width.
APGR_TOLERANCE = 0.003
MAX_ECE = 0.08  # on the held-out rows; measured 0.05 (docs/routing-eval.md)


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
def test_serving_matches_training() -> None:
    import numpy as np

    from gateway.offline.data import load_arena, load_routerbench
    from gateway.offline.scorer_train import encode, logits

    examples = load_routerbench(RB)[::25] + load_arena(ARENA)[::5]
    scorer = default_scorer()
    offline = logits(scorer.spec, encode(examples))
    online = np.array([scorer.logit(e.view) for e in examples])
    assert np.abs(offline - online).max() < 1e-4


def apgr_table(report: str) -> dict[str, dict[str, str]]:
    """The report's "## APGR on every split" table: each split's row, as cells by column name."""
    after = report.split("## APGR on every split\n", 1)[1].lstrip("\n")
    lines = itertools.takewhile(lambda line: line.startswith("|"), after.splitlines())
    header, _rule, *rows = ([cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines)
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


@needs_data
@pytest.mark.live
def test_selection_rule_floors(tmp_path: Path) -> None:
    """Every rule split, from the nested recipe and the shipped weights, as `gateway evaluate` reports
    it: at least prompt length's APGR (less APGR_TOLERANCE), and above it on the mean. Fails if a
    change makes routing worse."""
    from gateway.offline.scorer_eval import RULE_SPLITS

    out = tmp_path / "eval.md"
    gateway("evaluate", "--data-dir", str(DATA), "--bootstrap", "20", "--out", str(out))
    report = out.read_text()
    assert "**The selection rule holds**" in report
    table = apgr_table(report)
    for name in (*RULE_SPLITS, "RouterBench held-out split"):
        assert any(split.endswith(name) for split in table), (name, list(table))
    for split, row in table.items():
        assert float(row["shipped - length"]) >= -APGR_TOLERANCE, (split, row)
    mean = re.search(r"Mean over the five rule splits: .*\(([+-][0-9.]+)\)", report)
    assert mean is not None and float(mean.group(1)) > 0.01, mean


@needs_data
def test_calibrated_on_held_out_rows() -> None:
    import numpy as np

    from gateway.offline.data import load_arena, load_routerbench
    from gateway.offline.stats import reliability

    held = [e for e in load_routerbench(RB) + load_arena(ARENA) if e.split == "test"]
    scorer = default_scorer()
    p = np.array([scorer.score(e.view) for e in held])
    _, ece = reliability(p, np.array([e.label for e in held], dtype=float))
    assert ece <= MAX_ECE, ece


def _train(*args: str, out: Path) -> None:
    gateway("train", *args, "--out", str(out))


@needs_data
@pytest.mark.live
def test_training_reproduces_the_shipped_weights(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    _train("--routerbench", str(RB), "--arena", str(ARENA), out=out)
    assert json.loads(out.read_text()) == json.loads(SHIPPED.read_text())


@pytest.mark.live
@pytest.mark.parametrize("tasks", [1, 2])
def test_training_on_operator_traffic(tmp_path: Path, tasks: int) -> None:
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
    _train("--data", str(data), out=out)
    mine = load_scorer(out)
    assert mine.meta["tasks"] == [f"t{i}" for i in range(tasks)]
    easy = mine.score(view_of_body(user("easy question number 99")))
    hard = mine.score(view_of_body(user("prove this hard theorem rigorously 99")))
    assert easy < 0.3 < 0.7 < hard
