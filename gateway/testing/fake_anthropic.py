"""A scriptable upstream that speaks Anthropic's Messages API: a real HTTP server for tests of the
`anthropic` backend kind, and for fault injection.

It wants the `anthropic-version` header and its key (`x-api-key`, or a bearer token), and checks
each request by the rules the API documents (testing/anthropic_rules.py: `max_tokens`, turns of
`user` and `assistant` and `system` messages of text between them, non-empty text blocks, every
`tool_use` answered by a `tool_result` at the start of the next user turn, `tool_choice` naming an
offered tool, ...), refusing as the API does: a 400 `invalid_request_error` naming the field. It
answers as the API does, as a Message or as its event stream (framed here, independently of the
gateway): text, or a call to the first tool offered (`tool_input`) unless the conversation ends
with a tool's result; stop sequences and `max_tokens` end the text where they would. Usage counts
the prompt cache as the API would with top-level `cache_control`: written the first time a system
prompt and tools are seen, read after. `POST /v1/messages/count_tokens` counts a quarter of the
request's JSON bytes, after the same checks, and refuses the fields only generation reads.

    POST /_fake/script  {"mode": "ok" | "error" | "error_event" | "hang" | "cut",
                         "status": 529, "type": "overloaded_error", "times": null, "delay_ms": 0}

`error` answers the status with Anthropic's error body; `error_event` starts a stream (HTTP 200)
whose first event is an `error`, as the API does when it is overloaded after accepting; `cut` drops
the connection halfway through a stream; `hang` never answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.testing.anthropic_rules import COUNTED, Invalid, check
from gateway.testing.served import Served

__all__ = ["FakeAnthropic"]


@dataclass
class AnthropicScript:
    mode: str = "ok"
    status: int = 529
    type: str = "overloaded_error"
    times: int | None = None
    delay_ms: float = 0.0


@dataclass
class AnthropicStats:
    paths: dict[str, int] = field(default_factory=dict)
    last_body: dict[str, Any] | None = None
    last_headers: dict[str, str] = field(default_factory=dict)
    aborted: int = 0  # streams whose reader left before the end
    refused: list[str] = field(default_factory=list)  # why each refused request was refused


def _error(status: int, kind: str, message: str) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
    return web.json_response(body, status=status)


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


class FakeAnthropic(Served):
    def __init__(
        self,
        model: str = "claude-fake",
        reply: str = "Hello from the fake Anthropic API.",
        api_key: str | None = None,
    ) -> None:
        self.model = model
        self.reply = reply
        self.api_key = api_key
        self.tool_input: dict[str, Any] = {"city": "Paris"}
        self.tool_name: str | None = None  # the tool its calls name when offered (default: the first)
        self.max_output: int | None = None  # the model's longest answer: more asked for is refused
        self.script = AnthropicScript()
        self.stats = AnthropicStats()
        self.healthy = True
        self._cached: set[str] = set()
        self._ids = 0
        super().__init__(f"fake-anthropic-{model}")

    def set(self, **kw: Any) -> None:
        self.script = AnthropicScript(**kw)

    def _take(self) -> AnthropicScript:
        s = self.script
        if s.times is not None:
            s.times -= 1
            if s.times <= 0:
                self.script = AnthropicScript()
        return s

    # ---- the answer --------------------------------------------------------------------------
    def _usage(self, body: dict[str, Any], output: int) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": 11,
            "output_tokens": output,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        if body.get("cache_control"):
            key = hashlib.sha256(json.dumps([body.get("system"), body.get("tools")]).encode()).hexdigest()
            usage["cache_read_input_tokens" if key in self._cached else "cache_creation_input_tokens"] = 100
            self._cached.add(key)
        return usage

    def _blocks(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str | None]:
        """(content blocks, stop_reason, stop_sequence)."""
        last = body["messages"][-1]
        results = (
            [b for b in last["content"] if b.get("type") == "tool_result"]
            if isinstance(last["content"], list)
            else []
        )
        tools = [t for t in body.get("tools") or [] if t.get("type") in (None, "custom")]
        choice = (body.get("tool_choice") or {}).get("type")
        if tools and not results and choice != "none":
            names = [t["name"] for t in tools]
            wanted = self.tool_name if self.tool_name in names else names[0]
            name = body["tool_choice"]["name"] if choice == "tool" else wanted
            self._ids += 1
            call = {
                "type": "tool_use",
                "id": f"toolu_fake{self._ids:04d}",
                "name": name,
                "input": self.tool_input,
            }
            return [call], "tool_use", None
        text = self.reply
        if results:
            said = results[-1].get("content")
            if isinstance(said, list):
                said = "\n".join(str(b.get("text")) for b in said if b.get("type") == "text")
            text = f"{text} (the tool said: {said})"
        for stop in body.get("stop_sequences") or []:
            if stop in text:
                return [{"type": "text", "text": text[: text.index(stop)]}], "stop_sequence", stop
        words = text.split(" ")
        if len(words) > body["max_tokens"]:
            return [{"type": "text", "text": " ".join(words[: body["max_tokens"]])}], "max_tokens", None
        return [{"type": "text", "text": text}], "end_turn", None

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        blocks, reason, sequence = self._blocks(body)
        self._ids += 1
        return {
            "id": f"msg_fake{self._ids:04d}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": blocks,
            "stop_reason": reason,
            "stop_sequence": sequence,
            "usage": self._usage(body, sum(len(json.dumps(b).split()) for b in blocks)),
        }

    def _events(self, message: dict[str, Any]) -> list[bytes]:
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {**message["usage"], "output_tokens": 1}
        out = [_event({"type": "message_start", "message": start}), _event({"type": "ping"})]
        for i, block in enumerate(message["content"]):
            if block["type"] == "text":
                out.append(
                    _event(
                        {
                            "type": "content_block_start",
                            "index": i,
                            "content_block": {"type": "text", "text": ""},
                        }
                    )
                )
                words = block["text"].split(" ")
                for j, word in enumerate(words):
                    piece = word if j == 0 else " " + word
                    delta = {"type": "text_delta", "text": piece}
                    out.append(_event({"type": "content_block_delta", "index": i, "delta": delta}))
            elif block["type"] == "thinking":
                opened: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
                out.append(_event({"type": "content_block_start", "index": i, "content_block": opened}))
                for delta in (
                    {"type": "thinking_delta", "thinking": block["thinking"]},
                    {"type": "signature_delta", "signature": block["signature"]},
                ):
                    out.append(_event({"type": "content_block_delta", "index": i, "delta": delta}))
            else:
                opened = {**block, "input": {}}
                out.append(_event({"type": "content_block_start", "index": i, "content_block": opened}))
                raw = json.dumps(block["input"])
                for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    out.append(_event({"type": "content_block_delta", "index": i, "delta": delta}))
            out.append(_event({"type": "content_block_stop", "index": i}))
        delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
        # The whole usage, as the API sends it at the end (the input's counts included).
        out.append(_event({"type": "message_delta", "delta": delta, "usage": message["usage"]}))
        out.append(_event({"type": "message_stop"}))
        return out

    # ---- HTTP --------------------------------------------------------------------------------
    def _seen(self, request: web.Request) -> None:
        self.stats.paths[request.path] = self.stats.paths.get(request.path, 0) + 1
        self.stats.last_headers = {
            k.lower(): v
            for k, v in request.headers.items()
            if k.lower().startswith(("anthropic-", "x-api-key", "authorization"))
        }

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.stats.last_body = body
        try:
            check(body)
            if self.max_output is not None and body["max_tokens"] > self.max_output:
                raise Invalid(
                    f"max_tokens: {body['max_tokens']} > {self.max_output}, which is the maximum allowed "
                    f"number of output tokens for {body['model']}"
                )
        except Invalid as exc:
            self.stats.refused.append(str(exc))
            return _error(400, "invalid_request_error", str(exc))
        s = self._take()
        if s.delay_ms:
            await asyncio.sleep(s.delay_ms / 1000)
        if s.mode == "hang":
            await asyncio.sleep(3600)
        if s.mode == "error":
            return _error(s.status, s.type, f"scripted {s.type}")
        message = self._message(body)
        if not body.get("stream") and s.mode != "error_event":
            return web.json_response(message)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)
        events = self._events(message)
        if s.mode == "error_event":
            events = [_event({"type": "error", "error": {"type": s.type, "message": f"scripted {s.type}"}})]
        try:
            for i, event in enumerate(events):
                if s.mode == "cut" and i == len(events) // 2:
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                await resp.write(event)
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self.stats.aborted += 1
            raise
        return resp

    async def _count(self, request: web.Request) -> web.Response:
        """What the API counts: here a quarter of the request's JSON bytes, after the same checks
        (and the refusal of fields only generation reads)."""
        self._seen(request)
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.stats.last_body = body
        extra = sorted(set(body) - {"model", *COUNTED})
        try:
            if extra:
                raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
            check({**body, "max_tokens": 1})
        except Invalid as exc:
            self.stats.refused.append(str(exc))
            return _error(400, "invalid_request_error", str(exc))
        return web.json_response({"input_tokens": len(json.dumps(body)) // 4})

    def _refused(self, request: web.Request) -> web.Response | None:
        if "anthropic-version" not in request.headers:
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        # The key as `x-api-key`, or as a bearer token (what Anthropic's SDKs of late 2026 send).
        sent = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if self.api_key is not None and sent != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        return None

    async def _models(self, request: web.Request) -> web.Response:
        self.stats.paths[request.path] = self.stats.paths.get(request.path, 0) + 1
        refused = self._refused(request)
        if refused is not None:
            return refused
        if not self.healthy:
            return _error(529, "overloaded_error", "Overloaded")
        model = {
            "type": "model",
            "id": self.model,
            "display_name": self.model,
            "created_at": "2026-01-01T00:00:00Z",
        }
        return web.json_response(
            {"data": [model], "has_more": False, "first_id": self.model, "last_id": self.model}
        )

    async def _script(self, request: web.Request) -> web.Response:
        self.set(**(await request.json()))
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/_fake/script", self._script)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count)
        return app

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
