"""The Anthropic Messages API: create (JSON and SSE) and count_tokens, for any tier.

A backend of `kind: anthropic` speaks the API natively: the request reaches it as the client sent it
(with the client's `anthropic-beta` features), and its answer passes through with the gateway's id
(protocol/anthropic/native.py). Every other backend gets the chat form
(protocol/anthropic/to_chat.py), and its chat answer comes back as a Message or Anthropic's events
(protocol/anthropic/stream.py), both run by dispatch's translating modes (dispatch/translated.py). Routing,
context windows, cascades, budgets, tenants, limits, metrics, the decision log, shadow judging and
feedback are the chat path's own. Server tools are dropped when offered and refused when required
(the tool rule, protocol/tools.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import msgspec

from gateway.dispatch.translated import TranslatedPlain, TranslatedStreamed
from gateway.errors import GatewayError
from gateway.protocol import Call, RequestView, chat_view, messages_view
from gateway.protocol.anthropic import (
    CountTokensRequest,
    MessagesRequest,
    MessageTranslation,
    chat_body,
    check,
    envelope,
)
from gateway.protocol.anthropic.native import MessageTap
from gateway.serving.results import EventStream, JSONResult, answer_headers, stream_headers

if TYPE_CHECKING:
    from gateway.dispatch import Admitted, Dispatcher
    from gateway.protocol.ids import ResponseIds
    from gateway.protocol.request import Parsed
    from gateway.serving.tokens import TokenCounting

__all__ = ["MessagesServing"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


def _shows_thinking(req: MessagesRequest) -> bool:
    """Does the request ask to see thinking? (A backend's reasoning then becomes thinking blocks.)"""
    thinking = req.thinking or {}
    return thinking.get("type") in ("enabled", "adaptive") and thinking.get("display") != "omitted"


class MessagesServing:
    def __init__(self, dispatcher: Dispatcher, ids: ResponseIds, tokens: TokenCounting) -> None:
        self._dispatcher = dispatcher
        self._ids = ids
        self._tokens = tokens

    def rejected(self, received: float, err: GatewayError) -> None:
        """A request refused before it was routed (its key, its limits, its body)."""
        self._dispatcher.recorder.rejected(Call(RequestView("messages", "", tuple), {}, received), err)

    def call(
        self,
        parsed: Parsed[MessagesRequest] | Parsed[CountTokensRequest],
        received: float,
        tenant: str | None,
        beta: str | None = None,
        version: str | None = None,
    ) -> Call:
        """The request as the gateway runs it: as sent, for backends that speak the API (with the
        client's `anthropic-version` and `anthropic-beta`, which Claude Code's gateway contract asks
        forwarded), its chat form for the others, and what that goes without."""
        req, raw, size, session = parsed.wire, parsed.raw, parsed.size, parsed.session
        forward = tuple((k, v) for k, v in (("anthropic-version", version), ("anthropic-beta", beta)) if v)
        check(req)
        form = chat_body(req)
        chat = form.body
        view = messages_view(raw, chat, size)
        needs = ", ".join(form.needs) or None
        # Its own view: to a backend it is a chat completion (its path, its parameters). None where
        # only a backend that speaks the API can serve it.
        as_chat = None if needs else Call(chat_view(chat, size), chat, received, tenant, session=session)
        rid = self._ids.new("messages")
        return Call(
            view,
            raw,
            received,
            tenant,
            chat=as_chat,
            needs=needs,
            hosted=form.hosted,
            response_id=rid,
            session=session,
            forward=forward,
        )

    async def create(self, call: Call, req: MessagesRequest, admitted: Admitted) -> JSONResult | EventStream:
        translation = MessageTranslation(
            call.response_id,
            req.model,
            input_tokens=lambda: call.view.prompt_tokens,
            thinking=_shows_thinking(req),
            stop_sequences=req.stop_sequences,
        )
        dispatcher, hints, snap = self._dispatcher, admitted.hints, admitted.snap
        tap = MessageTap(call.response_id)
        if call.stream:
            mode = TranslatedStreamed(translation, tap)
            streamed = await dispatcher.stream(call, hints, mode, snap=snap)
            return EventStream(_events(streamed.chunks, translation), stream_headers(streamed))
        served = await dispatcher.complete(call, hints, TranslatedPlain(translation, tap), snap=snap)
        return JSONResult(served.reply.content, served.reply.status, answer_headers(served))

    async def count_tokens(self, call: Call, admitted: Admitted) -> JSONResult:
        """The prompt's tokens for the backend the route would choose now (serving/tokens.py)."""
        tally = await self._tokens.count(call, admitted)
        return JSONResult(_encode({"input_tokens": tally.tokens}), headers=tally.headers)


async def _events(chunks: AsyncIterator[bytes], translation: MessageTranslation) -> AsyncIterator[bytes]:
    """Pass events through; a failure after the first one ends the stream with Anthropic's error event."""
    try:
        async for chunk in chunks:
            yield chunk
    except GatewayError as exc:
        log.warning("messages stream ended by upstream failure: %s", exc.message)
        yield translation.failed(envelope(exc))
