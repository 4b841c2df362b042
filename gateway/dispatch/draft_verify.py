"""The draft-and-verify strategy, which runs what the `cascade` routing policy plans: the draft tier
answers in full, internally; the verifier judges the draft; an accepted draft is the answer, a
rejected or failed one goes to the escalation plan. (The policy decides; this strategy dispatches.)
The verifier's prior is the plan's: P(right) = 1 - Plan.p_short, from a family of `labels` labels.

The draft is asked for without streaming and with token log-probabilities; when the route verifies
several samples, the others are asked for beside it, at a sampling temperature, as votes on it. The
client gets exactly one answer: the first draft, stripped of what it did not ask for, or the
escalation's, streamed through as any stream. An escalated answer is not verified again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from gateway.backends.base import Reply
from gateway.classify.assess import reported
from gateway.classify.draft import draft_of
from gateway.dispatch.modes import PLAIN, Answer
from gateway.errors import GatewayError
from gateway.observability.trace import Spent
from gateway.protocol import BYTES_PER_TOKEN, Call, Usage, estimated_usage
from gateway.protocol.choices import completion_of, keep_one

if TYPE_CHECKING:
    from gateway.dispatch.modes import Mode
    from gateway.dispatch.walk import Walk
    from gateway.routing.decision import CascadePlan

__all__ = ["DraftVerify"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_T = TypeVar("_T")


def _draft_body(call: Call, n: int, temperature: float | None) -> dict[str, Any]:
    body = {k: v for k, v in call.body.items() if k not in ("stream", "stream_options", "n")}
    body["logprobs"] = True
    if n > 1:
        body["n"] = n
    if temperature is not None:
        body["temperature"] = temperature
    return body


def draft_calls(call: Call, how: CascadePlan) -> tuple[Call, Call | None]:
    """The request as the draft tier gets it: whole, with log-probabilities; and, when the route
    verifies several samples, the other samples' request, at a sampling temperature so they can
    disagree. The first draft keeps the request's own temperature (greedy by default): on the
    embedded model the majority of temperature samples is less often right than it."""
    first = Call(
        call.view, _draft_body(call, 1, None), call.received, call.tenant, repeatable=call.repeatable
    )
    if how.samples < 2:
        return first, None
    votes = _draft_body(call, how.samples - 1, how.temperature)
    return first, Call(call.view, votes, call.received, call.tenant, repeatable=call.repeatable)


def _summed(a: Usage | None, b: Usage | None) -> Usage | None:
    if a is None or b is None:
        return a or b
    return Usage(a.prompt_tokens + b.prompt_tokens, a.completion_tokens + b.completion_tokens)


class DraftVerify:
    async def run(self, walk: Walk, mode: Mode[_T]) -> Answer[_T]:
        how = walk.decision.cascade
        assert how is not None, "a cascade plan without its cascade"
        if walk.call.endpoint in ("responses", "compact") and walk.call.chat is None:
            walk.trace.cascade = "skipped"  # only a backend speaking Responses natively can serve it
        else:
            accepted = await self._draft(walk, how)
            if accepted is not None:
                return Answer(accepted.backend, accepted.tier, mode.of_reply(walk, accepted.result))
            walk.trace.cascade = "escalated"
        return await walk.run(walk.candidates(how.escalate), mode)

    async def _draft(self, walk: Walk, how: CascadePlan) -> Answer[Reply] | None:
        """The draft, when the verifier accepts it; None when the request must escalate."""
        call = walk.call.chat or walk.call  # a Responses request drafts in chat form
        trace, plan = walk.trace, walk.decision.plan
        deadline = walk.clock() + walk.snap.first_token_s.get(plan.tier, walk.remaining())
        if how.draft_timeout_s is not None:
            deadline = min(deadline, walk.clock() + how.draft_timeout_s)
        first, votes = draft_calls(call, how)
        candidates = walk.candidates(plan)
        # The votes run beside the first draft, each its own walk (an embedded model queues them).
        side = walk.fork()
        results = await asyncio.gather(
            walk.run(candidates, PLAIN, first, deadline),
            side.run(candidates, PLAIN, votes, deadline) if votes is not None else _nothing(),
            return_exceptions=True,
        )
        answer, more = results
        walk.took += side.took  # the votes' backends answered too: their breakers hear it at the end
        if isinstance(more, BaseException) and not isinstance(more, GatewayError):
            raise more
        if not isinstance(answer, Answer):
            if isinstance(answer, GatewayError):  # a draft that fails is not an error: escalate
                log.info("cascade draft failed, escalating: %s", answer.message)
                return None
            raise answer
        reply: Reply = answer.result
        usage = _summed(trace.usage, side.trace.usage if isinstance(more, Answer) else None)
        usage = usage or estimated_usage(call.view.body_bytes, len(reply.content) // BYTES_PER_TOKEN)
        trace.usage = usage
        try:
            data = completion_of(reply.content)
            choices = data["choices"] + (
                completion_of(more.result.content)["choices"] if isinstance(more, Answer) else []
            )
            drafts = [draft_of(c) for c in choices]
        except ValueError:
            log.warning("cascade draft from %s is not a completion; escalating", answer.backend.name)
            self._spent(walk, answer, usage)
            return None
        # The prior is the family's P(right), 1 - Plan.p_short, with its label count; an audit, or a
        # family without labels of ours, is judged on the verifier's own prior, so its rate can move.
        if how.neutral_prior:
            confidence = walk.snap.verifier.confidence(call.view, drafts)
        else:
            confidence = walk.snap.verifier.confidence(call.view, drafts, plan.p_short, prior_n=plan.labels)
        trace.confidence = reported(confidence)
        if confidence < how.min_confidence:
            self._spent(walk, answer, usage)
            return None
        trace.cascade = "accepted"
        keep = keep_one(data, 0, logprobs=walk.call.body.get("logprobs") is True)
        return Answer(answer.backend, answer.tier, Reply(_encode(keep), reply.status, reply.headers))

    @staticmethod
    def _spent(walk: Walk, answer: Answer[Reply], usage: Usage) -> None:
        walk.trace.draft = Spent(
            answer.tier, answer.backend.name, usage, walk.snap.costs.bill(answer.tier, usage)
        )


async def _nothing() -> None:
    return None
