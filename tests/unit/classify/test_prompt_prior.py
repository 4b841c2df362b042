"""The drafting model's own prompt prior (classify/prompt_prior.py) and how the verifier reads it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gateway.classify.prompt_prior import INPUTS, PromptPrior, prompt_inputs
from gateway.classify.verifier import Draft, Verifier, default_verifier, load_verifier
from gateway.errors import ConfigError
from gateway.protocol import RequestView, chat_view


def view(text: str) -> RequestView:
    return chat_view({"model": "auto", "messages": [{"role": "user", "content": text}]}, 0)


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return default_verifier()


def test_the_cues_read_what_kind_of_question_it_is() -> None:
    x = prompt_inputs("How many apples are left if you eat 3 of 12?")
    assert x["how_many"] == 1 and x["log_numbers"] > 0 and x["log_digits"] > x["log_numbers"] - 1
    assert prompt_inputs("Is 7 a prime number?")["yes_no"] == 1
    assert prompt_inputs("This is 7 a prime")["yes_no"] == 0  # a yes/no question starts with its verb
    assert prompt_inputs("Pick one: A) red B) blue C) green")["options"] == 1
    assert prompt_inputs("Pick A) red")["options"] == 0
    assert prompt_inputs("What is 12 * 4?")["arithmetic"] == 1
    assert prompt_inputs("What is 15 percent of 200?")["arithmetic"] == 1
    assert prompt_inputs("What is the capital of Peru?")["lookup"] == 1
    assert prompt_inputs("What comes next: 2, 4, 6?")["order"] == 1
    assert prompt_inputs("Spell 'cat' backwards.")["quoted_word"] == 1
    assert prompt_inputs("Who wrote it?")["which_who"] == 1 and prompt_inputs("what, then?")["what"] == 1
    assert prompt_inputs("line one\nline two")["lines"] == 1
    empty = prompt_inputs("")
    assert set(empty) == set(INPUTS) and empty["log_chars"] == 0.0


def test_the_fast_cues_read_as_their_plain_regexes_do() -> None:
    """The cues skip regex work with substring tests and a letter-first option pattern; they must
    read every text as the plain definitions (the ones fitted on) do."""
    import random
    import re

    plain = {
        "options": lambda q: len(re.findall(r"(?:^|\s|\()[A-D][).]", q)) >= 2,
        "arithmetic": lambda q: bool(
            re.search(r"\d\s*[-+*x\u00d7/]\s*\d", q)
            or re.search(r"\b(?:plus|minus|times|divided|subtract|sum of|product)\b", q.lower())
            or "%" in q
            or "percent" in q.lower()
        ),
        "format": lambda q: bool(re.search(r"only|one word|just the|single word|answer:", q.lower())),
        "make": lambda q: bool(
            re.search(r"\b(?:write|return|give a json|json|python|spell|convert|put these)\b", q.lower())
        ),
        "lookup": lambda q: bool(re.search(r"\b(?:capital|opposite|plural|symbol|chemical)\b", q.lower())),
        "order": lambda q: bool(re.search(r"next|sequence|pattern|order|after|before|letter", q.lower())),
        "what": lambda q: re.sub(r"[^a-z]", "", (q.lower().split() or [""])[0]) == "what",
    }
    words = (
        "plus Plus surplus sum of products write rewrite JSON jsonl python spell convert put these "
        "capital capitals opposite plural symbol chemical only one word answer: next order letter % "
        'percent 3+4 3 x 4 A) B. (C) D) xA) \u00a0B) \u2003C. "word" how What, Which who Is 12 7.5'
    )
    parts = [*words.split(" "), "\n", "\t", ""]
    rng = random.Random(7)
    for _ in range(3000):
        q = rng.choice(("", " ", "\n")).join(rng.choice(parts) for _ in range(rng.randint(0, 20)))
        x = prompt_inputs(q)
        assert {k: float(f(q)) for k, f in plain.items()} == {k: x[k] for k in plain}, q


def test_the_shipped_prior_ranks_a_lookup_above_a_run_to_continue_with_the_same_draft(
    verifier: Verifier,
) -> None:
    draft = [Draft("Lima", "stop", (-0.3, -0.2))]
    easy = verifier.verdict(view("What is the capital of Peru?"), draft)
    hard = verifier.verdict(view("What comes next in the sequence 3, 9, 27, 81?"), draft)
    assert easy.features["prompt"] > 0 > hard.features["prompt"]
    assert easy.confidence > hard.confidence
    # the evidence is the draft's alone: the prior moves the verdict, not what the draft shows
    assert easy.features["evidence"] == pytest.approx(hard.features["evidence"], abs=2.0)


def test_a_callers_prior_replaces_the_prompt_prior(verifier: Verifier) -> None:
    """A family with labels of the deployment's own (or a v2 scorer's difficulty) brings its prior:
    the prompt is then not read, and two questions with the same prior and draft score the same."""
    draft = [Draft("Lima", "stop", (-0.3, -0.2))]
    a = verifier.verdict(view("What is the capital of Peru?"), draft, prior_right=0.4, prior_n=30)
    b = verifier.verdict(view("What comes next in the sequence 3, 9, 27, 81?"), draft, 0.6, prior_n=30)
    assert "prompt" not in a.features and "prompt" not in b.features
    assert a.features["prior"] == pytest.approx(b.features["prior"])


def test_without_a_prompt_prior_a_verdict_keeps_the_default(verifier: Verifier) -> None:
    bare = replace(verifier, prompt=None)
    draft = [Draft("Lima", "stop", (-0.3, -0.2))]
    x = bare.verdict(view("What is the capital of Peru?"), draft).features
    y = bare.verdict(view("What comes next in the sequence 3, 9, 27, 81?"), draft).features
    assert "prompt" not in x and x["prior"] == y["prior"]


def test_the_weights_file_round_trips_and_bad_prompt_priors_are_refused(verifier: Verifier, tmp_path) -> None:
    data = verifier.to_json()
    assert data["prior"]["prompt"]["weight"] == verifier.prompt.weight  # type: ignore[union-attr]
    path = tmp_path / "v.json"
    path.write_text(json.dumps(data))
    again = load_verifier(path)
    assert again.prompt == verifier.prompt
    for bad in ({"weights": {"moon_phase": 1.0}}, {"weight": 5.0}, {"center": float("nan")}, {"bias": None}):
        broken = json.loads(json.dumps(data))
        broken["prior"]["prompt"].update(bad)
        path.write_text(json.dumps(broken))
        with pytest.raises(ConfigError, match="malformed verifier weights"):
            load_verifier(path)


def test_the_shift_is_centred_and_weighted() -> None:
    prior = PromptPrior(0.5, {"lookup": 2.0}, weight=0.5, center=1.0)
    assert prior.shift(view("Name the capital of Chile.")) == pytest.approx(0.5 * (2.5 - 1.0))
    assert prior.shift(view("Name a colour.")) == pytest.approx(0.5 * (0.5 - 1.0))
    assert prior.shift(chat_view({"model": "auto", "messages": [{"role": "system", "content": "x"}]}, 0)) == (
        pytest.approx(-0.25)
    )
