"""Grading the embedded model's drafts of the live families (offline/live_labels.py), by tables, and
the families' questions: seeded, distinct, each with its grader."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.offline.live_labels import GRADERS, grade
from gateway.offline.live_questions import FAMILIES, MAX_TOKENS, family_questions


def q(prompt: str, gold: Any, how: str) -> dict[str, Any]:
    return {"prompt": prompt, "gold": gold, "grade": how}


@pytest.mark.parametrize(
    ("question", "draft", "right"),
    [
        (
            q("How many meters are in 3 kilometers?", 3000, "number"),
            "There are 3000 meters in 3 kilometers.",
            1,
        ),
        (
            q("How many meters are in 3 kilometers?", 3000, "number"),
            "3 kilometers is 3 * 100 = 300 meters.",
            0,
        ),
        (q("What is 6 + 5?", 11, "number"), "6 + 5 = 11", 1),
        (q("Sam has 4 apples and gets 3. How many?", 7, "number"), "Sam has 4 apples.", 0),  # an echo
        (q("How many legs has a spider?", 8, "number"), "Eight.", 1),
        (q("What is 10% of 120?", 12, "number"), "The answer is 12. 120 / 10 = 12", 1),
        (q("Which?\nA) cat\nB) pear", "B", "letter"), "B", 1),
        (q("Which?\nA) cat\nB) pear", "B", "letter"), "The answer is pear.", 1),  # names the option
        (q("Which?\nA) cat\nB) pear", "B", "letter"), "A) cat", 0),
        (q("Is 81 even?", "no", "yesno"), "No, 81 is odd.", 1),
        (q("Is 81 even?", "no", "yesno"), "81 is an odd number", 0),  # neither yes nor no
        (q("Which is heavier, a cat or a car?", ["car", "cat"], "option"), "A car is heavier than a cat.", 1),
        (q("Which is heavier, a cat or a car?", ["car", "cat"], "option"), "The cat.", 0),
        (q("Which is bigger, 0.5 or 0.25?", ["0.5", "0.25"], "option"), "0.25 is bigger.", 0),
        (q("What is the capital of Peru?", "lima", "word"), "The capital of Peru is Lima.", 1),
        (q("Which month comes 2 months after May?", "july", "word"), "It is June.", 0),
        (q("What is the plural of 'sheep'?", "sheep", "word"), "The plural of sheep is sheep.", 1),
        (q("What is the chemical symbol for gold?", "au", "symbol"), "Its symbol is Au.", 1),
        (q("What is the chemical symbol for gold?", "au", "symbol"), "Its symbol is AU.", 0),
        (q("It is 10:00 now. What time in 3 hours?", "13:00", "clock"), "It will be 13:00.", 1),
        (q("Return JSON", {"name": "Ann", "age": 31}, "json"), '```json\n{"name": "ann", "age": 31}\n```', 1),
        (q("Return JSON", {"name": "Ann", "age": 31}, "json"), '{"name": "Ann", "age": "31"}', 0),
        (q("Give a JSON list", [2, 4, 6], "json"), "[2, 4, 6]", 1),
        (q("Spell 'lemon' backwards.", "nomel", "contains"), "Nomel", 1),
        (q("Write 'KITCHEN' in lowercase.", "kitchen", "contains_exact"), "Akitchen.", 0),  # not the word
        (q("Order: 5, 2, 9.", [2, 5, 9], "ordered"), "In order: 2, 5, 9.", 1),
        (q("Order: 5, 2, 9.", [2, 5, 9], "ordered"), "5, 2, 9", 0),
    ],
)
def test_graders(question: dict[str, Any], draft: str, right: int) -> None:
    assert grade(question, draft) == right


def test_python_drafts_are_graded_by_running_their_tests() -> None:
    task = q("Write add.", {"name": "add", "tests": [["add(2, 3)", 5]]}, "python")
    assert grade(task, "```python\ndef add(a, b):\n    return a + b\n```") == 1
    assert grade(task, "```python\ndef add(a, b):\n    return a - b\n```") == 0
    assert grade(task, "```python\ndef add(a, b):\n    while True: pass\n```") == 0  # timed out
    assert grade(task, "Use the + operator.") == 0


def test_families_are_seeded_distinct_and_graded() -> None:
    for family in FAMILIES:
        qs = family_questions(family, 40, seed=1)
        assert qs == family_questions(family, 40, seed=1)
        assert len({x["prompt"] for x in qs}) == len(qs) > 0
        assert all(x["grade"] in GRADERS and x["max_tokens"] == MAX_TOKENS.get(family, 16) for x in qs)
    assert len(FAMILIES) >= 10
