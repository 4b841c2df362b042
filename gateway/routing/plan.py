"""The routing decision, as a pure function: difficulty + latency budget + tier views → a plan.

Pick the cheapest tier trusted with the request's difficulty whose expected latency fits the budget.
The plan is the whole ordered candidate list (the fallback order dispatch follows), with reasons a
person can read. No I/O, no clock: live estimates and queue state come in as values.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Literal

from gateway.errors import BudgetUnmeetable
from gateway.frozen import fast_init

__all__ = ["Ask", "BackendView", "Candidate", "Plan", "TierView", "decide", "pinned", "with_fallback"]

OnMiss = Literal["fastest_capable", "fastest", "reject"]


@fast_init
@dataclass(frozen=True, slots=True)
class BackendView:
    name: str
    ttft_s: float  # expected time to first token, queueing excluded
    tpot_s: float  # expected time per output token
    queue_s: float = 0.0  # expected wait before it starts on this request
    healthy: bool = True
    load: int = 0  # requests outstanding there: spreads traffic over replicas that are alike


@fast_init
@dataclass(frozen=True, slots=True)
class TierView:
    name: str
    max_difficulty: float
    cost: float  # USD per million tokens (input + output): orders tiers, cheapest first
    backends: tuple[BackendView, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class Ask:
    difficulty: float | None
    output_tokens: int
    budget_ms: float | None = None
    ttft_slo_ms: float | None = None
    on_miss: OnMiss = "fastest_capable"
    degrade: bool = True
    family: str | None = None  # what the difficulty was read in, carried into the plan
    labels: float | None = None
    short: float | None = None  # the difficulty as a probability (Plan.short)


@fast_init
@dataclass(frozen=True, slots=True)
class Candidate:
    tier: str
    backend: str
    ttft_ms: float
    total_ms: float
    capable: bool
    fits: bool
    healthy: bool = True
    load: int = 0


@fast_init
@dataclass(frozen=True, slots=True)
class Plan:
    candidates: tuple[Candidate, ...]
    reason: str  # a short code, for headers and metrics
    reasons: tuple[str, ...]  # for people
    difficulty: float | None = None
    strategy: str = "fallback"  # how dispatch runs them: fallback | draft_verify (dispatch/strategies.py)
    # The family the difficulty was read in (classify/families.py; None: weights without families) and
    # the deployment's own labels of it (added by `train --data`, learned while serving; not the
    # shipped counts, which are another model's): a cascade lets a family with enough of them settle
    # its drafts (routing/cascade.py), and the verifier's prior fades its level by them.
    labels: float | None = None
    family: str | None = None
    # P(the draft falls short) as a probability, in a family with labels of the deployment's own: the
    # family's rate moved by the request's place within it by at most LEARNED_BOUND log-odds
    # (classify's FamilyHit.short). The difficulty ranks; a cascade weighs a draft and settles a
    # family by this.
    short: float | None = None

    @property
    def tier(self) -> str:
        return self.candidates[0].tier if self.candidates else ""

    @property
    def p_short(self) -> float | None:
        """P(falls short) as a cascade reads it: `short` where the scorer gave one, else the difficulty."""
        return self.short if self.short is not None else self.difficulty


def _candidate(tier: TierView, b: BackendView, ask: Ask, capable: bool) -> Candidate:
    ttft = (b.queue_s + b.ttft_s) * 1000
    total = ttft + ask.output_tokens * b.tpot_s * 1000
    fits = (
        b.healthy
        and (ask.budget_ms is None or total <= ask.budget_ms)
        and (ask.ttft_slo_ms is None or ttft <= ask.ttft_slo_ms)
    )
    return Candidate(tier.name, b.name, round(ttft, 1), round(total, 1), capable, fits, b.healthy, b.load)


_COST = attrgetter("cost")
_TRUST = attrgetter("max_difficulty")


def _DISTRUST(t: TierView) -> float:  # a sort key, beside _COST and _TRUST
    return -t.max_difficulty


_ALIKE = 1.5  # replicas expected within this factor of the fastest one count as alike


def _rank(cands: list[Candidate]) -> list[Candidate]:
    """Fitting first, then faster; replicas within _ALIKE of the fastest count as alike and the one with
    fewer requests outstanding goes first. Pure greed would send everything to whichever replica
    measured a hair faster, and a recovered replica would never get traffic to prove itself again."""
    if len(cands) < 2:
        return cands  # nothing to rank (a tier of one backend, the common case)
    ordered = sorted(cands, key=lambda c: (not c.fits, c.total_ms))
    best = ordered[0]
    alike = [c for c in ordered if c.fits == best.fits and c.total_ms <= best.total_ms * _ALIKE]
    alike.sort(key=lambda c: c.load)  # stable: file order among equals
    return alike + [c for c in ordered if c not in alike]


def _down_last(cands: list[Candidate]) -> tuple[Candidate, ...]:
    # A backend known to be down or saturated stays in the plan, last: better a try than a certain failure.
    for c in cands:
        if not c.healthy:
            return tuple([c for c in cands if c.healthy] + [c for c in cands if not c.healthy])
    return tuple(cands)


def _budget_text(ask: Ask) -> str:
    parts = [f"budget {ask.budget_ms:g} ms"] if ask.budget_ms is not None else []
    if ask.ttft_slo_ms is not None:
        parts.append(f"first token within {ask.ttft_slo_ms:g} ms")
    return " and ".join(parts)


def decide(ask: Ask, tiers: tuple[TierView, ...]) -> Plan:
    # Written as plain loops: this runs for every `auto` request, and each comprehension or generator
    # is a call of its own (loadtests/RESULTS.md, sixth pass: 8.5 µs a decision became 5.5).
    by_cost = sorted(tiers, key=_COST)  # stable: equal prices keep the file's order
    d = ask.difficulty
    capable: list[TierView] = []  # both in price order
    weaker: list[TierView] = []
    trusted: set[str] = set()  # the capable tiers' names
    for t in by_cost:
        if d is None or d <= t.max_difficulty:
            capable.append(t)
            trusted.add(t.name)
        else:
            weaker.append(t)
    reasons: list[str] = []
    if not capable and by_cost:
        top = max(by_cost, key=_TRUST)
        capable.append(top)
        trusted.add(top.name)
        weaker = [t for t in weaker if t is not top]
        reasons.append(
            f"difficulty {d:.2f} is above every tier's max_difficulty; {top.name} is the most trusted"
        )
    for t in weaker:
        reasons.append(f"{t.name}: difficulty {d:.2f} > max_difficulty {t.max_difficulty:g}")
    cands: dict[str, list[Candidate]] = {}
    for t in by_cost:
        trust = t.name in trusted
        cands[t.name] = _rank([_candidate(t, b, ask, trust) for b in t.backends])

    budgeted = ask.budget_ms is not None or ask.ttft_slo_ms is not None
    primary: TierView | None = None
    for t in capable:
        if cands[t.name][0].fits:
            primary = t
            break
    if primary is not None:
        reason = "cheapest_capable_in_budget" if budgeted else "cheapest_capable"
        if budgeted:
            best = cands[primary.name][0]
            within = f"expected {best.total_ms:g} ms within {_budget_text(ask)}"
            reasons.append(f"{primary.name}: cheapest capable tier, {within}")
        else:
            reasons.append(f"{primary.name}: cheapest capable tier")
    else:
        misses = "; ".join(
            f"{c.tier}: expected {c.total_ms:g} ms (first token {c.ttft_ms:g} ms)"
            for c in (cands[t.name][0] for t in capable)
        )
        if ask.on_miss == "reject":
            raise BudgetUnmeetable(f"No capable tier is expected to meet the {_budget_text(ask)}: {misses}.")
        pool = [c for t in (by_cost if ask.on_miss == "fastest" else capable) for c in cands[t.name]]
        fastest = min(pool, key=lambda c: c.total_ms)
        primary = next(t for t in by_cost if t.name == fastest.tier)
        reason = f"budget_miss_{ask.on_miss}"
        how = ask.on_miss.replace("_", " ")
        reasons.append(
            f"no capable tier fits the {_budget_text(ask)} ({misses}); {primary.name} is the {how}"
        )
        cands[primary.name] = [fastest] + [c for c in cands[primary.name] if c is not fastest]

    order = list(cands[primary.name])
    for t in capable:
        if t is not primary:
            order += cands[t.name]
    if ask.degrade and weaker:
        if primary.name not in trusted:
            weaker = [t for t in weaker if t is not primary]
        weaker.sort(key=_DISTRUST)  # the most trusted first; stable: then by price
        for t in weaker:
            order += cands[t.name]
    if ask.family is not None:
        reasons.append(
            f"difficulty read in family {ask.family} ({ask.labels or 0:g} labels of this gateway's own)"
        )
    return Plan(_down_last(order), reason, tuple(reasons), d, "fallback", ask.labels, ask.family, ask.short)


def pinned(tier: TierView, output_tokens: int, route_model: str | None = None) -> Plan:
    """A route to one tier: its backends, the least loaded first (file order breaks ties)."""
    ask = Ask(difficulty=None, output_tokens=output_tokens)
    cands = _down_last(_rank([_candidate(tier, b, ask, True) for b in tier.backends]))
    what = f"model {route_model}" if route_model else f"tier {tier.name}"
    return Plan(cands, "pinned", (f"the route names {what}",))


def with_fallback(plan: Plan, order: list[str], views: dict[str, TierView]) -> Plan:
    """The plan's chosen tier, then exactly the tiers a route lists as its fallback, in that order."""
    if not plan.candidates:
        return plan
    chosen = plan.tier
    known = {(c.tier, c.backend): c for c in plan.candidates}
    cands = [c for c in plan.candidates if c.tier == chosen]
    for name in order:
        if name == chosen or name not in views:
            continue
        for b in views[name].backends:
            cands.append(
                known.get((name, b.name))
                or Candidate(
                    name, b.name, round(b.ttft_s * 1000, 1), round(b.ttft_s * 1000, 1), True, True, b.healthy
                )
            )
    reasons = (*plan.reasons, f"fallback order set by the route: {' → '.join([chosen, *order])}")
    return Plan(
        _down_last(cands),
        plan.reason,
        reasons,
        plan.difficulty,
        labels=plan.labels,
        family=plan.family,
        short=plan.short,
    )
