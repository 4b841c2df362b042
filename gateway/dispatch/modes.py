"""How a walk's attempt obtains an answer, and when it commits it to the client (dispatch/walk.py runs
them): PLAIN when the whole reply arrived, STREAMED at a stream's first chunk; translated.py adds the
modes of an API served in chat form.

A mode reads only the request it attempts (`Walking`: its call, clock, snapshot and trace), never the
walk's own machinery, so the walk imports the modes and nothing here imports the walk.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import msgspec

from gateway.dispatch.timeouts import Deadline, Silent, Watch, within
from gateway.errors import GatewayError, UpstreamError, UpstreamSilent, UpstreamTimeout
from gateway.frozen import fast_init
from gateway.protocol import usage_of
from gateway.protocol.choices import as_chunks
from gateway.protocol.usage import BYTES_PER_TOKEN
from gateway.routing.board import silence_left

if TYPE_CHECKING:
    from gateway.backends.base import Backend, Reply
    from gateway.dispatch.inflight import Live, Slot
    from gateway.dispatch.snapshot import Snapshot
    from gateway.observability.trace import Trace
    from gateway.protocol import Call, Usage

__all__ = ["PLAIN", "STREAMED", "Answer", "Mode", "Opened", "Relabelled", "Walking"]

_decode = msgspec.json.Decoder().decode
_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
BYTES_PER_KTOK = 1000 * BYTES_PER_TOKEN  # a prompt's size for the silence it may take (the body's)


class Walking(Protocol):
    """What a mode reads of the request it attempts (dispatch/walk.py: Walk)."""

    @property
    def snap(self) -> Snapshot: ...
    @property
    def call(self) -> Call: ...
    @property
    def trace(self) -> Trace: ...
    @property
    def clock(self) -> Callable[[], float]: ...


@fast_init
@dataclass(frozen=True, slots=True)
class Answer(Generic[_T]):
    backend: Backend
    tier: str
    result: _T


@dataclass(slots=True)
class Opened:
    """A stream that has sent its first chunk: committed to the client from here on."""

    first: bytes
    rest: AsyncIterator[bytes]
    # Its place in the backend's in-flight count, released by the relay; None when the stream is
    # replayed from an answer already in hand (an accepted draft), whose usage it then carries.
    slot: Slot | None
    usage: Usage | None = None


class Mode(Protocol[_T_co]):
    # May two attempts run at once (a hedge, dispatch/hedge.py)? Not when attempts share state that
    # the one answer committed must own alone.
    hedgeable: bool
    # Streams: a stream commits at its first chunk (its hedge delay is read from first-chunk tails).
    streams: bool

    async def attempt(
        self, walk: Walking, backend: Backend, tier: str, call: Call, deadline: float, others: bool = False
    ) -> _T_co:
        """One attempt on `backend`, by `deadline`; `others`: another candidate remains after it."""
        ...

    def of_reply(self, walk: Walking, reply: Reply) -> _T_co:
        """An answer already in hand (a plain reply), served in this mode."""
        ...


class _Plain:
    """Committed when the whole reply is in."""

    hedgeable = True
    streams = False

    async def attempt(
        self, walk: Walking, backend: Backend, tier: str, call: Call, deadline: float, others: bool = False
    ) -> Reply:
        name, clock, trace, snap = backend.name, walk.clock, walk.trace, walk.snap
        t0 = clock()
        # Sent upstream as a stream, it waits for news as a stream does: its first chunk, then each
        # chunk the backend reads (`progressed_at`), each at once; not for a whole answer's silence.
        streamed = backend.streams_plain(call)
        ktok = call.view.body_bytes / BYTES_PER_KTOK
        slot = snap.flight.enter(name, t0, whole=not streamed, ktok=ktok)
        timer: Deadline
        judged = others and name in snap.may_hang
        if judged and streamed:
            timer = Watch(deadline - t0, *_silence(walk, name, slot.live))
        elif judged and backend.progress_lag_s is not None:
            # A plain answer is silent while it is written, for as long as it is long: given up
            # only where the engine's own counters tell writing from hanging (Backend.progressed_at).
            timer = Watch(deadline - t0, *_silence(walk, name, slot.live, backend))
        else:
            timer = Deadline(deadline - t0)
        try:
            reply = await backend.complete(call)
            slot.answered(clock())
        except asyncio.CancelledError:
            if not timer.expired():
                raise
            now = clock()
            snap.book.timed_out(name, now, now - t0)
            if isinstance(timer, Watch) and timer.gave_up:
                raise _silent(name, now - t0) from None
            raise UpstreamTimeout(f"Backend '{name}' timed out.", code="upstream_timeout") from None
        finally:
            timer.disarm()
            slot.release()
            trace.upstream_s += clock() - t0
        # Parsed once: the latency estimate and the bill both read it.
        trace.usage = usage = usage_of(reply.content)
        now = clock()
        if reply.first_chunk_at is not None:  # its first chunk's time, as a stream's is measured
            snap.book.first_chunk(name, reply.first_chunk_at, reply.first_chunk_at - t0)
        tokens = usage.completion_tokens if usage is not None and call.endpoint != "embeddings" else 0
        snap.book.answered(name, now, now - t0, tokens)
        return reply

    def of_reply(self, walk: Walking, reply: Reply) -> Reply:
        return reply


def _silence(
    walk: Walking, name: str, live: Live, counters: Backend | None = None
) -> tuple[Callable[[], float | None], float]:
    """When an attempt waiting on `name` gives up: once the backend has been silent for as long as
    the planner takes for a hang (routing/board.py), after `breaker.silent_s` at least. A plain
    answer's only news is its engine's `counters` (Backend.progress_lag_s): as much later as they
    may tell it works, and never while they tell nothing. Returns what asks (seconds until it asks
    again, None: now) and when it first asks."""
    breaker, book, clock = walk.snap.table.spec.breaker, walk.snap.book, walk.clock
    floor, per_ktok = breaker.silent_s, breaker.silent_s_per_ktok

    def tail(now: float, *, first_chunk: bool) -> float:
        return book.tail(name, now, first_chunk=first_chunk)

    def lag() -> float | None:
        return counters.progress_lag_s if counters is not None else 0.0

    def look() -> float | None:
        told = lag()
        if told is None:  # its metrics went quiet: they cannot tell a hang now
            return floor
        left = silence_left(clock(), live, tail, floor, per_ktok) + told
        return left if left > 0 else None

    return look, floor + (lag() or 0.0)  # each attempt waits that at least, whatever others waited


def _silent(name: str, waited_s: float) -> UpstreamSilent:
    return UpstreamSilent(
        f"Backend '{name}' sent nothing for {waited_s:.1f} s and was taken as hung.", code="upstream_silent"
    )


def _before_first_chunk(backend: Backend, exc: BaseException, silent_s: float) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, Silent):
        return _silent(backend.name, silent_s)
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"Backend '{backend.name}' sent nothing in time.", code="upstream_timeout")
    return UpstreamError(f"Backend '{backend.name}' sent an empty stream.", code="upstream_protocol")


class _Streamed:
    """Committed at the first chunk: until then another candidate may still answer."""

    hedgeable = True
    streams = True

    async def attempt(
        self, walk: Walking, backend: Backend, tier: str, call: Call, deadline: float, others: bool = False
    ) -> Opened:
        clock, trace, snap, name = walk.clock, walk.trace, walk.snap, backend.name
        t0 = clock()
        left = max(0.0, deadline - t0)
        limit = min(snap.first_token_s.get(tier, left), left)
        slot = snap.flight.enter(name, t0, whole=False, ktok=call.view.body_bytes / BYTES_PER_KTOK)
        chunks = backend.stream(call)
        try:
            if others and name in snap.may_hang:  # given up once taken as hung (routing/board.py)
                first = await within(limit, anext(chunks), *_silence(walk, name, slot.live))
            else:
                first = await within(limit, anext(chunks))
        except (GatewayError, TimeoutError, StopAsyncIteration) as exc:
            slot.release()
            with contextlib.suppress(GatewayError):
                await chunks.aclose()  # type: ignore[attr-defined]
            err = _before_first_chunk(backend, exc, clock() - t0)
            if isinstance(err, UpstreamTimeout):
                now = clock()
                snap.book.timed_out(name, now, now - t0)
            raise err from None
        except BaseException:
            slot.release()
            raise
        finally:
            trace.upstream_s += clock() - t0
        now = clock()
        slot.answered(now)
        ttft = now - t0
        trace.ttft_s = now - walk.call.received
        trace.first_chunks.append((tier, name, ttft))
        snap.book.first_chunk(name, now, ttft)
        return Opened(first, chunks, slot)

    def of_reply(self, walk: Walking, reply: Reply) -> Opened:
        data = _decode(reply.content)
        call = walk.call.chat or walk.call  # a translated request's answer in hand is a chat answer
        chunks = as_chunks(data, call.endpoint, include_usage=call.include_usage)
        return Opened(chunks[0], _replay(chunks[1:]), None, walk.trace.usage)


class Relabelled(_Streamed):
    """A stream passed on as the backend sent it, but for two things the relay does as it goes
    (dispatch/relay.py): `feed` rewrites each chunk (a chat stream's ids, protocol/ids.py), and
    `failed` is the event a failure after the first byte ends the stream with."""

    def __init__(self, feed: Callable[[bytes], bytes], failed: Callable[[GatewayError], bytes]) -> None:
        self.feed = feed
        self.failed = failed


async def _replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


PLAIN: Mode[Reply] = _Plain()
STREAMED: Mode[Opened] = _Streamed()
