"""POST /v1/route/explain: the routing decision for a chat request, without generating anything.

`{"request": ..., "draft": ...}` also says what the verifier makes of the draft, as `gateway route`
does with draft lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from gateway.protocol import ChatCompletionRequest, chat_view, parse_json, parse_request
from gateway.routing.replay import decision_json, judged, replay_drafts
from gateway.serving.results import JSONResult

if TYPE_CHECKING:
    from gateway.dispatch import Admitted, Dispatcher

__all__ = ["ExplainServing"]

_encode = msgspec.json.Encoder().encode


class ExplainServing:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    def explain(self, body: bytes, admitted: Admitted) -> JSONResult:
        wrapped: dict[str, Any] = parse_json(body)
        drafts = None
        if "request" in wrapped:
            drafts = replay_drafts(wrapped["draft"]) if "draft" in wrapped else None
            body = _encode(wrapped["request"])
        _, raw = parse_request(body, ChatCompletionRequest)
        view = chat_view(raw, len(body))
        decision = self._dispatcher.decide(view, admitted.hints, admitted.snap)
        out = decision_json(decision)
        if drafts is not None:
            out.update(judged(admitted.snap.verifier, decision, view, drafts))
        return JSONResult(_encode(out))
