"""Token counts: the `usage` an upstream reports, read at C speed, and the estimate when it reports none."""

from __future__ import annotations

import msgspec

from gateway.protocol.sse import PREFIX

__all__ = [
    "BYTES_PER_TOKEN",
    "USAGE_MARK",
    "Usage",
    "estimated_usage",
    "stream_usage",
    "usage_of",
]

BYTES_PER_TOKEN = 4  # OpenAI's rule of thumb, for bodies whose upstream reported no usage
# In a usage object's keys (prompt_tokens, input_tokens, ...); never in text, whose quotes are escaped.
USAGE_MARK = b'_tokens"'


class _CachedDetails(msgspec.Struct):
    cached_tokens: int = 0


class Usage(msgspec.Struct, frozen=True):
    """An answer's `usage`, as the upstream counted it (or as the gateway estimated it).

    Chat and completions name the counts prompt/completion tokens, the Responses API input/output
    tokens, the Messages API input/output tokens with the cache's apart (its input_tokens excludes
    what was read from or written to the prompt cache): every spelling decodes, and the properties
    below read whichever was sent.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _CachedDetails | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_tokens_details: _CachedDetails | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.input_tokens is not None or self.output_tokens is not None:
            # Frozen: fill the chat spelling in once, so every reader sees one shape.
            read, written = self.cache_read_input_tokens or 0, self.cache_creation_input_tokens or 0
            msgspec.structs.force_setattr(self, "prompt_tokens", (self.input_tokens or 0) + read + written)
            msgspec.structs.force_setattr(self, "completion_tokens", self.output_tokens or 0)
            details = self.input_tokens_details
            if read:
                details = _CachedDetails(read)
            if self.prompt_tokens_details is None:
                msgspec.structs.force_setattr(self, "prompt_tokens_details", details)

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return details.cached_tokens if details is not None else 0

    @property
    def cache_written(self) -> int:
        """Prompt tokens the upstream wrote to its prompt cache (Anthropic counts them; others do not)."""
        return self.cache_creation_input_tokens or 0

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
    if USAGE_MARK not in chunk:
        return None  # no count in them at all (most streams: no include_usage)
    found = None
    for line in chunk.split(b"\n"):
        if line.startswith(PREFIX) and (b'"prompt_tokens"' in line or b'"input_tokens"' in line):
            found = usage_of(line[len(PREFIX) :]) or _response_usage(line[len(PREFIX) :]) or found
    return found


class _Response(msgspec.Struct):
    usage: Usage | None = None


class _WithResponse(msgspec.Struct):
    response: _Response | None = None


_event_decoder = msgspec.json.Decoder(_WithResponse)


def _response_usage(data: bytes) -> Usage | None:
    """A Responses stream's usage: inside its response.completed event's `response`."""
    try:
        response = _event_decoder.decode(data).response
    except msgspec.DecodeError:
        return None
    return response.usage if response is not None else None


def estimated_usage(body_bytes: int, output_tokens: int) -> Usage:
    """When the upstream counted nothing: about four bytes a token of request JSON."""
    return Usage(prompt_tokens=body_bytes // BYTES_PER_TOKEN, completion_tokens=output_tokens)
