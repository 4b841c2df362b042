"""`policy: cascade`: the draft tier answers first, and a draft the verifier rejects is escalated.

The decision holds the draft tier's candidates as its plan and the escalation as an ordinary plan
over the route's `escalate` tiers, in order. Drafting is skipped, and the request routed exactly as
`auto` would route it, when the draft cannot help or cannot fit: the route turns it off, the request
is structured (tools, a JSON answer, several choices) and the route does not insist, the difficulty
is above `skip_draft_above`, the tenant may not use the draft tier, or a draft plus an escalation is
not expected to fit the latency budget. The reason is recorded in the plan.

A request's family can settle its draft (`settled`): once the family has `verify.min_labels`
labels, a family whose draft is right less often than `verify.escalate_below` goes straight to the
escalation tiers, and one whose draft is right more often than `verify.light_above` is drafted once,
without extra samples. An `audit` share of those requests is drafted as the route says and judged
without the family's rate, so that rate can move when the family's drafts change.

The labels that count are the deployment's own (`Plan.labels`: added by `gateway train --data`,
learned while serving), not the shipped counts, which are another model's (Mixtral-8x7B's): a draft
of a family with none of its own is judged with the verifier's own prior (`neutral_prior`: its
default, ordered by the drafting model's prompt prior), not
with 1 - difficulty, a Mixtral-class model's P(right) that would make a fresh gateway trust the
embedded model's drafts as a Mixtral's. Weights without families (v2) give their prior as before.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from gateway.routing.auto import auto
from gateway.routing.decision import CascadePlan, Decision
from gateway.routing.plan import Candidate, Plan, pinned

if TYPE_CHECKING:
    from gateway.routing.situation import Situation
    from gateway.rules.schema import VerifySpec

__all__ = ["Settled", "cascade", "neutral", "settled"]

# verify: judge the draft as the route says; light: one draft, no extra samples; escalate: no draft;
# audit: a settled family's request judged as the route says, without the family's rate.
Settled = Literal["verify", "light", "escalate", "audit"]


def settled(verify: VerifySpec, prior_right: float | None, labels: float | None, draw: float) -> Settled:
    """What the family's own record settles for this request (`draw`: uniform in [0, 1), the audit's)."""
    if prior_right is None or labels is None or labels < verify.min_labels:
        return "verify"
    low, high = prior_right <= verify.escalate_below, prior_right >= verify.light_above
    if not (low or high):
        return "verify"
    if draw < verify.audit:
        return "audit"
    return "escalate" if low else "light"


def neutral(plan: Plan) -> bool:
    """Whether a draft is judged without the plan's prior: its family has no labels of this
    deployment's own (the shipped counts are another model's); v2 weights (no family) give theirs."""
    return plan.family is not None and not plan.labels


def _right(plan: Plan) -> float | None:
    """P(the draft is right) as the family's record reads it: 1 - Plan.p_short."""
    short = plan.p_short
    return None if short is None else 1.0 - short


def _draw(s: Situation) -> float:
    """A uniform draw from the request's clock reading: decisions stay functions of their inputs."""
    return zlib.crc32(struct.pack("<d", s.now)) / 2**32


def _escalation(s: Situation, tiers: list[str]) -> Plan:
    cands: list[Candidate] = []
    for name in tiers:
        cands += pinned(s.board.tier(name), s.tokens).candidates
    # Down or saturated backends of every escalation tier go last, as in any plan.
    ordered = tuple([c for c in cands if c.healthy] + [c for c in cands if not c.healthy])
    return Plan(ordered, "cascade_escalate", (f"escalation: {' → '.join(tiers)}",))


def _draft_ms(s: Situation, draft: Plan, samples: int) -> float:
    first = draft.candidates[0]
    return first.total_ms * (1 if s.board.concurrent(first.backend) else samples)


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


def _budget(s: Situation, draft: Plan, escalate: Plan, samples: int) -> tuple[str | None, float | None]:
    """(why the draft does not fit, the draft's share of the budget in seconds)."""
    if not escalate.candidates:
        return None, None
    draft_ms = _draft_ms(s, draft, samples)
    esc, slo, budget = escalate.candidates[0], s.ttft_slo_ms, s.budget_ms
    if budget is not None and draft_ms + esc.total_ms > budget:
        return f"draft ({draft_ms:g} ms) + escalation ({esc.total_ms:g} ms) > budget {budget:g} ms", None
    if slo is not None and draft_ms + esc.ttft_ms > slo:
        return f"draft ({draft_ms:g} ms) before the first token > first-token SLO {slo:g} ms", None
    return None, (budget - esc.total_ms) / 1000 if budget is not None else None


def _drafting(s: Situation, routed: Plan) -> tuple[Plan, CascadePlan] | str:
    """The draft plan and what follows it, or why there is no draft this time."""
    spec, difficulty, labels = s.spec, routed.difficulty, routed.labels
    mode = settled(spec.verify, _right(routed), labels, _draw(s))
    assert spec.draft is not None  # the schema's job
    assert spec.escalate is not None
    why = _skip(s, difficulty)
    if why is not None:
        return why
    tiers = [t for t in spec.escalate if s.allowed is None or t in s.allowed]
    if not tiers:
        return "this key may use none of the escalation tiers"
    draft = pinned(s.board.tier(spec.draft), s.tokens)
    escalate = _escalation(s, tiers)
    verify = spec.verify
    samples = 1 if mode == "light" else verify.samples
    why, timeout_s = _budget(s, draft, escalate, samples)
    if why is not None:
        return why
    reasons = (
        f"difficulty {difficulty:.2f}: the {spec.draft} tier drafts ({samples} sample(s)), "
        f"accepted at confidence ≥ {verify.min_confidence:g}"
        + {
            "light": " (its family's drafts are nearly always right)",
            "audit": " (an audit of its family)",
        }.get(mode, ""),
        *escalate.reasons,
    )
    plan = Plan(
        draft.candidates,
        "cascade",
        reasons,
        difficulty,
        strategy="draft_verify",
        labels=labels,
        family=routed.family,
        short=routed.short,
    )
    how = CascadePlan(
        escalate,
        samples,
        verify.min_confidence,
        verify.temperature,
        timeout_s,
        neutral_prior=mode == "audit" or neutral(routed),
    )
    return plan, how


def _settled_escalation(s: Situation, routed: Decision) -> Decision | None:
    """The decision when the family's record sends the request past the draft, else None."""
    spec, plan = s.spec, routed.plan
    prior = _right(plan)
    if settled(spec.verify, prior, plan.labels, _draw(s)) != "escalate" or _skip(s, plan.difficulty):
        return None
    assert spec.escalate is not None  # the schema's job
    tiers = [t for t in spec.escalate if s.allowed is None or t in s.allowed]
    if not tiers:
        return None
    esc = _escalation(s, tiers)
    why = (
        f"its family's drafts are right {prior:.0%} of the time over {plan.labels:g} labels "
        f"(< escalate_below {spec.verify.escalate_below:g})"
    )
    reasons = (*esc.reasons, f"cascade skipped: {why}")
    esc = replace(
        esc,
        reasons=reasons,
        difficulty=plan.difficulty,
        labels=plan.labels,
        family=plan.family,
        short=plan.short,
    )
    return replace(routed, plan=esc, skipped=why)


def cascade(s: Situation) -> Decision:
    # What routing without a draft looks like: the decision whenever drafting is skipped.
    routed = auto(s)
    settled_out = _settled_escalation(s, routed)
    if settled_out is not None:
        return settled_out
    drafting = _drafting(s, routed.plan)
    if isinstance(drafting, str):
        reasons = (*routed.plan.reasons, f"cascade skipped: {drafting}")
        return replace(routed, plan=replace(routed.plan, reasons=reasons), skipped=drafting)
    plan, how = drafting
    return replace(routed, plan=plan, cascade=how)
