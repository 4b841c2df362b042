"""The one seam every backend implements: complete, stream, health; plus how a kind is built.

A stream is an async iterator of SSE bytes. A backend raises before its first chunk when it cannot
answer at all (so the caller may try another candidate), and raises StreamInterrupted once bytes have
been produced.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.protocol import Call
from gateway.protocol.tokens import TokenCount

if TYPE_CHECKING:
    import aiohttp

    from gateway.protocol import Endpoint
    from gateway.rules import KindSpec

__all__ = ["Backend", "Call", "Reply", "Resources", "TokenCount"]

_OPENAI = frozenset({"chat", "completions", "embeddings"})


@dataclass(slots=True)
class Reply:
    content: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # When its first chunk came (time.monotonic), where a plain answer was read as a stream
    # (`Backend.streams_plain`): its time to first token, which a plain answer otherwise hides.
    first_chunk_at: float | None = None


@dataclass(frozen=True, slots=True)
class Resources:
    """What the process gives every backend it builds."""

    session: aiohttp.ClientSession
    model_threads: int  # 0: all cores
    env: Mapping[str, str]  # where key variables are read, here and only here


class Backend(ABC):
    kind: str
    # The routes.yaml spec of this kind: registry.py builds a backend from a spec of this type.
    spec_type: ClassVar[type[KindSpec]]
    # Speaks the Responses API natively; otherwise Responses requests reach it translated to chat.
    responses: bool = False
    # The engine's own word that it works, where its metrics tell (vllm.py: its token counters
    # moved): when they last moved.
    progressed_at: float = -math.inf

    def __init__(self, name: str, model: str) -> None:
        self.name = name
        self.model = model

    def speaks(self, endpoint: Endpoint) -> bool:
        """Does it serve this API natively? Every backend serves chat, completions and embeddings; the
        Responses API (and its compaction) only those with `responses: true`. Other requests reach it in
        chat form."""
        if endpoint in ("responses", "compact"):
            return self.responses
        return endpoint in _OPENAI

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: Any, resources: Resources) -> Backend:
        """Build one from its routes.yaml spec."""

    @classmethod
    def preflight(cls, spec: Any, env: Mapping[str, str]) -> list[str]:
        """What would stop it from starting (checked before serving or swapping in a reload)."""
        return []

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

    async def count_tokens(self, call: Call) -> TokenCount:
        """The call's prompt in this backend's tokens. By default the estimate the request view makes
        (protocol/tokens.py, its error documented there); a backend with its own tokenizer at hand
        counts exactly (the embedded model)."""
        return TokenCount(call.view.prompt_tokens, exact=False)

    def streams_plain(self, call: Call) -> bool:
        """Is this plain call sent upstream as a stream (openai_compat.py, `stream_plain`)? Then each
        chunk it reads is news that the server works (`progressed_at`), at once."""
        return False

    @property
    def queued(self) -> int:
        """Requests admitted and not finished, where the backend itself keeps a queue."""
        return 0

    @property
    def progress_lag_s(self) -> float | None:
        """The longest a working engine may look still through its counters (`progressed_at`);
        None while they tell nothing (none shown, or not heard of lately): a plain answer is then
        never given up on for its silence."""
        return None

    @property
    def saturated(self) -> bool:
        """Past the load the routes file allows: the plan should spill to other backends."""
        return False

    @abstractmethod
    async def health(self) -> bool:
        """Cheap liveness that never bills tokens."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "model": self.model}
