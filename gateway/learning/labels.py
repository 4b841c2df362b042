"""A label from live traffic: did the cheaper tier's answer fall short of the reference tier's?

The rules are the decision log's (docs/quality.md, "Labels"): a shadow verdict `reference_better` is a
shortfall, `cheaper_as_good` and `tie` are not; a rating `bad` is a shortfall, `good` is not, neutral
says nothing. A verdict outranks a rating: an answer drawn for shadow judging is labelled by its
verdict alone, so its rating does not count twice (or against it), on whichever replica it lands.
A rating of the reference tier's own answer says nothing about a cheaper tier and is not a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Label", "Source", "rating_label", "verdict_label"]

Source = Literal["verdict", "rating"]

_VERDICTS = {"reference_better": 1.0, "cheaper_as_good": 0.0, "tie": 0.0}


@dataclass(frozen=True, slots=True)
class Label:
    family_set: str  # the weights file's family set the family id belongs to
    family: str  # the request's family (a leaf id: "f3.1", "u", "root")
    shortfall: float  # 1: the cheaper tier fell short of the reference; 0: it did not
    source: Source
    route: str
    tenant: str | None = None  # whose rating (a verdict is the gateway's own: None)


def verdict_label(verdict: str) -> float | None:
    return _VERDICTS.get(verdict)


def rating_label(label: str, *, tier: str, reference_tier: str | None, shadowed: bool) -> float | None:
    """The label a rating gives, or None when it gives none (see the module's rules)."""
    if shadowed or label not in ("good", "bad"):
        return None
    if reference_tier is not None and tier == reference_tier:
        return None
    return 1.0 if label == "bad" else 0.0
