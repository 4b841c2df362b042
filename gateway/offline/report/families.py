"""Each request family in a decision log: how often a cheaper tier fell short there (with its interval),
its tier mix as served and as the weights' prior alone would have had it, and how many requests the
counts learned while serving moved (`prior_tier` on a logged line: where learning moved it from).

A family's label per request is the retrain's (retrain.py): a shadow verdict outranks a rating, and
ratings of the reference tier's answers are not labels. Families are the weights file's ids
(classify/families.py); requests logged without one (weights without families) are left out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gateway.offline.report.log import Log, Request
from gateway.offline.stats import Rate, wilson

__all__ = ["FamilyRow", "family_rows"]


@dataclass(frozen=True)
class FamilyRow:
    family: str
    requests: int
    fell_short: Rate  # among the cheaper tiers' labelled requests
    served: dict[str, int]  # tier → requests, as served
    prior: dict[str, int]  # tier → requests, had the prior alone decided
    moved: int  # requests whose tier learning changed


def _shortfall(r: Request, log: Log) -> int | None:
    if not r.cheaper:
        return None  # the reference tier's own answer says nothing about a cheaper one
    verdict, rating = log.verdicts.get(r.id), log.feedback.get(r.id)
    if verdict is not None:
        return int(verdict.value == "reference_better")
    if rating is not None and rating.value in ("good", "bad"):
        return int(rating.value == "bad")
    return None


def family_rows(log: Log) -> list[FamilyRow]:
    by_family: dict[str, list[Request]] = {}
    for r in log.requests:
        if r.family is not None:
            by_family.setdefault(r.family, []).append(r)
    rows = []
    for family, reqs in by_family.items():
        labels = [y for y in (_shortfall(r, log) for r in reqs) if y is not None]
        served = Counter(r.tier or "(none)" for r in reqs)
        prior = Counter(r.prior_tier or r.tier or "(none)" for r in reqs)
        moved = sum(1 for r in reqs if r.prior_tier is not None)
        rows.append(
            FamilyRow(family, len(reqs), wilson(sum(labels), len(labels)), dict(served), dict(prior), moved)
        )
    rows.sort(key=lambda f: (-f.requests, f.family))
    return rows
