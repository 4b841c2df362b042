"""POST /v1/feedback: a client rates one of its own answers (serving/feedback.py)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.types import ASGIApp

from gateway.server.admission import admit_tenant, gateway_of
from gateway.server.render import JSONApp

__all__ = ["FEEDBACK"]


@post("/v1/feedback", status_code=200)
async def feedback(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    tenant = await admit_tenant(request, gw)
    return JSONApp((await gw.feedback.rate(await request.body(), tenant)).body)


FEEDBACK = [feedback]
