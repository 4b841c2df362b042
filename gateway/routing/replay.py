"""Offline routing: decisions for request bodies without calling any model.

`gateway route` replays a JSONL file of chat request bodies against a routes file (last week's traffic
against next week's rules); `gateway explain` decides for one prompt. A line may also carry the draft a
small tier wrote, `{"request": {...}, "draft": {...}}`: the verifier then says how confident it is and
whether a cascade would accept it, which is how `min_confidence` is tuned on logged traffic. Latency
estimates are the routes file's priors and every backend counts as idle and up: the same decisions a
fresh gateway makes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

import msgspec

from gateway.classify.assess import reported
from gateway.classify.draft import drafts_of
from gateway.classify.features import profile
from gateway.classify.loader import scorer_for, verifier_for
from gateway.classify.scorer import Scorer
from gateway.classify.verifier import Draft, Verifier
from gateway.errors import GatewayError, InvalidRequest
from gateway.protocol import ChatCompletionRequest, RequestView, chat_view
from gateway.protocol.openai import validate
from gateway.routing.cascade import neutral
from gateway.routing.decision import Decision, Hints
from gateway.routing.estimates import LatencyBook
from gateway.routing.planner import Planner
from gateway.routing.quantiles import FixedQuantile
from gateway.rules import RouteTable, VerifySpec

__all__ = ["decision_json", "judged", "parse_header", "replay", "replay_drafts"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def parse_header(text: str) -> tuple[str, float]:
    """'x-latency-budget-ms: 800' → ('x-latency-budget-ms', 800.0)."""
    name, sep, value = text.partition(":")
    name = name.strip().lower()
    if not sep or name not in ("x-latency-budget-ms", "x-slo-ttft-ms"):
        raise ValueError(f"unsupported header {text!r}: use 'x-latency-budget-ms: N' or 'x-slo-ttft-ms: N'")
    return name, float(value)


def hints_from(headers: Iterable[str]) -> Hints:
    values = dict(parse_header(h) for h in headers)
    return Hints(values.get("x-latency-budget-ms"), values.get("x-slo-ttft-ms"))


def decision_json(decision: Decision) -> dict[str, Any]:
    plan = decision.plan
    first = plan.candidates[0] if plan.candidates else None
    return {
        "route": decision.route.name,
        "difficulty": plan.difficulty,
        "tier": first.tier if first else None,
        "backend": first.backend if first else None,
        "reason": plan.reason,
        "reasons": list(plan.reasons),
        "family": plan.family,
        # what a cascade weighs a draft against (set only in a family with labels of the deployment's own)
        **({"p_short": plan.short} if plan.short is not None else {}),
        "moved": decision.moved,
        "prior_tier": decision.prior_tier,
        "candidates": [
            {
                "tier": c.tier,
                "backend": c.backend,
                "expected_ms": c.total_ms,
                "expected_ttft_ms": c.ttft_ms,
                "capable": c.capable,
                "fits": c.fits,
            }
            for c in plan.candidates
        ],
        "features": decision.features.as_dict() if decision.features else None,
    }


def replay_drafts(value: Any) -> list[Draft]:
    """A replay line's (or explain body's) `draft`: one, or a list whose first is the one served."""
    try:
        return list(drafts_of(value))
    except ValueError as exc:
        raise InvalidRequest(f"Bad draft: {exc}.", param="draft", code="invalid_draft") from None


def judged(verifier: Verifier, decision: Decision, view: RequestView, drafts: list[Draft]) -> dict[str, Any]:
    """What a cascade would make of these drafts: the verifier's confidence, and accept or escalate
    at the route's threshold (the default one for routes that are not cascades)."""
    spec = decision.route.spec
    threshold = (spec.verify if spec is not None else VerifySpec()).min_confidence
    plan = decision.plan
    if (decision.cascade is not None and decision.cascade.neutral_prior) or neutral(plan):
        confidence = reported(verifier.confidence(view, drafts))  # as dispatch judges it
    else:
        confidence = reported(verifier.confidence(view, drafts, plan.p_short, prior_n=plan.labels))
    return {"confidence": confidence, "decision": "accept" if confidence >= threshold else "escalate"}


def _line(planner: Planner, verifier: Verifier, line: bytes, hints: Hints, now: float) -> dict[str, Any]:
    data = _decode(line)
    drafts: list[Draft] | None = None
    if isinstance(data, dict) and "request" in data:
        if "draft" in data:
            drafts = replay_drafts(data["draft"])
        data = data["request"]
    if not isinstance(data, dict):
        raise InvalidRequest('A line must be a chat request body or {"request": ..., "draft": ...}.')
    validate(data, ChatCompletionRequest)
    view = chat_view(data, len(line))
    decision = planner.decide(view, hints, now=now)
    out = decision_json(decision)
    if drafts is not None:
        out.update(judged(verifier, decision, view, drafts))
    return out


def _score(scorer: Scorer, line: bytes) -> float | None:
    """A line's difficulty, for the file's quantiles; None for a line that is not a request."""
    try:
        data = _decode(line)
        if isinstance(data, dict) and "request" in data:
            data = data["request"]
        if not isinstance(data, dict):
            return None
        validate(data, ChatCompletionRequest)
        view = chat_view(data, len(line))
    except (msgspec.DecodeError, GatewayError):
        return None
    return scorer.score(view, profile(view))


def replay(table: RouteTable, lines: Iterable[bytes], hints: Hints) -> Iterator[tuple[bytes, bool]]:
    """One JSON line out per line in, and whether it was decided; a line that cannot be is answered
    with {"error": ..., "line": n} and the replay goes on."""
    scorer = scorer_for(table)
    quantiles = None
    if any(t.share is not None for t in table.spec.tiers.values()):
        # Tiers that take a share of traffic take it of this file: its own scores' quantiles.
        lines = list(lines)
        quantiles = FixedQuantile(s for s in map(partial(_score, scorer), lines) if s is not None)
    planner = Planner(table, scorer, LatencyBook(), quantiles=quantiles)
    verifier = verifier_for(table)
    now = time.monotonic()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield _encode(_line(planner, verifier, line, hints, now)) + b"\n", True
        except msgspec.DecodeError as exc:
            err = InvalidRequest(f"The line is not valid JSON: {exc}", code="invalid_json")
            yield _encode({"error": err.envelope()["error"], "line": number}) + b"\n", False
        except GatewayError as exc:
            yield _encode({"error": exc.envelope()["error"], "line": number}) + b"\n", False
