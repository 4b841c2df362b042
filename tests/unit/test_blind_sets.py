"""The ten question sets the verifier is judged on as a user meets it (loadtests/live_auc.py): each
is well formed, every accepted answer grades right, and the grader is lenient about form and strict
about content."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import REPO, loadtests_module

LOADTESTS = REPO / "loadtests"


@pytest.fixture(scope="module")
def grader() -> Iterator[Any]:
    with loadtests_module("blind_grade") as module:
        yield module


@pytest.mark.parametrize(
    "name",
    [
        "blind_questions.jsonl",
        "blind2_questions.jsonl",
        "blind3_questions.jsonl",
        "blind4_questions.jsonl",
        "blind5_questions.jsonl",
        "blind6_questions.jsonl",
        "blind7_questions.jsonl",
        "blind8_questions.jsonl",
        "blind9_questions.jsonl",
        "blind10_questions.jsonl",
    ],
)
def test_each_set_is_ten_families_of_twenty_that_its_answers_pass(grader: Any, name: str) -> None:
    items = [json.loads(line) for line in (LOADTESTS / name).read_text().splitlines() if line.strip()]
    assert [p for it in items if (p := grader._problem(it))] == []
    assert set(Counter(it["family"] for it in items).values()) == {20}
    assert len({it["question"] for it in items}) == len(items) == 200


@pytest.mark.parametrize(
    ("item", "draft", "right"),
    [
        ({"kind": "number", "answers": ["12", "twelve"]}, "The answer is 12.", True),
        ({"kind": "number", "answers": ["12", "twelve"]}, "**Twelve**", True),
        ({"kind": "number", "answers": ["12"]}, "7 or 12", False),
        ({"kind": "yesno", "answers": ["no"]}, "No, it cannot.", True),
        ({"kind": "yesno", "answers": ["no"]}, "Yes and no.", False),
        ({"kind": "word", "answers": ["Paris"]}, "The capital of France is Paris.", True),
        ({"kind": "word", "answers": ["Paris"]}, "Lyon", False),
        ({"kind": "word", "answers": ["Paris"]}, "", False),
    ],
)
def test_the_grader_reads_form_leniently_and_content_strictly(
    grader: Any, item: dict[str, Any], draft: str, right: bool
) -> None:
    base = {"family": "f", "question": "q?", "max_tokens": 16}
    assert grader.grade({**base, **item}, draft) is right


# Written after blind5 measured SmolLM2's habit of answering "A" (26 of its 32 lettered drafts) more
# than the verifier: a set keyed mostly on one letter, or on "yes", rewards that habit.
BALANCED = [
    "blind6_questions.jsonl",
    "blind7_questions.jsonl",
    "blind8_questions.jsonl",
    "blind9_questions.jsonl",
    "blind10_questions.jsonl",
]


@pytest.mark.parametrize("name", BALANCED)
def test_later_sets_key_their_letters_and_yes_no_evenly(name: str) -> None:
    items = [json.loads(line) for line in (LOADTESTS / name).read_text().splitlines() if line.strip()]
    letters = Counter(it["answers"][0] for it in items if it["kind"] == "letter")
    yes_no = Counter(it["answers"][0].lower() for it in items if it["kind"] == "yesno")
    assert sum(letters.values()) >= 20 and max(letters.values()) - min(letters.values()) <= 1, letters
    assert set(yes_no) == {"yes", "no"} and abs(yes_no["yes"] - yes_no["no"]) <= 2, yes_no
    for fam in {it["family"] for it in items}:
        keyed = Counter(it["answers"][0] for it in items if it["family"] == fam and it["kind"] == "letter")
        assert not keyed or max(keyed.values()) <= 0.4 * sum(keyed.values()), (fam, keyed)
