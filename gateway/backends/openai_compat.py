"""Any OpenAI-compatible HTTP upstream: vLLM, llama.cpp server, OpenAI, OpenRouter, Together, ...

The response body is passed through byte for byte (SSE chunk by chunk, never buffered); only the
request's `model` is rewritten to the backend's. Upstream failures become the gateway's own errors here,
so nothing above this module knows about HTTP client exceptions.

One exception, a backend's `stream_plain`: a plain chat or text completion is then sent upstream as a
stream and put back together (protocol/assemble.py). A plain answer is otherwise silent while it is
written, so a server that hangs cannot be told from one writing a long answer; each chunk read is news
that the server works (`progressed_at`), and a request whose server went silent moves on
(dispatch/modes.py) instead of waiting for its read timeout.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Self

import aiohttp
import msgspec
from pydantic import SecretStr

from gateway.backends.base import Backend, Call, Reply, Resources
from gateway.backends.http import TRANSPORT_ERRORS, reachable
from gateway.errors import (
    ConfigError,
    ContextOverflow,
    GatewayError,
    StreamInterrupted,
    UpstreamError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.protocol import DONE_MARK, Endpoint
from gateway.protocol.assemble import STREAMABLE_REFUSED, Assembled
from gateway.protocol.sse import ChatEvents
from gateway.protocol.usage import USAGE_MARK
from gateway.rules import AnthropicSpec, KindSpec, OpenAISpec, VLLMSpec

__all__ = ["OpenAICompatBackend", "api_key", "missing_key", "status_error", "stream_broke", "transport_error"]

log = logging.getLogger(__name__)

_PATHS: dict[Endpoint, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "responses": "/responses",
    "compact": "/responses/compact",
}
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def _upstream_message(body: bytes) -> str:
    """The upstream's own error message (about the client's request), trimmed."""
    try:
        data = _decode(body)
        msg = data["error"]["message"] if isinstance(data.get("error"), dict) else data.get("message")
    except (msgspec.DecodeError, AttributeError, KeyError, TypeError):
        msg = None
    return str(msg)[:500] if msg else "no details"


# How OpenAI, vLLM, llama.cpp's server and others say a request does not fit the model's context.
_TOO_LONG = re.compile(
    r"context[ _](length|window|size)|prompt is too long|max_model_len|too many tokens|input is too long",
    re.IGNORECASE,
)


def status_error(backend: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    if status in (400, 409, 413, 422):
        message = _upstream_message(body)
        if _TOO_LONG.search(message):  # a larger window may take it: the walk moves on
            return ContextOverflow(
                f"Backend '{backend}' cannot hold the request: {message}", code="context_length_exceeded"
            )
        return UpstreamRejected(
            f"Backend '{backend}' rejected the request: {message}", code="upstream_rejected"
        )
    if status in (429, 503, 529):  # 529: Anthropic's "overloaded" (and providers that relay it)
        retry_after = headers.get("retry-after")
        return UpstreamUnavailable(
            f"Backend '{backend}' is overloaded (HTTP {status}).",
            code="upstream_overloaded",
            headers={"retry-after": retry_after} if retry_after else None,
        )
    if status == 408 or status == 504:
        return UpstreamTimeout(f"Backend '{backend}' timed out (HTTP {status}).", code="upstream_timeout")
    if status in (401, 403):
        # Our credentials, not the client's: say so without echoing anything the upstream sent.
        return UpstreamStatusError(
            f"Backend '{backend}' refused the gateway's credentials (HTTP {status}).",
            upstream_status=status,
            code="upstream_auth",
        )
    return UpstreamStatusError(
        f"Backend '{backend}' failed with HTTP {status}.", upstream_status=status, code="upstream_error"
    )


def missing_key(spec: OpenAISpec | VLLMSpec | AnthropicSpec, env: Mapping[str, str]) -> list[str]:
    """A backend's preflight problem when its key variable is named and unset (never its value)."""
    if spec.api_key_env and not env.get(spec.api_key_env):
        return [f"backend '{spec.name}': environment variable {spec.api_key_env} is not set"]
    return []


def stream_broke(backend: str, exc: BaseException, started: bool) -> UpstreamError:
    """A failed exchange mid-stream: once bytes reached the client, an interrupted stream; before,
    the transport's error (another candidate may answer)."""
    if started:
        return StreamInterrupted(f"Backend '{backend}' broke the stream.", code="stream_interrupted")
    return transport_error(backend, exc)


def transport_error(backend: str, exc: BaseException) -> UpstreamError:
    if isinstance(exc, TimeoutError):  # aiohttp's socket timeouts are TimeoutErrors too
        return UpstreamTimeout(f"Backend '{backend}' did not answer in time.", code="upstream_timeout")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(f"Cannot connect to backend '{backend}'.", code="upstream_unreachable")
    return UpstreamError(f"Backend '{backend}' broke the connection.", code="upstream_protocol")


def _stream_error(backend: str, event: dict[str, Any]) -> GatewayError:
    """An error event in place of a stream's next chunk (vLLM's, with the status in `code`)."""
    error = event.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    return status_error(backend, status, _encode(event), {})


_FINAL_EVENTS = (b"event: response.completed", b"event: response.incomplete", b"event: response.failed")


def api_key(spec: OpenAISpec | VLLMSpec | AnthropicSpec, env: Mapping[str, str]) -> SecretStr | None:
    if spec.api_key_env is None:
        return None
    value = env.get(spec.api_key_env)
    if not value:
        # Name the variable, never its value.
        raise ConfigError(f"backend '{spec.name}': environment variable {spec.api_key_env} is not set")
    return SecretStr(value)


class OpenAICompatBackend(Backend):
    kind = "openai"
    spec_type: ClassVar[type[KindSpec]] = OpenAISpec
    stream_plain = False  # the spec's (rules/backends.py): plain chat and completions sent as streams
    stream_usage = False  # the spec's: streams asked for their usage when the client did not ask
    _told_no_usage = False

    def __init__(
        self,
        name: str,
        model: str,
        base_url: str,
        session: aiohttp.ClientSession,
        api_key: SecretStr | None = None,
    ) -> None:
        super().__init__(name, model)
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key is not None:
            self._headers["authorization"] = f"Bearer {api_key.get_secret_value()}"
        self._urls = {e: self.base_url + p for e, p in _PATHS.items()}
        # Listing models bills nothing and proves the server and our key work.
        self.health_url = self.base_url + "/models"

    @classmethod
    def from_spec(cls, spec: OpenAISpec, resources: Resources) -> OpenAICompatBackend:
        backend = cls(spec.name, spec.model, spec.base_url, resources.session, api_key(spec, resources.env))
        return backend.speaking_as(spec)

    def speaking_as(self, spec: OpenAISpec | VLLMSpec) -> Self:
        """The spec's fields every HTTP kind reads the same way (vllm.py's from_spec too)."""
        self.responses = spec.responses
        self.stream_plain = spec.plain_as_stream
        self.stream_usage = spec.stream_usage
        return self

    @classmethod
    def preflight(cls, spec: OpenAISpec | VLLMSpec, env: Mapping[str, str]) -> list[str]:
        return missing_key(spec, env)

    def _body(self, call: Call, **changed: Any) -> bytes:
        return _encode({**call.body, "model": self.model, **changed})

    def streams_plain(self, call: Call) -> bool:
        return (
            self.stream_plain
            and call.endpoint in ("chat", "completions")
            and not any(call.body.get(k) for k in STREAMABLE_REFUSED)
        )

    async def complete(self, call: Call) -> Reply:
        if self.streams_plain(call):
            return await self._complete_streamed(call)
        try:
            async with self._session.post(
                self._urls[call.endpoint], data=self._body(call), headers=self._headers
            ) as resp:
                content = await resp.read()
                status = resp.status
                if status >= 400:
                    raise status_error(self.name, status, content, resp.headers)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc) from exc
        return Reply(content, status)

    async def _complete_streamed(self, call: Call) -> Reply:
        body = self._body(call, stream=True, stream_options={"include_usage": True})
        assembled = Assembled("chat" if call.endpoint == "chat" else "completions")
        events, done, first = ChatEvents(), False, None
        try:
            async with self._session.post(
                self._urls[call.endpoint], data=body, headers=self._headers
            ) as resp:
                if resp.status >= 400:
                    raise status_error(self.name, resp.status, await resp.read(), resp.headers)
                if resp.content_type == "application/json":  # it answered plain all the same
                    return Reply(await resp.read(), resp.status)
                try:
                    async for chunk in resp.content.iter_any():
                        self.progressed_at = now = time.monotonic()  # the server works: news for dispatch
                        first = now if first is None else first
                        for event in events.feed(chunk):
                            if event is None:
                                done = True
                            elif "error" in event and not event.get("choices"):
                                raise _stream_error(self.name, event)
                            else:
                                assembled.add(event)
                except BaseException:
                    # Left mid-answer (a hedge lost, the client gone, a failure): dropping the
                    # connection is how the server learns to stop generating.
                    resp.close()
                    raise
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc) from exc
        except StreamInterrupted as exc:  # nothing reached the client: another candidate may answer
            raise UpstreamError(f"Backend '{self.name}': {exc.message}", code="upstream_protocol") from None
        if not done:
            raise UpstreamError(f"Backend '{self.name}' ended the answer early.", code="upstream_protocol")
        if assembled.usage is None:
            self._no_stream_usage()
        return Reply(_encode(assembled.answer()), 200, first_chunk_at=first)

    def _no_stream_usage(self) -> None:
        # A plain answer carries its usage; a server that counts nothing in its streams cannot give
        # one this way. Its plain requests go plain from now on (this answer has none).
        self.stream_plain = False
        log.warning(
            "backend %s sent no usage in a stream (stream_options.include_usage): its plain requests "
            "are sent plain from now on, and a silent one waits for its read timeout; set "
            "`stream_plain: false` on it to start that way",
            self.name,
        )

    def _asks_usage(self, call: Call) -> bool:
        """Whether this stream is asked for its usage on the gateway's behalf: the client did not ask,
        and the gateway bills by the upstream's count (serving/openai.py hides it from the client)."""
        return self.stream_usage and call.endpoint in ("chat", "completions") and not call.include_usage

    def _stream_body(self, call: Call, asks: bool) -> bytes:
        if not asks:
            return self._body(call)
        options = call.body.get("stream_options")
        return self._body(
            call, stream_options={**(options if isinstance(options, dict) else {}), "include_usage": True}
        )

    def _no_usage_asked(self) -> None:
        # Named once. Still asked: asking costs a server that ignores the option nothing, and a
        # usage event missed in the last two reads (a [DONE] split over three) would stop it for good.
        if self._told_no_usage:
            return
        self._told_no_usage = True
        log.warning(
            "backend %s counts nothing in its streams although asked (stream_options.include_usage): "
            "they are billed by an estimate; `stream_usage: false` on it sends them as the client wrote them",
            self.name,
        )

    async def stream(self, call: Call) -> AsyncIterator[bytes]:
        asks = self._asks_usage(call)
        try:
            resp = await self._session.post(
                self._urls[call.endpoint], data=self._stream_body(call, asks), headers=self._headers
            )
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc) from exc
        started = finished = False
        try:
            if resp.status >= 400:
                raise status_error(self.name, resp.status, await resp.read(), resp.headers)
            tail = before = last = b""
            # Chat streams end with [DONE] (looked for at the end, in the last two reads: it may be
            # split over them); a Responses stream with its final event, whose type comes first in
            # an event that may be long: remember having seen one.
            final = call.endpoint == "responses"
            ended = False
            async for chunk in resp.content.iter_any():
                started = True
                if final and not ended:
                    seen = tail + chunk  # an event line split over two reads is still found
                    ended = any(e in seen for e in _FINAL_EVENTS)
                    tail = chunk[-32:]
                before, last = last, chunk
                yield chunk
            finished = True
            if not (ended or DONE_MARK in before[-16:] + last[-16:]):
                raise StreamInterrupted(
                    f"Backend '{self.name}' ended the stream early.", code="stream_interrupted"
                )
            # The usage event comes last, before [DONE]: looked for in the last two reads, not in
            # every read (the relay reads it from the last four).
            if asks and USAGE_MARK not in before + last:
                self._no_usage_asked()
        except TRANSPORT_ERRORS as exc:
            raise stream_broke(self.name, exc, started) from exc
        finally:
            if finished:
                resp.release()
            else:
                # The client left (or we failed) mid-stream: dropping the connection is how an
                # OpenAI-compatible server learns to stop generating.
                resp.close()

    async def health(self) -> bool:
        return await reachable(self._session, self.health_url, self._headers)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "base_url": self.base_url}
