"""The cascade verifier: answer reading by tables, its features on crafted drafts, the directions its
confidence must move in, graceful degradation and its weights file (its quality floors on held-out
data: tests/offline/test_verifier_quality.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from gateway.classify import checks
from gateway.classify.draft import agreement, draft_of, drafts_of, first_statement, logprob_features
from gateway.classify.verifier import Draft, Head, Prior, Verifier, default_verifier, load_verifier
from gateway.errors import ConfigError
from gateway.protocol import RequestView, chat_view

MC = "Which of these is a fruit?\nA) table\nB) banana\nC) drill\nAnswer with the letter only."
ARITH = "What is 17 + 26? Answer with the number only."
CODE = "Write a python function to reverse a string."
FREE = "What is the capital of France?"
SURE = (-0.01,) * 4
UNSURE = (-0.01, -2.5, -1.8, -3.0)


def view(text: str) -> RequestView:
    return chat_view({"model": "auto", "messages": [{"role": "user", "content": text}]}, 0)


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return default_verifier()


# ---- reading questions and answers ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "options", "numeric", "code", "only"),
    [
        (MC, "ABC", False, False, True),
        (ARITH, "", True, False, True),
        (CODE, "", False, True, False),
        (FREE, "", False, False, False),
        ("How many legs does a spider have?", "", True, False, False),
        ("What is 12 - 5?", "", True, False, False),
        ("What happened on 2024-01-02?", "", False, False, False),  # a date, not a sum
        ("How long should I boil an egg?", "", False, False, False),  # prose answers are fine
        # few-shot: the last list of options is the question's
        ("Q1\nA) x\nB) y\nC) z\nD) w\nAnswer: B\n\nQ2\nA) p\nB) q\nAnswer:", "AB", False, False, False),
    ],
)
def test_expectation(question: str, options: str, numeric: bool, code: bool, only: bool) -> None:
    e = checks.expectation(view(question))
    assert ("".join(e.options), e.numeric, e.code, e.only) == (options, numeric, code, only)


@pytest.mark.parametrize(
    ("question", "draft", "answer"),
    [
        (MC, "B", "B"),
        (MC, "B) banana", "B"),
        (MC, "(B)", "B"),
        (MC, "banana", "B"),
        (MC, "The answer is C.", "C"),
        (MC, "A) table\n\nThe correct answer is B) banana", "B"),  # its last word counts
        (MC, "G", "G"),  # not an option: reported, so it can count as no answer
        (MC, "I like fruit.", None),
        (ARITH, "43", "43"),
        (ARITH, "17 + 26 = 43", "43"),
        (ARITH, "The answer is 43. Because 17 + 26 is 43.", "43"),
        (ARITH, "1,043", "1043"),
        (ARITH, "43.0", "43"),
        (ARITH, "forty-three", "43"),
        (ARITH, "No idea.", None),
        ("How many legs does a spider have?", "Eight.", "8"),
        (FREE, "Paris.", "paris"),
        (FREE, "The answer is: Paris", "paris"),
        (CODE, "```python\ndef f(s):\n    return s[::-1]\n```", None),
    ],
)
def test_final_answer(question: str, draft: str, answer: str | None) -> None:
    assert checks.final_answer(draft, checks.expectation(view(question))) == answer


@pytest.mark.parametrize(
    ("question", "draft", "feature", "value"),
    [
        (FREE, "I'm sorry, but I can't help with that.", "refusal", 1.0),
        (FREE, "As an AI language model, I cannot browse.", "refusal", 1.0),
        (FREE, "Paris.", "refusal", 0.0),
        (ARITH, "I think it might be 43.", "hedging", 1.0),
        (ARITH, "43", "hedging", 0.0),
        (MC, "I like fruit.", "missing_answer", 1.0),
        (MC, "G", "missing_answer", 1.0),
        (MC, "B", "missing_answer", 0.0),
        (ARITH, "No idea.", "missing_answer", 1.0),
        (CODE, "Just use slicing.", "missing_answer", 1.0),
        (CODE, "```python\ndef f(s):\n    return s[::-1]\n```", "missing_answer", 0.0),
        (FREE, "   ", "missing_answer", 1.0),
        (CODE, "```python\ndef f(s):\n    return s[::-1]\n```", "code_broken", 0.0),
        (CODE, "```python\ndef f(s):\n    return reversed(s", "code_broken", 1.0),  # cut off
        (FREE, "the cat sat on the mat. " * 10, "repetition", 0.89),
        (FREE, "Paris is the capital of France, on the Seine.", "repetition", 0.0),
    ],
)
def test_text_features(verifier: Verifier, question: str, draft: str, feature: str, value: float) -> None:
    _, x = verifier.features(view(question), [Draft(draft)], None)
    assert x[feature] == pytest.approx(value, abs=0.05)


def test_logprob_features_are_length_fair() -> None:
    short, long = logprob_features((-0.1, -0.2)), logprob_features((-0.1, -0.2) * 50)
    assert short is not None and long is not None
    assert short["lp_mean"] == pytest.approx(long["lp_mean"])  # a sum would punish the long one
    assert logprob_features(None) is None and logprob_features(()) is None
    clipped = logprob_features((-1e9,))
    assert clipped is not None and clipped["lp_min"] == -20.0  # one near-impossible token is bounded


@pytest.mark.parametrize(
    ("tokens", "head"),
    [
        (["Paris", ".", " It", " is", " big", "."], (0, 2)),
        (["The", " answer", " is", " 3", ".", "5", ".", " Next"], (0, 7)),  # "3.5" does not end it
        ([" ", "\n", "Yes", "\n", "Because"], (0, 4)),  # a break before anything is said does not
        (["Lisbon", " is", " the", " capital"], (0, 4)),  # cut off: the whole draft
        (["Yes", "! ", "Sure"], (0, 2)),
        (["```", "json", "\n", "{", '"a"', ":", " 1", "}", "\n", "```"], (3, 9)),  # the code, not its fence
        (["```", "python", "\n"], (0, 3)),  # a fence alone
        (["a", None], None),  # a token without its text: unknown
        (["a"] * 100, (0, 64)),  # a long opening: its first HEAD_TOKENS
    ],
)
def test_the_first_statement_ends_at_its_first_sentence_or_line(
    tokens: list[Any], head: tuple[int, int] | None
) -> None:
    assert first_statement(tokens) == head


def test_lp_head_is_the_least_sure_token_of_the_first_statement() -> None:
    # A sure opening and an unsure tail: the mean and the minimum read the tail, lp_head does not.
    d = draft_of(
        {
            "message": {"content": "Lisbon. I am not sure"},
            "logprobs": {
                "content": [
                    {"token": "Lis", "logprob": -0.3},
                    {"token": "bon", "logprob": -0.05},
                    {"token": ".", "logprob": -0.1},
                    {"token": " I", "logprob": -4.0},
                    {"token": " am", "logprob": -6.0},
                ]
            },
        }
    )
    lp = logprob_features(d.logprobs, d.head)
    assert d.head == (0, 3) and lp is not None
    assert lp["lp_head"] == pytest.approx(-0.3) and lp["lp_min"] == pytest.approx(-6.0)
    whole = logprob_features(d.logprobs)  # no texts: the whole draft's minimum
    assert whole is not None and whole["lp_head"] == pytest.approx(-6.0)
    floored = logprob_features((-1e9, -0.1), head=(0, 1))
    assert floored is not None and floored["lp_head"] == -20.0


def test_the_shipped_logprob_models_trust_a_sure_first_statement_more() -> None:
    v = default_verifier()
    # The same text and mean logprob; only the least sure token of the statement differs.
    sure, unsure = (
        Draft("Lisbon.", "stop", (-0.5, -0.5), head=(0, 2)),
        Draft("Lisbon.", "stop", (-0.9, -0.1), head=(0, 2)),
    )
    assert v.heads["logprobs"].weights["lp_head"] > 0
    q = view("What is the capital of Portugal?")
    assert v.confidence(q, [sure]) > v.confidence(q, [unsure])


def test_a_centred_input_reads_as_its_distance_from_the_centre_and_as_nothing_when_absent() -> None:
    h = Head(0.5, {"lp_mean": 1.0, "lp_head": 0.6}, centre={"lp_head": -1.5})
    assert h.logit({"lp_mean": -0.2, "lp_head": -1.5}) == pytest.approx(0.3)  # at the centre: as before
    assert h.logit({"lp_mean": -0.2, "lp_head": -0.5}) == pytest.approx(0.9)
    assert h.logit({"lp_mean": -0.2}) == pytest.approx(0.3)


def test_code_or_json_asked_for_reads_no_first_statement(verifier: Verifier) -> None:
    fenced = draft_of(
        {
            "message": {"content": "```json\n{}\n```"},
            "logprobs": {
                "content": [{"token": t, "logprob": -0.5} for t in ("```", "json", "\n", "{}", "\n", "```")]
            },
        }
    )
    _, x = verifier.features(view("Give the settings as JSON."), [fenced])
    assert "lp_mean" in x and "lp_head" not in x
    _, x = verifier.features(view("What is the capital of Portugal?"), [fenced])
    assert x["lp_head"] == pytest.approx(-0.5)


def test_agreement_by_answer_and_by_words() -> None:
    expect = checks.expectation(view(ARITH))
    drafts = [Draft("43"), Draft("17 + 26 = 43"), Draft("42")]
    found = [checks.final_answer(d.content, expect) for d in drafts]
    assert agreement(drafts, found) == 0.5
    assert agreement(drafts[:1], found[:1]) is None
    free = [Draft("a long essay about rivers " * 5), Draft("a long essay about rivers " * 5)]
    assert agreement(free, [None, None]) == 1.0


# ---- the directions confidence must move in (the shipped weights) ----------------------------------
def conf(v: Verifier, question: str, *drafts: Draft, difficulty: float | None = 0.5) -> float:
    c = v.confidence(view(question), drafts, difficulty)
    assert 0.0 <= c <= 1.0
    return c


@pytest.mark.parametrize("logprobs", [None, SURE])
def test_agreeing_samples_never_lose_to_disagreeing_ones(verifier: Verifier, logprobs: Any) -> None:
    """Agreement can only raise confidence (its weight is held to its sign). The shipped models give
    it none: on the calibration families, once the answer checks have spoken, whether two samples
    at temperature 0.7 repeat the greedy answer told nothing more within a family
    (docs/verifier-eval.md). A question no check can settle, so only agreement differs."""
    question = "Name a fruit that is usually yellow. Answer with one word."
    agree = [Draft("Banana", "stop", logprobs)] * 3
    disagree = [
        Draft("Banana", "stop", logprobs),
        Draft("Lemon", "stop", logprobs),
        Draft("Mango", "stop", logprobs),
    ]
    high, low = conf(verifier, question, *agree), conf(verifier, question, *disagree)
    reads = [h.weights.get("agree", 0.0) for k, h in verifier.heads.items() if "samples" in k]
    assert high > low if any(w > 0 for w in reads) else high == low
    assert all(w >= 0 for w in reads)


def test_what_lowers_confidence(verifier: Verifier) -> None:
    base = conf(verifier, ARITH, Draft("43", "stop"))
    assert conf(verifier, ARITH, Draft("43", "length")) < base
    assert conf(verifier, ARITH, Draft("I'm sorry, I can't help with that.", "stop")) < base
    assert conf(verifier, ARITH, Draft("I think it is 43.", "stop")) < base
    assert conf(verifier, ARITH, Draft("No idea.", "stop")) < base
    assert conf(verifier, ARITH, Draft("43", "stop", UNSURE)) < conf(
        verifier, ARITH, Draft("43", "stop", SURE)
    )
    assert conf(verifier, ARITH, Draft("43"), difficulty=0.9) < conf(
        verifier, ARITH, Draft("43"), difficulty=0.1
    )


def test_missing_inputs_are_absent_not_confident(verifier: Verifier) -> None:
    assert verifier.prior is not None
    head, x = verifier.features(view(ARITH), [Draft("43")], None)
    assert head == "text" and not {"lp_mean", "lp_q10", "lp_min", "agree", "difficulty"} & set(x)
    # no prior: the file's default, ordered by the drafting model's prompt prior
    shift = verifier.prompt.shift(view(ARITH)) if verifier.prompt is not None else 0.0
    assert x["prior"] == pytest.approx(verifier.prior.logit(None) + shift)
    assert x.get("prompt", 0.0) == pytest.approx(shift)
    head, x = verifier.features(view(ARITH), [Draft("43", logprobs=())], 0.3)
    assert head == "text" and x["prior"] == pytest.approx(verifier.prior.logit(0.7))  # 1 - difficulty
    head, x = verifier.features(view(ARITH), [Draft("43", logprobs=SURE)], None)
    assert head == "logprobs" and "agree" not in x
    head, _ = verifier.features(view(ARITH), [Draft("43")] * 3, None)
    assert head == "samples"
    head, _ = verifier.features(view(ARITH), [Draft("43", logprobs=SURE)] * 3, None)
    assert head == "logprobs+samples"
    head, x = verifier.features(view(ARITH), [Draft("43", logprobs=(float("nan"), -0.1))], float("nan"))
    assert head == "text" and x["prior"] == pytest.approx(
        verifier.prior.logit(None) + shift
    )  # garbage: absent
    with pytest.raises(ValueError, match="at least one draft"):
        verifier.confidence(view(ARITH), [], None)


def test_explain_lists_inputs_and_the_verdict(verifier: Verifier) -> None:
    drafts = [Draft("43", "stop", SURE), Draft("43")]
    out = verifier.explain(view(ARITH), drafts, prior_right=0.6, prior_n=12)
    assert {"text", "prior", "fade", "evidence", "logit", "confidence", "lp_mean", "agree", "refusal"} <= set(
        out
    )
    assert out["confidence"] == verifier.confidence(view(ARITH), drafts, prior_right=0.6, prior_n=12)
    assert out["fade"] == pytest.approx(20 / (20 + 12))


# ---- the prior: the family's rate, then the draft's evidence on top ---------------------------------
@pytest.mark.parametrize(
    "drafts", [[Draft("43")], [Draft("43", "stop", UNSURE)], [Draft("41", "stop", SURE)] * 3]
)
def test_the_verdict_keeps_the_order_of_its_priors(verifier: Verifier, drafts: list[Draft]) -> None:
    """Same draft, higher prior, higher confidence: the evidence is added to the prior's log-odds, so it
    never reorders requests whose drafts say the same."""
    confs = [verifier.confidence(view(ARITH), drafts, prior_right=p) for p in (0.02, 0.2, 0.5, 0.8, 0.98)]
    assert confs == sorted(confs) and len(set(confs)) == len(confs)


def test_difficulty_stands_for_the_prior(verifier: Verifier) -> None:
    drafts = [Draft("43", "stop", SURE)]
    assert verifier.confidence(view(ARITH), drafts, 0.3) == verifier.confidence(
        view(ARITH), drafts, prior_right=0.7
    )
    # an explicit prior wins over the difficulty
    assert verifier.confidence(view(ARITH), drafts, 0.9, prior_right=0.7) == verifier.confidence(
        view(ARITH), drafts, prior_right=0.7
    )


def test_a_models_level_fades_as_the_family_is_labelled() -> None:
    v = Verifier("t", {"text": Head(0.0, {}, level=-1.0)}, prior=Prior(0.5, pseudo=20.0))
    fresh = v.confidence(view(FREE), [Draft("Paris.")], prior_right=0.5)
    known = v.confidence(view(FREE), [Draft("Paris.")], prior_right=0.5, prior_n=1e6)
    assert fresh == pytest.approx(1 / (1 + math.exp(1.0)))  # the whole level: no labels of the family
    assert known == pytest.approx(0.5, abs=1e-4)  # the family's own rate, taken as it is
    half = v.confidence(view(FREE), [Draft("Paris.")], prior_right=0.5, prior_n=20)
    assert half == pytest.approx(1 / (1 + math.exp(0.5)))


def test_a_certain_prior_still_hears_the_evidence(verifier: Verifier) -> None:
    """A prior of 0 or 1 is clipped (to 0.01, 0.99): a family's rate never silences a draft's checks."""
    good = verifier.confidence(view(ARITH), [Draft("17 + 26 = 43", "stop", SURE)], prior_right=1.0)
    bad = verifier.confidence(view(ARITH), [Draft("17 + 26 = 44", "stop", SURE)], prior_right=1.0)
    assert bad < good < 1.0


def test_a_first_format_file_still_reads_the_difficulty(tmp_path: Path) -> None:
    path = tmp_path / "v1.json"
    path.write_text(
        json.dumps(
            {
                "format": "gateway-verifier-v1",
                "difficulty_center": 0.0,
                "heads": {"text": {"bias": 0.0, "weights": {"difficulty": -1.0, "missing_answer": -2.0}}},
            }
        )
    )
    v1 = load_verifier(path)
    assert v1.prior is None
    easy, hard = (v1.confidence(view(ARITH), [Draft("43")], d) for d in (0.2, 0.8))
    assert easy == pytest.approx(0.8) and hard == pytest.approx(0.2)
    assert load_verifier(path) == v1 and v1.to_json()["format"] == "gateway-verifier-v1"


def test_best_draft_is_the_majority_answer(verifier: Verifier) -> None:
    drafts = [Draft("41"), Draft("The answer is 43."), Draft("43")]
    assert verifier.best(view(ARITH), drafts) == 1
    assert verifier.best(view(ARITH), drafts[:1]) == 0


def test_a_missing_live_model_falls_back_to_one_that_needs_less(verifier: Verifier) -> None:
    text_only = Verifier("t", {"text": verifier.heads["text"]}, prior=verifier.prior)
    assert text_only.verdict(view(ARITH), [Draft("43", logprobs=SURE)] * 3, None).head == "text"


# ---- the weights file ------------------------------------------------------------------------------
def test_shipped_weights_round_trip(tmp_path: Path, verifier: Verifier) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps(verifier.to_json()))
    assert load_verifier(path) == verifier
    assert set(verifier.heads) == {"text", "logprobs", "samples", "logprobs+samples"}


V2 = "gateway-verifier-v2"
PRIOR = {"default": 0.5, "pseudo": 20, "clip": 0.01}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read"),
        (json.dumps({"format": "other"}), "not a gateway-verifier-v2"),
        (json.dumps({"format": V2, "prior": PRIOR, "heads": {"text": {"bias": "x"}}}), "malformed"),
        (json.dumps({"format": V2, "prior": PRIOR, "heads": {}}), "needs a `text` model"),
        (json.dumps({"format": V2, "heads": {"text": {"bias": 0, "weights": {}}}}), "malformed"),  # no prior
        (
            json.dumps(
                {
                    "format": V2,
                    "prior": {**PRIOR, "default": 1.5},
                    "heads": {"text": {"bias": 0, "weights": {}}},
                }
            ),
            "default in",
        ),
        (
            json.dumps(
                {"format": V2, "prior": PRIOR, "heads": {"text": {"bias": 0, "weights": {"lp_mean": 1}}}}
            ),
            "cannot read lp_mean",
        ),
        (
            json.dumps(
                {"format": V2, "prior": PRIOR, "heads": {"text": {"bias": 0, "weights": {"difficulty": 1}}}}
            ),
            "the prior replaces it",
        ),
        (
            json.dumps(
                {
                    "format": V2,
                    "prior": PRIOR,
                    "heads": {"text": {"bias": 0, "weights": {}}, "magic": {"bias": 0, "weights": {}}},
                }
            ),
            "unknown verifier model 'magic'",
        ),
    ],
)
def test_bad_weights_are_config_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "v.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_verifier(path)
    with pytest.raises(ConfigError):
        load_verifier(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("obj", "draft"),
    [
        (
            {
                "content": "43",
                "finish_reason": "stop",
                "logprobs": [{"token": "4", "logprob": -0.1}, {"token": "3", "logprob": -0.2}],
            },
            Draft("43", "stop", (-0.1, -0.2), head=(0, 2)),
        ),
        ({"content": "43"}, Draft("43")),
        (
            {
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "length",
                "logprobs": {"content": [{"token": "hi", "logprob": -1.0}]},
            },
            Draft("hi", "length", (-1.0,), head=(0, 1)),
        ),
        ({"message": {"role": "assistant", "content": None}, "logprobs": None}, Draft("")),
        ({"text": "x", "logprobs": {"token_logprobs": [-0.5]}}, Draft("x", None, (-0.5,))),
        (
            {"text": "x. y", "logprobs": {"token_logprobs": [-0.5, -0.1, -2.0], "tokens": ["x", ".", " y"]}},
            Draft("x. y", None, (-0.5, -0.1, -2.0), head=(0, 2)),
        ),
    ],
)
def test_draft_of_reads_replay_and_openai_shapes(obj: dict[str, Any], draft: Draft) -> None:
    assert draft_of(obj) == draft


@pytest.mark.parametrize(
    "obj",
    [[], {"content": 3}, {"content": "x", "logprobs": [{"logprob": "a"}]}, {"content": "x", "logprobs": 1}],
)
def test_draft_of_refuses_what_is_not_a_draft(obj: Any) -> None:
    with pytest.raises(ValueError, match=r"draft|logprob"):
        draft_of(obj)


def test_a_replay_draft_may_be_a_list() -> None:
    assert drafts_of({"content": "a"}) == (Draft("a"),)
    assert drafts_of([{"content": "a"}, {"content": "b"}]) == (Draft("a"), Draft("b"))
    with pytest.raises(ValueError, match="empty"):
        drafts_of([])
