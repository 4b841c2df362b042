"""The learned state, for the operator (admin key): read it, export it as a weights file, reset it.

GET  /admin/learning           per family: learned labels, the learned rate's interval, the prior's
                               rate, whether it is in force, the rate the scorer uses; the guard rails
POST /admin/learning/export    a weights file with the learned counts folded in (`classifier.weights`
                               can name it); loading it starts the learned layer from zero, so no
                               label counts twice (learning/export.py)
POST /admin/learning/reset     forget what was learned on a family set (default: the one in force)
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.types import ASGIApp

from gateway.errors import InvalidRequest
from gateway.server.admission import credentials, gateway_of
from gateway.server.render import JSONApp

__all__ = ["LEARNING"]

_encode = msgspec.json.Encoder().encode


@get("/admin/learning")
async def learning_state(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    gw.keys.admin(*credentials(request))
    return JSONApp(_encode(await gw.learning.describe()))


@post("/admin/learning/export", status_code=200)
async def learning_export(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    gw.keys.admin(*credentials(request))
    return JSONApp(_encode(gw.learning.export()))


@post("/admin/learning/reset", status_code=200)
async def learning_reset(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    gw.keys.admin(*credentials(request))
    family_set = request.query_params.get("family_set")
    known = await gw.learning.sets()
    if family_set is not None and family_set not in known:
        raise InvalidRequest(f"No learned counts for family set '{family_set}'.", param="family_set")
    done = await gw.learning.reset(family_set)
    return JSONApp(_encode({"reset": done}))


LEARNING = [learning_state, learning_export, learning_reset]
