"""The live families by name (live_families.py makes their questions), how long a draft of each may be,
and `n` seeded questions of one: what the verifier's live evaluation and calibration draw."""

from __future__ import annotations

import random
import zlib
from typing import Any

from gateway.offline.live_families import (
    Maker,
    arithmetic,
    category_choice,
    comparison,
    counting,
    date_time,
    json_output,
    largest_choice,
    lookup,
    mixed_choice,
    ordering,
    percentage,
    python_function,
    sequence,
    unit_conversion,
    word_problem,
    word_transform,
    yes_no,
)

__all__ = ["FAMILIES", "MAX_TOKENS", "family_questions"]


FAMILIES: dict[str, Maker] = {
    "arithmetic": arithmetic,
    "category_choice": category_choice,
    "largest_choice": largest_choice,
    "word_problem": word_problem,
    "unit_conversion": unit_conversion,
    "percentage": percentage,
    "yes_no": yes_no,
    "comparison": comparison,
    "counting": counting,
    "date_time": date_time,
    "json_output": json_output,
    "python_function": python_function,
    "lookup": lookup,
    "mixed_choice": mixed_choice,
    "sequence": sequence,
    "word_transform": word_transform,
    "ordering": ordering,
}
MAX_TOKENS = {"word_problem": 48, "json_output": 48, "python_function": 48, "unit_conversion": 24,
              "percentage": 24, "ordering": 24, "lookup": 12, "yes_no": 8}  # fmt: skip


def family_questions(family: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` distinct questions of one family, from a generator seeded by the family's name (so adding a
    family, or asking for more of one, leaves the others' questions, and their cached drafts, as
    they were)."""
    make = FAMILIES[family]
    rng = random.Random(seed + zlib.crc32(family.encode()))  # noqa: S311 - seeded questions, not secrets
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    i = 0
    while len(out) < n and i < 50 * n:
        prompt, gold, grade = make(rng, i)
        i += 1
        if prompt in seen:
            continue
        seen.add(prompt)
        out.append(
            {
                "id": f"{family}-{len(out)}",
                "family": family,
                "prompt": prompt,
                "gold": gold,
                "grade": grade,
                "max_tokens": MAX_TOKENS.get(family, 16),
            }
        )
    return out
