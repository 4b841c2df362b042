"""How fast the verifier judges drafts, as `gateway route` replays them: one core, pure Python.

Each case builds the request view from the request body (as a replay line does) and calls
Verifier.confidence with a prior; the target is >= 5,000 drafts a second (<= 200 us each). The
second table times the same verdict with no prior given (a family without labels of the
deployment's own: the embedded model's prompt prior is read); the third times the answer checks
alone (expectation, final answer, text features: recomputed arithmetic, yes/no, the parsers) on a
view built once, the budget issue 21 sets them (<= 200 us).

  .venv/bin/python loadtests/bench_verifier.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

from gateway.classify import checks
from gateway.classify.draft import text_features
from gateway.classify.verifier import Draft, default_verifier
from gateway.protocol import RequestView, chat_view

CODE = (
    "Here is a Python function that counts the set bits:\n\n```python\ndef count_set_bits(n):\n"
    "    count = 0\n    while n > 0:\n        count += n & 1\n        n >>= 1\n    return count\n```\n\n"
    + "This function works by repeatedly checking the lowest bit and shifting the number right. "
    * 2
)
MC = (
    "Which statement describes how energy can be helpful?\nA) Lightning strikes a building.\n"
    "B) The wind blows down a sign.\nC) Electricity heats an oven.\nD) A fire burns down a house.\n"
    'Print only a single choice from "A" or "B" or "C" or "D" without explanation.\nAnswer:\n'
)
WORD = "Ben reads 12 pages every day for 8 days, then 6 more pages. How many pages did Ben read in total?"
WORKED = (
    "Ben reads 12 pages a day for 8 days, so he reads 12 * 8 = <<12*8=96>>96 pages. Then he reads 6 "
    "more: 96 + 6 = 102 pages. 20% of 50 is 10, and 2 km = 2000 m. The answer is 102."
)
JSON_Q = 'Return a JSON object with the keys "name" and "age" for Ann, 31. Output only the JSON.'


def _lps(n: int, rng: random.Random) -> tuple[float, ...]:
    return tuple(-(rng.random() ** 3) * 4 for _ in range(n))


def cases() -> dict[str, tuple[dict[str, Any], list[Draft]]]:
    rng = random.Random(1)
    mc = {"messages": [{"role": "user", "content": MC * 3}]}  # a few-shot prompt of ~1,300 characters
    arith = {"messages": [{"role": "user", "content": "What is 17 + 26? Answer with the number only."}]}
    code = {"messages": [{"role": "user", "content": "Write a python function to count set bits."}]}
    return {
        "multiple choice, 1 draft, no logprobs": (mc, [Draft("C")]),
        "arithmetic, 1 draft, 8 logprobs": (arith, [Draft("17 + 26 = 43", "stop", _lps(8, rng))]),
        "arithmetic, 3 drafts, 8 logprobs each": (
            arith,
            [Draft(t, "stop", _lps(8, rng)) for t in ("43", "17 + 26 = 43", "42")],
        ),
        "code, 1 draft (~500 chars), 160 logprobs": (code, [Draft(CODE, "stop", _lps(160, rng))]),
        "code, 3 drafts, 160 logprobs each": (code, [Draft(CODE, "length", _lps(160, rng))] * 3),
        "word problem, worked arithmetic (~230 chars), 60 logprobs": (
            {"messages": [{"role": "user", "content": WORD}]},
            [Draft(WORKED, "stop", _lps(60, rng))],
        ),
        "JSON, 1 draft, 16 logprobs": (
            {"messages": [{"role": "user", "content": JSON_Q}]},
            [Draft('```json\n{"name": "Ann", "age": 31}\n```', "stop", _lps(16, rng))],
        ),
        "yes/no, 1 draft, 4 logprobs": (
            {"messages": [{"role": "user", "content": "Is 81 an even number? Answer yes or no."}]},
            [Draft("No, 81 is odd.", "stop", _lps(4, rng))],
        ),
    }


def _per_call_us(call: Callable[[], object], seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for _ in range(200):
            call()
        n += 200
    return round(elapsed / n * 1e6, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    verifier = default_verifier()
    out, bare, checked = {}, {}, {}
    for name, (body, drafts) in cases().items():
        raw = {"model": "auto", **body}
        us = _per_call_us(
            lambda raw=raw, drafts=drafts: verifier.confidence(
                chat_view(raw, 0), drafts, prior_right=0.6, prior_n=12
            ),
            args.seconds,
        )
        out[name] = {"calls_per_s": round(1e6 / us), "us_per_call": us}
        # a family without labels of the deployment's own: no prior given, the prompt prior read
        bare[name] = {
            "us_per_call": _per_call_us(
                lambda raw=raw, drafts=drafts: verifier.confidence(chat_view(raw, 0), drafts), args.seconds
            )
        }
        view = chat_view(raw, 0)

        def check(view: RequestView = view, draft: Draft = drafts[0]) -> None:
            expect = checks.expectation(view)
            text_features(draft, expect, checks.final_answer(draft.content, expect))

        checked[name] = {"us_per_draft": _per_call_us(check, args.seconds)}
    print(json.dumps({"confidence": out, "confidence_no_prior": bare, "checks_alone": checked}, indent=2))


if __name__ == "__main__":
    main()
