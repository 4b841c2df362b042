"""Offline routing: decisions for request bodies without calling any model.

`gateway route` replays a JSONL file of chat request bodies against a routes file (last week's traffic
against next week's rules); `gateway explain` decides for one prompt. Latency estimates are the
routes file's priors and every backend counts as idle and up: the same decisions a fresh gateway makes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from gateway.classify.loader import scorer_for
from gateway.errors import GatewayError
from gateway.protocol import ChatCompletionRequest, chat_view, parse_request
from gateway.routing.decision import Decision, Hints
from gateway.routing.estimates import LatencyBook
from gateway.routing.planner import Planner
from gateway.spec import RouteTable

__all__ = ["decision_json", "parse_header", "replay"]

_encode = msgspec.json.Encoder().encode


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


def replay(table: RouteTable, lines: Iterable[bytes], hints: Hints) -> Iterator[bytes]:
    """One JSON line out per line in; a line that cannot be routed gets {"error": ...}, not an abort."""
    planner = Planner(table, scorer_for(table), LatencyBook())
    now = time.monotonic()
    for line in lines:
        if not line.strip():
            continue
        try:
            _, body = parse_request(line, ChatCompletionRequest)
            out = decision_json(planner.decide(chat_view(body, len(line)), hints, now=now))
        except GatewayError as exc:
            out = {"error": exc.envelope()["error"]}
        yield _encode(out) + b"\n"
