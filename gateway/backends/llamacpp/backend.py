"""The embedded model: llama-cpp-python in this process, one generation at a time per instance.

A generation saturates the cores, so it runs on one worker thread, off the event loop. Admission is
bounded: one running plus `queue_size` waiting; past that the caller gets a 503 it can fall back from.
A caller that goes away (client disconnect, deadline) stops its generation at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from gateway.backends.base import Backend, Call, Reply, Resources, TokenCount
from gateway.backends.llamacpp.logprobs import TokenLogprobs, chat_logprobs, completion_logprobs
from gateway.backends.llamacpp.model import Cancel, cancellable_llama, default_gguf
from gateway.backends.llamacpp.params import (
    chat_kwargs,
    chat_messages,
    completion_kwargs,
    embedding_input,
    logprobs_asked,
)
from gateway.backends.llamacpp.tokens import PromptCounter
from gateway.errors import (
    ConfigError,
    ContextOverflow,
    StreamInterrupted,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from gateway.protocol import DONE
from gateway.protocol.sse import json_event
from gateway.rules import LlamaCppSpec

__all__ = ["LlamaCppBackend"]

_encode = msgspec.json.Encoder().encode
_END = object()


@dataclass(frozen=True, slots=True)
class _Counted:
    """A stream's completion tokens, counted in the model's thread once it ended."""

    tokens: int


_T = TypeVar("_T")


class LlamaCppBackend(Backend):
    kind = "llamacpp"
    spec_type = LlamaCppSpec

    def __init__(
        self,
        name: str,
        model: str,
        *,
        path: Path | None,
        threads: int,
        n_ctx: int,
        queue_size: int,
        embeddings: bool,
    ) -> None:
        super().__init__(name, model)
        self._path = path
        self._threads = threads
        self._n_ctx = n_ctx
        self._capacity = queue_size + 1
        self._embeddings_enabled = embeddings
        self._admitted = 0
        # For whoever must wait on the model thread's schedule (tests, shutdown), without polling.
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{name}")
        self._llm: Any = None
        self._embedder: Any = None
        self._counter: PromptCounter | None = None

    @classmethod
    def from_spec(cls, spec: LlamaCppSpec, resources: Resources) -> LlamaCppBackend:
        threads = spec.threads or resources.model_threads or (os.cpu_count() or 1)
        return cls(
            spec.name,
            spec.model,
            path=spec.path,
            threads=threads,
            n_ctx=spec.n_ctx,
            queue_size=spec.queue_size,
            embeddings=spec.embeddings,
        )

    @classmethod
    def preflight(cls, spec: LlamaCppSpec, env: Mapping[str, str]) -> list[str]:
        try:
            path = spec.path or default_gguf()
        except ConfigError as exc:
            return [f"backend '{spec.name}': {exc.message}"]
        if not path.is_file():
            return [f"backend '{spec.name}': model file {path} does not exist"]
        return []

    # ---- lifecycle ---------------------------------------------------------------------------
    def _load(self, embedding: bool) -> Any:
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN

        path = self._path or default_gguf()
        if not path.is_file():
            raise ConfigError(f"backend '{self.name}': model file {path} does not exist")
        extra: dict[str, Any] = (
            {"embedding": True, "pooling_type": LLAMA_POOLING_TYPE_MEAN} if embedding else {}
        )
        return cancellable_llama()(
            model_path=str(path),
            n_ctx=self._n_ctx,
            n_threads=self._threads,
            n_threads_batch=self._threads,
            verbose=False,
            **extra,
        )

    async def start(self) -> None:
        self._llm = await asyncio.get_running_loop().run_in_executor(self._pool, self._load, False)
        self._counter = PromptCounter(self._llm)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for llm in (self._llm, self._embedder):
            if llm is not None:
                llm.close()
        self._llm = self._embedder = self._counter = None

    async def health(self) -> bool:
        return self._llm is not None

    @property
    def queued(self) -> int:
        return self._admitted

    @property
    def saturated(self) -> bool:
        return self._admitted >= self._capacity

    # ---- admission ---------------------------------------------------------------------------
    def _submit(self, fn: Callable[[], _T]) -> Future[_T]:
        """Queue work on the model thread, or refuse at once when the queue is full."""
        if self._llm is None:
            raise UpstreamUnavailable(f"Backend '{self.name}' is not loaded.", code="backend_down")
        if self._admitted >= self._capacity:
            raise UpstreamUnavailable(
                f"Backend '{self.name}' is busy: {self._admitted - 1} requests already wait.",
                code="queue_full",
                headers={"retry-after": "1"},
            )
        self._admitted += 1
        self._idle.clear()
        loop = asyncio.get_running_loop()

        def run() -> _T:
            loop.call_soon_threadsafe(self._started.set)
            return fn()

        fut = self._pool.submit(run)

        def release(_: object) -> None:
            # Counted until the thread is done, not until the caller stops waiting: that is the real load.
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(self._release)

        fut.add_done_callback(release)
        return fut

    def _release(self) -> None:
        self._admitted -= 1
        if self._admitted == 0:
            self._idle.set()
            self._started.clear()

    async def drained(self) -> None:
        """Until nothing is admitted any more: every generation has stopped."""
        await self._idle.wait()

    async def generating(self) -> None:
        """Until a generation has started on the model thread (since the backend was last idle)."""
        await self._started.wait()

    async def _run(self, fn: Callable[[], _T], cancel: Cancel) -> _T:
        fut = self._submit(fn)
        try:
            return await asyncio.wrap_future(fut)  # a waiting job is dropped if we are cancelled
        except ValueError as exc:  # llama.cpp's word for a request it cannot take (context too long)
            raise _rejected(self.name, exc) from exc
        except (RuntimeError, TypeError, KeyError) as exc:
            # Not the client's fault and not worth a 500: another backend may still answer.
            raise UpstreamError(
                f"Backend '{self.name}' failed ({type(exc).__name__}).", code="backend_error"
            ) from exc
        finally:
            cancel.event.set()  # a running one stops at its next token

    # ---- calls -------------------------------------------------------------------------------
    async def complete(self, call: Call) -> Reply:
        cancel = Cancel()
        if call.endpoint == "embeddings":
            return Reply(_encode(await self._run(lambda: self._embed(call.body), cancel)))
        chat = call.endpoint == "chat"
        if chat:
            kw = chat_kwargs(call, self.model, stream=False)
            method = "create_chat_completion"
        else:
            kw = completion_kwargs(call, self.model, stream=False)
            method = "create_completion"
        top = logprobs_asked(call, stream=False)

        def gen() -> Any:
            llm = self._llm
            rec = TokenLogprobs(top) if top is not None else None
            llm.active, llm.recording = cancel, rec
            try:
                out = getattr(llm, method)(**kw)
            finally:
                llm.active = llm.recording = None
            if rec is not None:
                render = chat_logprobs if chat else completion_logprobs
                out["choices"][0]["logprobs"] = render(rec, llm, out["usage"]["completion_tokens"])
            return out

        n = int(call.body.get("n") or 1)
        return Reply(_encode(await self._run(lambda: _n_choices(gen, n), cancel)))

    async def count_tokens(self, call: Call) -> TokenCount:
        """Exact: the model's chat template over the messages and tools, tokenized by its tokenizer.

        Never queued behind a generation (the count reads the vocabulary, not the context one runs
        in), and off the event loop: a long prompt takes milliseconds to tokenize. A prompt the
        template cannot render, or a model without a template of its own, is counted by estimate."""
        counter, body = self._counter, call.body
        count: Callable[[], int] | None = None
        if counter is not None and call.endpoint == "chat" and counter.exact:
            messages = chat_messages(body["messages"])
            count = partial(counter.chat, messages, body.get("tools"), body.get("tool_choice"))
        elif counter is not None and call.endpoint in ("completions", "embeddings"):
            prompt = body.get("prompt") if call.endpoint == "completions" else body.get("input")
            if isinstance(prompt, str) or (isinstance(prompt, list) and all(type(t) is int for t in prompt)):
                count = partial(counter.text, prompt)
        if count is None:
            return await super().count_tokens(call)
        try:
            return TokenCount(await asyncio.to_thread(count), exact=True)
        except Exception:  # noqa: BLE001 - a template that fails to render, whatever it raises
            return await super().count_tokens(call)

    def _embed(self, body: dict[str, Any]) -> Any:
        if not self._embeddings_enabled:
            raise UpstreamRejected(f"Backend '{self.name}' does not serve embeddings.", code="unsupported")
        if self._embedder is None:
            self._embedder = self._load(embedding=True)
        return self._embedder.create_embedding(input=embedding_input(body), model=self.model)

    async def stream(self, call: Call) -> AsyncIterator[bytes]:
        if call.endpoint == "chat":
            kw, method = chat_kwargs(call, self.model, stream=True), "create_chat_completion"
        else:
            kw, method = completion_kwargs(call, self.model, stream=True), "create_completion"
        logprobs_asked(call, stream=True)  # refuses them: they come with whole answers only
        cancel = Cancel()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # loop closed during shutdown: nobody is listening any more
                cancel.event.set()

        def produce() -> None:
            self._llm.active = cancel
            said: list[str] = []
            try:
                for chunk in getattr(self._llm, method)(**kw):
                    if cancel.event.is_set():
                        break
                    said.append(_delta_text(chunk))
                    put(chunk)
                else:
                    # Counted here, in the model's thread, not on the event loop (a 271-token answer
                    # takes 0.37 ms to tokenize): every stream ends with its count, asked for or not.
                    put(_Counted(self._count(said)))
            except Exception as exc:  # noqa: BLE001 - crosses the thread boundary, re-raised below
                put(exc)
            finally:
                self._llm.active = None
                put(_END)

        fut = self._submit(produce)
        last: dict[str, Any] | None = None
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise self._stream_error(item, started=last is not None) from item
                if isinstance(item, _Counted):
                    if last is not None:  # the gateway bills by it; serving/openai.py hides it unasked
                        yield json_event(self._usage_chunk(last, cancel, item.tokens))
                    continue
                last = item
                yield json_event(item)
            yield DONE
        finally:
            cancel.event.set()
            fut.cancel()  # only takes if it is still waiting for the thread

    def _stream_error(self, exc: Exception, *, started: bool) -> Exception:
        if started:
            return StreamInterrupted(f"Backend '{self.name}' failed mid-generation.", code="backend_error")
        if isinstance(exc, ValueError):
            return _rejected(self.name, exc)
        return UpstreamError(f"Backend '{self.name}' failed ({type(exc).__name__}).", code="backend_error")

    def _count(self, said: list[str]) -> int:
        # llama-cpp-python streams no usage; count with the model's own tokenizer, as OpenAI would.
        text = "".join(said)
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=True)) if text else 0

    def _usage_chunk(self, last: dict[str, Any], cancel: Cancel, completion: int) -> dict[str, Any]:
        prompt = cancel.prompt_tokens or 0
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        return {
            "id": last["id"],
            "object": last["object"],
            "created": last["created"],
            "model": self.model,
            "choices": [],
            "usage": usage,
        }


def _rejected(name: str, exc: ValueError) -> UpstreamRejected:
    """llama.cpp refusing a request: its context window too small for it (another backend's may not
    be), or something else about the request itself."""
    if "context window" in str(exc):
        return ContextOverflow(f"Backend '{name}': {exc}", code="context_length_exceeded")
    return UpstreamRejected(f"Backend '{name}': {exc}", code="unsupported_request")


def _delta_text(chunk: dict[str, Any]) -> str:
    choice = chunk["choices"][0] if chunk.get("choices") else {}
    return str(choice.get("delta", {}).get("content") or choice.get("text") or "")


def _n_choices(gen: Callable[[], Any], n: int) -> Any:
    """llama.cpp makes one choice per call; `n` > 1 runs it n times and merges, as OpenAI answers."""
    first = gen()
    usage = first["usage"]
    for i in range(1, n):
        more = gen()
        first["choices"].append({**more["choices"][0], "index": i})
        usage["completion_tokens"] += more["usage"]["completion_tokens"]
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    first["id"] = first.get("id") or f"chatcmpl-{uuid.uuid4().hex}"
    first.setdefault("created", int(time.time()))
    return first
