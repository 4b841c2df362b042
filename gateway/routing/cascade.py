"""`policy: cascade`: the draft tier answers first, and a draft the verifier rejects is escalated.

The decision holds the draft tier's candidates as its plan and the escalation as an ordinary plan
over the route's `escalate` tiers, in order. Drafting is skipped, and the request routed exactly as
`auto` would route it, when the draft cannot help or cannot fit: the route turns it off, the request
is structured (tools, a JSON answer, several choices) and the route does not insist, the difficulty
is above `skip_draft_above`, the tenant may not use the draft tier, or a draft plus an escalation is
not expected to fit the latency budget. The reason is recorded in the plan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.routing.auto import auto
from gateway.routing.decision import CascadePlan, Decision
from gateway.routing.plan import Candidate, Plan, pinned

if TYPE_CHECKING:
    from gateway.routing.situation import Situation

__all__ = ["cascade"]


def _escalation(s: Situation, tiers: list[str]) -> Plan:
    cands: list[Candidate] = []
    for name in tiers:
        cands += pinned(s.planner.tier_view(name, s.now, s.tokens, s.state), s.tokens).candidates
    # Down or saturated backends of every escalation tier go last, as in any plan.
    ordered = tuple([c for c in cands if c.healthy] + [c for c in cands if not c.healthy])
    return Plan(ordered, "cascade_escalate", (f"escalation: {' → '.join(tiers)}",))


def _draft_ms(s: Situation, draft: Plan, samples: int) -> float:
    first = draft.candidates[0]
    spec = s.planner.specs[first.backend]
    return first.total_ms * (1 if spec.concurrent_samples else samples)


def _skip(s: Situation, difficulty: float | None) -> str | None:
    spec, view = s.spec, s.view
    if spec.cascade == "never":
        return "the route sets cascade: never"
    if view.endpoint == "embeddings":
        return "embeddings have no draft"
    if view.structured and spec.cascade != "always":
        return "tools, a JSON answer or several choices: a draft cannot be judged"
    if difficulty is not None and difficulty > spec.skip_draft_above:
        return f"difficulty {difficulty:.2f} > skip_draft_above {spec.skip_draft_above:g}"
    if s.allowed is not None and spec.draft not in s.allowed:
        return f"this key may not use the draft tier '{spec.draft}'"
    return None


def _budget(s: Situation, draft: Plan, escalate: Plan) -> tuple[str | None, float | None]:
    """(why the draft does not fit, the draft's share of the budget in seconds)."""
    if not escalate.candidates:
        return None, None
    draft_ms = _draft_ms(s, draft, s.spec.verify.samples)
    esc, slo, budget = escalate.candidates[0], s.ttft_slo_ms, s.budget_ms
    if budget is not None and draft_ms + esc.total_ms > budget:
        return f"draft ({draft_ms:g} ms) + escalation ({esc.total_ms:g} ms) > budget {budget:g} ms", None
    if slo is not None and draft_ms + esc.ttft_ms > slo:
        return f"draft ({draft_ms:g} ms) before the first token > first-token SLO {slo:g} ms", None
    return None, (budget - esc.total_ms) / 1000 if budget is not None else None


def _drafting(s: Situation, difficulty: float | None) -> tuple[Plan, CascadePlan] | str:
    """The draft plan and what follows it, or why there is no draft this time."""
    spec = s.spec
    assert spec.draft is not None  # the schema's job
    assert spec.escalate is not None
    why = _skip(s, difficulty)
    if why is not None:
        return why
    tiers = [t for t in spec.escalate if s.allowed is None or t in s.allowed]
    if not tiers:
        return "this key may use none of the escalation tiers"
    draft = pinned(s.planner.tier_view(spec.draft, s.now, s.tokens, s.state), s.tokens)
    escalate = _escalation(s, tiers)
    why, timeout_s = _budget(s, draft, escalate)
    if why is not None:
        return why
    verify = spec.verify
    reasons = (
        f"difficulty {difficulty:.2f}: the {spec.draft} tier drafts ({verify.samples} sample(s)), "
        f"accepted at confidence ≥ {verify.min_confidence:g}",
        *escalate.reasons,
    )
    plan = Plan(draft.candidates, "cascade", reasons, difficulty, strategy="draft_verify")
    return plan, CascadePlan(escalate, verify.samples, verify.min_confidence, verify.temperature, timeout_s)


def cascade(s: Situation) -> Decision:
    # What routing without a draft looks like: the decision whenever drafting is skipped.
    routed = auto(s)
    drafting = _drafting(s, routed.plan.difficulty)
    if isinstance(drafting, str):
        reasons = (*routed.plan.reasons, f"cascade skipped: {drafting}")
        return replace(routed, plan=replace(routed.plan, reasons=reasons), skipped=drafting)
    plan, how = drafting
    return replace(routed, plan=plan, cascade=how)
