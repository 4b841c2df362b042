"""The cascade strategy: the draft tier answers in full, internally; the verifier judges the draft; an
accepted draft is the answer, a rejected or failed one goes to the escalation plan.

The draft is asked for without streaming, with token log-probabilities, and with `n` samples when the
route verifies several (a sampling temperature then, so they can disagree). The client gets exactly
one answer: the draft's, reduced to one choice and stripped of what it did not ask for, or the
escalation's, streamed through as any stream. An escalated answer is not verified again.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, TypeVar

import msgspec

from gateway.backends.base import Reply
from gateway.classify.verifier import Draft
from gateway.dispatch.walk import PLAIN, Answer
from gateway.errors import GatewayError
from gateway.observability.recorder import Spent
from gateway.protocol import BYTES_PER_TOKEN, Call, Usage, estimated_usage
from gateway.protocol.choices import Choice, choices_of, keep_one

if TYPE_CHECKING:
    from gateway.dispatch.walk import Mode, Walk
    from gateway.routing.decision import CascadePlan

__all__ = ["Cascade"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_T = TypeVar("_T")


def draft_call(call: Call, how: CascadePlan) -> Call:
    """The request as the draft tier gets it: whole, with log-probabilities, `samples` answers."""
    body = {k: v for k, v in call.body.items() if k not in ("stream", "stream_options")}
    body["logprobs"] = True
    if how.samples > 1:
        body["n"] = how.samples
        body["temperature"] = how.temperature
    return Call(call.view, body, call.received, call.tenant)


def _representative(choices: list[Choice]) -> int:
    """The position of the answer the most samples agree on (the first of them)."""
    norm = [" ".join(c.content.lower().split()) for c in choices]
    top, _ = Counter(norm).most_common(1)[0]
    return norm.index(top)


class Cascade:
    async def run(self, walk: Walk, mode: Mode[_T]) -> Answer[_T]:
        how = walk.decision.cascade
        assert how is not None, "a cascade plan without its cascade"
        accepted = await self._draft(walk, how)
        if accepted is not None:
            return Answer(accepted.backend, accepted.tier, mode.of_reply(walk, accepted.result))
        walk.trace.cascade = "escalated"
        return await walk.run(walk.candidates(how.escalate), mode)

    async def _draft(self, walk: Walk, how: CascadePlan) -> Answer[Reply] | None:
        """The draft, when the verifier accepts it; None when the request must escalate."""
        call, trace = walk.call, walk.trace
        plan = walk.decision.plan
        deadline = walk.clock() + walk.snap.first_token_s.get(plan.tier, walk.remaining())
        if how.draft_timeout_s is not None:
            deadline = min(deadline, walk.clock() + how.draft_timeout_s)
        try:
            answer = await walk.run(walk.candidates(plan), PLAIN, draft_call(call, how), deadline)
        except GatewayError as err:  # a draft that fails is not an error: the request escalates
            log.info("cascade draft failed, escalating: %s", err.message)
            return None
        reply = answer.result
        usage = trace.usage or estimated_usage(call.view.body_bytes, len(reply.content) // BYTES_PER_TOKEN)
        try:
            data, choices = choices_of(reply.content, call.endpoint)
        except ValueError:
            log.warning("cascade draft from %s is not a completion; escalating", answer.backend.name)
            self._spent(walk, answer, usage)
            return None
        drafts = [Draft(c.content, c.finish_reason, c.logprobs) for c in choices]
        confidence = walk.snap.verifier.confidence(call.view, drafts, plan.difficulty)
        trace.confidence = round(confidence, 4)
        if confidence < how.min_confidence:
            self._spent(walk, answer, usage)
            return None
        trace.cascade = "accepted"
        keep = keep_one(data, _representative(choices), logprobs=call.body.get("logprobs") is True)
        return Answer(answer.backend, answer.tier, Reply(_encode(keep), reply.status, reply.headers))

    @staticmethod
    def _spent(walk: Walk, answer: Answer[Reply], usage: Usage) -> None:
        walk.trace.draft = Spent(
            answer.tier, answer.backend.name, usage, walk.snap.costs.bill(answer.tier, usage)
        )
