"""`POST /v1/responses/compact`: a conversation compacted, whichever backend the route chooses.

What was found: Codex 0.169 never calls this endpoint on a custom provider (it compacts by asking the
model for a summary through a normal `/v1/responses` request, which any backend answers); the official
SDK has `client.responses.compact()`. So the gateway serves it for every route:

- a native backend (`responses: true`) gets the request on its own `/responses/compact`, with the whole
  conversation (the chain resolved here), and its answer comes back with the gateway's id: its
  `compaction` item is opaque, and only a native backend can read it back (input items of that kind go
  to native backends only);
- a chat backend is asked for a summary of the conversation (COMPACT_PROMPT after it, tools not
  called), and the gateway writes the compaction item itself: self-contained, so every replica and
  every backend accepts it back as input (protocol/responses/compaction.py).

Compacted responses are not stored (OpenAI's are not chained either: their items are the next input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.dispatch.translated import CompactPlain
from gateway.protocol import Call, chat_view, responses_view
from gateway.protocol.responses import (
    COMPACT_PROMPT,
    ChatTools,
    Compacting,
    chat_body,
    native_items,
    native_only,
)
from gateway.serving.results import JSONResult, answer_headers

if TYPE_CHECKING:
    from gateway.dispatch import Admitted, Dispatcher
    from gateway.protocol.ids import ResponseIds
    from gateway.protocol.responses import ResponsesRequest
    from gateway.serving.responses import ResponsesServing

__all__ = ["CompactServing"]

_NOT_SENT = ("previous_response_id", "stream", "store", "generate")
_ASK = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": COMPACT_PROMPT}]}


class CompactServing:
    def __init__(self, dispatcher: Dispatcher, ids: ResponseIds, responses: ResponsesServing) -> None:
        self._dispatcher = dispatcher
        self._ids = ids
        self._responses = responses

    async def call(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        tenant: str | None,
        received: float,
        session: str | None = None,
    ) -> tuple[Call, Compacting]:
        items, _, size = await self._responses.conversation(req, tenant)
        native = {k: v for k, v in raw.items() if k not in _NOT_SENT}
        native["input"] = native_items(items)
        view = responses_view(raw, items, size, "compact")
        rid = self._ids.new("compact")
        needs = native_only(req, items)
        if needs:
            call = Call(
                view, native, received, tenant, needs=", ".join(needs), response_id=rid, session=session
            )
            return call, Compacting(rid, items)
        tools = ChatTools(req.tools)
        chat = chat_body(req, [*items, _ASK], req.model, tools)
        chat.pop("stream", None)
        chat.pop("stream_options", None)
        if tools.chat:
            chat["tool_choice"] = "none"  # the history's calls need their tools listed; no new call
        as_chat = Call(chat_view(chat, size), chat, received, tenant)
        call = Call(view, native, received, tenant, chat=as_chat, response_id=rid, session=session)
        return call, Compacting(rid, items)

    async def compact(self, call: Call, compacting: Compacting, admitted: Admitted) -> JSONResult:
        served = await self._dispatcher.complete(
            call, admitted.hints, CompactPlain(compacting), snap=admitted.snap
        )
        return JSONResult(served.reply.content, served.reply.status, answer_headers(served))
