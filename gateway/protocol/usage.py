"""Token counts: the `usage` an upstream reports, read at C speed, and the estimate when it reports none."""

from __future__ import annotations

import msgspec

from gateway.protocol.sse import PREFIX

__all__ = ["BYTES_PER_TOKEN", "Usage", "estimated_usage", "stream_usage", "usage_of"]

BYTES_PER_TOKEN = 4  # OpenAI's rule of thumb, for bodies whose upstream reported no usage


class _CachedDetails(msgspec.Struct):
    cached_tokens: int = 0


class Usage(msgspec.Struct, frozen=True):
    """An answer's `usage`, as the upstream counted it (or as the gateway estimated it)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _CachedDetails | None = None

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return details.cached_tokens if details is not None else 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class _WithUsage(msgspec.Struct):
    usage: Usage | None = None


_usage_decoder = msgspec.json.Decoder(_WithUsage)


def usage_of(body: bytes) -> Usage | None:
    """`usage` of a response body, skipping everything else at C speed."""
    try:
        return _usage_decoder.decode(body).usage
    except msgspec.DecodeError:
        return None


def stream_usage(chunk: bytes) -> Usage | None:
    """The `usage` that SSE bytes carry (the last event of a stream with include_usage), if whole."""
    found = None
    for line in chunk.split(b"\n"):
        if line.startswith(PREFIX) and b'"prompt_tokens"' in line:
            found = usage_of(line[len(PREFIX) :]) or found
    return found


def estimated_usage(body_bytes: int, output_tokens: int) -> Usage:
    """When the upstream counted nothing: about four bytes a token of request JSON."""
    return Usage(prompt_tokens=body_bytes // BYTES_PER_TOKEN, completion_tokens=output_tokens)
