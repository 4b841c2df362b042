"""Backend kinds and routing policies as the spec declares them: what a new one must bring, and what
happens at load time when it does not."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import ValidationError

from gateway.backends.registry import KINDS, preflight
from gateway.classify.scorer import default_scorer
from gateway.errors import ConfigError
from gateway.routing import policies
from gateway.routing.estimates import LatencyBook
from gateway.routing.planner import Planner
from gateway.rules import (
    POLICIES,
    AnthropicSpec,
    KindSpec,
    LlamaCppSpec,
    OpenAISpec,
    RoutesFile,
    SGLangSpec,
    VLLMSpec,
    load_routes,
)

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{name: a, kind: openai, base_url: "http://a.invalid/v1", model: m}]
routes:
  - {model: auto, policy: auto}
"""


def test_every_kind_has_priors_a_queue_model_and_a_backend_class() -> None:
    for spec in (LlamaCppSpec, OpenAISpec, VLLMSpec, SGLangSpec, AnthropicSpec):
        assert spec in KINDS
        assert spec.default_ttft_s > 0 and spec.default_tpot_s > 0
    assert LlamaCppSpec(kind="llamacpp", name="l", n_ctx=4096).window == 4096
    hosted = {"name": "o", "base_url": "http://o/v1", "model": "m"}
    assert OpenAISpec(kind="openai", **hosted).window == 128_000
    assert VLLMSpec(kind="vllm", **hosted).window == 32_768
    assert VLLMSpec(kind="vllm", context_window=8192, **hosted).window == 8192
    assert SGLangSpec(kind="sglang", **hosted).window == 32_768
    assert AnthropicSpec(kind="anthropic", name="c", model="claude").window == 200_000
    assert set(KINDS) == {LlamaCppSpec, OpenAISpec, VLLMSpec, SGLangSpec, AnthropicSpec}


def test_an_anthropic_backend_from_its_spec(tmp_path: Path) -> None:
    """`kind: anthropic`: Anthropic's API by default, a root given with or without /v1, its key named
    when unset (never a value), the header fields from the spec."""
    from gateway.backends.anthropic import AnthropicBackend
    from gateway.backends.registry import build_backend

    path = tmp_path / "routes.yaml"
    server = "{name: c, kind: anthropic, model: claude-x, api_key_env: CLAUDE_KEY, betas: [b1, b2]}"
    path.write_text(ROUTES.replace(ROUTES.split("backends: ")[1].split("\n")[0], f"[{server}]"))
    spec = load_routes(path).spec
    [b] = spec.backends().values()
    assert type(b) is AnthropicSpec and not b.may_hang and b.max_tokens == 4096 and not b.prompt_cache
    assert preflight(spec, {}) == ["backend 'c': environment variable CLAUDE_KEY is not set"]
    backend = build_backend(b, session=None, model_threads=1, env={"CLAUDE_KEY": "k-1"})  # type: ignore[arg-type]
    assert type(backend) is AnthropicBackend and backend.kind == "anthropic"
    assert backend.health_url == "https://api.anthropic.com/v1/models"
    assert backend._headers["x-api-key"] == "k-1" and backend._headers["anthropic-beta"] == "b1,b2"
    assert backend._headers["anthropic-version"] == "2023-06-01"
    own = AnthropicSpec(kind="anthropic", name="c", model="m", base_url="http://127.0.0.1:4000/v1/")
    assert own.root() == "http://127.0.0.1:4000"
    # a server of your own that speaks the API: its silence may be judged, when the file says so
    assert AnthropicSpec(kind="anthropic", name="c", model="m", judge_silence=True).may_hang


def test_an_sglang_server_is_its_own_kind_with_vllms_fields(tmp_path: Path) -> None:
    from gateway.backends.registry import build_backend
    from gateway.backends.sglang import SGLangBackend

    path = tmp_path / "routes.yaml"
    server = (
        '{name: s, kind: sglang, base_url: "http://127.0.0.1:30000/v1", model: q, max_waiting: 4, '
        "scrape_interval_s: 0.5}"
    )
    path.write_text(ROUTES.replace(ROUTES.split("backends: ")[1].split("\n")[0], f"[{server}]"))
    [b] = load_routes(path).spec.backends().values()
    assert (
        type(b) is SGLangSpec and b.may_hang and b.max_waiting == 4 and b.root() == "http://127.0.0.1:30000"
    )
    assert b.priors() == VLLMSpec.model_validate({**b.model_dump(), "kind": "vllm"}).priors()
    backend = build_backend(b, session=None, model_threads=1, env={})  # type: ignore[arg-type]
    assert type(backend) is SGLangBackend and backend.kind == "sglang"
    assert backend.metrics_url == "http://127.0.0.1:30000/metrics" and backend.interval_s == 0.5


def test_plain_requests_go_upstream_as_streams_where_silence_is_judged_and_nothing_else_tells() -> None:
    """`stream_plain` (backends/openai_compat.py): by default on an `openai` server of your own alone;
    a vLLM or SGLang server's token counters tell a hang already. Either way when set."""
    from gateway.backends.registry import build_backend
    from gateway.protocol import Call
    from gateway.protocol.view import chat_view, completion_view, embedding_view

    views = {"chat": chat_view, "completions": completion_view, "embeddings": embedding_view}

    def call(endpoint: str, body: dict[str, object]) -> Call:
        return Call(views[endpoint](body, 100), body)

    at = {"name": "o", "base_url": "http://127.0.0.1:1/v1", "model": "m"}
    assert not OpenAISpec(kind="openai", **at).plain_as_stream  # maybe a hosted API: not judged
    own = OpenAISpec(kind="openai", judge_silence=True, **at)
    assert own.plain_as_stream
    assert not OpenAISpec(kind="openai", judge_silence=True, stream_plain=False, **at).plain_as_stream
    assert not VLLMSpec(kind="vllm", **at).plain_as_stream  # its counters tell
    assert not SGLangSpec(kind="sglang", **at).plain_as_stream
    assert VLLMSpec(kind="vllm", stream_plain=True, **at).plain_as_stream

    backend = build_backend(own, session=None, model_threads=1, env={})  # type: ignore[arg-type]
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert backend.streams_plain(call("chat", chat))
    assert backend.streams_plain(call("completions", {"model": "m", "prompt": "x", "echo": False}))
    # what a stream does not carry as the plain answer has it: the prompt echoed, server-side best-of
    assert not backend.streams_plain(call("completions", {"model": "m", "prompt": "x", "echo": True}))
    assert not backend.streams_plain(call("completions", {"model": "m", "prompt": "x", "best_of": 3}))
    assert not backend.streams_plain(call("embeddings", {"model": "m", "input": "x"}))


def test_streams_are_asked_for_their_usage_unless_the_client_asked_or_the_spec_says_not() -> None:
    """`stream_usage` (backends/openai_compat.py, protocol/hidden_usage.py): on by default for every
    kind behind HTTP that speaks chat; only chat and text-completion streams are asked."""
    from gateway.backends.registry import build_backend
    from gateway.protocol import Call
    from gateway.protocol.view import chat_view, completion_view, responses_view

    at = {"name": "o", "base_url": "http://127.0.0.1:1/v1", "model": "m"}
    specs = [OpenAISpec(kind="openai", **at), VLLMSpec(kind="vllm", **at), SGLangSpec(kind="sglang", **at)]
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    asked = {**chat, "stream_options": {"include_usage": True}}
    text = {"model": "m", "prompt": "x", "stream": True}
    for spec in specs:
        backend = build_backend(spec, session=None, model_threads=1, env={})  # type: ignore[arg-type]
        assert backend._asks_usage(Call(chat_view(chat, 100), chat))  # type: ignore[attr-defined]
        assert backend._asks_usage(Call(completion_view(text, 100), text))  # type: ignore[attr-defined]
        assert not backend._asks_usage(Call(chat_view(asked, 100), asked))  # type: ignore[attr-defined]
        responses = {"model": "m", "input": "hi", "stream": True}
        assert not backend._asks_usage(Call(responses_view(responses, [], 100), responses))  # type: ignore[attr-defined]
    off = build_backend(  # type: ignore[arg-type]
        OpenAISpec(kind="openai", stream_usage=False, **at), session=None, model_threads=1, env={}
    )
    assert not off._asks_usage(Call(chat_view(chat, 100), chat))  # type: ignore[attr-defined]


def test_a_kind_without_priors_or_queue_model_fails_when_loaded() -> None:
    class Half(KindSpec):
        kind: Literal["half"]

    with pytest.raises(ValidationError, match="lacks its priors, queue model or context window"):
        Half.model_validate({"kind": "half", "name": "h"})

    class NoQueue(KindSpec):
        kind: Literal["noqueue"]
        default_ttft_s: ClassVar[float] = 0.1
        default_tpot_s: ClassVar[float] = 0.01

    with pytest.raises(ValidationError, match="lacks its priors, queue model or context window"):
        NoQueue.model_validate({"kind": "noqueue", "name": "n"})

    class NoWindow(NoQueue):
        def queue_wait_s(self, queued: int, ttft_s: float, tpot_s: float, tokens: int) -> float:
            return 0.0

    with pytest.raises(ValidationError, match="context window"):
        NoWindow.model_validate({"kind": "noqueue", "name": "n"})


def test_an_unknown_kind_is_a_load_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.replace("kind: openai", "kind: bedrock"))
    with pytest.raises(ConfigError) as info:
        load_routes(path)
    assert any(":6: tiers.small.backends.0" in p for p in info.value.problems), info.value.problems


def test_a_spec_without_a_backend_class_fails_preflight() -> None:
    class Orphan(OpenAISpec):
        pass

    spec = RoutesFile.model_validate(
        {
            "default_tier": "t",
            "tiers": {
                "t": {"backends": [{"kind": "openai", "name": "x", "base_url": "http://x/v1", "model": "m"}]}
            },
        }
    )
    orphan = Orphan.model_validate(spec.tiers["t"].backends[0].model_dump())
    spec = spec.model_copy(update={"tiers": {"t": spec.tiers["t"].model_copy(update={"backends": [orphan]})}})
    assert preflight(spec, env={}) == ["backend 'x': kind 'openai' has no implementation"]


def test_every_policy_a_file_may_name_has_an_implementation() -> None:
    assert set(POLICIES) == set(policies.POLICIES)


def test_a_policy_without_an_implementation_refuses_to_plan(tmp_path: Path) -> None:
    table = load_routes(tmp_path / "routes.yaml", ROUTES)
    with pytest.raises(ConfigError, match="without an implementation: auto"):
        Planner(table, default_scorer(), LatencyBook(), policies={})
