"""`gateway train` with the family model: --data adds an operator's labels to the shipped counts (or to
--weights), deterministically, once per file, and fits the operator layer on them (served as training
scores it, only in the operator's families, set aside where learned counts are in force); --replace
keeps the old meaning (v2 on the file alone).
The fitting itself on synthetic rows: tests/offline/test_family_fit.py."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from gateway.classify.families import LEARNED_BOUND, ROOT
from gateway.classify.family_file import model_from_json
from gateway.classify.scorer import DifficultyScorer, FamilyScorer, load_scorer
from gateway.classify.view import view_of_body
from gateway.cli import main
from gateway.errors import ConfigError
from gateway.offline.data import Example, load_labelled
from gateway.offline.encoded import encode
from gateway.offline.family_train import family_logits
from tests.support import REPO
from tests.unit.classify.test_families import Learned

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


def test_data_fits_the_operator_layer_and_the_gateway_scores_as_training_does(tmp_path: Path) -> None:
    data = traffic(tmp_path / "mine.jsonl", 160, 5)
    out = tmp_path / "w.json"
    assert train("--data", str(data), "--out", str(out)) == 0
    model = model_from_json(json.loads(out.read_text()), "mine")
    layer = model.operator
    assert layer is not None and layer.labels == 160 and layer.layer_weight > 0 and layer.families
    assert model.meta["operator_layer"] == {"labels": 160, "families": list(layer.families)}
    # gated one level below the top, where at least 5 of the labels landed: not at the root or `u`
    assert all(model.depth(f) <= 1 and f not in (ROOT, "u") for f in layer.families)
    assert any(model.depth(f) == 1 for f in layer.families)
    assert model.dumps() == out.read_text()  # the layer round-trips byte for byte
    counts_only = copy.deepcopy(model)
    counts_only.operator = None
    served, bare = load_scorer(out), FamilyScorer(counts_only)
    assert isinstance(served, FamilyScorer)
    # the operator's own requests, and some unlike them (code, chat, another language)
    others = [
        "def merge(a, b):\n    return sorted(a + b)\n# why is this slow for long lists?",
        "Write a haiku about the sea at night.",
        "¿Cuál es la capital de Australia y por qué no es Sídney?",
        "Summarise the causes of the First World War in three sentences.",
    ]
    rows = load_labelled(data, "small")[:40] + [
        Example({"messages": [{"role": "user", "content": t}]}, 0, "other", "train") for t in others
    ]
    offline = family_logits(model, encode(rows))
    gated = 0
    for e, z in zip(rows, offline, strict=True):
        hit = served.family(e.view)
        assert served.logit(e.view) == pytest.approx(z, rel=1e-5, abs=1e-5)  # serving = training's arithmetic
        if layer.applies(hit.path):
            gated += 1
        else:  # outside the operator's families the family model's score stands
            assert served.logit(e.view) == bare.logit(e.view)
    assert gated >= 40
    # the stacking helps on the operator's own held-out requests: ranks them better than counts alone
    test = load_labelled(traffic(tmp_path / "later.jsonl", 300, 6), "small")
    y = np.array([e.label for e in test], dtype=float)
    assert auc(served, test, y) > auc(bare, test, y)


def test_learned_counts_in_force_set_aside_the_operator_layer(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    assert train("--data", str(traffic(tmp_path / "mine.jsonl", 160, 7)), "--out", str(out)) == 0
    served = load_scorer(out)
    assert isinstance(served, FamilyScorer)
    view = load_labelled(tmp_path / "mine.jsonl", "small")[0].view
    hit = served.family(view)
    layered_z = served.logit(view)
    learned = Learned({nid: (400.0, 100.0) for nid in hit.path})
    live = served.with_learned(learned)
    counts_only = copy.deepcopy(served.model)
    counts_only.operator = None
    # the family's live traffic sets its level alone; the layer still shapes the prior it reports
    assert live.logit(view) == pytest.approx(FamilyScorer(counts_only, learned=learned).logit(view), abs=1e-9)
    assert live.family(view).prior == pytest.approx(1 / (1 + math.exp(-layered_z)), abs=1e-9)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"layer_weight": 0.0}, "layer_weight > 0"),
        ({"families": ["f999"]}, "unknown families"),
        ({"spec": None}, "v2 `spec`"),
    ],
)
def test_a_malformed_operator_layer_is_refused_with_the_reason(
    tmp_path: Path, change: dict[str, object], error: str
) -> None:
    out = tmp_path / "w.json"
    assert train("--data", str(traffic(tmp_path / "mine.jsonl", 120, 8)), "--out", str(out)) == 0
    data = json.loads(out.read_text())
    data["operator"].update(change)
    with pytest.raises(ConfigError, match=error):
        model_from_json(data, "bad.json")


def test_fewer_than_fifty_labels_fit_no_layer(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    assert train("--data", str(traffic(tmp_path / "few.jsonl", 40, 9)), "--out", str(out)) == 0
    assert model_from_json(json.loads(out.read_text()), "few").operator is None


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def test_a_cascade_reads_the_score_as_its_familys_rate_moved_at_most_the_bound(tmp_path: Path) -> None:
    """FamilyHit.short, what a cascade weighs drafts against and settles families by: the family's
    level moved by the request's place within it at most LEARNED_BOUND log-odds, in the score's order
    within a family; where learned counts are in force the score already reads so, and is kept."""
    out = tmp_path / "w.json"
    assert train("--data", str(traffic(tmp_path / "mine.jsonl", 160, 11)), "--out", str(out)) == 0
    served = load_scorer(out)
    assert isinstance(served, FamilyScorer)
    rows = load_labelled(traffic(tmp_path / "later.jsonl", 120, 12), "small")
    extra = ["Hi", "Thanks!", "Write a haiku about the sea at night."]
    views = [e.view for e in rows] + [
        view_of_body({"messages": [{"role": "user", "content": t}]}) for t in extra
    ]
    by_family: dict[str, list[tuple[float, float]]] = {}
    beyond = 0
    for view in views:
        z, hit = served.logit(view), served.family(view)
        if not hit.labels:  # a family without the operator's labels: nothing weighs it
            assert hit.short is None
            continue
        assert hit.short is not None
        level = z - hit.within
        assert abs(logit(hit.short) - level) <= LEARNED_BOUND + 1e-6, (z, hit)
        beyond += abs(hit.within) > 2 * LEARNED_BOUND
        by_family.setdefault(hit.family, []).append((z, hit.short))
    assert beyond >= 3  # the score itself goes well past the bound: what the bound is for
    for pairs in by_family.values():
        shorts = [q for _, q in sorted(pairs)]
        assert shorts == sorted(shorts)  # the score's order, within a family
    view = views[0]
    learned = Learned({nid: (400.0, 100.0) for nid in served.family(view).path})
    live = served.with_learned(learned)
    p, hit = live.scored(view)
    assert hit.short == pytest.approx(p, abs=1e-12)
    # a route that does not act on learned counts reads the weights' own, as a fresh gateway would
    assert hit.prior_short == pytest.approx(served.family(view).short, abs=1e-12)


def auc(scorer: FamilyScorer, rows: list[Example], y: np.ndarray) -> float:
    s = np.array([scorer.logit(e.view) for e in rows])
    pos, neg = s[y == 1], s[y == 0]
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())
