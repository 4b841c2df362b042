"""Chat completions, text completions and embeddings: the OpenAI endpoints whose bodies go upstream as
they came (with the backend's `model`), and whose answers come back with the gateway's ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.dispatch.modes import Relabelled
from gateway.errors import GatewayError
from gateway.protocol import Call, RequestView
from gateway.protocol.hidden_usage import HiddenUsage
from gateway.protocol.ids import IdStream, claim
from gateway.protocol.sse import error_event
from gateway.serving.results import EventStream, JSONResult, answer_headers, stream_headers

if TYPE_CHECKING:
    from gateway.dispatch import Admitted, Dispatcher
    from gateway.protocol import Endpoint
    from gateway.protocol.ids import ResponseIds

__all__ = ["OpenAIServing", "stream_failed"]


def stream_failed(exc: GatewayError) -> bytes:
    """A failure after a stream's first byte, as OpenAI's streams end with one: an error event."""
    return error_event(exc.envelope())


class OpenAIServing:
    def __init__(self, dispatcher: Dispatcher, ids: ResponseIds) -> None:
        self._dispatcher = dispatcher
        self._ids = ids

    def rejected(self, endpoint: Endpoint, received: float, err: GatewayError) -> None:
        """A request refused before it was routed (its key, its limits, its body)."""
        self._dispatcher.recorder.rejected(Call(RequestView(endpoint, "", tuple), {}, received), err)

    async def serve(self, call: Call, admitted: Admitted) -> JSONResult | EventStream:
        """A call the handler read (protocol/request.py: openai_call) run through dispatch, its answer
        with the gateway's id."""
        dispatcher, snap = self._dispatcher, admitted.snap
        if call.stream:
            # The relay puts the gateway's id on every event, and ends a broken stream with an error
            # event: the stream goes to the client as dispatch hands it, less the usage the backend
            # asked for on its own (protocol/hidden_usage.py).
            hidden = None if call.include_usage else HiddenUsage()
            mode = Relabelled(IdStream(call.response_id, hidden), stream_failed)
            streamed = await dispatcher.stream(call, admitted.hints, mode, snap=snap)
            return EventStream(streamed.chunks, stream_headers(streamed))
        served = await dispatcher.complete(call, admitted.hints, snap=snap)
        content = claim(served.reply.content, call.response_id) if call.response_id else served.reply.content
        return JSONResult(content, served.reply.status, answer_headers(served))
