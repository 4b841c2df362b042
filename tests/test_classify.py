"""Features from requests, the shipped scorer's quality floors on held-out data, and retraining."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.classify.features import extract as extract_view
from gateway.classify.scorer import default_scorer, load_scorer
from gateway.errors import ConfigError
from gateway.protocol import chat_view, completion_view

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
RB = DATA / "routerbench0shot_subset_arc_mbpp_winogrande_11models.csv.gz"
ARENA = DATA / "arenabench_v1_gpt4_single_scores_15models.csv.gz"
needs_data = pytest.mark.skipif(not RB.exists(), reason="needs ../shared/data (present in CI)")


def extract(body: dict[str, object]) -> tuple[object, list[str]]:
    full = {"model": "auto", **body}
    return extract_view(chat_view(full, 0) if "messages" in body else completion_view(full, 0))


def user(text: str, **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}], **extra}


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        (user("hello"), "code", False),
        (user("```python\nprint(1)\n```"), "code", True),
        (user("Write a python function that sorts a list"), "code", True),
        (user("Solve the equation x^2 = 4"), "math", True),
        (user("what is 12 * 7"), "math", True),
        (user("Explain why the sky is blue"), "reasoning", True),
        (user("Think step by step"), "reasoning", True),
        (user("hi", tools=[{"type": "function", "function": {"name": "f"}}]), "tools", True),
        (user("hi", response_format={"type": "json_schema", "json_schema": {}}), "json_schema", True),
        (user("hi", max_tokens=77), "max_tokens", 77),
        (user("这是一个关于天气的问题请回答"), "non_english", True),
        (user("hello there"), "non_english", False),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "images",
            True,
        ),
        (
            {
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "c"},
                ]
            },
            "turns",
            2,
        ),
        ({"messages": [{"role": "system", "content": "be brief"}]}, "system", True),
        (user("x" * 4000), "prompt_tokens", 1001),
        ({"prompt": "a text completion prompt"}, "prompt_tokens", 7),
    ],
)
def test_features(body: dict[str, object], field: str, value: object) -> None:
    feats, _ = extract(body)
    assert getattr(feats, field) == value


def test_tail_bounds_the_work() -> None:
    _, words = extract(user("word " * 100_000))
    assert len(words) < 300


def test_scores_are_probabilities_and_deterministic() -> None:
    scorer = default_scorer()
    for body in (user(""), user("hi"), user("Prove the Riemann hypothesis " * 50), {"messages": "junk"}):
        s = scorer.score(*extract(body))  # type: ignore[arg-type]
        assert 0.0 < s < 1.0
        assert s == scorer.score(*extract(body))  # type: ignore[arg-type]


def test_bad_weights_file_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "w.json"
    p.write_text('{"format": "something-else"}')
    with pytest.raises(ConfigError, match="not a gateway-linear-v1"):
        load_scorer(p)
    p.write_text('{"format": "gateway-linear-v1", "bias": 0}')
    with pytest.raises(ConfigError, match="malformed"):
        load_scorer(p)


@needs_data
def test_shipped_scorer_quality_floors() -> None:
    """Regression floors on held-out rows (never trained on): fail if a retrain makes routing worse."""
    import numpy as np

    from gateway.classify.data import load_routerbench
    from gateway.classify.evaluate import metrics

    scorer = default_scorer()
    held = [e for e in load_routerbench(RB) if e.split == "test"]
    s = np.array([scorer.score(*extract(e.body)) for e in held])
    qs, ql = np.array([e.q_small for e in held]), np.array([e.q_large for e in held])
    learned = metrics(s, qs, ql)
    length = metrics(np.array([extract(e.body)[0].prompt_tokens for e in held], dtype=float), qs, ql)
    assert learned.apgr >= 0.53, learned
    assert learned.apgr > length.apgr
    assert learned.calls95 <= 0.82, learned


@needs_data
def test_training_reproduces_the_shipped_weights(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "train",
            "--routerbench",
            str(RB),
            "--arena",
            str(ARENA),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    shipped = REPO / "gateway" / "classify" / "weights" / "default.json"
    assert json.loads(out.read_text()) == json.loads(shipped.read_text())


def test_training_on_operator_traffic(tmp_path: Path) -> None:
    rows = [{"prompt": f"easy question number {i}", "tier": "small"} for i in range(30)]
    rows += [{"prompt": f"prove this hard theorem rigorously {i}", "tier": "large"} for i in range(30)]
    data = tmp_path / "traffic.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "mine.json"
    subprocess.run(
        [sys.executable, "-m", "gateway", "train", "--data", str(data), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    mine = load_scorer(out)
    easy = mine.score(*extract(user("easy question number 99")))
    hard = mine.score(*extract(user("prove this hard theorem rigorously 99")))
    assert easy < 0.3 < 0.7 < hard
