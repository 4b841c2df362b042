"""A model behind Anthropic's Messages API (`kind: anthropic`): api.anthropic.com, or any server that
speaks it.

Chat requests go upstream as Messages requests (protocol/anthropic/from_chat.py) and the answer comes
back as chat (protocol/anthropic/chat_answer.py): a Message as a chat completion, Anthropic's events
as chat chunks, translated as they arrive, never buffered. Responses and Messages requests reach it in
chat form, as they reach every backend that does not speak their API. Text completions and
embeddings have no Messages counterpart and are refused here (UpstreamRejected): a route that serves
them needs another backend.

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

from gateway.backends.base import Backend, Call, Reply, Resources
from gateway.backends.openai_compat import api_key, status_error, transport_error
from gateway.errors import GatewayError, StreamInterrupted, UpstreamError, UpstreamRejected
from gateway.protocol.anthropic.chat_answer import ERROR_STATUS, ChatChunks, chat_of_message
from gateway.protocol.anthropic.from_chat import messages_body
from gateway.protocol.sse import ChatEvents
from gateway.rules import AnthropicSpec, KindSpec

__all__ = ["AnthropicBackend"]

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_HEALTH_TIMEOUT = aiohttp.ClientTimeout(total=2.0)
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
_OVERLOADED = 529  # Anthropic's "overloaded, try again later": the gateway's 503


def _status_error(backend: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    return status_error(backend, 503 if status == _OVERLOADED else status, body, headers)


def _event_error(backend: str, event: dict[str, Any]) -> GatewayError:
    error = event.get("error")
    error = error if isinstance(error, dict) else {}
    status = ERROR_STATUS.get(str(error.get("type")), 500)
    return _status_error(backend, status, _encode(event), {})


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
        prompt_cache: bool = False,
    ) -> None:
        super().__init__(name, model)
        self.base_url = root.rstrip("/")
        self._session = session
        self._url = self.base_url + "/v1/messages"
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
        self.max_tokens = max_tokens
        self.prompt_cache = prompt_cache

    @classmethod
    def from_spec(cls, spec: AnthropicSpec, resources: Resources) -> AnthropicBackend:
        return cls(
            spec.name,
            spec.model,
            spec.root,
            resources.session,
            api_key(spec, resources.env),
            version=spec.version,
            betas=spec.betas,
            max_tokens=spec.max_tokens,
            prompt_cache=spec.prompt_cache,
        )

    @classmethod
    def preflight(cls, spec: AnthropicSpec, env: Mapping[str, str]) -> list[str]:
        if spec.api_key_env and not env.get(spec.api_key_env):
            return [f"backend '{spec.name}': environment variable {spec.api_key_env} is not set"]
        return []

    def _body(self, call: Call) -> bytes:
        if call.endpoint != "chat":
            raise UpstreamRejected(
                f"Backend '{self.name}' speaks Anthropic's Messages API, which has no {call.endpoint}.",
                code="unsupported_feature",
            )
        body = messages_body(call.body, model=self.model, max_tokens=self.max_tokens, cache=self.prompt_cache)
        return _encode(body)

    async def complete(self, call: Call) -> Reply:
        data = self._body(call)
        try:
            async with self._session.post(self._url, data=data, headers=self._headers) as resp:
                content = await resp.read()
                if resp.status >= 400:
                    raise _status_error(self.name, resp.status, content, resp.headers)
        except _TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc) from exc
        try:
            message = _decode(content)
        except msgspec.DecodeError:
            raise UpstreamError(
                f"Backend '{self.name}' sent an answer that is not JSON.", code="upstream_protocol"
            ) from None
        return Reply(_encode(chat_of_message(message, created=int(time.time()))), 200)

    async def stream(self, call: Call) -> AsyncIterator[bytes]:
        data = self._body(call)
        try:
            resp = await self._session.post(self._url, data=data, headers=self._headers)
        except _TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc) from exc
        chunks = ChatChunks(created=int(time.time()), include_usage=call.include_usage)
        events = ChatEvents()
        yielded = finished = False
        try:
            if resp.status >= 400:
                raise _status_error(self.name, resp.status, await resp.read(), resp.headers)
            async for raw in resp.content.iter_any():
                out: list[bytes] = []
                for event in events.feed(raw):
                    if event is None:
                        continue
                    if event.get("type") == "error":  # as its status would have been, until we spoke
                        if yielded:
                            raise StreamInterrupted(
                                f"Backend '{self.name}' failed mid-answer.", code="stream_interrupted"
                            )
                        raise _event_error(self.name, event)
                    out += chunks.feed(event)
                if out:
                    yielded = True
                    yield b"".join(out)
            finished = True
            if not chunks.done:
                raise StreamInterrupted(
                    f"Backend '{self.name}' ended the stream early.", code="stream_interrupted"
                )
        except _TRANSPORT_ERRORS as exc:
            if yielded:
                raise StreamInterrupted(
                    f"Backend '{self.name}' broke the stream.", code="stream_interrupted"
                ) from exc
            raise transport_error(self.name, exc) from exc
        except StreamInterrupted as exc:
            if yielded:
                raise
            # Nothing reached the client: another candidate may answer.
            raise UpstreamError(f"Backend '{self.name}': {exc.message}", code="upstream_protocol") from None
        finally:
            if finished:
                resp.release()
            else:
                # The client left, a hedge lost, or it failed: dropping the connection stops the answer
                # (and its billing) upstream.
                resp.close()

    async def health(self) -> bool:
        try:
            async with self._session.get(
                self.health_url, headers=self._headers, timeout=_HEALTH_TIMEOUT
            ) as resp:
                return resp.status < 400
        except _TRANSPORT_ERRORS:
            return False

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "base_url": self.base_url}
