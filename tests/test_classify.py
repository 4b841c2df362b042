"""Request features, the shipped scorer (offline load, calibration, quality floors) and retraining."""

from __future__ import annotations

import array
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.classify.embed import MAX_TOKENS
from gateway.classify.features import TAIL_CHARS, profile, prompt_slice
from gateway.classify.scorer import default_scorer, load_scorer
from gateway.classify.view import view_of_body
from gateway.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
RB = DATA / "routerbench0shot_subset_arc_mbpp_winogrande_11models.csv.gz"
ARENA = DATA / "arenabench_v1_gpt4_single_scores_15models.csv.gz"
SHIPPED = REPO / "gateway" / "classify" / "weights" / "default.json"
needs_data = pytest.mark.skipif(not RB.exists(), reason="needs ../shared/data (present in CI)")

# The selection rule (docs/routing-eval.md): the shipped recipe's APGR at least prompt length's on
# every leave-one-task-out split and on the arena split. The floors allow this much below it before a
# regression fails, a tenth of the bootstrap intervals' half-width.
APGR_TOLERANCE = 0.003
MAX_ECE = 0.08  # on the held-out rows; measured 0.05 (docs/routing-eval.md)


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
        (user("hi", max_tokens=77), "output_tokens", 77),
        (user("hi", max_completion_tokens=5, max_tokens=77), "output_tokens", 5),
        (user("这是一个关于天气的问题请回答"), "non_english", True),
        (user("hello there"), "non_english", False),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "images",
            1,
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
        ({"messages": [{"role": "developer", "content": "be brief"}]}, "system", True),
        (user("x" * 4000), "prompt_tokens", 1001),
        ({"prompt": "a text completion prompt"}, "prompt_tokens", 7),
        ({"messages": "junk"}, "prompt_tokens", 1),
    ],
)
def test_features(body: dict[str, object], field: str, value: object) -> None:
    assert getattr(profile(view_of_body(body)), field) == value


def test_the_slice_is_the_system_head_and_the_last_user_tail() -> None:
    view = view_of_body(
        {
            "messages": [
                {"role": "system", "content": "S" * 1000},
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "an answer"},
                {"role": "user", "content": "q" * 10_000 + " the end"},
            ]
        }
    )
    text = prompt_slice(view)
    assert text.startswith("S" * 128 + "\n")
    assert text.endswith(" the end")
    assert len(text) == 128 + 1 + TAIL_CHARS


def test_the_tokens_read_are_bounded() -> None:
    tokens = default_scorer()._tokens
    ids, chars = tokens.ids(("word " * 100_000)[-TAIL_CHARS:])
    assert len(ids) == 103  # plain text: the whole slice
    assert abs(chars - TAIL_CHARS) <= 5
    for text in ("这是" * 5000, "ab0+/" * 3000):  # many tokens a character: the last MAX_TOKENS
        ids, chars = tokens.ids(text[-TAIL_CHARS:])
        assert MAX_TOKENS <= len(ids) < MAX_TOKENS + 40, len(ids)
        assert 0 < chars < TAIL_CHARS


def test_chunked_tokens_match_the_whole_text() -> None:
    """The memo tokenizes word by word; Llama's pieces start at spaces, so the ids are the same."""
    tokens = default_scorer()._tokens
    text = "Which skin surface will produce the most heat? A) dry palms B) wet palms"
    whole = tokens._tokenizer.encode(text, add_special_tokens=False).ids
    assert tokens.ids(text)[0].tolist() == whole


def test_the_vocabulary_words_are_their_own_tokens() -> None:
    """The memo starts from the vocabulary's whole words: each must tokenize to its one piece."""
    tokens = default_scorer()._tokens
    words = list(tokens._base)
    encoded = tokens._tokenizer.encode_batch(words, add_special_tokens=False)
    assert [array.array("i", e.ids).tobytes() for e in encoded] == [tokens._base[w] for w in words]


def test_scores_are_probabilities_and_deterministic() -> None:
    scorer = default_scorer()
    for body in (user(""), user("hi"), user("Prove the Riemann hypothesis " * 50), {"messages": "junk"}):
        view = view_of_body(body)  # type: ignore[arg-type]
        s = scorer.score(view)
        assert 0.0 < s < 1.0
        assert s == scorer.score(view, profile(view))


def test_terms_add_up_to_the_logit() -> None:
    scorer = default_scorer()
    view = view_of_body(user("Write a python function that merges two sorted lists"))
    assert sum(scorer.terms(view).values()) == pytest.approx(scorer.logit(view), abs=1e-5)


def test_a_greeting_is_easier_than_a_proof() -> None:
    scorer = default_scorer()
    easy = scorer.score(view_of_body(user("hi")))
    hard = scorer.score(view_of_body(user("Prove that there are infinitely many primes, step by step.")))
    assert easy < hard - 0.1


def test_bad_weights_file_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "w.json"
    p.write_text('{"format": "something-else"}')
    with pytest.raises(ConfigError, match="not a gateway-difficulty-v2"):
        load_scorer(p)
    p.write_text('{"format": "gateway-linear-v1", "bias": 0, "dense": {}, "vocab": {}}')
    with pytest.raises(ConfigError, match="no longer read; retrain"):
        load_scorer(p)
    p.write_text('{"format": "gateway-difficulty-v2", "dense": []}')
    with pytest.raises(ConfigError, match="malformed"):
        load_scorer(p)
    data = json.loads(SHIPPED.read_text())
    data["dense"][0]["signal"] = "vibes"
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="unknown signals"):
        load_scorer(p)
    data = json.loads(SHIPPED.read_text())
    data["embedding"]["weights_sha256"] = "0" * 64
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="another embedding model"):
        load_scorer(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_scorer(tmp_path / "missing.json")


_OFFLINE = """
import socket, sys

def refuse(*a, **k):
    raise OSError("network access during scorer load")

socket.socket.connect = refuse
socket.create_connection = refuse
import gateway.classify.scorer as s
assert "numpy" not in sys.modules and "tokenizers" not in sys.modules, "work at import"
from gateway.classify.view import view_of_body
p = s.default_scorer().score(view_of_body({"messages": [{"role": "user", "content": "hello"}]}))
assert 0 < p < 1
assert "wordllama" not in sys.modules
print("ok")
"""


def test_loads_offline_without_side_effects(tmp_path: Path) -> None:
    """No network, no hub, no cache written: the weights ship in the wordllama wheel and ours."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_OFFLINE)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert not any(home.iterdir())


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


@pytest.fixture(scope="module")
def evaluated() -> tuple[object, list[object]]:
    from gateway.offline.data import load_arena, load_routerbench
    from gateway.offline.scorer_eval import rule_splits
    from gateway.offline.scorer_train import encode

    enc = encode(load_routerbench(RB) + load_arena(ARENA))
    return enc, rule_splits(enc, default_scorer())  # type: ignore[return-value]


@needs_data
def test_selection_rule_floors(evaluated: tuple[object, list[object]]) -> None:
    """Every rule split, from the nested recipe and the shipped weights: at least prompt length's
    APGR (less APGR_TOLERANCE), and above it on the mean. Fails if a change makes routing worse."""
    import numpy as np

    from gateway.classify.signals import LENGTH
    from gateway.offline.scorer_eval import RULE_SPLITS
    from gateway.offline.scorer_train import NAMES
    from gateway.offline.stats import apgr

    enc, splits = evaluated
    length = enc.signals[:, NAMES.index(LENGTH)]  # type: ignore[attr-defined]
    ours, base = {}, {}
    for sp in splits:
        qs, ql = enc.q_small[sp.rows], enc.q_large[sp.rows]  # type: ignore[attr-defined]
        ours[sp.name] = apgr(sp.scores, qs, ql)  # type: ignore[attr-defined]
        base[sp.name] = apgr(length[sp.rows], qs, ql)  # type: ignore[attr-defined]
    for name in RULE_SPLITS:
        assert ours[name] >= base[name] - APGR_TOLERANCE, (name, ours[name], base[name])
    assert np.mean([ours[n] for n in RULE_SPLITS]) > np.mean([base[n] for n in RULE_SPLITS]) + 0.01
    assert ours["RouterBench held-out split"] >= base["RouterBench held-out split"] - APGR_TOLERANCE


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
    subprocess.run(
        [sys.executable, "-m", "gateway", "train", *args, "--out", str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@needs_data
def test_training_reproduces_the_shipped_weights(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    _train("--routerbench", str(RB), "--arena", str(ARENA), out=out)
    assert json.loads(out.read_text()) == json.loads(SHIPPED.read_text())


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
