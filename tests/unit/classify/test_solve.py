"""Questions whose answer the question determines: what is solved, what is refused, how drafts are
judged, and how a solution reaches the verifier's features."""

from __future__ import annotations

import pytest

from gateway.classify import checks
from gateway.classify.draft import Draft, text_features
from gateway.classify.solution import Solution, judge
from gateway.classify.solve import solve
from gateway.protocol import chat_view

SOLVED = [
    ("Is 91 a prime number?", "yesno", "no"),
    ("Is 97 prime?", "yesno", "yes"),
    ("Is 17 even? Answer yes or no.", "yesno", "no"),
    ("Is 12 + 5 equal to 17?", "yesno", "yes"),
    ("Does 3 x 4 equal 13?", "yesno", "no"),
    ("True or false: 7 * 8 = 56.", "yesno", "yes"),
    ("Is 45 divisible by 9?", "yesno", "yes"),
    ("Is 0.5 greater than 0.45?", "yesno", "yes"),
    ("Is it true that 20 is less than 15?", "yesno", "no"),
    ("Is 49 a perfect square?", "yesno", "yes"),
    ("Which is larger, 0.5 or 0.45?", "pick", "0.5"),
    ("Which number is the smallest: 14, 9, 23?", "pick", "9"),
    ("Of 3, 8 and 5, which is the largest?", "pick", "8"),
    ("How many letters are in the word 'banana'?", "number", "6"),
    ("How many r's are in strawberry?", "number", "3"),
    ("How many times does the letter a appear in 'banana'?", "number", "3"),
    ("How many vowels are in the word education?", "number", "5"),
    ("How many words are in the sentence 'the cat sat on the mat'?", "number", "6"),
    ("Spell 'listen' backwards.", "word", "netsil"),
    ("Reverse the word cat.", "word", "tac"),
    ("Write 'hello' in uppercase.", "word", "HELLO"),
    ("Sort these numbers from smallest to largest: 7, 2, 9.", "list", "2 7 9"),
    ("Arrange in descending order: 3, 10, 1", "list", "10 3 1"),
    ("Sort alphabetically: pear, apple, fig", "list", "apple fig pear"),
    ("What comes next: 3, 6, 9, 12?", "number", "15"),
    ("What number comes next in the sequence 2, 4, 8, 16?", "number", "32"),
    ("What day comes after Sunday?", "pick", "monday"),
    ("What day is 3 days after Friday?", "pick", "monday"),
    ("If today is Tuesday, what day will it be in 10 days?", "pick", "friday"),
    ("What month comes before January?", "pick", "december"),
    ("Which month comes three months after November?", "pick", "february"),
    ("What is the last letter of the word 'pencil'?", "char", "l"),
    ("Name the fifth letter of the English alphabet.", "char", "e"),
    ("What is one third of 27?", "number", "9"),
    ("What is 15 percent of 200?", "number", "30"),
    ("Give the sum of 250 and 750.", "number", "1000"),
    ("Add 14, 6 and 20 together. What is the total?", "number", "40"),
    ("Take 63 away from 100. How much is left?", "number", "37"),
    ("What is the square root of 81?", "number", "9"),
    ("What is the next number: 10, 9, 7, 4, ...?", "number", "0"),
]


@pytest.mark.parametrize(("question", "kind", "answer"), SOLVED)
def test_questions_that_state_their_answer_are_solved(question: str, kind: str, answer: str) -> None:
    s = solve(question)
    assert s is not None and (s.kind, s.answer) == (kind, answer)


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Is the sky blue?",
        "Which weighs more, a kilogram of feathers or 2 kg of iron?",
        "Which is more, 2 dozen or 20?",  # not a list of plain numbers: no verdict
        "What is the sum of the largest and the smallest of 3, 8, 5?",
        "Is 7.5 even?",
        "Sort 3, 3, 1 in ascending order.",  # ties: the order is not determined
        "What comes next: 1, 1, 2, 3, 5?",  # neither arithmetic nor geometric
        "Is x greater than y?",
        "How many letters does the alphabet have?",
        "What is the square root of 80?",  # not a whole number: no verdict
        "What is the 30th letter of the alphabet?",
        "What is " + "9" * 200 + " cubed?",  # past a float: no verdict, and no OverflowError
        "What is half of " + "9" * 320 + "?",
    ],
)
def test_what_the_question_does_not_determine_is_left_alone(question: str) -> None:
    assert solve(question) is None


def test_the_largest_of_numeric_options_is_a_letter() -> None:
    question = "Which of these is the largest?\nA) 12\nB) 7\nC) 30"
    assert solve(question, {"A": "12", "B": "7", "C": "30"}) == Solution("letter", "C")
    assert solve(question, {"A": "12", "B": "seven", "C": "30"}) is None


@pytest.mark.parametrize(
    ("question", "draft", "verdict"),
    [
        ("What day is 3 days after Friday?", "Monday.", True),
        ("What day is 3 days after Friday?", "3 days after Friday is Monday.", True),
        ("What day is 3 days after Friday?", "The answer is Sunday", False),
        ("What day is 3 days after Friday?", "I do not know.", None),
        ("Sort these numbers from smallest to largest: 7, 2, 9.", "Sorting 7, 2, 9 gives 2, 7, 9.", True),
        ("Sort these numbers from smallest to largest: 7, 2, 9.", "2, 9, 7", False),
        ("Sort these numbers from smallest to largest: 7, 2, 9.", "2", False),
        ("Which is larger, 0.5 or 0.45?", "0.5 is larger than 0.45", True),
        ("Which is larger, 0.5 or 0.45?", "0.45", False),
        ("Which is larger, 0.5 or 0.45?", "Neither.", None),
        ("Spell 'listen' backwards.", "The word spelled backwards is netsil.", True),
        ("Spell 'listen' backwards.", "listen", False),
        ("Write 'hello' in uppercase.", "HELLO", True),
        ("Write 'hello' in uppercase.", "Hello", False),
        ("What is the last letter of the word 'pencil'?", 'The last letter of "pencil" is "g".', False),
        ("What is the last letter of the word 'pencil'?", "It is a l.", True),  # "a" is the article
        ("What is the last letter of the word 'pencil'?", "The word pencil ends with a consonant.", None),
    ],
)
def test_drafts_are_judged_against_the_solution(question: str, draft: str, verdict: bool | None) -> None:
    s = solve(question)
    assert s is not None
    assert judge(s, draft, None) is verdict


def features(question: str, draft: str) -> dict[str, float]:
    view = chat_view({"model": "m", "messages": [{"role": "user", "content": question}]}, 0)
    expect = checks.expectation(view)
    return text_features(Draft(draft), expect, checks.final_answer(draft, expect))


@pytest.mark.parametrize(
    ("question", "right", "wrong"),
    [
        ("Is 91 a prime number?", "No, 91 = 7 x 13.", "Yes, 91 is prime."),
        ("How many r's are in strawberry?", "There are 3.", "2"),
        ("What comes next: 3, 6, 9, 12?", "15", "13"),
        ("What day comes after Sunday?", "Monday", "Saturday"),
        ("Reverse the word cat.", "tac", "cat"),
        ("Which of these is the largest?\nA) 12\nB) 7\nC) 30", "C", "A"),
    ],
)
def test_a_solution_reaches_the_answer_features(question: str, right: str, wrong: str) -> None:
    good, bad = features(question, right), features(question, wrong)
    assert (good["answer_right"], good["answer_wrong"]) == (1.0, 0.0)
    assert (bad["answer_right"], bad["answer_wrong"]) == (0.0, 1.0)
    assert good["echo_number"] == bad["echo_number"] == 0.0


def test_a_question_stated_as_yes_no_is_read_as_one() -> None:
    view = chat_view({"model": "m", "messages": [{"role": "user", "content": "True or false: 2 + 2 = 5"}]}, 0)
    expect = checks.expectation(view)
    assert expect.yesno and expect.solution == Solution("yesno", "no")


def test_word_salad_of_the_forms_never_raises() -> None:
    """Questions come from users: any mix of the forms' words, numbers past a float, odd Unicode,
    lettered options, gets a solution or None, and every draft a verdict or None, never an error."""
    import random

    parts = [
        *(
            "is what which how many letters vowels times does appear in the word reverse spell backwards"
        ).split(),
        *("uppercase sort next comes first last letter of alphabet prime even odd day month").split(),
        *("after before half squared cubed percent sum difference and take away add together").split(),
        *("smallest to largest|alphabetically:|divisible by|greater than|equal to|true or false:").split("|"),
        *(",", ", or", "?", ".", "'", "1", "2.5", "-3", "0", "1,000", "9" * 40, "=", "+", "^", "(", ")"),
        *("monday", "march", "if today is", "the square root of", "\u2212", "\u00d7", "\n", "A) 1", "B) 2"),
        *("\U0001d7d9", "\u0660", "\ud800"),
    ]
    rng = random.Random(11)
    for _ in range(3000):
        question = " ".join(rng.choice(parts) for _ in range(rng.randint(1, 30)))
        view = chat_view({"model": "m", "messages": [{"role": "user", "content": question}]}, 0)
        expect = checks.expectation(view)
        for draft in ("", "Yes", "12", "B", "monday", "To find it we", "1, 2, 3", "0.5 is larger"):
            text_features(Draft(draft, "length"), expect, checks.final_answer(draft, expect))
            if expect.solution is not None:
                judge(expect.solution, draft, checks.final_answer(draft, expect))
