"""Request features and the shipped scorer, in process. Its load without network or cache:
tests/live/test_scorer_loads_offline.py; against its training data: tests/offline/test_scorer_training.py."""

from __future__ import annotations

import array
import json
from pathlib import Path

import pytest

from gateway.classify.embed import MAX_TOKENS
from gateway.classify.features import TAIL_CHARS, profile, prompt_slice
from gateway.classify.scorer import default_scorer, load_scorer, v2_scorer
from gateway.classify.view import view_of_body
from gateway.errors import ConfigError
from tests.support import REPO

SHIPPED = REPO / "gateway" / "classify" / "weights" / "default.json"
V2 = REPO / "gateway" / "classify" / "weights" / "difficulty-v2.json"


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


@pytest.mark.parametrize("which", ["v3", "v2"])
def test_scores_are_probabilities_and_deterministic(which: str) -> None:
    scorer = default_scorer() if which == "v3" else v2_scorer()
    # a lone surrogate: a str, not UTF-8 (no JSON request carries one; an in-process caller may)
    odd = user("solve x \ud800 + 1 = 2 st\udfffep by step " * 3)
    for body in (user(""), user("hi"), user("Prove the Riemann hypothesis " * 50), {"messages": "junk"}, odd):
        view = view_of_body(body)  # type: ignore[arg-type]
        s = scorer.score(view)
        assert 0.0 < s < 1.0
        assert s == scorer.score(view, profile(view))


@pytest.mark.parametrize("which", ["v3", "v2"])
def test_terms_add_up_to_the_logit(which: str) -> None:
    scorer = default_scorer() if which == "v3" else v2_scorer()
    view = view_of_body(user("Write a python function that merges two sorted lists"))
    assert sum(scorer.terms(view).values()) == pytest.approx(scorer.logit(view), abs=1e-5)


@pytest.mark.parametrize("which", ["v3", "v2"])
def test_a_greeting_is_easier_than_a_proof(which: str) -> None:
    scorer = default_scorer() if which == "v3" else v2_scorer()
    easy = scorer.score(view_of_body(user("hi")))
    hard = scorer.score(view_of_body(user("Prove that there are infinitely many primes, step by step.")))
    # v3 reads both in the same chat family, by length (its level for short chat prompts is low)
    assert easy < hard - (0.1 if which == "v2" else 0.0)


def test_bad_weights_file_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "w.json"
    p.write_text('{"format": "something-else"}')
    with pytest.raises(ConfigError, match=r"not a gateway-difficulty-v3 \(or gateway-difficulty-v2\)"):
        load_scorer(p)
    p.write_text('{"format": "gateway-linear-v1", "bias": 0, "dense": {}, "vocab": {}}')
    with pytest.raises(ConfigError, match="no longer read; retrain"):
        load_scorer(p)
    p.write_text('{"format": "gateway-difficulty-v2", "dense": []}')
    with pytest.raises(ConfigError, match="malformed"):
        load_scorer(p)
    data = json.loads(V2.read_text())
    data["dense"][0]["signal"] = "vibes"
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="unknown signals"):
        load_scorer(p)
    for weights in (V2, SHIPPED):
        data = json.loads(weights.read_text())
        data["embedding"]["weights_sha256"] = "0" * 64
        p.write_text(json.dumps(data))
        with pytest.raises(ConfigError, match="another embedding model"):
            load_scorer(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_scorer(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["signals"]["names"].__setitem__(1, "vibes"), "unknown signals"),
        (lambda d: d["signals"]["names"].insert(0, d["signals"]["names"].pop(1)), "first signal"),
        (lambda d: d["families"]["nodes"].reverse(), "parent must come before"),
        (lambda d: d["families"]["nodes"][3]["centroid"].pop(), "a centroid of 32"),
        (lambda d: d["families"]["nodes"][0].__setitem__("slopes", None), "root must carry"),
        (lambda d: d["families"]["nodes"][2]["base"]["sum"].pop(), "sums"),
        (lambda d: d["families"].pop("kappa"), "malformed"),
    ],
)
def test_bad_v3_weights_are_config_errors(tmp_path: Path, change: object, message: str) -> None:
    data = json.loads(SHIPPED.read_text())
    change(data)  # type: ignore[operator]
    p = tmp_path / "w.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message):
        load_scorer(p)
