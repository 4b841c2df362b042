"""POST /v1/feedback: a client rates one of its own answers; the rating joins the decision log by id."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from gateway.errors import NotFound
from gateway.observability.decision_log import LabelLine, feedback_label
from gateway.protocol.openai import FeedbackRequest, parse_request
from gateway.serving.results import JSONResult
from gateway.tenancy.response_store import ANONYMOUS

if TYPE_CHECKING:
    from gateway.observability.decision_log import DecisionLog
    from gateway.tenancy.answer_index import Answered, AnswerIndex

__all__ = ["FeedbackServing"]

_encode = msgspec.json.Encoder().encode


class FeedbackServing:
    def __init__(
        self,
        answers: AnswerIndex,
        on_rated: Callable[[str, str, str], None],
        decisions: Callable[[], DecisionLog | None],
        wall: Callable[[], float],
        learn: Callable[[Answered, str], None] | None = None,
    ) -> None:
        self._answers = answers
        self._rated = on_rated  # (route, tier, label): the metric
        self._decisions = decisions
        self._wall = wall
        self._learn = learn  # the rating as a label for the learned counts (learning/intake.py)

    async def rate(self, body: bytes, tenant: str | None) -> JSONResult:
        req, _ = parse_request(body, FeedbackRequest)
        found = await self._answers.lookup(req.id)  # 503 when the shared index cannot be reached
        if found is None or found.tenant != (tenant or ANONYMOUS):
            # Another tenant's answer reads as unknown: its existence is not this key's business.
            raise NotFound(
                "No answer with this id was given to this key (or it is too old to rate).", param="id"
            )
        label = feedback_label(req.label, req.score)
        assert label is not None  # FeedbackRequest requires a label or a score
        self._rated(found.route, found.tier, label)
        if self._learn is not None:
            self._learn(found, label)
        decisions = self._decisions()
        if decisions is not None:
            decisions.write(
                LabelLine(
                    ts=round(self._wall(), 3),
                    kind="feedback",
                    id=req.id,
                    route=found.route,
                    tier=found.tier,
                    label=label,
                    score=req.score,
                    comment=req.comment,
                )
            )
        return JSONResult(_encode({"object": "feedback", "id": req.id, "label": label, "recorded": True}))
