"""A model behind Anthropic's Messages API (`kind: anthropic`): api.anthropic.com, or any server that
speaks it.

Messages requests (Claude Code, the `anthropic` SDK) are passed through as the client sent them, with
the backend's model and the client's `anthropic-beta` features: prompt caching, thinking and its
signatures, server tools and documents all reach the API. Chat requests go upstream as Messages
requests (protocol/anthropic/from_chat.py) and the answer comes back as chat
(protocol/anthropic/chat_answer.py): a Message as a chat completion, Anthropic's events as chat
chunks, translated as they arrive, never buffered. Responses requests reach it in chat form, as
they reach every backend that does not speak their API. Text completions and embeddings have no
Messages counterpart and are refused here (UpstreamRejected): a route that serves them needs
another backend.

Failures are the gateway's own errors, as for the OpenAI-compatible kinds: Anthropic's `overloaded`
(HTTP 529) is an overloaded upstream (another candidate may answer), and an `error` event before
the first chunk is treated as the status it stands for.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import aiohttp
import msgspec
from pydantic import SecretStr

from gateway.backends.base import Backend, Call, Reply, Resources, TokenCount
from gateway.backends.http import TRANSPORT_ERRORS, reachable
from gateway.backends.openai_compat import api_key, missing_key, status_error, stream_broke, transport_error
from gateway.errors import GatewayError, StreamInterrupted, UpstreamError, UpstreamRejected
from gateway.protocol import Endpoint
from gateway.protocol.anthropic.chat_answer import ChatChunks, chat_of_message
from gateway.protocol.anthropic.errors import ERROR_STATUS
from gateway.protocol.anthropic.from_chat import messages_body
from gateway.protocol.sse import ChatEvents
from gateway.rules import AnthropicSpec, KindSpec

__all__ = ["AnthropicBackend"]

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_PREAMBLE = ("message_start", "ping")  # what a native stream sends before its answer
# What the token-counting endpoint reads of a request (it refuses the rest: max_tokens, stream, ...).
_COUNTED = ("messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management")
_COUNT_TIMEOUT = aiohttp.ClientTimeout(total=5.0)


def _event_error(backend: str, event: dict[str, Any]) -> GatewayError:
    error = event.get("error")
    error = error if isinstance(error, dict) else {}
    status = ERROR_STATUS.get(str(error.get("type")), 500)
    return status_error(backend, status, _encode(event), {})


class AnthropicBackend(Backend):
    kind = "anthropic"
    spec_type: ClassVar[type[KindSpec]] = AnthropicSpec

    def __init__(
        self,
        name: str,
        model: str,
        root: str,
        session: aiohttp.ClientSession,
        api_key: SecretStr | None = None,
        *,
        version: str = "2023-06-01",
        betas: tuple[str, ...] = (),
        max_tokens: int = 4096,
        max_output_tokens: int | None = None,
        prompt_cache: bool = False,
    ) -> None:
        super().__init__(name, model)
        self.base_url = root.rstrip("/")
        self._session = session
        self._url = self.base_url + "/v1/messages"
        self._count_url = self._url + "/count_tokens"
        self.health_url = self.base_url + "/v1/models"  # bills nothing, proves the key
        self._headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": version,
        }
        if api_key is not None:
            self._headers["x-api-key"] = api_key.get_secret_value()
        if betas:
            self._headers["anthropic-beta"] = ",".join(betas)
        self.max_tokens = max_tokens if max_output_tokens is None else min(max_tokens, max_output_tokens)
        self.max_output_tokens = max_output_tokens
        self.prompt_cache = prompt_cache

    @classmethod
    def from_spec(cls, spec: AnthropicSpec, resources: Resources) -> AnthropicBackend:
        return cls(
            spec.name,
            spec.model,
            spec.root(),
            resources.session,
            api_key(spec, resources.env),
            version=spec.version,
            betas=spec.betas,
            max_tokens=spec.max_tokens,
            max_output_tokens=spec.max_output_tokens,
            prompt_cache=spec.prompt_cache,
        )

    @classmethod
    def preflight(cls, spec: AnthropicSpec, env: Mapping[str, str]) -> list[str]:
        return missing_key(spec, env)

    def speaks(self, endpoint: Endpoint) -> bool:
        """The Messages API natively: a Messages request is passed through as the client sent it
        (prompt caching, thinking and its signatures, server tools, PDFs: all kept); chat as chat,
        translated here; the Responses API in chat form."""
        return endpoint in ("messages", "chat")

    def _body(self, call: Call) -> bytes:
        if call.endpoint == "messages":
            body = {**call.body, "model": self.model}
        elif call.endpoint == "chat":
            body = messages_body(
                call.body, model=self.model, max_tokens=self.max_tokens, cache=self.prompt_cache
            )
        else:
            raise UpstreamRejected(
                f"Backend '{self.name}' speaks Anthropic's Messages API, which has no {call.endpoint}.",
                code="unsupported_feature",
            )
        most = self.max_output_tokens
        if most is not None and isinstance(body.get("max_tokens"), int) and body["max_tokens"] > most:
            body["max_tokens"] = most
        return _encode(body)

    def _headers_for(self, call: Call) -> dict[str, str]:
        """A request passed through goes with the client's `anthropic-version` (its body is written
        for that version) and its `anthropic-beta` features joined to the backend's own (its body may
        use them): Claude Code's gateway contract asks both forwarded. A translated request, written
        by the gateway, goes with the backend's `version`."""
        if call.endpoint != "messages" or not call.forward:
            return self._headers
        headers = dict(self._headers)
        for name, value in call.forward:
            if name == "anthropic-version":
                headers[name] = value
            elif name == "anthropic-beta":
                betas = [b.strip() for v in (headers.get(name, ""), value) for b in v.split(",") if b.strip()]
                headers[name] = ",".join(dict.fromkeys(betas))
        return headers

    async def complete(self, call: Call) -> Reply:
        data = self._body(call)
        try:
            async with self._session.post(self._url, data=data, headers=self._headers_for(call)) as resp:
                content = await resp.read()
                if resp.status >= 400:
                    raise status_error(self.name, resp.status, content, resp.headers)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc) from exc
        if call.endpoint == "messages":
            return Reply(content, 200)
        try:
            message = _decode(content)
        except msgspec.DecodeError:
            raise UpstreamError(
                f"Backend '{self.name}' sent an answer that is not JSON.", code="upstream_protocol"
            ) from None
        return Reply(_encode(chat_of_message(message, created=int(time.time()))), 200)

    async def stream(self, call: Call) -> AsyncIterator[bytes]:
        """Chat chunks translated from the events as they arrive, or, for a Messages request, the
        events themselves. Either way nothing is sent before the answer's first content (a native
        stream's `message_start` waits for it): an `error` event before that (the API accepted,
        then found itself overloaded) is raised as the status it stands for, and another backend
        may answer."""
        data = self._body(call)
        try:
            resp = await self._session.post(self._url, data=data, headers=self._headers_for(call))
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc) from exc
        native = call.endpoint == "messages"
        chunks = ChatChunks(created=int(time.time()))
        events = ChatEvents()
        held = b""  # a native stream's bytes until its first content
        yielded = finished = stopped = False
        try:
            if resp.status >= 400:
                raise status_error(self.name, resp.status, await resp.read(), resp.headers)
            async for raw in resp.content.iter_any():
                parsed = [e for e in events.feed(raw) if e is not None]
                failed = next((e for e in parsed if e.get("type") == "error"), None)
                if failed is not None:
                    if yielded:
                        raise StreamInterrupted(
                            f"Backend '{self.name}' failed mid-answer.", code="stream_interrupted"
                        )
                    raise _event_error(self.name, failed)
                if native:
                    held += raw
                    stopped = stopped or any(e.get("type") == "message_stop" for e in parsed)
                    begun = yielded or any(e.get("type") not in _PREAMBLE for e in parsed)
                    out, held = (held, b"") if begun else (b"", held)
                else:
                    out = b"".join(b for e in parsed for b in chunks.feed(e))
                    stopped = chunks.done
                if out:
                    yielded = True
                    yield out
            finished = True
            if not stopped:
                raise StreamInterrupted(
                    f"Backend '{self.name}' ended the stream early.", code="stream_interrupted"
                )
            if held:
                yield held
        except TRANSPORT_ERRORS as exc:
            raise stream_broke(self.name, exc, yielded) from exc
        except StreamInterrupted as exc:
            if yielded:
                raise
            # Nothing reached the client: another candidate may answer.
            raise UpstreamError(f"Backend '{self.name}': {exc.message}", code="upstream_protocol") from None
        finally:
            if finished:
                resp.release()
            else:
                # The client left, a hedge lost, or it failed: dropping the connection stops the
                # answer (and its billing) upstream.
                resp.close()

    async def count_tokens(self, call: Call) -> TokenCount:
        """Counted by the API itself (`/v1/messages/count_tokens`, free, exact for its model): the
        request as it would be sent, less what only generation reads. The estimate where the API
        cannot count it (a server without the endpoint, a failure, a request refused here)."""
        try:
            body = call.body if call.endpoint == "messages" else _decode(self._body(call))
            sent = {k: v for k, v in body.items() if k in _COUNTED} | {"model": self.model}
            async with self._session.post(
                self._count_url, data=_encode(sent), headers=self._headers_for(call), timeout=_COUNT_TIMEOUT
            ) as resp:
                if resp.status < 400:
                    tokens = _decode(await resp.read()).get("input_tokens")
                    if isinstance(tokens, int):
                        return TokenCount(tokens, exact=True)
        except (*TRANSPORT_ERRORS, GatewayError, msgspec.DecodeError, AttributeError):
            pass
        return await super().count_tokens(call)

    async def health(self) -> bool:
        return await reachable(self._session, self.health_url, self._headers)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "base_url": self.base_url}
