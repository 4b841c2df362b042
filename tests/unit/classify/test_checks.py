"""The answer checks that hold in every family, by tables of drafts: arithmetic recomputed (recompute.py),
yes/no, JSON and Python that parse, and the draft features they feed (draft.py)."""

from __future__ import annotations

import pytest

from gateway.classify import checks, recompute
from gateway.classify.draft import Draft, arithmetic_checks, text_features
from gateway.protocol import RequestView, chat_view


def view(text: str) -> RequestView:
    return chat_view({"model": "auto", "messages": [{"role": "user", "content": text}]}, 0)


def expect(question: str) -> checks.Expectation:
    return checks.expectation(view(question))


# ---- recomputed arithmetic -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("12 + 5 = 17", [(17, True)]),
        ("12 + 5 = 18", [(18, False)]),
        ("12 + 5 = 17 + 3 = 20", [(17, True), (20, True)]),  # a running total
        ("12+5=17+3=21", [(17, True), (21, False)]),
        ("He has <<12+5=17>>17 apples.", [(17, True)]),  # a calculator annotation
        ("<<4*3=13>>13", [(13, False)]),
        ("20% of 50 is 10", [(10, True)]),
        ("20% of 50 is 15", [(15, False)]),
        ("10% of 120 is 0.10 * 120 = 12 dollars", [(12, True), (12, True)]),
        ("2 km = 2000 m", [(2000, True)]),
        ("3 km = 300 m", [(300, False)]),
        ("3 hours is 180 minutes", [(180, True)]),
        ("2 dozens = 24 items", [(24, True)]),
        ("9 kilometers is equal to 9 * 1000 = 9000 meters", [(9000, True)]),
        ("Raj has 12 - 7 = 2 coins left", [(2, False)]),
        ("In 3 days he reads 12 + 5 = 17 pages", [(17, True)]),  # words before the computation
        ("5 apples + 3 apples = 8 apples", [(8, True)]),
        ("$12 + $5 = $17", [(17, True)]),
        ("1,000 + 2,000 = 3,000", [(3000, True)]),
        ("(3 + 4) * 2 = 14", [(14, True)]),
        ("2^3 = 8", [(8, True)]),
        ("12 x 3 = 36", [(36, True)]),
        ("12 \u00d7 3 = 35", [(35, False)]),
        ("5 - 8 = -3", [(-3, True)]),
        ("1/3 = 0.33", [(0.33, True)]),  # rounded, not a slip
        ("7 / 3 = 2.3", [(2.3, True)]),
        ("There are 3000 meters in 3 kilometers.", []),  # no equation stated
        ("So 3 boxes is 15.", []),  # "is" only counts after a computation
        ("x = 5 + 3", []),  # a variable, not arithmetic
        ("The meeting is on 2024-01-02.", []),
        ("9 km is 9 * 1000", []),  # the unit changes on the way: not checked
        ("Paris is the capital of France.", []),
    ],
)
def test_recompute(text: str, found: list[tuple[float, bool]]) -> None:
    assert [(c.value, c.right) for c in recompute.recompute(text)] == [
        (pytest.approx(v), r) for v, r in found
    ]


@pytest.mark.parametrize(
    ("text", "final"),
    [
        ("3 + 4 = 7. The answer is 7.", 7.0),
        ("The final answer is: 1,200", 1200.0),
        ("#### 42", 42.0),
        ("\\boxed{12}", 12.0),
        ("No answer here", None),
    ],
)
def test_final_stated(text: str, final: float | None) -> None:
    got = recompute.final_stated(text)
    assert (got[0] if got else None) == final


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("What is 6 + 5? Answer with the number only.", 11),
        ("What is (2 + 3) * 4?", 20),
        ("What is 10% of 120?", 12),
        ("Calculate 7 x 8.", 56),
        ("How many meters are in 9 kilometers?", 9000),
        ("How many days are in 3 weeks?", 21),
        ("Convert 8 kilograms to grams.", 8000),
        ("What is 5 x 3?\nA) 16\nB) 15", 15),
        ("What is the capital of France?", None),
        ("How many letters are in the word 'rabbit'?", None),
        ("Tom has 7 pencils and gets 9 more. How many does he have?", None),  # not stated whole
    ],
)
def test_question_value(question: str, value: float | None) -> None:
    assert recompute.question_value(question) == value


# calc_*: the draft's own computations recomputed; answer_*: its final answer against the question's.
@pytest.mark.parametrize(
    ("question", "draft", "calc", "answer", "mismatch", "echo"),
    [
        ("What is 6 + 5? Answer with the number only.", "11", (0, 0), (0, 1), 0, 0),  # the question's sum
        ("What is 6 + 5? Answer with the number only.", "12", (0, 0), (1, 0), 0, 0),
        ("What is 6 + 5?", "6 + 5 = 11", (0, 1), (0, 1), 0, 0),
        ("What is 6 + 5?", "6 + 5 = 12", (1, 0), (1, 0), 0, 0),
        ("What is 10% of 120?", "10% of 120 is 12.", (0, 1), (0, 1), 0, 0),
        (
            "How many meters are in 9 kilometers?",
            "There are 900 meters in 9 kilometers.",
            (0, 0),
            (1, 0),
            0,
            0,
        ),
        (
            "What is 5 x 3?\nA) 16\nB) 15\nAnswer with the letter.",
            "B",
            (0, 0),
            (0, 1),
            0,
            0,
        ),  # the option's value
        ("What is 5 x 3?\nA) 16\nB) 15\nAnswer with the letter.", "A", (0, 0), (1, 0), 0, 0),
        # A word problem's steps can recompute while its reading of the question is wrong: calc only.
        (
            "Tom has 7 pencils and gets 9 more. How many does he have?",
            "7 + 9 = 16. He has 16.",
            (0, 1),
            (0, 0),
            0,
            0,
        ),
        ("Tom has 7 pencils and gets 9 more. How many does he have?", "7 + 9 = 15", (1, 0), (0, 0), 0, 0),
        (
            "Tom has 7 pencils and gets 9 more. How many does he have?",
            "7 + 9 = 16. The answer is 18.",
            (0, 1),
            (0, 0),
            1,
            0,
        ),
        (
            "Tom has 7 pencils and gets 9 more. How many does he have?",
            "He has 7 pencils.",
            (0, 0),
            (0, 0),
            0,
            1,
        ),
        ("What is the capital of France?", "Paris.", (0, 0), (0, 0), 0, 0),
    ],
)
def test_arithmetic_features(
    question: str, draft: str, calc: tuple[int, int], answer: tuple[int, int], mismatch: int, echo: int
) -> None:
    e = expect(question)
    x = arithmetic_checks(draft, e, checks.final_answer(draft, e))
    assert (x["calc_wrong"], x["calc_right"]) == calc
    assert (x["answer_wrong"], x["answer_right"]) == answer
    assert (x["final_mismatch"], x["echo_number"]) == (mismatch, echo)


@pytest.mark.parametrize(
    ("question", "whole"),
    [
        ("Each child gets the same number. How many stamps does each child get?", True),
        ("Tom has 7 pencils and gets 9 more. How many does he have?", True),
        ("How many times does the letter 's' appear in 'Mississippi'?", True),
        ("How many legs do 3 spiders have?", True),
        ("How many hours does the trip take?", False),  # measures come in fractions
        ("How many cups of flour are left?", False),
        ("How many more kilometers does she run?", False),
        ("How many dollars does he spend?", False),
        ("How many times larger is the sun than the moon?", False),  # a ratio
        ("On average, how many goals does the team score in a game?", False),  # averages and rates
        ("How many cookies does each child get per day?", False),
        ("What is 7 divided by 2?", False),
        ("Is 7 odd?", False),
    ],
)
def test_a_question_that_counts_things(question: str, whole: bool) -> None:
    assert expect(question).whole is whole


@pytest.mark.parametrize(
    ("question", "draft", "answer"),
    [
        ("7 children share 100 stamps. How many stamps does each get?", "100 / 7 = 14.29 stamps", (1, 0)),
        ("How many eyes does a person have?", "A person has 56.5251 eyes.", (1, 0)),
        ("How many people are left?", "There are -3 people left.", (1, 0)),
        ("How many pizzas did they eat?", "They ate 2.5 pizzas.", (0, 0)),  # halves are counted
        ("How many stamps does each child get?", "Each gets 16 stamps.", (0, 0)),  # a count is no proof
        ("How many hours does the trip take?", "It takes 2.75 hours.", (0, 0)),
    ],
)
def test_a_count_that_is_no_whole_number_is_wrong(question: str, draft: str, answer: tuple[int, int]) -> None:
    e = expect(question)
    x = arithmetic_checks(draft, e, checks.final_answer(draft, e))
    assert (x["answer_wrong"], x["answer_right"]) == answer


# ---- yes or no -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "yesno", "numeric"),
    [
        ("Is 81 an even number?", True, False),
        ("Is 21 greater than 9? Answer yes or no.", True, False),
        ("Does a spider have 8 legs?", True, False),
        ("Paris is in France. True or false?", True, False),
        ("Is 7 + 5 equal to 12?", True, False),  # a yes/no question that holds a sum
        ("Is it red or blue?", False, False),  # alternatives, not yes/no
        ("Can you tell me what 5 + 3 is?", False, True),  # a request
        ("What is the capital of France?", False, False),
    ],
)
def test_yes_no_expected(question: str, yesno: bool, numeric: bool) -> None:
    e = expect(question)
    assert (e.yesno, e.numeric) == (yesno, numeric)


@pytest.mark.parametrize(
    ("draft", "answer", "missing"),
    [
        ("Yes.", "yes", 0.0),
        ("No, 81 is odd.", "no", 0.0),
        ("That is correct.", "yes", 0.0),
        ("False.", "no", 0.0),
        ("81 is an odd number that", None, 1.0),  # answered neither way
    ],
)
def test_yes_no_answered(draft: str, answer: str | None, missing: float) -> None:
    e = expect("Is 81 an even number?")
    found = checks.final_answer(draft, e)
    assert found == answer
    assert text_features(Draft(draft), e, found)["missing_answer"] == missing


# ---- code and JSON that parse ----------------------------------------------------------------------
PY = "Write a Python function that returns the square of x."
JSON_Q = 'Return a JSON object with the keys "name" and "age". Output only the JSON.'


@pytest.mark.parametrize(
    ("question", "draft", "broken", "missing"),
    [
        (PY, "```python\ndef square(x):\n    return x * x\n```", 0.0, 0.0),
        (PY, "```python\ndef square(x)\n    return x * x\n```", 1.0, 0.0),  # no colon: ast says so
        (PY, "```python\ndef square(x):\nreturn x * x\n```", 1.0, 0.0),  # not indented
        (PY, "```\ndef square(x):\n    return x ** 2\n```", 0.0, 0.0),  # unlabelled, Python-looking
        (PY, "```\nfunction square(x) {\n  return x * x\n}\n```", 0.0, 0.0),  # not Python: counts only
        (PY, "```python\ndef square(x):\n    return (x * x\n", 1.0, 0.0),  # cut off
        (PY, "Use x squared.", 0.0, 1.0),
        (JSON_Q, '{"name": "Ann", "age": 31}', 0.0, 0.0),
        (JSON_Q, '```json\n{"name": "Ann", "age": 31}\n```', 0.0, 0.0),
        (JSON_Q, "{'name': 'Ann', 'age': 31}", 1.0, 0.0),  # Python's quotes are not JSON
        (JSON_Q, '{"name": "Ann", "age": 31,}', 1.0, 0.0),
        (JSON_Q, '{"name": "Ann", "age":', 1.0, 0.0),  # cut off
        (JSON_Q, "Ann is 31 years old.", 0.0, 1.0),  # no JSON offered
    ],
)
def test_code_and_json_parse(question: str, draft: str, broken: float, missing: float) -> None:
    e = expect(question)
    x = text_features(Draft(draft), e, checks.final_answer(draft, e))
    assert (x["code_broken"], x["missing_answer"]) == (broken, missing)


def test_the_parsers_can_be_switched_off() -> None:
    e = expect(PY)
    draft = "```python\ndef square(x)\n    return x * x\n```"
    assert checks.code_broken(draft, e)
    assert not checks.code_broken(draft, e, parse=False)  # brackets balance: only ast sees it


# ---- multiple choice, as before ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("draft", "missing"),
    [("B", 0.0), ("B) banana", 0.0), ("banana", 0.0), ("G", 1.0), ("I like fruit.", 1.0)],
)
def test_multiple_choice_still_reads_letters(draft: str, missing: float) -> None:
    e = expect("Which of these is a fruit?\nA) table\nB) banana\nC) drill\nAnswer with the letter only.")
    assert text_features(Draft(draft), e, checks.final_answer(draft, e))["missing_answer"] == missing


@pytest.mark.parametrize(
    ("draft", "finish", "unfinished"),
    [
        ("To find the total, we need to add 12 and", "length", 1.0),
        ("**Let's** work it out: 3 +", "length", 1.0),
        ("We need to divide 86 by", "length", 1.0),
        ("To find the total, we add 12 and 5: 17.", "stop", 0.0),  # it got to its answer
        ("The capital of France is Paris. Paris is also", "length", 0.0),  # the answer came first
        ("Together, they have", "length", 0.0),
    ],
)
def test_a_draft_cut_while_still_working_is_unfinished(draft: str, finish: str, unfinished: float) -> None:
    e = expect("Tom has 12 apples and gets 5 more. How many does he have?")
    assert text_features(Draft(draft, finish), e, checks.final_answer(draft, e))["unfinished"] == unfinished


@pytest.mark.parametrize(("draft", "broken"), [('{"a": 1, "b": [2, 3]}', 0.0), ('{"a": 1, "b": [2, 3}', 1.0)])
def test_json_asked_for_that_does_not_parse_is_a_wrong_answer(draft: str, broken: float) -> None:
    e = expect('Return a JSON object with "a" set to 1 and "b" to the list 2, 3.')
    x = text_features(Draft(draft), e, checks.final_answer(draft, e))
    assert (x["code_broken"], x["answer_wrong"], x["missing_answer"]) == (broken, broken, 0.0)


# ---- a year asked for ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "draft", "missing"),
    [
        ("In what year did the Soviet Union dissolve?", "The Soviet Union dissolved in 1991.", 0.0),
        ("Which year did the Titanic sink?", "It sank in 1912, on its first voyage.", 0.0),
        # Blind sets: 0 of 9 such drafts that named no year were right, 8 of 11 that did.
        ("In what year did World War I end?", "The end of World War I was marked by the Treaty", 1.0),
        ("What is the capital of France?", "The capital of France is a city on the Seine", 0.0),
        ("How long does a year last on Mars?", "About two Earth years, give or take", 0.0),
    ],
)
def test_a_year_asked_for_is_a_number(question: str, draft: str, missing: float) -> None:
    e = expect(question)
    assert text_features(Draft(draft), e, checks.final_answer(draft, e))["missing_answer"] == missing
