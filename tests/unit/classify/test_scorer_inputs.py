"""The decision log's `features` record (classify/inputs.py): complete, JSON-ready, read back into the
rows training uses, and enough to rescore a request without its text; weights written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.classify.inputs import INPUTS_FORMAT, read_inputs, scorer_inputs
from gateway.classify.scorer import DifficultyScorer, FamilyScorer, default_scorer, load_scorer, v2_scorer
from gateway.classify.signals import SIGNALS
from gateway.classify.view import view_of_body
from gateway.offline.data import Example
from gateway.offline.encoded import Encoded, encode, from_inputs
from gateway.offline.family_train import family_logits
from gateway.offline.scorer_train import logits, save

if TYPE_CHECKING:
    import numpy as np

BODIES = [
    {"messages": [{"role": "user", "content": "What is the capital of France?"}]},
    {"messages": [{"role": "user", "content": "Prove that sqrt(2) is irrational, step by step."}]},
    {
        "messages": [
            {"role": "system", "content": "You are a terse senior engineer. " * 10},
            {"role": "user", "content": "Write a python function that merges two sorted lists."},
            {"role": "assistant", "content": "def merge(a, b): ..."},
            {"role": "user", "content": "Now in Rust, with tests. " * 40},
        ],
        "max_tokens": 800,
    },
    {"messages": [{"role": "user", "content": "请解释一下量子纠缠" * 20}]},
    {"messages": [{"role": "user", "content": ""}]},
    {"messages": [{"role": "user", "content": "x" * 5000}], "tools": [{"type": "function"}]},
]


def _records() -> list[dict[str, object]]:
    return [json.loads(json.dumps(scorer_inputs(view_of_body(b)))) for b in BODIES]


def test_the_record_holds_every_signal_and_the_mean_embedding() -> None:
    for body, rec in zip(BODIES, _records(), strict=True):
        assert rec["format"] == INPUTS_FORMAT
        assert list(rec["signals"]) == list(SIGNALS)  # type: ignore[call-overload]
        assert rec["profile"]["output_tokens"] == body.get("max_tokens")  # type: ignore[index]
        emb = rec["embedding"]
        if rec["tokens"] == 0:
            assert emb is None
        else:
            assert isinstance(emb, list) and len(emb) == 256
            # rounded: short numbers in the log, never 0.12720000000000001
            assert all(len(repr(v)) <= 9 for v in emb), [v for v in emb if len(repr(v)) > 9][:3]
    assert _records()[4]["tokens"] == 0  # an empty prompt has no embedding
    assert _records()[5]["profile"]["tools"] is True  # type: ignore[index]


def _scorer(which: str) -> DifficultyScorer | FamilyScorer:
    return default_scorer() if which == "v3" else v2_scorer()


def _logits(scorer: DifficultyScorer | FamilyScorer, enc: Encoded) -> np.ndarray:
    if isinstance(scorer, FamilyScorer):
        return family_logits(scorer.model, enc)
    return logits(scorer.spec, enc)


@pytest.mark.parametrize("which", ["v3", "v2"])
def test_logged_inputs_rescore_as_the_live_scorer_scores(which: str) -> None:
    scorer = _scorer(which)
    rows = [read_inputs(r) for r in _records()]
    enc = from_inputs(rows, [0] * len(rows), ["t"] * len(rows), ["test"] * len(rows))
    for body, z in zip(BODIES, _logits(scorer, enc), strict=True):
        live = scorer.logit(view_of_body(body))
        assert z == pytest.approx(live, abs=2e-3), body


def test_logged_inputs_are_the_rows_training_computes_from_the_text() -> None:
    from_text = encode([Example(b, 0, "t", "train") for b in BODIES])
    rows = [read_inputs(r) for r in _records()]
    logged = from_inputs(rows, [0] * len(rows), ["t"] * len(rows), ["train"] * len(rows))
    assert logged.signals == pytest.approx(from_text.signals, abs=1e-6)
    assert (logged.n_tokens == from_text.n_tokens).all()
    for a, b in zip(logged.mean_emb, from_text.mean_emb, strict=True):
        top = max(abs(b).max(), 1e-9)
        assert abs(a - b).max() <= 1e-3 * top  # 4 significant digits of the largest component


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda r: r.update(format="v0"), "not a gateway-scorer-inputs-v1 record"),
        (lambda r: r["signals"].pop("digits"), "signals not logged: digits"),
        (lambda r: r.update(embedding=[0.1] * 3), "not 256 numbers"),
        (lambda r: r.update(tokens=0), "tokens and embedding disagree"),
        (lambda r: r["signals"].update(digits="high"), "not a number"),
    ],
)
def test_unusable_records_say_why(change: object, why: str) -> None:
    rec = _records()[0]
    change(rec)  # type: ignore[operator]
    with pytest.raises(ValueError, match=why):
        read_inputs(rec)


def test_weights_are_written_whole_then_renamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = v2_scorer().spec
    out = tmp_path / "w.json"
    save(spec, out)
    first = os.stat(out).st_ino
    save(spec, out)
    assert os.stat(out).st_ino != first  # a new file renamed over the old: a reader sees one or the other
    again = load_scorer(out)
    assert isinstance(again, DifficultyScorer) and again.spec == spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json"]
    assert oct(os.stat(out).st_mode & 0o777) == "0o644"

    def fail(*_: object) -> None:
        raise OSError("disk full")

    before = out.read_bytes()
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save(spec, out)
    assert out.read_bytes() == before  # the weights in force are untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json"]  # and no temporary file is left


@pytest.mark.parametrize("which", ["v3", "v2"])
def test_a_rounded_embedding_moves_the_probability_by_little(which: str) -> None:
    scorer = _scorer(which)
    rows = [read_inputs(r) for r in _records()]
    enc = from_inputs(rows, [0] * len(rows), ["t"] * len(rows), ["test"] * len(rows))
    for body, z in zip(BODIES, _logits(scorer, enc), strict=True):
        p = 1 / (1 + math.exp(-z))
        assert p == pytest.approx(scorer.score(view_of_body(body)), abs=5e-4)
