"""The one seam every backend implements: complete, stream, embed, health.

A stream is an async iterator of SSE bytes. A backend raises before its first chunk when it cannot
answer at all (so the caller may try another candidate), and raises StreamInterrupted once bytes have
been produced.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Backend", "Call", "Endpoint", "Reply"]

Endpoint = Literal["chat", "completions", "embeddings"]


@dataclass(slots=True)
class Call:
    endpoint: Endpoint
    # The client's JSON as received; backends copy it with their own `model` and never mutate it.
    body: dict[str, Any]
    stream: bool = False
    include_usage: bool = False
    received: float = 0.0  # when the gateway got the request (the dispatcher's clock)
    body_bytes: int = 0  # the request's size, for token estimates when an upstream reports no usage
    tenant: str | None = None  # whose key sent it (None on an open gateway), for per-tenant limits


@dataclass(slots=True)
class Reply:
    content: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class Backend(ABC):
    kind: str

    def __init__(self, name: str, model: str) -> None:
        self.name = name
        self.model = model

    async def start(self) -> None:  # noqa: B027 - optional hook, most backends need none
        """Acquire resources (load a model, open a pool); called once in the app's lifespan."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what start() acquired."""

    @abstractmethod
    async def complete(self, call: Call) -> Reply:
        """A non-streamed chat completion, text completion or embedding."""

    @abstractmethod
    def stream(self, call: Call) -> AsyncIterator[bytes]:
        """SSE bytes, ending with `data: [DONE]`."""

    @property
    def queued(self) -> int:
        """Requests admitted and not finished, where the backend itself keeps a queue."""
        return 0

    @property
    def saturated(self) -> bool:
        """Past the load the routes file allows: the plan should spill to other backends."""
        return False

    @abstractmethod
    async def health(self) -> bool:
        """Cheap liveness that never bills tokens."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "model": self.model}
