"""Requests of APIs other than chat through the candidate walk: each backend gets them the way it speaks.

A backend that speaks the request's API natively (a Responses backend with `responses: true`) gets it
as the client sent it, and its answer passes through a tap that puts the gateway's ids back; every
other backend gets the chat form (dispatch/walk.py: Walk.form), and its chat answer (JSON or stream)
is translated into the API's object and events: a Response (protocol/responses/) or a Message
(protocol/anthropic/). The modes here wrap the plain and streamed ones, so the walk, strategies (a
cascade's accepted draft included) and accounting are the same as for chat.

They are not hedged (yet): the translation (and the native stream's tap, which may hold part of a
first event) is one per request, and two attempts running at once would both write it. Hedging them
needs that state per attempt, adopted by the one that wins.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from gateway.backends.base import Reply
from gateway.dispatch.modes import PLAIN, STREAMED, Opened
from gateway.errors import GatewayError, UpstreamError

if TYPE_CHECKING:
    from gateway.backends.base import Backend
    from gateway.dispatch.modes import Walking
    from gateway.protocol import Call
    from gateway.protocol.responses import Compacting, NativeTap, Translation

__all__ = ["CompactPlain", "Native", "Translated", "TranslatedPlain", "TranslatedStreamed", "Turn"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class Translated(Protocol):
    """Chat answers in, the API's own out: a whole object, or the events of a stream."""

    def of_chat(self, chat: dict[str, Any]) -> dict[str, Any]: ...

    def started(self) -> bytes: ...

    def feed(self, chunk: bytes) -> bytes: ...


class Native(Protocol):
    """A native backend's answer made the gateway's own (its ids)."""

    def of_reply(self, data: dict[str, Any]) -> dict[str, Any]: ...

    def feed(self, chunk: bytes) -> bytes: ...


@dataclass
class Turn:
    """One Responses request on its way: its id, how each kind of backend gets it, what came back."""

    translation: Translation  # chat → Responses, for backends that speak only chat
    tap: NativeTap  # the gateway's ids on a native backend's answer

    @property
    def final(self) -> dict[str, object] | None:
        """The finished Response, once the answer is complete (for the store)."""
        return self.translation.final or self.tap.final


class TranslatedPlain:
    streams = False
    hedgeable = False  # see the module's docstring

    def __init__(self, translation: Translated, native: Native | None = None) -> None:
        self.translation = translation
        self.native = native

    async def attempt(
        self, walk: Walking, backend: Backend, tier: str, call: Call, deadline: float, others: bool = False
    ) -> Reply:
        # `call` is in the form the walk chose for this backend (dispatch/walk.py: Walk.form).
        reply = await PLAIN.attempt(walk, backend, tier, call, deadline, others)
        if self.native is not None and backend.speaks(walk.call.endpoint):
            return Reply(_encode(self.native.of_reply(_decode(reply.content))), reply.status)
        return self.of_reply(walk, reply)

    def of_reply(self, walk: Walking, reply: Reply) -> Reply:
        """A chat answer in hand (a translated backend's, or an accepted draft) in the API's shape."""
        return Reply(_encode(self.translation.of_chat(_decode(reply.content))), reply.status)


async def _through(rest: AsyncIterator[bytes], feed: Callable[[bytes], bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in rest:
            out = feed(chunk)
            if out:
                yield out
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()


class TranslatedStreamed:
    streams = True
    hedgeable = False

    def __init__(self, translation: Translated, native: Native | None = None) -> None:
        self.translation = translation
        self.native = native

    async def attempt(
        self, walk: Walking, backend: Backend, tier: str, call: Call, deadline: float, others: bool = False
    ) -> Opened:
        opened = await STREAMED.attempt(walk, backend, tier, call, deadline, others)
        if self.native is None or not backend.speaks(walk.call.endpoint):
            return self._translated(opened)
        tap = self.native
        first = tap.feed(opened.first)
        try:
            while not first:  # the first event may come over several reads
                first = tap.feed(await anext(opened.rest))
        except BaseException as exc:
            if opened.slot is not None:
                opened.slot.release()
            with contextlib.suppress(GatewayError):
                await opened.rest.aclose()  # type: ignore[attr-defined]
            if isinstance(exc, StopAsyncIteration):
                raise UpstreamError(
                    f"Backend '{backend.name}' sent an empty stream.", code="upstream_protocol"
                ) from None
            raise
        return Opened(first, _through(opened.rest, tap.feed), opened.slot, opened.usage)

    def _translated(self, opened: Opened) -> Opened:
        translation = self.translation
        first = translation.started() + translation.feed(opened.first)
        return Opened(first, _through(opened.rest, translation.feed), opened.slot, opened.usage)

    def of_reply(self, walk: Walking, reply: Reply) -> Opened:
        return self._translated(STREAMED.of_reply(walk, reply))


class CompactPlain:
    """A compaction (POST /v1/responses/compact): a native backend compacts it itself (its own
    endpoint, the gateway's id put on its answer); a chat backend writes the summary the gateway
    wraps in its own compaction item (protocol/responses/compaction.py)."""

    streams = False
    hedgeable = False  # one Compacting per request, as for the modes above

    def __init__(self, compacting: Compacting) -> None:
        self.compacting = compacting

    async def attempt(
        self, walk: Walking, backend: Backend, tier: str, call: Call, deadline: float, others: bool = False
    ) -> Reply:
        reply = await PLAIN.attempt(walk, backend, tier, call, deadline, others)
        if backend.speaks(walk.call.endpoint):
            return Reply(_encode(self.compacting.of_native(_decode(reply.content))), reply.status)
        return self.of_reply(walk, reply)

    def of_reply(self, walk: Walking, reply: Reply) -> Reply:
        return Reply(_encode(self.compacting.of_chat(_decode(reply.content))), reply.status)
