"""A scriptable backend inside the test process, the way httpx ships MockTransport beside its transports.

It implements the same Backend seam as the real ones, so dispatch, strategies, the planner and the
recorder run for real around it, with no server and no sleeps: each call takes the next step of its
script, and a test can wait for the moment a call arrives (`arrived`) and decide when a hanging one
ends (`release`); `cancelled` counts the hanging calls that were cancelled instead.

    b = FakeBackend("a", steps=[Step.fail(UpstreamError("boom")), Step.ok("hello")])
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gateway.backends.base import Backend, Reply, Resources
from gateway.errors import GatewayError, StreamInterrupted
from gateway.protocol import Call
from gateway.rules import KindSpec, OpenAISpec

__all__ = ["FakeBackend", "Step", "chat_chunks", "chat_reply"]

_ids = itertools.count(1)


def chat_reply(text: str, model: str = "fake", finish: str = "stop", **extra: Any) -> dict[str, Any]:
    """An OpenAI chat.completion body answering `text`."""
    words = text.split()
    return {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish, **extra}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)},
    }


def chat_chunks(text: str, model: str = "fake", usage: bool = False) -> list[bytes]:
    """The same answer as SSE events: role, one event per word, finish, the usage event when asked
    for (include_usage), [DONE]."""
    base = {"id": f"chatcmpl-fake{next(_ids)}", "object": "chat.completion.chunk", "created": 0}

    def event(body: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps({**base, "model": model, **body}).encode() + b"\n\n"

    def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
        return event({"choices": [{"index": 0, "delta": d, "finish_reason": finish}]})

    words = text.split(" ")
    parts = [delta({"role": "assistant", "content": ""})]
    parts += [delta({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
    parts.append(delta({}, "stop"))
    if usage:
        counts = {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}
        parts.append(event({"choices": [], "usage": counts}))
    return [*parts, b"data: [DONE]\n\n"]


@dataclass
class Step:
    """What one call does: answer, fail before answering, hang until released, or (streams) fail after
    `cut_after` chunks."""

    text: str = "fake answer"
    error: GatewayError | None = None
    hang: bool = False
    cut_after: int | None = None
    reply: dict[str, Any] | None = None  # the whole body, when a test needs more than text

    @classmethod
    def ok(cls, text: str = "fake answer", **kw: Any) -> Step:
        return cls(text, **kw)

    @classmethod
    def fail(cls, error: GatewayError) -> Step:
        return cls(error=error)

    @classmethod
    def hanging(cls) -> Step:
        return cls(hang=True)

    @classmethod
    def cut(cls, after: int, text: str = "one two three four") -> Step:
        return cls(text, cut_after=after)


@dataclass(eq=False)
class FakeBackend(Backend):
    name: str
    steps: list[Step] = field(default_factory=list)
    default: Step = field(default_factory=Step)
    model: str = "fake"
    queue: int = 0  # what `queued` reports
    full: bool = False  # what `saturated` reports
    lag: float | None = None  # what `progress_lag_s` reports (set `progressed_at` as its engine moves)
    up: bool = True
    calls: list[Call] = field(default_factory=list)

    kind = "fake"
    spec_type: ClassVar[type[KindSpec]] = OpenAISpec

    def __post_init__(self) -> None:
        self.arrived = asyncio.Event()  # set by every call; clear it to wait for the next one
        self.released = asyncio.Event()  # hanging calls end (with an answer) once set
        self.closed = 0  # streams closed by their reader before the end
        self.cancelled = 0  # hanging calls cancelled before they were released (a lost hedge race)

    @classmethod
    def from_spec(cls, spec: Any, resources: Resources) -> FakeBackend:
        return cls(spec.name, model=spec.model)

    def script(self, *steps: Step) -> None:
        self.steps = list(steps)

    def _next(self, call: Call) -> Step:
        self.calls.append(call)
        self.arrived.set()
        return self.steps.pop(0) if self.steps else self.default

    def release(self) -> None:
        self.released.set()

    async def _hang(self) -> None:
        try:
            await self.released.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def complete(self, call: Call) -> Reply:
        step = self._next(call)
        if step.hang:
            await self._hang()
        if step.error is not None:
            raise step.error
        body = step.reply or chat_reply(step.text, self.model)
        return Reply(json.dumps(body).encode())

    async def stream(self, call: Call) -> AsyncIterator[bytes]:
        step = self._next(call)
        if step.hang:
            await self._hang()
        if step.error is not None:
            raise step.error
        finished = False
        try:
            for i, chunk in enumerate(chat_chunks(step.text, self.model, call.include_usage)):
                if step.cut_after is not None and i >= step.cut_after:
                    raise StreamInterrupted(
                        f"Backend '{self.name}' broke the stream.", code="stream_interrupted"
                    )
                yield chunk
                await asyncio.sleep(0)  # a real upstream's reads interleave with other tasks
            finished = True
        finally:
            if not finished:
                self.closed += 1

    @property
    def queued(self) -> int:
        return self.queue

    @property
    def saturated(self) -> bool:
        return self.full

    @property
    def progress_lag_s(self) -> float | None:
        return self.lag

    async def health(self) -> bool:
        return self.up


def fake_backends(names: Mapping[str, list[Step]] | list[str]) -> dict[str, FakeBackend]:
    """One FakeBackend per name, with its script if given."""
    if isinstance(names, list):
        return {n: FakeBackend(n) for n in names}
    return {n: FakeBackend(n, steps=list(s)) for n, s in names.items()}
