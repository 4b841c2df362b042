"""Relaying a committed stream to the client, and recording the request once it ends.

After the first chunk there is no fallback: a failure travels in-band, as the mode says (a chat
stream's error event and [DONE]; a translated stream's own end, which its serving module writes). The
relay applies the mode's `feed` to each chunk (the gateway's ids on a chat stream's events), and when
the stream ends: releases the backend's in-flight slot; tells the walk how the backend did (ended
well: an answer taken; broke: a failure; the client left: no verdict); measures the time per token;
and ends the request (Walk.end), which records it once with what was streamed: the usage event when
the upstream sent one (it comes last and may be split over reads, so the last few reads are kept),
otherwise about one token per content event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from gateway.dispatch.inflight import Live
from gateway.errors import GatewayError, StreamInterrupted
from gateway.protocol.choices import streamed_text
from gateway.protocol.sse import PREFIX
from gateway.protocol.usage import estimated_usage, stream_usage

if TYPE_CHECKING:
    from gateway.dispatch.modes import Answer, Mode, Opened
    from gateway.dispatch.walk import Walk

__all__ = ["relay"]

_NOBODY = Live("")  # a replayed stream's: no backend to hear from, and nothing ever waits on it


async def relay(walk: Walk, answer: Answer[Opened], mode: Mode[Opened]) -> AsyncIterator[bytes]:
    backend, opened = answer.backend, answer.result
    name, clock, trace, snap = backend.name, walk.clock, walk.trace, walk.snap
    rest, first = opened.rest, opened.first
    feed, failed = getattr(mode, "feed", None), getattr(mode, "failed", None)
    deadline = walk.deadline
    t_first = clock()
    # Its chunks are news of the backend: attempts waiting there are queued behind a backend that
    # answers, not held by a hung one (dispatch/inflight.py).
    live = opened.slot.live if opened.slot is not None else _NOBODY
    events = first.count(PREFIX)
    recent: deque[bytes] = deque((first,), maxlen=4)
    ended = False  # the stream ended, well or not: the backend has a verdict
    outcome = "cancelled"  # until the stream ends one way or the other: the client left
    try:
        keep = trace.log_content or trace.shadowed  # its text: for the log, for the judge
        kept: list[bytes] | None = [first] if keep else None
        try:
            out = feed(first) if feed is not None else first
            if out:
                yield out
            async for chunk in rest:
                now = clock()
                if now > deadline:
                    raise StreamInterrupted(
                        f"Backend '{name}' exceeded the request deadline.", code="deadline"
                    )
                if live.waiting:
                    live.since = now
                events += chunk.count(PREFIX)
                recent.append(chunk)
                if kept is not None:
                    kept.append(chunk)
                if feed is None:
                    yield chunk
                elif out := feed(chunk):  # a read the feed holds back or drops whole is no write
                    yield out
            flush = getattr(feed, "flush", None)
            if flush is not None and (out := flush()):
                yield out
        except StreamInterrupted as exc:
            ended = True
            outcome = "stream_error"
            if opened.slot is not None:
                snap.guard.settle(backend, ok=False, now=clock())
            if failed is None:
                raise
            yield failed(exc)
            return
        except GatewayError as exc:
            if failed is None:
                raise
            yield failed(exc)
            return
        if kept is not None:
            trace.answer_text = streamed_text(b"".join(kept))
        ended = True
        outcome = "ok"
        if opened.slot is None:  # replayed from an answer in hand: nothing was measured here
            return
        walk.took.append(name)
        opened.slot.ended(clock())
    finally:
        # The upstream's count, read once (an HTTP backend asks for it: stream_usage).
        counted = opened.usage or stream_usage(b"".join(recent))
        if outcome == "ok" and opened.slot is not None:
            # Per token by that count: an event may carry several tokens (speculative decoding,
            # vLLM's --stream-interval), and the finish and usage events none. Without one, the
            # events beyond the first and [DONE].
            tokens = counted.completion_tokens if counted is not None else events - 2
            if tokens > 0:
                trace.tpot_s = per_token = (clock() - t_first) / tokens
                snap.book.per_token(name, clock(), per_token)
        if opened.slot is not None:
            if not ended:  # the client left mid-stream: no verdict on the backend
                snap.guard.abandon(name)
            opened.slot.release()
        # Else about a token per event, less the role-only first event, the finish event and [DONE].
        usage = counted or estimated_usage(walk.call.view.body_bytes, max(0, events - 3))
        walk.end(usage, outcome)
        if outcome == "ok" and walk.answered is not None:
            walk.answered(walk)
        # A client that went away cancels us here; closing `rest` cancels the upstream call too.
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
