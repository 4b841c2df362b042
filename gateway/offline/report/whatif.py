"""The logged traffic decided again under another routes file, no model called.

Each request is decided by the planner of the new table, as the gateway would decide it, from:
- its difficulty: rescored from its logged scorer inputs under the new file's weights when the route
  logged them (`log_features`), else the score it was logged with;
- the latency priors of the new file's backends, every backend idle and up (as `gateway route`);
- its logged budget (the header's or the route's then) and its tenant's tiers in the new file;
- for a cascade, its logged verifier confidence against the new `min_confidence`; a request that was
  not drafted then is accepted at the rate the logged drafts of its route would be (1 without any).
Its cost on a tier it did not use is that tier's price in the new file times its logged tokens; on
the tier it used, what it cost. Expected quality prices each request where the new rules send it:
the quality kept of that tier's judged requests at its logged difficulty (expect.py; the reference
tier's is 1), so moving the hard requests next to a threshold counts as what they are, not as the
tier's average. A raised threshold sends a tier requests harder than any it was judged on: those are
priced at its hardest bin, a guess the notes count (the log cannot replay them; curve.py is exact
for a lowered threshold).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from gateway.errors import BudgetUnmeetable, Forbidden, GatewayError, ModelNotFound
from gateway.observability.cost import CostModel
from gateway.offline.report.expect import Band, Key, QualityModel
from gateway.offline.report.rescore import Rescored
from gateway.offline.stats import Rate
from gateway.protocol import Usage
from gateway.protocol.view import Endpoint, RequestView
from gateway.routing.decision import Decision, Hints
from gateway.routing.estimates import LatencyBook
from gateway.routing.planner import Planner

if TYPE_CHECKING:
    from gateway.classify.features import Features
    from gateway.classify.view import PromptView
    from gateway.offline.report.log import Log, Request
    from gateway.rules import RouteTable

__all__ = ["WhatIf", "what_if"]

_ENDPOINTS = frozenset(get_args(Endpoint))


@dataclass
class WhatIf:
    source: str
    requests: int
    old_mix: dict[str, float]  # tier → requests (a cascade's expected acceptance makes fractions)
    new_mix: dict[str, float]
    moves: dict[tuple[str, str], float]  # (old tier, new tier) → requests that move
    changed: float  # share of requests that change tier
    cost_old: float
    cost_new: float
    reference_new: float  # every request on the new file's reference tier
    quality_old: Band | None
    quality_new: Band | None
    quality_delta: Band | None
    quality_of: dict[str, Rate]  # each tier's average; the expectations price by difficulty bin
    unknown_quality: list[str]  # tiers without verdicts: their requests are left out of the expectations
    not_served: Counter[str] = field(default_factory=Counter)  # why not: no route, tier not allowed, ...
    kept_as_logged: int = 0  # no score to decide with: on their logged tier
    rescored: int = 0
    extrapolated: float = 0.0  # requests priced on a tier above every score it was judged on
    notes: list[str] = field(default_factory=list)


class _Unscored:
    """The planner's scorer here: every score comes from the log, so scoring a view is a bug."""

    name = "logged"
    meta: dict[str, Any] = {}

    def score(self, view: PromptView, features: Features | None = None) -> float:
        raise AssertionError("what-if decisions take their difficulty from the log")

    def family(self, view: PromptView, features: Features | None = None) -> None:
        raise AssertionError("what-if decisions take their difficulty from the log")

    def scored(self, view: PromptView, features: Features | None = None) -> tuple[float, None]:
        raise AssertionError("what-if decisions take their difficulty from the log")


def _view(r: Request) -> RequestView:
    record = r.inputs
    prof = record.get("profile", {}) if isinstance(record, dict) else {}
    prof = prof if isinstance(prof, dict) else {}
    out = prof.get("output_tokens")
    endpoint: Endpoint = r.endpoint if r.endpoint in _ENDPOINTS else "chat"  # type: ignore[assignment]
    return RequestView(
        endpoint,
        r.route,
        tuple,  # no text: the difficulty is given
        output_tokens=out if isinstance(out, int) and out > 0 else None,
        tools=prof.get("tools") is True,
        json_schema=prof.get("json_schema") is True,
    )


def _weights(d: Decision, r: Request, accept_rate: dict[str, float | None]) -> tuple[dict[str, float], float]:
    """Where the request ends up (tier → weight: the plan's tier, or a cascade's draft and escalation
    tiers), and the weight of a rejected draft paid for on the way."""
    if not d.plan.candidates:
        return {}, 0.0
    if d.cascade is None:
        return {d.plan.tier: 1.0}, 0.0
    draft, esc = d.plan.tier, d.cascade.escalate.tier
    if r.confidence is not None:
        a = float(r.confidence >= d.cascade.min_confidence)
    else:
        rate = accept_rate.get(r.route)
        a = 1.0 if rate is None else rate
    if not esc or a >= 1:
        return {draft: 1.0}, 0.0
    out = {draft: a} if a > 0 else {}
    out[esc] = out.get(esc, 0.0) + 1 - a
    return out, 1 - a


def _accept_rates(log: Log, table: RouteTable) -> dict[str, float | None]:
    """Per route: the share of its logged drafts the new `min_confidence` would accept."""
    confidences: defaultdict[str, list[float]] = defaultdict(list)
    for r in log.requests:
        if r.confidence is not None:
            confidences[r.route].append(r.confidence)
    out: dict[str, float | None] = {}
    for name, route in table.named().items():
        if route.spec is not None and route.policy == "cascade":
            cs = confidences.get(name, [])
            t = route.spec.verify.min_confidence
            out[name] = sum(c >= t for c in cs) / len(cs) if cs else None
    return out


def _decide(planner: Planner, table: RouteTable, r: Request, score: float | None) -> Decision | str:
    """The new decision, or why the new rules would not serve the request."""
    tenant = table.spec.tenants.get(r.tenant) if r.tenant is not None else None
    allowed = frozenset(tenant.tiers) if tenant is not None and tenant.tiers is not None else None
    try:
        return planner.decide(_view(r), Hints(r.budget_ms, None, allowed), now=0.0, difficulty=score)
    except ModelNotFound:
        return "no route"
    except Forbidden:
        return "tier not allowed"
    except BudgetUnmeetable:
        return "rejected: budget"
    except GatewayError as exc:
        return type(exc).__name__


def _notes(
    res: WhatIf, rescored: Rescored, names_weights: bool, accept: dict[str, float | None], routes: set[str]
) -> None:
    without = rescored.problems.get("logged without log_features", 0)
    change = rescored.median_change
    if rescored.scores and change is not None and change > 0.01:
        res.notes.append(
            f"the new file's weights score the logged inputs differently (median change {change:.3f})"
        )
    if without and (names_weights or (change is not None and change > 0.01)):
        res.notes.append(
            f"{without:,} requests kept the score they were logged with: rescoring them under the new "
            "weights needs `log_features: true` on their route"
        )
    for why, count in rescored.problems.items():
        if why != "logged without log_features":
            res.notes.append(
                f"{count:,} requests' logged features could not be read ({why}): logged score kept"
            )
    if res.kept_as_logged:
        res.notes.append(
            f"{res.kept_as_logged:,} requests have no score to decide with: kept on their logged tier"
        )
    for route, rate in accept.items():
        if rate is None and route in routes:
            res.notes.append(f"route {route}: no logged drafts, so every new draft is counted as accepted")
    if res.extrapolated:
        res.notes.append(
            f"{res.extrapolated:,.0f} requests would go to a tier above every difficulty it was judged on: "
            "their quality is that of its hardest judged requests, a guess"
        )
    if res.unknown_quality:
        res.notes.append(
            f"no verdicts for {', '.join(res.unknown_quality)}: "
            "their requests are left out of the expected quality"
        )


def what_if(log: Log, table: RouteTable, rescored: Rescored) -> WhatIf:
    """`rescored`: the new weights' scores for the requests that logged their inputs (rescore.py)."""
    from gateway.classify.loader import weights_path
    from gateway.routing.quantiles import FixedQuantile

    costs = CostModel(table.spec)
    model = QualityModel.from_log(
        log, {r.reference_tier for r in log.requests if r.reference_tier} | {costs.reference_tier}
    )
    scores = [rescored.scores.get(r.id, r.difficulty) for r in log.requests]
    # Tiers that take a share of traffic take it of this log's scores, as `gateway route` does.
    planner = Planner(
        table, _Unscored(), LatencyBook(), quantiles=FixedQuantile(s for s in scores if s is not None)
    )
    accept = _accept_rates(log, table)
    old_mix: defaultdict[str, float] = defaultdict(float)
    new_mix: defaultdict[str, float] = defaultdict(float)
    old_q: defaultdict[Key, float] = defaultdict(float)
    new_q: defaultdict[Key, float] = defaultdict(float)
    moves: defaultdict[tuple[str, str], float] = defaultdict(float)
    not_served: Counter[str] = Counter()
    unknown: set[str] = set()
    kept = 0
    cost_old = cost_new = reference_new = changed = guessed = 0.0
    named = table.named()
    for r, score in zip(log.requests, scores, strict=True):
        old = r.tier or "(none)"
        old_mix[old] += 1
        cost_old += r.cost_usd
        route = named.get(r.route)
        d: Decision | str | None = None
        if route is not None and route.policy is not None and score is None:
            kept += 1  # a route that scores, a request logged without a score
            new, rejected = {old: 1.0}, 0.0
        else:
            d = _decide(planner, table, r, score)
            if isinstance(d, str):
                not_served[d] += 1
                new, rejected = {}, 0.0
            else:
                new, rejected = _weights(d, r, accept)
        usage = Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens)

        def usd(tier: str, r: Request = r, old: str = old, usage: Usage = usage) -> float:
            return r.cost_usd if tier == old else costs.bill(tier, usage).cost_usd

        key = model.key(old, r.difficulty)
        # Priced on both sides or on neither: a request on a tier nobody judged leaves both out.
        # By the logged score, whatever the new weights say: the bins are cut on the logged scores.
        keys = {tier: model.key(tier, r.difficulty) for tier in new}
        priced = key is not None and all(k is not None for k in keys.values())
        if priced and key is not None:
            old_q[key] += 1
        elif key is None:
            unknown.add(old)
        for tier, w in new.items():
            new_mix[tier] += w
            if tier != old:
                moves[(old, tier)] += w
            cost_new += w * usd(tier)
            k = keys[tier]
            if priced and k is not None:
                new_q[k] += w
                guessed += w * model.extrapolated(tier, r.difficulty)
            elif k is None:
                unknown.add(tier)
        if rejected and isinstance(d, Decision):
            cost_new += rejected * usd(d.plan.tier)  # the draft was paid for, then escalated
        reference_new += costs.bill(costs.reference_tier, usage).cost_usd
        changed += 1.0 - new.get(old, 0.0)
    n = len(log.requests)
    priced_n = sum(old_q.values())
    res = WhatIf(
        source=table.source,
        requests=n,
        old_mix=dict(old_mix),
        new_mix=dict(new_mix),
        moves=dict(moves),
        changed=changed / n if n else 0.0,
        cost_old=cost_old,
        cost_new=cost_new,
        reference_new=reference_new,
        quality_old=model.expected(old_q, priced_n),
        quality_new=model.expected(new_q, priced_n),
        quality_delta=model.delta(old_q, new_q, priced_n),
        quality_of=model.tier_rates(),
        unknown_quality=sorted(unknown),
        not_served=not_served,
        kept_as_logged=kept,
        rescored=len(rescored.scores),
        extrapolated=guessed,
    )
    _notes(res, rescored, weights_path(table) is not None, accept, {r.route for r in log.requests})
    return res
