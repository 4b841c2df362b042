"""The Responses API: create (JSON and SSE), and the stored responses behind it.

The gateway owns conversation state: a `previous_response_id` is resolved here, from this tenant's
stored responses, into the whole conversation, which every backend then gets in full (with
`store: false` for native ones), so a chain may cross tiers and replicas. A response is stored once
it is complete, unless the request said `store: false`. Backends that speak only chat get the
translation (protocol/responses/), run by dispatch's translating modes (dispatch/translated.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.dispatch.translated import TranslatedPlain, TranslatedStreamed, Turn
from gateway.errors import ClientError, GatewayError, InvalidRequest, NotFound, PayloadTooLarge
from gateway.protocol import Call, RequestView, chat_view, responses_view
from gateway.protocol.responses import (
    ChatTools,
    NativeTap,
    ResponsesRequest,
    Translation,
    chat_body,
    echo,
    hosted_tools,
    input_items,
    native_items,
    native_only,
    new_id,
    response_object,
)
from gateway.protocol.responses.stream import frame
from gateway.serving.results import EventStream, JSONResult, answer_headers, stream_headers
from gateway.tenancy.response_store import ANONYMOUS, valid_id

if TYPE_CHECKING:
    from gateway.dispatch import Admitted, Dispatcher
    from gateway.protocol.ids import ResponseIds
    from gateway.serving.recent import Recent
    from gateway.serving.tokens import TokenCounting
    from gateway.tenancy.response_store import ResponseStore

__all__ = ["Prepared", "ResponsesServing"]

log = logging.getLogger(__name__)
_NO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 0,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 0,
}
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_ITEM_PREFIX = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
}
# What the gateway itself answers and a backend is never sent: the chain (resolved here) and a
# WebSocket warm-up's `generate: false` (answered here, with an empty response).
_OWN_FIELDS = ("previous_response_id", "generate")


@dataclass(slots=True)
class Prepared:
    """A create request resolved: its whole conversation, as a call, and where its answer is kept."""

    call: Call
    req: ResponsesRequest
    raw: dict[str, Any]
    owner: str  # the tenant whose stored responses it reads and adds to
    own: int  # how many of the conversation's items are this request's own (the rest: its chain)
    items: list[dict[str, Any]]  # the whole conversation, as the client's items
    tools: ChatTools  # the request's tools as a chat backend gets them, and the way back
    recent: Recent | None = None  # a WebSocket connection's last responses, kept whatever `store` says


def _not_found(rid: str, param: str = "response_id") -> NotFound:
    shown = rid if valid_id(rid) else "(not a response id)"
    if param == "previous_response_id":
        return NotFound(
            f"Previous response with id '{shown}' not found.", param=param, code="previous_response_not_found"
        )
    return NotFound(f"No response with id '{shown}' is stored for this key.", param=param)


def _call(
    req: ResponsesRequest,
    raw: dict[str, Any],
    items: list[dict[str, Any]],
    size: int,
    received: float,
    tenant: str | None,
) -> tuple[Call, ChatTools]:
    tools = ChatTools(req.tools)
    native = {k: v for k, v in raw.items() if k not in _OWN_FIELDS}
    native.update(input=native_items(items), store=False)
    view = responses_view(raw, items, size)
    hosted = hosted_tools(req)
    needs = native_only(req, items)
    if needs:
        return Call(view, native, received, tenant, needs=", ".join(needs), hosted=hosted), tools
    # Without the built-in tools it offers: a chat backend goes without them (protocol/tools.py).
    chat = chat_body(req, items, req.model, tools)
    # Its own view: to a backend it is a chat completion (its path, its parameters).
    as_chat = Call(chat_view(chat, size), chat, received, tenant)
    return Call(view, native, received, tenant, chat=as_chat, hosted=hosted), tools


class ResponsesServing:
    def __init__(
        self,
        dispatcher: Dispatcher,
        ids: ResponseIds,
        store: ResponseStore,
        counting: TokenCounting,
        *,
        max_bytes: int,
        on_not_stored: Callable[[], None],
    ) -> None:
        self._dispatcher = dispatcher
        self._counting = counting
        self._ids = ids
        self._store = store
        self._max_bytes = max_bytes
        self._not_stored = on_not_stored

    def rejected(self, received: float, err: GatewayError) -> None:
        self._dispatcher.recorder.rejected(Call(RequestView("responses", "", tuple), {}, received), err)

    async def _record(self, tenant: str, rid: str, param: str = "response_id") -> dict[str, Any]:
        if not valid_id(rid):
            raise _not_found(rid, param)
        raw = await self._store.get(tenant, rid)  # ServiceUnavailable (503) when the store is down
        if raw is None:
            raise _not_found(rid, param)
        record: dict[str, Any] = _decode(raw)
        return record

    async def _conversation(
        self, tenant: str, req: ResponsesRequest, recent: Recent | None
    ) -> list[dict[str, Any]]:
        """The chain this request continues, as items: its inputs, then its outputs (from the
        connection's last responses, else from the store)."""
        rid = req.previous_response_id
        if rid is None:
            return []
        kept = recent.get(rid) if recent is not None else None
        if kept is not None:
            return kept
        record = await self._record(tenant, rid, "previous_response_id")
        return [*record["input"], *record["response"]["output"]]

    async def conversation(
        self, req: ResponsesRequest, tenant: str | None, recent: Recent | None = None
    ) -> tuple[list[dict[str, Any]], int, int]:
        """The request's whole conversation (its chain, then its own input), how many of the items are
        its own, and its size in bytes (a 413 past max_body_bytes)."""
        own = input_items(req.input)
        if not own and req.previous_response_id is None:
            raise InvalidRequest("`input` is required.", param="input", code="missing_required_parameter")
        items = [*await self._conversation(tenant or ANONYMOUS, req, recent), *own]
        size = len(_encode(items))
        if size > self._max_bytes:
            raise PayloadTooLarge(
                f"The conversation is {size} bytes with its history; this gateway accepts {self._max_bytes}.",
                code="conversation_too_large",
            )
        return items, len(own), size

    async def prepare(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        tenant: str | None,
        received: float,
        recent: Recent | None = None,
        session: str | None = None,
    ) -> Prepared:
        items, own, size = await self.conversation(req, tenant, recent)
        call, tools = _call(req, raw, items, size, received, tenant)
        call.response_id = self._ids.new("responses")
        call.session = session
        if recent is not None:  # a WebSocket connection's turn
            call.transport = "websocket"
        return Prepared(call, req, raw, tenant or ANONYMOUS, own, items, tools, recent)

    async def input_tokens(self, p: Prepared, admitted: Admitted) -> JSONResult:
        """POST /v1/responses/input_tokens: the request's input (its chain, instructions and tools
        included) in the tokens of the backend the route would choose for it now (serving/tokens.py)."""
        tally = await self._counting.count(p.call, admitted)
        body = {"object": "response.input_tokens", "input_tokens": tally.tokens}
        return JSONResult(_encode(body), headers=tally.headers)

    async def _keep(self, p: Prepared, final: dict[str, Any] | None) -> bool:
        """Keep a finished response and its conversation, for chains and retrieval."""
        if final is None:
            return False
        items = p.items
        # The request's own items get ids once, here, so that listing them pages the same way each time.
        ids = [
            i.get("id") or new_id(_ITEM_PREFIX.get(str(i.get("type")), "item"))
            for i in items[len(items) - p.own :]
        ]
        record = {"response": final, "input": items, "own_ids": ids}
        stored = await self._store.put(p.owner, str(final["id"]), _encode(record))
        if not stored:
            self._not_stored()
        return stored

    async def _finished(self, p: Prepared, final: dict[str, Any] | None, keep: bool) -> bool:
        """A response is complete: the connection's cache and the store get it."""
        if p.recent is not None and final is not None:
            p.recent.put(str(final["id"]), [*p.items, *final["output"]])
        return await self._keep(p, final) if keep else False

    async def _events(
        self, p: Prepared, chunks: AsyncIterator[bytes], turn: Turn, keep: bool
    ) -> AsyncIterator[bytes]:
        """Pass events through; a failure after the first one ends the stream with response.failed."""
        try:
            async for chunk in chunks:
                yield chunk
        except GatewayError as exc:
            log.warning("responses stream ended by upstream failure: %s", exc.message)
            yield turn.translation.failed(exc.envelope())
            return
        await self._finished(p, turn.final, keep)

    async def _warm(self, p: Prepared, keep: bool) -> AsyncIterator[bytes]:
        """`generate: false` (a WebSocket client warming up): an empty response, nothing generated,
        kept so that the next turn can continue it."""
        echoed = echo(p.req, p.raw)
        empty = response_object(
            p.call.response_id, echoed, model=p.req.model, created_at=int(time.time()), status="in_progress",
            output=[],
        )  # fmt: skip
        yield frame({"type": "response.created", "sequence_number": 0, "response": empty})
        final = {**empty, "status": "completed", "usage": _NO_USAGE}
        await self._finished(p, final, keep)
        yield frame({"type": "response.completed", "sequence_number": 1, "response": final})

    async def create(self, p: Prepared, admitted: Admitted) -> JSONResult | EventStream:
        req, call = p.req, p.call
        rid = call.response_id
        keep = req.store is not False
        if p.raw.get("generate") is False:
            return EventStream(self._warm(p, keep), {})
        client = {"previous_response_id": req.previous_response_id, "store": keep}
        turn = Turn(Translation(rid, echo(req, p.raw), req.model, p.tools), NativeTap(rid, client))
        dispatcher, hints, snap = self._dispatcher, admitted.hints, admitted.snap
        if req.stream:
            mode = TranslatedStreamed(turn.translation, turn.tap)
            streamed = await dispatcher.stream(call, hints, mode, snap=snap)
            return EventStream(self._events(p, streamed.chunks, turn, keep), stream_headers(streamed))
        served = await dispatcher.complete(
            call, hints, TranslatedPlain(turn.translation, turn.tap), snap=snap
        )
        content = served.reply.content
        if not await self._finished(p, turn.final, keep) and keep:
            # Served all the same, and says so: a later previous_response_id to it will be a 404.
            content = _encode({**_decode(content), "store": False})
        return JSONResult(content, served.reply.status, answer_headers(served))

    async def retrieve(self, tenant: str | None, rid: str, stream: bool = False) -> JSONResult:
        if stream:
            raise InvalidRequest("Streaming a stored response again is not supported.", param="stream")
        record = await self._record(tenant or ANONYMOUS, rid)
        return JSONResult(_encode(record["response"]))

    async def delete(self, tenant: str | None, rid: str) -> JSONResult:
        if not valid_id(rid) or not await self._store.delete(tenant or ANONYMOUS, rid):
            raise _not_found(rid)
        return JSONResult(_encode({"id": rid, "object": "response.deleted", "deleted": True}))

    async def input_items(
        self, tenant: str | None, rid: str, *, order: str, after: str | None, limit: str | None
    ) -> JSONResult:
        """The input items this response was created with (its own request's, not the chain's)."""
        record = await self._record(tenant or ANONYMOUS, rid)
        ids: list[str] = record["own_ids"]
        mine = record["input"][len(record["input"]) - len(ids) :] if ids else []
        items = [{**item, "id": iid} for item, iid in zip(mine, ids, strict=True)]
        if order == "desc":
            items.reverse()
        if after is not None:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        try:
            count = max(1, min(100, int(limit if limit is not None else 20)))
        except ValueError:
            raise InvalidRequest("`limit` must be a number from 1 to 100.", param="limit") from None
        page = items[:count]
        body = {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > count,
        }
        return JSONResult(_encode(body))

    @staticmethod
    def cancel() -> JSONResult:
        raise ClientError(
            "Only background responses can be cancelled, and this gateway runs none: every response is "
            "answered while the request is open.",
            param="response_id",
            code="background_not_supported",
        )
