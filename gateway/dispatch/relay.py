"""Relaying a committed stream to the client, and accounting for it once it ends.

After the first chunk there is no fallback: a failure travels in-band (the server's SSE layer turns
it into an error event). The relay settles the breaker when the stream ended well or broke, leaves it
alone when the client left, releases the backend's in-flight slot, and bills what was streamed: the
usage event when the upstream sent one (it comes last and may be split over reads, so the last few
reads are kept), otherwise about one token per content event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from gateway.errors import StreamInterrupted
from gateway.protocol import estimated_usage, stream_usage
from gateway.protocol.choices import streamed_text
from gateway.protocol.sse import events_in

if TYPE_CHECKING:
    from gateway.dispatch.walk import Answer, Opened, Walk

__all__ = ["relay"]


async def relay(walk: Walk, answer: Answer[Opened]) -> AsyncIterator[bytes]:
    backend, opened = answer.backend, answer.result
    name, clock, guard, trace = backend.name, walk.clock, walk.snap.guard, walk.trace
    rest, first = opened.rest, opened.first
    t_first = clock()
    events = events_in(first)
    recent: deque[bytes] = deque((first,), maxlen=4)
    settled = False
    outcome = "cancelled"  # until the stream ends one way or the other: the client left
    try:
        keep = trace.log_content or trace.shadowed  # its text: for the log, for the judge
        kept: list[bytes] | None = [first] if keep else None
        yield first
        async for chunk in rest:
            if clock() > walk.deadline:
                raise StreamInterrupted(f"Backend '{name}' exceeded the request deadline.", code="deadline")
            events += events_in(chunk)
            recent.append(chunk)
            if kept is not None:
                kept.append(chunk)
            yield chunk
        if kept is not None:
            trace.answer_text = streamed_text(b"".join(kept))
        settled = True
        outcome = "ok"
        if opened.slot is None:  # replayed from an answer in hand: nothing was measured here
            return
        guard.settle(backend, ok=True, now=clock())
        # Events beyond the first and the closing [DONE] are about one token each.
        if events > 2:
            per_token = (clock() - t_first) / (events - 2)
            walk.observe(backend, tpot_s=per_token)
            walk.recorder.per_token(trace.tier, name, per_token)
    except StreamInterrupted:
        guard.settle(backend, ok=False, now=clock())
        settled = True
        outcome = "stream_error"
        raise
    finally:
        if opened.slot is not None:
            if not settled:  # the client left mid-stream: no verdict on the backend
                guard.breakers.abandon(name)
            opened.slot.release()
        # About a token per event, less the role-only first event, the finish event and [DONE].
        usage = (
            opened.usage
            or stream_usage(b"".join(recent))
            or estimated_usage(walk.call.view.body_bytes, max(0, events - 3))
        )
        walk.recorder.answered(trace, walk.call, usage, walk.bill(answer.tier, usage), outcome)
        if outcome == "ok" and walk.answered is not None:
            walk.answered(walk)
        # A client that went away cancels us here; closing `rest` cancels the upstream call too.
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
