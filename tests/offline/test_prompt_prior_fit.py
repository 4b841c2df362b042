"""Fitting the drafting model's own prompt prior (offline/prompt_prior_fit.py), and how it ranks the
embedded model's drafts of question sets it was not fitted on (loadtests/blind_labels.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.offline.prompt_prior_fit import Labelled, fit, held_out, read_labels
from tests.support import REPO

LABELS = REPO / "loadtests" / "blind_labels.jsonl"
SETS = ("blind", "blind2", "blind3", "blind4")


def _rows(family: str, template: str, right: int, n: int = 20) -> list[Labelled]:
    return [Labelled("made", family, template.format(i=i, j=i + 3), right) for i in range(n)]


def test_a_fit_learns_which_kinds_of_question_the_model_gets_right() -> None:
    rows = (
        _rows("capitals", "What is the capital of country number {i}?", 1)
        + _rows("runs", "What comes next: {i}, {j}, {i}{j}?", 0)
        + _rows("counts", "How many letters are in word {i}?", 0)
    )
    prior = fit(rows, 0.5)
    assert prior.weights["lookup"] > 0 > prior.weights["order"]
    assert prior.weights["how_many"] < 0
    logits = [prior.logit(r.question) for r in rows]
    assert prior.center == pytest.approx(sum(logits) / len(logits), abs=1e-4)
    assert min(logits[:20]) > max(logits[20:])
    assert prior.weight == 0.5


def test_every_family_weighs_the_same_whatever_its_size() -> None:
    """A family of 400 templated questions must not outvote one of 20: with the families weighted,
    the two opposite families pull the same cue equally, so its weight stays near zero."""
    big = _rows("big", "What is the capital of place {i}?", 1, 400)
    small = _rows("small", "What is the capital of town {i}?", 0, 20)
    assert abs(fit(big + small, 1.0).weights["lookup"]) < 0.05


def test_held_out_logits_come_from_fits_without_their_group() -> None:
    rows = _rows("capitals", "What is the capital of country {i}?", 1) + _rows(
        "runs", "What comes next: {i}?", 0
    )
    rows += [Labelled("made", "mixed", f"What is item {i}?", i % 2) for i in range(20)]
    by_family = held_out(rows, "family")
    assert len(by_family) == len(rows) and all(abs(v) < 50 for v in by_family)
    # left out, "capitals" has nothing to learn the lookup cue from: its logits are the same
    assert len({round(float(v), 9) for v in by_family[:20]}) <= 2


@pytest.mark.skipif(not LABELS.exists(), reason="written by loadtests/prompt_prior_eval.py")
def test_on_a_set_left_out_the_prior_ranks_drafts_above_prompt_length() -> None:
    """Fitted on the other blind sets only (the calibration drafts are cached, not committed),
    measured: 0.677, 0.772, 0.643, 0.629 against prompt length's 0.530, 0.647, 0.635, 0.521."""
    import numpy as np

    from gateway.offline.stats import auc

    rows = read_labels(LABELS)
    assert {r.set for r in rows} == set(SETS) and len(rows) == 200 * len(SETS)
    scores, lengths = [], []
    for s in SETS:
        prior = fit([r for r in rows if r.set != s], 1.0)
        test = [r for r in rows if r.set == s]
        y = np.array([r.right for r in test], dtype=np.float64)
        scores.append(auc(np.array([prior.logit(r.question) for r in test]), y))
        lengths.append(auc(-np.array([len(r.question) for r in test], dtype=np.float64), y))
        assert scores[-1] >= 0.6, s
        assert scores[-1] >= lengths[-1] - 0.005, s  # never below prompt length; a tie at worst
    assert np.mean(scores) >= np.mean(lengths) + 0.05


def test_the_command_writes_the_prior_into_a_weights_file(tmp_path: Path) -> None:
    from gateway.cli import main

    labels = tmp_path / "labels.jsonl"
    rows = (
        [
            {"set": "a", "family": "caps", "question": f"What is the capital of land {i}?", "right": 1}
            for i in range(12)
        ]
        + [
            {"set": "a", "family": "runs", "question": f"What comes next: {i}, {i + 1}?", "right": 0}
            for i in range(12)
        ]
        + [
            {"set": "b", "family": "caps", "question": f"Name the capital of isle {i}.", "right": 1}
            for i in range(12)
        ]
        + [
            {"set": "b", "family": "runs", "question": f"What number is next: {i}, {i + 2}?", "right": 0}
            for i in range(12)
        ]
    )
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    weights = tmp_path / "verifier.json"
    weights.write_text((REPO / "gateway" / "classify" / "weights" / "verifier.json").read_text())
    doc = tmp_path / "doc.md"
    doc.write_text("x\n<!-- prompt-prior:begin -->\nold\n<!-- prompt-prior:end -->\ny\n")
    code = main(
        [
            "fit-prompt-prior",
            "--cache",
            str(tmp_path / "none.jsonl"),
            "--labels",
            str(labels),
            "--weight",
            "0.25",
            "--bootstrap",
            "20",
            "--weights",
            str(weights),
            "--doc",
            str(doc),
        ]
    )
    assert code == 0
    prompt = json.loads(weights.read_text())["prior"]["prompt"]
    assert prompt["weight"] == 0.25 and prompt["weights"]["lookup"] > 0
    text = doc.read_text()
    assert "old" not in text and "| a | 24 (12) |" in text and text.endswith("y\n")


def test_the_command_refuses_what_it_cannot_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    empty = ["fit-prompt-prior", "--cache", str(tmp_path / "none.jsonl")]
    assert main(empty) == 2
    assert "no graded drafts" in capsys.readouterr().err
    assert main([*empty, "--weight", "3"]) == 2
    assert "--weight is in [0, 2]" in capsys.readouterr().err
    old = tmp_path / "v1.json"
    old.write_text(json.dumps({"format": "gateway-verifier-v1", "heads": {}}))
    assert main([*empty, "--weights", str(old)]) == 2
    assert "has no prior" in capsys.readouterr().err
    assert json.loads(old.read_text()) == {"format": "gateway-verifier-v1", "heads": {}}
