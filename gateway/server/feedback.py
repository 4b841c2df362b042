"""POST /v1/feedback: a client rates one of its own answers; the rating joins the decision log by id."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post

from gateway.errors import NotFound
from gateway.observability.decision_log import LabelLine, feedback_label
from gateway.protocol.openai import FeedbackRequest, parse_request
from gateway.server.admission import admit, gateway_of
from gateway.tenancy.responses import ANONYMOUS

__all__ = ["FEEDBACK"]

_encode = msgspec.json.Encoder().encode


@post("/v1/feedback", status_code=200)
async def feedback(request: Request[Any, Any, Any]) -> Response[Any]:
    gw = gateway_of(request)
    tenant = await admit(request, gw)
    req, _ = parse_request(await request.body(), FeedbackRequest)
    found = await gw.answers.lookup(req.id)  # 503 when the shared index cannot be reached
    if found is None or found.tenant != (tenant or ANONYMOUS):
        # Another tenant's answer reads as unknown: its existence is not this key's business.
        raise NotFound("No answer with this id was given to this key (or it is too old to rate).", param="id")
    label = feedback_label(req.label, req.score)
    assert label is not None  # FeedbackRequest requires a label or a score
    gw.metrics.feedback.labels(found.route, found.tier, label).inc()
    if gw.decisions is not None:
        gw.decisions.write(
            LabelLine(
                ts=round(gw.clock_wall(), 3),
                kind="feedback",
                id=req.id,
                route=found.route,
                tier=found.tier,
                label=label,
                score=req.score,
                comment=req.comment,
            )
        )
    body = {"object": "feedback", "id": req.id, "label": label, "recorded": True}
    return Response(_encode(body), media_type="application/json")


FEEDBACK = [feedback]
