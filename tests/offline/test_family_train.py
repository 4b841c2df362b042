"""`gateway train` with the family model: --data adds an operator's labels to the shipped counts (or to
--weights), deterministically, once per file; --replace keeps the old meaning (v2 on the file alone).
The fitting itself on synthetic rows: tests/offline/test_family_fit.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gateway.classify.families import ROOT
from gateway.classify.family_file import model_from_json
from gateway.classify.scorer import DifficultyScorer, FamilyScorer, load_scorer
from gateway.cli import main
from tests.support import REPO

SHIPPED = REPO / "gateway" / "classify" / "weights" / "default.json"
V2 = REPO / "gateway" / "classify" / "weights" / "difficulty-v2.json"


def traffic(path: Path, n: int, seed: int) -> Path:
    """An operator's labelled rows: unit-conversion questions; the long ones fell short more often."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        steps = rng.randint(1, 12)
        prompt = f"Convert {rng.randint(1, 999)} {rng.choice(['km', 'miles', 'feet'])} to metres. " + (
            "Then add the result of the previous step. " * steps
        )
        hard = rng.random() < steps / 14
        rows.append({"prompt": prompt + f"(#{i})", "tier": "large" if hard else "small"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def train(*args: str) -> int:
    return main(["train", *args])


def test_data_adds_labels_to_the_shipped_counts(tmp_path: Path) -> None:
    data = traffic(tmp_path / "mine.jsonl", 160, 1)
    out = tmp_path / "w.json"
    assert train("--data", str(data), "--out", str(out)) == 0
    before = model_from_json(json.loads(SHIPPED.read_text()), "shipped")
    after = model_from_json(json.loads(out.read_text()), "mine")
    shortfalls = sum(json.loads(line)["tier"] == "large" for line in data.read_text().splitlines())
    root = after.nodes[ROOT]
    assert root.added.labels == 160 and root.added.shortfalls == shortfalls
    assert root.base.labels == before.nodes[ROOT].base.labels  # the shipped counts stay as they were
    assert list(after.nodes)[: len(before.nodes)] == list(before.nodes)  # ids never change
    for nid, nd in before.nodes.items():
        assert after.nodes[nid].base.labels == nd.base.labels
    (entry,) = after.meta["added"]
    assert entry["file"] == "mine.jsonl" and entry["labels"] == 160 and entry["shortfalls"] == shortfalls
    assert len(entry["sha256"]) == 64
    assert after.meta["label"] == before.meta["label"]
    scorer = load_scorer(out)
    assert isinstance(scorer, FamilyScorer)
    # the families the labels landed in now carry the deployment's own labels (Plan.labels)
    counted = [nid for nid, nd in after.nodes.items() if nd.added.labels > 0 and nid != ROOT]
    assert counted
    folded = after.folded()
    assert all(folded[nid].own == after.nodes[nid].added.labels for nid in counted)


def test_adding_is_deterministic_and_refuses_a_file_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = traffic(tmp_path / "mine.jsonl", 120, 2)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert train("--data", str(data), "--out", str(a)) == 0
    assert train("--data", str(data), "--out", str(b)) == 0
    assert a.read_bytes() == b.read_bytes()
    again = tmp_path / "again.json"
    copy = tmp_path / "renamed.jsonl"
    copy.write_bytes(data.read_bytes())  # the same labels under another name
    assert train("--data", str(copy), "--weights", str(a), "--out", str(again)) == 2
    assert "were added to these weights already (as mine.jsonl" in capsys.readouterr().err
    assert not again.exists()
    more = traffic(tmp_path / "more.jsonl", 80, 3)
    assert train("--data", str(more), "--weights", str(a), "--out", str(again)) == 0
    both = model_from_json(json.loads(again.read_text()), "both")
    assert both.nodes[ROOT].added.labels == 200
    assert [e["file"] for e in both.meta["added"]] == ["mine.jsonl", "more.jsonl"]


def test_v2_weights_take_no_labels_and_replace_keeps_the_old_meaning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = traffic(tmp_path / "mine.jsonl", 120, 4)
    out = tmp_path / "w.json"
    assert train("--data", str(data), "--weights", str(V2), "--out", str(out)) == 2
    assert "v2 weights have no family counts" in capsys.readouterr().err
    assert train("--data", str(data), "--replace", "--out", str(out)) == 0
    mine = load_scorer(out)
    assert isinstance(mine, DifficultyScorer)
    assert mine.meta["trained_on"] == ["mine.jsonl"]
    assert train("--out", str(out)) == 2  # nothing to train on
