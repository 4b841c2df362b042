"""The Anthropic Messages API end to end: the official `anthropic` SDK against the gateway as a real
server, with keys on (sent as x-api-key), over the embedded model and chat-only fake upstreams.
Create, stream (helper and raw events), tools over two turns, images, count_tokens, every error type
as the SDK's exception class, models, context windows, the decision log, metrics, feedback, shadow."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, start_gateway, started

pytestmark = pytest.mark.model  # the gateway loads it for its small tier

ACME, BETA, SLOW = "sk-acme-messages-1", "sk-beta-messages-2", "sk-slow-messages-3"
WEATHER = {
    "name": "weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{{name: smollm2, kind: llamacpp, model: SmolLM2-135M-Instruct, n_ctx: 2048, queue_size: 4}}]
  cheap:
    backends: [{{name: cheap, kind: openai, base_url: "{cheap}", model: cheap-model, context_window: 32768}}]
  large:
    price: {{input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3}}
    backends: [{{name: big, kind: openai, base_url: "{large}", model: big-model, context_window: 200000}}]
retry: {{attempts: 1}}
breaker: {{consecutive_failures: 100, min_requests: 1000}}  # the error cases must not eject `big`
tenants:
  beta: {{tiers: [small]}}
  slow: {{requests_per_minute: 1}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small}}
  - {{model: budgeted, policy: auto, on_budget_miss: reject}}
  - {{model: shadowed, tier: cheap, shadow: {{share: 1.0, reference: large, judge: large, usd_per_day: 5}}}}
  - {{model: "claude-*", tier: large}}
"""


@pytest.fixture(scope="module")
def ups() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {
        "cheap": FakeUpstream(model="cheap-model", reply="Cheap answer."),
        "large": FakeUpstream(model="big-model", reply="It is sunny."),
    }
    with started(fakes):
        yield fakes


@pytest.fixture(scope="module")
def setup(
    ups: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, Path]]:
    tmp = tmp_path_factory.mktemp("messages")
    log = tmp / "decisions.jsonl"
    g = start_gateway(
        tmp,
        ROUTES.format(cheap=ups["cheap"].base_url, large=ups["large"].base_url),
        GATEWAY_API_KEYS=f"acme:{ACME},beta:{BETA},slow:{SLOW}",
        GATEWAY_MAX_BODY_BYTES="262144",
        GATEWAY_DECISION_LOG=str(log),
    )
    yield g, log
    stop(g.proc)


@pytest.fixture
def gw(setup: tuple[Gateway, Path], ups: dict[str, FakeUpstream]) -> Gateway:
    for f in ups.values():
        f.set()
        f.replies = []
    return setup[0]


def agent_sized_body() -> dict[str, Any]:
    """A request shaped like Claude Code's: a ~13k-token system prompt, a dozen tools with schemas,
    max_tokens 128,000 (what the pinned CLI sends; tests/live/test_claude_code.py runs the CLI itself)."""
    rules = "".join(
        f"Rule {i}: when the task touches area {i}, read the files first, keep edits small, run the "
        f"tests of module_{i} and report what changed in plain words before moving on.\n"
        for i in range(700)
    )
    tools = [
        {
            "name": f"Tool{i}",
            "description": f"Does step {i} of the agent loop on the working tree.",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "command": {"type": "string"}},
                "required": ["command"],
            },
        }
        for i in range(12)
    ]
    return {
        "system": "You are an interactive coding agent.\n" + rules,
        "messages": [{"role": "user", "content": "List the files, then say DONE."}],
        "tools": tools,
        "max_tokens": 128_000,
    }


def client(gw: Gateway, key: str = ACME) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=60)


def logged(log: Path) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_create_a_message(gw: Gateway) -> None:
    raw = client(gw).messages.with_raw_response.create(
        model="claude-opus-5-5", max_tokens=100, messages=[{"role": "user", "content": "Weather?"}]
    )
    message = raw.parse()
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.model == "big-model" and message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "It is sunny."  # type: ignore[union-attr]
    assert message.usage.input_tokens == 7 and message.usage.output_tokens == 3
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0
    assert raw.headers["x-gateway-route"] == "claude-*" and raw.headers["x-gateway-backend"] == "big"


def test_stream_with_the_helper_and_as_raw_events(gw: Gateway) -> None:
    c = client(gw)
    with c.messages.stream(
        model="claude-sonnet-5-5", max_tokens=50, messages=[{"role": "user", "content": "Weather?"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "It is sunny." and final.content[0].text == "It is sunny."  # type: ignore[union-attr]
    assert (
        final.usage.output_tokens == 3 and final.usage.input_tokens == 7 and final.stop_reason == "end_turn"
    )
    events = list(
        c.messages.create(
            model="claude-x", max_tokens=50, stream=True, messages=[{"role": "user", "content": "Weather?"}]
        )
    )
    kinds = [e.type for e in events]
    assert kinds[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[-2].delta.stop_reason == "end_turn"  # type: ignore[union-attr]


def test_tools_over_two_turns(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    c = client(gw)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = c.messages.create(model="claude-x", max_tokens=200, tools=[WEATHER], messages=messages)  # type: ignore[list-item]
    assert first.stop_reason == "tool_use"
    call = first.content[0]
    assert call.type == "tool_use" and call.name == "weather" and call.input == {"city": "Paris"}
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "24 C"}]},
    ]
    # Streamed this time: the answer quotes the tool's result.
    with c.messages.stream(model="claude-x", max_tokens=200, tools=[WEATHER], messages=messages) as stream:  # type: ignore[list-item]
        second = stream.get_final_message()
    assert second.content[0].text == "It is sunny. (the tool said: 24 C)"  # type: ignore[union-attr]
    sent = ups["large"].stats.last_body
    assert sent is not None and [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool"]
    assert sent["messages"][1]["tool_calls"][0]["id"] == call.id == sent["messages"][2]["tool_call_id"]


def test_an_image_reaches_the_backend(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    client(gw).messages.create(
        model="claude-x",
        max_tokens=20,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}],  # type: ignore[list-item]
    )
    parts = ups["large"].stats.last_body["messages"][0]["content"]  # type: ignore[index]
    assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


def test_count_tokens_exact_on_the_embedded_model_and_estimated_elsewhere(gw: Gateway) -> None:
    c = client(gw)
    body: dict[str, Any] = {
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "How many tokens is this sentence?"}],
    }
    raw = c.messages.with_raw_response.count_tokens(model="small", **body)
    counted = raw.parse().input_tokens
    assert raw.headers["x-gateway-token-count"] == "exact" and raw.headers["x-gateway-backend"] == "smollm2"
    served = c.messages.create(model="small", max_tokens=1, **body)
    assert counted == served.usage.input_tokens  # what the model then ran
    raw = c.messages.with_raw_response.count_tokens(model="claude-x", tools=[WEATHER], **body)  # type: ignore[list-item]
    assert raw.headers["x-gateway-token-count"] == "estimate" and raw.parse().input_tokens > counted


def test_an_agent_sized_prompt_goes_to_a_tier_whose_window_holds_it(gw: Gateway) -> None:
    body = {**agent_sized_body(), "model": "auto", "stream": False, "max_tokens": 195_000}
    headers = {"x-api-key": ACME, "anthropic-version": "2023-06-01"}
    resp = httpx.post(gw.v1 + "/messages?beta=true", json=body, headers=headers, timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-gateway-backend"] != "smollm2"  # its 2,048 tokens cannot hold ~13k
    # 195,000 to answer does not fit beside ~13k of prompt in any window here: clamped to what is left
    assert int(resp.headers["x-gateway-max-tokens"]) < 195_000
    resp = httpx.post(gw.v1 + "/messages", json={**body, "model": "small"}, headers=headers, timeout=60)
    assert resp.status_code == 400
    assert resp.json()["error"]["message"].startswith("prompt is too long: ")
    assert resp.json() == {"type": "error", "error": resp.json()["error"]}


@pytest.mark.parametrize(
    ("case", "exception", "kind"),
    [
        ("bad_request", anthropic.BadRequestError, "invalid_request_error"),
        ("bad_key", anthropic.AuthenticationError, "authentication_error"),
        ("forbidden_tier", anthropic.PermissionDeniedError, "permission_error"),
        ("unknown_model", anthropic.NotFoundError, "not_found_error"),
        ("too_large", anthropic.ContentTooLargeError, "request_too_large"),
        ("budget", anthropic.UnprocessableEntityError, "invalid_request_error"),
        ("rate_limited", anthropic.RateLimitError, "rate_limit_error"),
        ("upstream_5xx", anthropic.InternalServerError, "api_error"),
        ("overloaded", anthropic.OverloadedError, "overloaded_error"),
        ("timeout", anthropic.GatewayTimeoutError, "timeout_error"),
    ],
)
def test_every_error_is_anthropics_and_the_sdks_exception(
    gw: Gateway, ups: dict[str, FakeUpstream], case: str, exception: type[Exception], kind: str
) -> None:
    key, model, extra = ACME, "claude-x", {}
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    if case == "bad_key":
        key = "sk-wrong"
    elif case == "forbidden_tier":
        key = BETA
    elif case == "unknown_model":
        model = "gpt-nope"
    elif case == "too_large":
        messages = [{"role": "user", "content": "x" * 300_000}]
    elif case == "budget":
        model, extra = "budgeted", {"extra_headers": {"x-latency-budget-ms": "1"}}
    elif case == "rate_limited":
        key = SLOW
        client(gw, SLOW).messages.create(model=model, max_tokens=5, messages=messages)
    elif case == "upstream_5xx":
        ups["large"].set(mode="error", status=500, times=2)
    elif case == "overloaded":
        ups["large"].set(mode="error", status=503, retry_after="1", times=2)  # longer would eject `big`
    elif case == "timeout":
        ups["large"].set(mode="error", status=504, times=2)
    kwargs: dict[str, Any] = {"model": model, "max_tokens": 5, "messages": messages, **extra}
    if case == "bad_request":
        kwargs["max_tokens"] = 0
    with pytest.raises(exception) as info:
        client(gw, key).messages.create(**kwargs)
    err = info.value
    assert isinstance(err, anthropic.APIStatusError)
    assert err.body == {"type": "error", "error": {"type": kind, "message": err.body["error"]["message"]}}  # type: ignore[index]
    if case == "overloaded":
        assert err.status_code == 529 and err.response.headers["retry-after"] == "1"


def test_a_key_by_bearer_token_works_too_and_none_is_a_401(gw: Gateway) -> None:
    auth = anthropic.Anthropic(base_url=gw.url, auth_token=ACME, max_retries=0)
    assert auth.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    resp = httpx.post(
        gw.v1 + "/messages", json={"model": "claude-x"}, headers={"anthropic-version": "2023-06-01"}
    )
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "authentication_error"
    # The gateway's own refusals before any handler ran, in Anthropic's envelope too.
    anthropic_client = {"x-api-key": ACME, "anthropic-version": "2023-06-01"}
    wrong_method = httpx.get(gw.v1 + "/messages", headers=anthropic_client)
    assert wrong_method.status_code == 405 and wrong_method.json()["type"] == "error"
    unknown = httpx.post(gw.v1 + "/messages/batches", json={}, headers=anthropic_client)
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    # x-api-key on the other endpoints too, in OpenAI's envelope there.
    chat = {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(gw.v1 + "/chat/completions", json=chat, headers={"x-api-key": ACME}).status_code == 200
    bad = httpx.post(gw.v1 + "/chat/completions", json=chat, headers={"x-api-key": "sk-nope"})
    assert (
        bad.status_code == 401
        and bad.json()["error"]["type"] == "authentication_error"
        and "type" not in bad.json()
    )


def test_models_in_anthropics_shape(gw: Gateway) -> None:
    page = client(gw).models.list(limit=2)
    first = [m.id for m in page.data]
    assert len(first) == 2 and page.has_more and page.last_id == first[-1]
    assert page.data[0].type == "model" and page.data[0].display_name == first[0]
    rest = client(gw).models.list(after_id=first[-1], limit=100)
    names = first + [m.id for m in rest.data]
    assert not rest.has_more and "claude-*" not in names
    assert {
        "auto",
        "small",
        "budgeted",
        "shadowed",
        "big-model",
        "smollm2" and "SmolLM2-135M-Instruct",
    } <= set(names)
    openai_shape = httpx.get(gw.v1 + "/models", headers={"authorization": f"Bearer {ACME}"}).json()
    assert {"id": "claude-*", "pattern": True}.items() <= next(
        m for m in openai_shape["data"] if m["id"] == "claude-*"
    ).items()


def test_a_stream_broken_after_its_first_byte_ends_with_an_error_event(
    gw: Gateway, ups: dict[str, FakeUpstream]
) -> None:
    ups["large"].reply = "one two three four five six seven eight"
    ups["large"].set(mode="cut", times=1)
    headers = {"x-api-key": ACME, "anthropic-version": "2023-06-01"}
    body = {
        "model": "claude-x",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "go"}],
    }
    try:
        with httpx.stream("POST", gw.v1 + "/messages", json=body, headers=headers, timeout=30) as resp:
            raw = resp.read().decode()
    finally:
        ups["large"].reply = "It is sunny."
    assert resp.status_code == 200 and raw.startswith("event: message_start")
    last = [b for b in raw.split("\n\n") if b.strip()][-1]
    assert last.startswith("event: error\n") and '"type":"api_error"' in last


def test_decision_log_metrics_session_and_feedback(gw: Gateway, setup: tuple[Gateway, Path]) -> None:
    log = setup[1]
    session = "8ae4934d-c4fc-4ec8-b61c-9b82498e35d3"
    message = client(gw).messages.create(
        model="claude-opus-5-5",
        max_tokens=5,
        messages=[{"role": "user", "content": "hi"}],
        metadata={"user_id": json.dumps({"device_id": "d", "account_uuid": "", "session_id": session})},
    )
    rows = [r for r in logged(log) if r.get("id") == message.id]
    while not rows:
        time.sleep(0.05)
        rows = [r for r in logged(log) if r.get("id") == message.id]
    assert (
        rows[0]["endpoint"] == "messages" and rows[0]["session"] == session and rows[0]["route"] == "claude-*"
    )
    metrics = httpx.get(gw.url + "/metrics").text
    served = [
        line
        for line in metrics.splitlines()
        if line.startswith("gateway_requests_total{")
        and 'endpoint="messages"' in line
        and 'route="claude-*"' in line
        and 'outcome="ok"' in line
    ]
    assert served and float(served[0].rsplit(" ", 1)[1]) >= 1
    rated = httpx.post(
        gw.v1 + "/feedback", json={"id": message.id, "label": "good"}, headers={"x-api-key": ACME}
    )
    assert rated.status_code == 200 and rated.json()["recorded"] is True


def test_shadow_judging_judges_a_messages_answer(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    ups["large"].replies = ["Reference answer.", "A", "B"]  # the reference, then the judge twice
    message = client(gw).messages.create(
        model="shadowed", max_tokens=20, messages=[{"role": "user", "content": "Q?"}]
    )
    assert message.content[0].text == "Cheap answer."  # type: ignore[union-attr]
    want = 'gateway_shadow_verdicts_total{route="shadowed",tier="cheap",verdict="cheaper_as_good"} 1.0'
    deadline, metrics = time.monotonic() + 10, ""
    while time.monotonic() < deadline and want not in metrics:
        metrics = httpx.get(gw.url + "/metrics").text
        time.sleep(0.1)
    assert want in metrics
