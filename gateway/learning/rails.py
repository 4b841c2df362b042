"""The guard rails between learned labels and routing.

A family's learned labels move routing only when the evidence is clear:
- never on fewer than `min_labels` (decayed) labels;
- only when the interval of its learned rate lies wholly past a tier threshold (a tier's
  `max_difficulty`) that its prior rate is not past: a point estimate crossing a threshold is noise
  until its interval does;
- once in force, the learned labels are blended with the prior as if the prior were `strength`
  labels, so that a family whose verdicts all go one way moves within about twenty of them (the
  defaults: ten to be in force, twenty to carry a 0.3 family past 0.6), and a family with thousands
  of shipped labels can still be corrected by its own traffic.

The rates compared are the family's (its level), not a request's score, which adds the request's
place within the family; a threshold set as a share of traffic (`share:`) is checked against its
calibrated `max_difficulty`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.rules import RouteTable

__all__ = ["Rails", "blended", "interval", "moves", "rails_for"]

_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Rails:
    min_labels: float = 10.0
    z: float = 1.959964  # the interval's: 95%, two-sided
    half_life_s: float = 14 * _DAY_S
    tenant_cap: float = 10.0  # a tenant's ratings count for at most this many labels of a family
    strength: float = 20.0  # the prior's weight, in labels, once learned labels are in force
    thresholds: tuple[float, ...] = ()  # the route table's tier thresholds


def rails_for(settings: Settings, table: RouteTable) -> Rails:
    """The operator's rails (settings `learn_*`) with the rules' thresholds a family's learned rate may
    move past: every tier's calibrated level."""
    s = settings
    return Rails(
        min_labels=s.learn_min_labels,
        half_life_s=s.learn_half_life_days * _DAY_S,
        tenant_cap=s.learn_tenant_cap,
        strength=s.learn_strength,
        thresholds=tuple(sorted({t.max_difficulty for t in table.spec.tiers.values()})),
    )


def interval(n: float, s: float, z: float) -> tuple[float, float]:
    """Wilson score interval of the rate s/n (decayed counts may be fractional)."""
    if n <= 0:
        return 0.0, 1.0
    p = min(max(s / n, 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def moves(prior_rate: float, n: float, s: float, rails: Rails) -> bool:
    """Are these learned counts clear enough to be in force? Their interval lies wholly on one side of
    a tier threshold, and excludes the prior's rate: clear evidence of where the family stands, and
    that the prior is wrong about it. (A family's requests spread around its rate by their
    within-family term, so a prior rate already on the same side of every threshold does not mean
    its requests are: in force, the learned level decides their tier.)"""
    if n < rails.min_labels:
        return False
    lo, hi = interval(n, s, rails.z)
    if lo <= prior_rate <= hi:
        return False
    return any(t < lo or hi <= t for t in rails.thresholds)


def blended(prior_rate: float, n: float, s: float, rails: Rails) -> float:
    """The family's rate once its learned labels are in force."""
    return (s + rails.strength * prior_rate) / (n + rails.strength)
