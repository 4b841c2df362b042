"""A scriptable OpenAI-compatible upstream: a real HTTP server for tests, demos and fault injection.

It answers chat, completions (JSON and SSE), embeddings, models and the Responses API (with its
compaction) like a provider would, and misbehaves
on demand, by script:

    POST /_fake/script  {"mode": "ok" | "slow" | "error" | "hang" | "cut" | "close",
                         "status": 500, "delay_ms": 0, "retry_after": null, "times": null,
                         "spread": true, "prefill": false}
    GET  /_fake/stats   requests seen per path, and the last request (body, whether a key was sent)

`times` limits a script to the next N requests, then the upstream is healthy again. `cut` sends half
the stream and drops the connection; `close` drops it before any byte; `hang` never answers.
`GET /health` answers 503 while `healthy` is False, and `GET /metrics` shows vLLM's load gauges from
`metrics` (waiting, running, kv_cache) and its token counter, `vllm:generation_tokens_total`: it
moves with each answer, and while a `slow` plain answer is written (every 50 ms of its delay), as a
working engine's does; not while one hangs, nor while a stream waits for its first byte (a prefill),
unless the script says `"prefill": true`: then `kv_cache` grows while it waits, as a prompt read in
chunks fills vLLM's KV cache.
With `engine="sglang"` the same load shows under SGLang's names (`sglang:num_queue_reqs`, ...): its
per-step counter `sglang:realtime_tokens_total` moves as vLLM's does, while its
`sglang:generation_tokens_total` counts an answer's tokens only once it has ended.
`refuse()` stops listening (connections are refused) and `accept()` listens again on the same port.

    python -m gateway.testing.fake_upstream --port 9300 --model fake-large
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.testing.fake_metrics import ENGINES, metrics_text
from gateway.testing.fake_tools import (
    chat_deltas,
    chat_tool_call,
    compaction_object,
    last_tool_output,
    responses_events,
    responses_object,
)
from gateway.testing.served import Served

__all__ = ["FakeUpstream", "Script"]


@dataclass
class Script:
    mode: str = "ok"
    status: int = 500
    delay_ms: float = 0.0
    retry_after: str | None = None
    times: int | None = None
    # `slow` streams: spread another delay_ms over the chunks (a decode); false: the delay is all
    # before the first byte and the body goes out at once.
    spread: bool = True
    # `slow` streams: the wait for the first byte is a prompt read in chunks, which fills the KV
    # cache step by step (`kv_cache` grows every 50 ms) before any token counter moves.
    prefill: bool = False
    # `slow` streams: the wait before the first byte, when it is not delay_ms (0: an answer written
    # from the start, its chunks spread over delay_ms).
    first_byte_ms: float | None = None


async def _working(delay_ms: float, step: Callable[[], None]) -> None:
    """Waits delay_ms as an engine at work does, `step` every 50 ms (what a scrape can see move)."""
    end = time.monotonic() + delay_ms / 1000
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(0.05, left))
        step()


@dataclass
class Stats:
    paths: dict[str, int] = field(default_factory=dict)
    last_body: dict[str, Any] | None = None
    last_auth: str | None = None
    aborted: int = 0  # streams whose reader went away before the end


class FakeUpstream(Served):
    def __init__(
        self,
        model: str = "fake-model",
        reply: str = "Hello from the fake upstream.",
        chunks: int = 6,
        api_key: str | None = None,
        engine: str = "vllm",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
        self.model = model
        self.engine = engine  # whose metric names /metrics shows
        self.reply = reply
        self.chunks = chunks
        self.api_key = api_key
        self.tool_arguments = '{"city": "Paris"}'  # what its tool calls pass
        # OpenAI's API, asked for a stream's usage, puts `"usage": null` on every chunk before it.
        self.usage_null = False
        # Words (its tokens) a stream's event carries: speculative decoding and vLLM's
        # --stream-interval write several at once.
        self.words_per_event = 1
        self.tool_name: str | None = None  # the tool its calls name when offered (default: the first)
        self.replies: list[str] = []  # answered in turn, before `reply` (a scripted judge's verdicts)
        # A judge by content: asked to compare "Answer A:" with "Answer B:", it picks the one that
        # contains this text ("TIE" when neither or both do), or asks a function of (the request as
        # quoted, answer A, answer B) for "A", "B" or "TIE"; None: not a judge.
        self.prefers: str | Callable[[str, str, str], str] | None = None
        self.script = Script()
        self.stats = Stats()
        # Set when a request (its script taken) arrives: a test thread waits on it instead of sleeping.
        self.arrived = threading.Event()
        self.healthy = True
        self.metrics: dict[str, float] = {"waiting": 0, "running": 0, "kv_cache": 0.1}
        self.generated = 0  # vllm:generation_tokens_total, sglang:realtime_tokens_total
        self.ended = 0  # sglang:generation_tokens_total: answers' tokens, counted as each ends
        super().__init__(f"fake-{model}")

    # ---- behaviour ---------------------------------------------------------------------------
    def set(self, **kw: Any) -> None:
        self.script = Script(**kw)

    def _take(self) -> Script:
        s = self.script
        if s.times is not None:
            s.times -= 1
            if s.times <= 0:
                self.script = Script()
        return s

    def _usage(self, n: int) -> dict[str, int]:
        return {"prompt_tokens": 7, "completion_tokens": n, "total_tokens": 7 + n}

    def _generate(self) -> None:
        self.generated += 1

    def _fill_cache(self) -> None:
        self.metrics["kv_cache"] = min(1.0, self.metrics["kv_cache"] + 0.001)

    async def _misbehave(self, request: web.Request, s: Script, writing: bool) -> web.StreamResponse | None:
        if s.mode == "slow" and writing and s.delay_ms:
            await _working(s.delay_ms, self._generate)  # a plain answer being written: tokens count
        elif s.mode == "slow" and s.prefill and s.delay_ms:
            await _working(s.delay_ms, self._fill_cache)  # a prompt read in chunks
        elif s.mode == "slow" and s.first_byte_ms is not None:
            await asyncio.sleep(s.first_byte_ms / 1000)
        elif s.mode in ("slow", "hang", "cut") and s.delay_ms:
            await asyncio.sleep(s.delay_ms / 1000)
        if s.mode == "hang":
            await asyncio.sleep(3600)
        if s.mode == "close":
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError
        if s.mode == "error":
            headers = {"retry-after": s.retry_after} if s.retry_after else None
            body = {
                "error": {
                    "message": f"scripted failure {s.status}",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
            return web.json_response(body, status=s.status, headers=headers)
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.stats.paths[path] = self.stats.paths.get(path, 0) + 1
        auth = request.headers.get("authorization")
        self.stats.last_auth = auth
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return web.json_response(
                {"error": {"message": "bad key", "type": "auth", "param": None, "code": "invalid_api_key"}},
                status=401,
            )
        body = await request.json() if request.can_read_body else {}
        self.stats.last_body = body
        script = self._take()
        self.arrived.set()
        bad = await self._misbehave(request, script, writing=not body.get("stream"))
        if bad is not None:
            return bad
        self.generated += 1
        self.ended += 1
        if path.endswith("/embeddings"):
            return self._embeddings(body)
        if path.endswith("/responses"):
            return await self._responses(request, body)
        if path.endswith("/responses/compact"):
            return web.json_response(compaction_object(body))
        if body.get("stream"):
            return await self._stream(request, body, script)
        return self._complete(path, body)

    async def _responses(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if not body.get("stream"):
            return web.json_response(responses_object(body, self.model, self.reply, self.tool_arguments))
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)
        for event in responses_events(body, self.model, self.reply, self.tool_arguments):
            await resp.write(event)
        await resp.write_eof()
        return resp

    def _judged(self, body: dict[str, Any]) -> str | None:
        messages = body.get("messages") or [{}]
        asked = messages[-1].get("content") if isinstance(messages[-1], dict) else None
        if self.prefers is None or not isinstance(asked, str) or "Answer B:" not in asked:
            return None
        head, b = asked.split("\n\nAnswer B:\n", 1)
        quoted, a = head.split("\n\nAnswer A:\n", 1) if "\n\nAnswer A:\n" in head else ("", head)
        if callable(self.prefers):
            return self.prefers(quoted.removeprefix("Request:\n"), a, b)
        in_a, in_b = self.prefers in a, self.prefers in b
        return "A" if in_a and not in_b else "B" if in_b and not in_a else "TIE"

    def _text(self, body: dict[str, Any]) -> str:
        judged = self._judged(body)
        if judged is not None:
            return judged
        result = last_tool_output(body)
        reply = self.replies.pop(0) if self.replies else self.reply
        return reply if result is None else f"{reply} (the tool said: {result})"

    def _complete(self, path: str, body: dict[str, Any]) -> web.Response:
        if path.endswith("/chat/completions"):
            call = chat_tool_call(body, self.tool_arguments, self.tool_name)
            text = self._text(body)
            words = text.split()
            message: dict[str, Any] = {"role": "assistant", "content": None if call else text}
            if call:
                message["tool_calls"] = [call]
            choice: dict[str, Any] = {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if call else "stop",
            }
            obj = "chat.completion"
        else:
            words = self.reply.split()
            choice = {"index": 0, "text": self.reply, "logprobs": None, "finish_reason": "stop"}
            obj = "text_completion"
        n = int(body.get("n") or 1)
        choices = [{**choice, "index": i} for i in range(n)]
        return web.json_response(
            {
                "id": "fake-1",
                "object": obj,
                "created": int(time.time()),
                "model": self.model,
                "choices": choices,
                "usage": self._usage(len(words)),
            }
        )

    async def _stream(self, request: web.Request, body: dict[str, Any], script: Script) -> web.StreamResponse:
        try:
            return await self._stream_events(request, body, script)
        except (ConnectionError, asyncio.CancelledError):
            self.stats.aborted += 1
            raise

    async def _stream_events(
        self, request: web.Request, body: dict[str, Any], script: Script
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)
        base = {
            "id": "fake-1",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
        }
        words = self._text(body).split()
        parts, reason = chat_deltas(body, words, self.tool_arguments, self.tool_name)
        if self.words_per_event > 1 and reason == "stop":
            k, said = self.words_per_event, parts[1:]
            grouped = ["".join(p["content"] for p in said[i : i + k]) for i in range(0, len(said), k)]
            parts = parts[:1] + [{"content": text} for text in grouped]
        usage_asked = bool((body.get("stream_options") or {}).get("include_usage"))
        if usage_asked and self.usage_null:
            base["usage"] = None
        for i, delta in enumerate(parts):
            if script.mode == "cut" and i == len(parts) // 2:
                assert request.transport is not None
                request.transport.close()
                return resp
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
            }
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            if script.mode == "slow" and script.delay_ms and script.spread:
                await asyncio.sleep(script.delay_ms / 1000 / len(parts))
        final = {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}]}
        await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        if usage_asked:
            usage = {**base, "choices": [], "usage": self._usage(len(words))}
            await resp.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    def _embeddings(self, body: dict[str, Any]) -> web.Response:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) and inputs and isinstance(inputs[0], str) else [inputs]
        data = []
        for i, text in enumerate(items):
            digest = hashlib.sha256(json.dumps(text).encode()).digest()
            data.append({"object": "embedding", "index": i, "embedding": [b / 255 for b in digest[:8]]})
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": self.model,
                "usage": {"prompt_tokens": 3 * len(items), "total_tokens": 3 * len(items)},
            }
        )

    # ---- control -----------------------------------------------------------------------------
    async def _script(self, request: web.Request) -> web.Response:
        self.set(**(await request.json()))
        return web.json_response({"ok": True})

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "paths": self.stats.paths,
                "last_body": self.stats.last_body,
                "key_sent": self.stats.last_auth is not None,
            }
        )

    async def _models(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}],
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/_fake/script", self._script)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._ok)
        app.router.add_get("/metrics", self._metrics)
        paths = (
            "/v1/chat/completions",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/responses",
            "/v1/responses/compact",
        )
        for p in paths:
            app.router.add_post(p, self._handle)
        return app

    async def _ok(self, _: web.Request) -> web.Response:
        self.stats.paths["/health"] = self.stats.paths.get("/health", 0) + 1
        return web.Response(text="ok" if self.healthy else "unhealthy", status=200 if self.healthy else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        if not self.metrics:
            return web.Response(status=500, text="metrics unavailable")
        text = metrics_text(self.engine, self.model, self.metrics, self.generated, self.ended)
        return web.Response(text=text, content_type="text/plain")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def main() -> None:
    ap = argparse.ArgumentParser(description="Scriptable fake OpenAI-compatible upstream")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9300)
    ap.add_argument("--model", default="fake-model")
    ap.add_argument("--api-key", default=None)
    args = ap.parse_args()
    fake = FakeUpstream(model=args.model, api_key=args.api_key)
    web.run_app(fake.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
