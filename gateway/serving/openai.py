"""Chat completions, text completions and embeddings: the OpenAI endpoints whose bodies go upstream as
they came (with the backend's `model`), and whose answers come back with the gateway's ids."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError
from gateway.protocol import Call, RequestView, chat_view, completion_view, embedding_view
from gateway.protocol.ids import IdStream, claim
from gateway.protocol.sse import error_event
from gateway.serving.results import EventStream, JSONResult, answer_headers, stream_headers

if TYPE_CHECKING:
    from gateway.dispatch import Dispatcher
    from gateway.protocol import Endpoint
    from gateway.protocol.ids import ResponseIds
    from gateway.routing.decision import Hints

__all__ = ["OpenAIServing", "chat_events"]

log = logging.getLogger(__name__)

_VIEWS: dict[str, Callable[[dict[str, Any], int], RequestView]] = {
    "chat": chat_view,
    "completions": completion_view,
    "embeddings": embedding_view,
}


async def chat_events(chunks: AsyncIterator[bytes], ids: Callable[[bytes], bytes]) -> AsyncIterator[bytes]:
    """Pass chunks through with the gateway's response id (`ids`); a failure after the first byte
    ends the stream with an error event, as OpenAI's do."""
    try:
        async for chunk in chunks:
            yield ids(chunk)
    except GatewayError as exc:
        log.warning("stream ended by upstream failure: %s", exc.message)
        yield error_event(exc.envelope())


class OpenAIServing:
    def __init__(self, dispatcher: Dispatcher, ids: ResponseIds) -> None:
        self._dispatcher = dispatcher
        self._ids = ids

    def call(
        self,
        endpoint: Endpoint,
        raw: dict[str, Any],
        size: int,
        received: float,
        tenant: str | None,
        session: str | None = None,
    ) -> Call:
        # An embeddings answer carries no id: nothing to claim, to rate or to index.
        rid = "" if endpoint == "embeddings" else self._ids.new(endpoint)
        return Call(_VIEWS[endpoint](raw, size), raw, received, tenant, response_id=rid, session=session)

    def rejected(self, endpoint: Endpoint, received: float, err: GatewayError) -> None:
        """A request refused before it was routed (its key, its limits, its body)."""
        self._dispatcher.recorder.rejected(Call(RequestView(endpoint, "", tuple), {}, received), err)

    async def serve(self, call: Call, hints: Hints) -> JSONResult | EventStream:
        if call.stream:
            streamed = await self._dispatcher.stream(call, hints)
            return EventStream(
                chat_events(streamed.chunks, IdStream(call.response_id)), stream_headers(streamed)
            )
        served = await self._dispatcher.complete(call, hints)
        content = claim(served.reply.content, call.response_id) if call.response_id else served.reply.content
        return JSONResult(content, served.reply.status, answer_headers(served))
