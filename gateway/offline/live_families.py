"""Question families with known answers, for the verifier's live evaluation on the embedded model.

Each family is a seeded generator of short questions of one kind, unlike each other in what the
small model must do (recompute, convert, recall, count, format): the verifier is fitted on some
families and reported on the others (`verifier_live.py`), so what it learns must carry to a family
it never saw. Every question carries its gold answer and how a draft is graded against it
(`live_labels.py`). The wording varies within a family (with and without "answer with ... only"),
as traffic does.

The families by name, their maximum draft lengths and the seeded questions are in live_questions.py;
docs/verifier-eval.md ("Live") describes each. The words and facts they draw on are in live_words.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from gateway.offline import live_words as w

__all__ = ["Maker", "Question"]

Question = tuple[str, Any, str]  # prompt, gold, how it is graded (live_labels.GRADERS)
Maker = Callable[[random.Random, int], Question]

ONLY_NUMBER = ("", " Answer with the number only.", " Give just the number.")


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _s(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _suffix(rng: random.Random, options: tuple[str, ...]) -> str:
    return rng.choice(options)


def arithmetic(rng: random.Random, i: int) -> Question:
    kind = i % 4
    if kind == 0:
        a, b, op = rng.randint(1, 9), rng.randint(1, 9), "+"
    elif kind == 1:
        a, b, op = rng.randint(10, 99), rng.randint(10, 99), "+"
    elif kind == 2:
        a, b = sorted((rng.randint(10, 99), rng.randint(1, 99)), reverse=True)
        op = "-"
    else:
        a, b, op = rng.randint(2, 12), rng.randint(2, 12), "*"
    gold = a + b if op == "+" else a - b if op == "-" else a * b
    return f"What is {a} {op} {b}? Answer with the number only.", gold, "number"


def _lettered(rng: random.Random, stem: str, opts: list[str], right: str, tail: str) -> Question:
    rng.shuffle(opts)
    style = rng.randint(0, 2)
    fmt = ("{}) {}", "({}) {}", "{}. {}")[style]
    lines = "\n".join(fmt.format("ABCDE"[j], o) for j, o in enumerate(opts))
    return f"{stem}\n{lines}{tail}", "ABCDE"[opts.index(right)], "letter"


def category_choice(rng: random.Random, i: int) -> Question:
    cat = rng.choice(sorted(w.CATEGORIES))
    right = rng.choice(w.CATEGORIES[cat])
    others = [w for c, ws in sorted(w.CATEGORIES.items()) if c != cat for w in ws]
    article = "an" if cat[0] in "aeiou" else "a"
    opts = [right, *rng.sample(others, 1 if i % 2 else 3)]
    return _lettered(
        rng, f"Which of these is {article} {cat}?", opts, right, "\nAnswer with the letter only."
    )


def largest_choice(rng: random.Random, i: int) -> Question:
    nums = [str(x) for x in rng.sample(range(1, 100), 3)]
    right = str(max(int(x) for x in nums))
    return _lettered(rng, "Which number is the largest?", nums, right, "\nAnswer with the letter only.")


def word_problem(rng: random.Random, i: int) -> Question:
    name, item = rng.choice(w.NAMES), rng.choice(w.ITEMS)
    a, b, c = rng.randint(3, 20), rng.randint(2, 12), rng.randint(2, 9)
    kind = i % 6
    if kind == 0:
        c = min(c, a + b - 1)
        text = (
            f"{name} has {a} {item}. {name} gets {b} more and then gives {c} away. "
            f"How many {item} does {name} have now?"
        )
        gold = a + b - c
    elif kind == 1:
        text, gold = f"A box holds {a} {item}. How many {item} are in {b} boxes?", a * b
    elif kind == 2:
        text = (
            f"{name} reads {b} pages every day for {c} days, then {a} more pages. "
            f"How many pages did {name} read in total?"
        )
        gold = b * c + a
    elif kind == 3:
        each = rng.randint(2, 9)
        text = (
            f"{each * b} {item} are shared equally among {b} children. How many {item} does each child get?"
        )
        gold = each
    elif kind == 4:
        text = (
            f"A pen costs {a} dollars and a notebook costs {b} dollars. "
            "How much do 2 pens and 1 notebook cost in dollars?"
        )
        gold = 2 * a + b
    else:
        a, b = a + 2 * c, b + 2 * c  # something is left in each bag
        text = (
            f"There are {a} {item} in one bag and {b} in another. {name} takes {c} from each bag. "
            f"How many {item} are left in both bags together?"
        )
        gold = a + b - 2 * c
    return text + _suffix(rng, ONLY_NUMBER), gold, "number"


def unit_conversion(rng: random.Random, i: int) -> Question:
    big, small, factor = w.UNITS[i % len(w.UNITS)]
    n = rng.randint(2, 9)
    if i % 3 == 2:
        return f"Convert {n} {big} to {small}.{_suffix(rng, ONLY_NUMBER)}", n * factor, "number"
    return f"How many {small} are in {n} {big}?{_suffix(rng, ONLY_NUMBER)}", n * factor, "number"


def percentage(rng: random.Random, i: int) -> Question:
    p = rng.choice((10, 20, 25, 50, 75, 5, 30))
    n = rng.choice((20, 40, 60, 80, 100, 120, 200, 300, 400, 500))
    kind = i % 3
    if kind == 0:
        text, gold = f"What is {p}% of {n}?", p * n // 100
    elif kind == 1:
        text, gold = (
            f"A jacket costs {n} dollars. It is {p}% off. What is the sale price in dollars?",
            n - p * n // 100,
        )
    else:
        part = p * n // 100
        text, gold = f"{part} is what percent of {n}?", p
    return text + _suffix(rng, ONLY_NUMBER), gold, "number"


def yes_no(rng: random.Random, i: int) -> Question:
    kind = i % 5
    if kind == 0:
        n = rng.randint(2, 99)
        text, gold = f"Is {n} an even number?", n % 2 == 0
    elif kind == 1:
        a, b = rng.sample(range(1, 100), 2)
        text, gold = f"Is {a} greater than {b}?", a > b
    elif kind == 2:
        cat = rng.choice(sorted(w.CATEGORIES))
        member = rng.random() < 0.5
        pool = w.CATEGORIES[cat] if member else [w for c, ws in w.CATEGORIES.items() if c != cat for w in ws]
        word = rng.choice(sorted(pool))
        art = "an" if word[0] in "aeiou" else "a"
        text, gold = f"Is {art} {word} a kind of {cat}?", member
    elif kind == 3:
        country = rng.choice(sorted(w.CAPITALS))
        city = w.CAPITALS[country] if rng.random() < 0.5 else rng.choice(sorted(w.CAPITALS.values()))
        text, gold = f"Is {city} the capital of {country}?", city == w.CAPITALS[country]
    else:
        animal = rng.choice(sorted(w.LEGS))
        legs = (
            w.LEGS[animal]
            if rng.random() < 0.5
            else rng.choice([x for x in (2, 4, 6, 8) if x != w.LEGS[animal]])
        )
        text, gold = f"Does a {animal} have {legs} legs?", legs == w.LEGS[animal]
    tail = rng.choice(("", " Answer yes or no.", " Reply with yes or no only."))
    return text + tail, "yes" if gold else "no", "yesno"


def comparison(rng: random.Random, i: int) -> Question:
    kind = i % 4
    if kind == 0:
        a, b = rng.sample(w.WEIGHT, 2)
        text, right = f"Which is heavier, {_a(a)} or {_a(b)}?", max(a, b, key=w.WEIGHT.index)
    elif kind == 1:
        a, b = rng.sample(w.SPANS, 2)
        text, right = f"Which is longer, {_a(a)} or {_a(b)}?", max(a, b, key=w.SPANS.index)
    elif kind == 2:
        u, v = rng.sample(range(1, 1000), 2)
        text, right = f"Which number is smaller, {u} or {v}?", str(min(u, v))
        return text + rng.choice(("", " Answer with the number only.")), [right, str(max(u, v))], "option"
    else:
        a, b = (f"0.{x}" for x in rng.sample((5, 25, 75, 3, 45, 8, 15, 6), 2))
        text, right = f"Which is bigger, {a} or {b}?", max(a, b, key=float)
        return text, [right, min(a, b, key=float)], "option"
    other = b if right == a else a
    return text + rng.choice(("", " Answer in one word.")), [right, other], "option"


def counting(rng: random.Random, i: int) -> Question:
    kind = i % 3
    word = rng.choice(w.WORDS)
    if kind == 0:
        return f"How many letters are in the word '{word}'?", len(word), "number"
    if kind == 1:
        letter = rng.choice(sorted(set(word)))
        return f"How many times does the letter '{letter}' appear in '{word}'?", word.count(letter), "number"
    n = rng.randint(3, 8)
    sentence = " ".join(rng.sample(w.WORDS, n)).capitalize() + "."
    return f'How many words are in this sentence: "{sentence}"', n, "number"


def date_time(rng: random.Random, i: int) -> Question:
    kind = i % 4
    if kind == 0:
        d, n = rng.randrange(7), rng.randint(1, 6)
        return (
            f"What day of the week comes {_s(n, 'day')} after {w.DAYS[d]}?",
            w.DAYS[(d + n) % 7].lower(),
            "word",
        )
    if kind == 1:
        m, n = rng.randrange(12), rng.randint(1, 5)
        return (
            f"Which month comes {_s(n, 'month')} after {w.MONTHS[m]}?",
            w.MONTHS[(m + n) % 12].lower(),
            "word",
        )
    if kind == 2:
        h, n = rng.randint(1, 20), rng.randint(2, 9)
        return (
            f"It is {h:02d}:00 now. What time will it be in {n} hours? Use the 24-hour clock (HH:MM).",
            f"{(h + n) % 24:02d}:00",
            "clock",
        )
    m = rng.randrange(12)
    return (
        f"How many days are there in {w.MONTHS[m]} in a year that is not a leap year?",
        w.MONTH_DAYS[m],
        "number",
    )


def json_output(rng: random.Random, i: int) -> Question:
    kind = i % 3
    if kind == 0:
        name, age = rng.choice(w.NAMES), rng.randint(18, 80)
        return (
            f'Return a JSON object with the keys "name" and "age" for a person named {name} who is {age} '
            "years old. Output only the JSON.",
            {"name": name, "age": age},
            "json",
        )
    if kind == 1:
        n = rng.randint(3, 5)
        return (
            f"Give a JSON list of the first {n} positive even numbers. Output only JSON.",
            [2 * (k + 1) for k in range(n)],
            "json",
        )
    key, value = rng.choice(("city", "color", "animal", "fruit")), rng.choice(w.WORDS)
    return (
        f'Write a JSON object with one key, "{key}", whose value is "{value}". Only the JSON, please.',
        {key: value},
        "json",
    )


def python_function(rng: random.Random, i: int) -> Question:
    name, what, tests = w.PYTHON_TASKS[i % len(w.PYTHON_TASKS)]
    style = (i // len(w.PYTHON_TASKS)) % 5
    ask = (
        f"Write a Python function `{name}` that {what}.",
        f"Write a Python function called {name} that {what}. Reply with only the code.",
        f"In Python, define {name}: it {what}.",
        f"Implement `{name}` in Python. It {what}.",
        f"Python: write def {name}(...) that {what}. No explanation.",
    )[style]
    return ask, {"name": name, "tests": [list(t) for t in tests]}, "python"


def lookup(rng: random.Random, i: int) -> Question:
    kind = i % 4
    if kind == 0:
        country = rng.choice(sorted(w.CAPITALS))
        return f"What is the capital of {country}?", w.CAPITALS[country].lower(), "word"
    if kind == 1:
        word = rng.choice(sorted(w.OPPOSITES))
        return f"What is the opposite of '{word}'? Answer in one word.", w.OPPOSITES[word], "word"
    if kind == 2:
        element = rng.choice(sorted(w.SYMBOLS))
        return f"What is the chemical symbol for {element}?", w.SYMBOLS[element].lower(), "symbol"
    noun = rng.choice(sorted(w.PLURALS))
    return f"What is the plural of '{noun}'?", w.PLURALS[noun], "word"


def mixed_choice(rng: random.Random, i: int) -> Question:
    kind = i % 4
    n_opts = 2 + i % 4  # two to five options
    if kind == 0:
        animal = rng.choice(sorted(w.LEGS))
        right = str(w.LEGS[animal])
        pool = [str(x) for x in (0, 2, 4, 6, 8, 10) if str(x) != right]
        return _lettered(rng, f"How many legs does a {animal} have?", [right, *rng.sample(pool, n_opts - 1)],
                         right, rng.choice(("", "\nAnswer:")))  # fmt: skip
    if kind == 1:
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        right = str(a * b)
        pool = sorted({str(a * b + d) for d in (-a, a, -b, b, 1, -1, 10)} - {right})
        return _lettered(rng, f"What is {a} x {b}?", [right, *rng.sample(pool, n_opts - 1)], right,
                         "\nChoose one letter.")  # fmt: skip
    if kind == 2:
        word = rng.choice(sorted(w.OPPOSITES))
        right = w.OPPOSITES[word]
        pool = sorted(set(w.OPPOSITES.values()) - {right})
        stem = f"Which word means the opposite of '{word}'?"
        return _lettered(
            rng, stem, [right, *rng.sample(pool, n_opts - 1)], right, "\nAnswer with the letter only."
        )
    country = rng.choice(sorted(w.CAPITALS))
    right = w.CAPITALS[country]
    pool = sorted(set(w.CAPITALS.values()) - {right})
    return _lettered(rng, f"What is the capital of {country}?", [right, *rng.sample(pool, n_opts - 1)], right,
                     rng.choice(("", "\nAnswer with the letter only.")))  # fmt: skip


def sequence(rng: random.Random, i: int) -> Question:
    a = rng.randint(1, 20)
    if i % 3 == 2:
        terms = [a * 2**k for k in range(4)]
        gold = a * 16
    else:
        d = rng.randint(2, 9)
        terms = [a + k * d for k in range(4)]
        gold = a + 4 * d
    shown = ", ".join(map(str, terms))
    return f"What number comes next in the sequence {shown}, ...?{_suffix(rng, ONLY_NUMBER)}", gold, "number"


def word_transform(rng: random.Random, i: int) -> Question:
    word = rng.choice(w.WORDS)
    kind = i % 3
    if kind == 0:
        return f"Spell the word '{word}' backwards.", word[::-1], "contains"
    if kind == 1:
        return f"Write the word '{word}' in capital letters.", word.upper(), "contains_exact"
    return f"Write the word '{word.upper()}' in lowercase letters.", word, "contains_exact"


def ordering(rng: random.Random, i: int) -> Question:
    nums = rng.sample(range(1, 60), 3 + i % 3)
    shown = ", ".join(map(str, nums))
    return f"Put these numbers in increasing order: {shown}.", sorted(nums), "ordered"
