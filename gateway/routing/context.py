"""Context windows: which candidates can hold a request's prompt and a minimum answer, and how much
answer the one chosen has room for. Pure: the windows come from the rules (each backend kind's spec),
the prompt's size from the request view's estimate (protocol/tokens.py).

A candidate is kept when `prompt * SAFETY + min_answer_tokens ≤ window` (the route's
`min_answer_tokens`, default 256, not the requested max_tokens: a request asking for 128,000 tokens
of answer still fits a 32k model, which then answers what it has room for). When no candidate is
left, the request is refused before any backend is called (ContextTooLong). Dispatch then clamps the
requested answer length to `window - prompt * SAFETY` of the backend that gets it (`room`): the
decision carries each candidate's room where it is less than asked (`with_rooms`), so dispatch only
asks again for a request it sends in another form (a chat backend's translation).

Small requests never pay for an estimate: a body of B bytes holds at most about B tokens (a token is
at least a byte of text, and the JSON around each message is longer than a template's framing of
it), so one whose bytes fit the smallest window is kept as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.errors import ContextTooLong

if TYPE_CHECKING:
    from gateway.protocol import RequestView
    from gateway.routing.decision import Decision
    from gateway.routing.plan import Plan

__all__ = ["DEFAULT_MIN_ANSWER", "SAFETY", "checked", "fit", "prompt_bound", "room", "with_rooms"]

DEFAULT_MIN_ANSWER = 256  # routes by a backend's model name have no spec to set it
# An estimate made with one tokenizer's ratio may fall short of another's by this much.
SAFETY = 1.1
_TEMPLATE = 64  # a chat template's own tokens beyond the messages (a default system prompt, tools' preamble)


def prompt_bound(view: RequestView) -> int:
    """The prompt's tokens as the windows are checked against: its estimate with the safety margin."""
    return math.ceil(view.prompt_tokens * SAFETY)


def room(window: int, view: RequestView) -> int | None:
    """How many tokens of answer a window leaves this request; None when it surely leaves more than
    the request asks (no estimate was needed to know)."""
    asked = view.output_tokens
    if asked is None or view.body_bytes + _TEMPLATE + asked <= window:
        return None
    left = window - prompt_bound(view)
    return left if left < asked else None


def _kept(plan: Plan, view: RequestView, windows: Mapping[str, int], need: int) -> tuple[Plan, list[str]]:
    prompt = prompt_bound(view)
    kept = tuple(c for c in plan.candidates if prompt + need <= windows.get(c.backend, 0))
    dropped = sorted({c.backend for c in plan.candidates if c not in kept})
    if not dropped:
        return plan, []
    notes = [
        f"context: {b} (window {windows.get(b, 0):,}) cannot hold ~{prompt:,} prompt tokens + {need:,} "
        "to answer"
        for b in dropped
    ]
    return replace(plan, candidates=kept, reasons=(*plan.reasons, *notes)), dropped


def fit(decision: Decision, view: RequestView, windows: Mapping[str, int], min_answer: int) -> Decision:
    """The decision without the candidates whose window cannot hold the request; ContextTooLong when
    none can. A cascade whose draft tier cannot hold it routes as its escalation."""
    plan = decision.plan
    escalate = decision.cascade.escalate if decision.cascade is not None else None
    everyone = [*plan.candidates, *(escalate.candidates if escalate is not None else ())]
    if not everyone:
        return decision
    smallest = min(windows.get(c.backend, 0) for c in everyone)
    if view.body_bytes + _TEMPLATE + min_answer <= smallest:
        return decision  # the fast path: small enough for every window, nothing estimated
    plan, dropped = _kept(plan, view, windows, min_answer)
    if escalate is not None and decision.cascade is not None:
        escalate, gone = _kept(escalate, view, windows, min_answer)
        if gone:
            decision = replace(decision, cascade=replace(decision.cascade, escalate=escalate))
        if not plan.candidates and escalate.candidates:
            why = "the draft tier's context window cannot hold the prompt"
            plan = replace(escalate, reasons=(*plan.reasons, f"cascade skipped: {why}"))
            return replace(decision, plan=plan, cascade=None, skipped=why)
        if plan.candidates and not escalate.candidates:
            why = "no escalation tier's context window can hold the prompt"
            plan = replace(plan, strategy="fallback", reasons=(*plan.reasons, f"cascade skipped: {why}"))
            return replace(decision, plan=plan, cascade=None, skipped=why)
    if not plan.candidates:
        largest = max(windows.get(c.backend, 0) for c in everyone)
        raise ContextTooLong(prompt_bound(view), max(0, largest - min_answer))
    return decision if not dropped else replace(decision, plan=plan)


def with_rooms(decision: Decision, view: RequestView, windows: Mapping[str, int]) -> Decision:
    """The decision with the room each of its candidates leaves the answer, where less than asked."""
    asked = view.output_tokens
    if asked is None:
        return decision
    escalate = decision.cascade.escalate.candidates if decision.cascade is not None else ()
    names = {c.backend for c in (*decision.plan.candidates, *escalate)}
    if not names or view.body_bytes + _TEMPLATE + asked <= min(windows.get(n, 0) for n in names):
        return decision  # the fast path: no window cuts it, nothing estimated
    rooms = {}
    for name in names:
        window = windows.get(name)
        left = room(window, view) if window is not None else None
        if left is not None:
            rooms[name] = left
    return replace(decision, rooms=rooms) if rooms else decision


def checked(
    decision: Decision,
    view: RequestView,
    windows: Mapping[str, int],
    min_answer: int,
    *,
    fits: bool = True,
    smallest: int = 0,
) -> Decision:
    """`fit` (with `fits`) then `with_rooms`, after one look at the smallest window: a request small
    enough for every window, with its answer, changes nothing (nearly every request). `smallest`: the
    least window of every backend in `windows`, where the caller knows it (the planner, once per table),
    so most requests do not look at their candidates at all."""
    asked = view.output_tokens
    need = min_answer if asked is None or asked < min_answer else asked
    least = view.body_bytes + _TEMPLATE + need
    if least <= smallest:
        return decision
    plan = decision.plan
    candidates = plan.candidates
    if decision.cascade is not None:
        candidates = (*candidates, *decision.cascade.escalate.candidates)
    if not candidates:
        return decision
    if least <= min(windows.get(c.backend, 0) for c in candidates):
        return decision
    if fits:
        decision = fit(decision, view, windows, min_answer)
    return with_rooms(decision, view, windows)
