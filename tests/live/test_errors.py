"""Every client mistake and upstream failure: the right status and OpenAI's envelope, nothing leaked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import FAKE_KEY, PROMPT_MARKER, Gateway

CHAT = {"model": "large", "messages": [{"role": "user", "content": PROMPT_MARKER}]}


def post(gw: Gateway, body: Any, path: str = "/chat/completions", **kw: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        gw.v1 + path, content=content, headers={"content-type": "application/json"}, timeout=30, **kw
    )


def envelope(resp: httpx.Response) -> dict[str, Any]:
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    err: dict[str, Any] = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert "Traceback" not in err["message"]
    return err


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, "invalid_json"),
        (b"[1, 2]", None, "invalid_json"),
        (b"", None, "invalid_json"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "invalid_value"),
        ({"model": "large"}, "messages", "invalid_value"),
        ({"model": "large", "messages": []}, "messages", "invalid_value"),
        (
            {"model": "large", "messages": [{"role": "robot", "content": "x"}]},
            "messages.0.role",
            "invalid_value",
        ),
        ({**CHAT, "temperature": 3}, "temperature", "invalid_value"),
        ({**CHAT, "max_tokens": 0}, "max_tokens", "invalid_value"),
        ({**CHAT, "n": "many"}, "n", "invalid_value"),
        ({**CHAT, "stream": "yes"}, "stream", "invalid_value"),
        ({**CHAT, "tools": [{"type": "function"}]}, "tools.0.function", "invalid_value"),
        ({**CHAT, "response_format": {"type": "xml"}}, "response_format.type", "invalid_value"),
    ],
)
def test_bad_chat_requests_are_400_naming_the_field(
    gateway: Gateway, body: Any, param: str | None, code: str
) -> None:
    resp = post(gateway, body)
    assert resp.status_code == 400
    err = envelope(resp)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert err["code"] == code
    if param:
        assert f"'{param}'" in err["message"]


def test_bad_embeddings_and_completions(gateway: Gateway) -> None:
    assert envelope(post(gateway, {"model": "small"}, "/embeddings"))["param"] == "input"
    assert envelope(post(gateway, {"model": "small", "prompt": 5}, "/completions"))["param"] == "prompt"


def test_unknown_model_is_404(gateway: Gateway) -> None:
    resp = post(gateway, {**CHAT, "model": "gpt-9"})
    assert resp.status_code == 404
    err = envelope(resp)
    assert (err["code"], err["param"]) == ("model_not_found", "model")


def test_openai_client_sees_typed_errors(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=gateway.v1, api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="large", messages=[], max_tokens=1)


def test_body_over_the_limit_is_413(gateway: Gateway) -> None:
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 70_000}]}
    resp = post(gateway, big)
    assert resp.status_code == 413
    assert envelope(resp)["code"] == "body_too_large"


def test_a_chunked_body_is_read_whole_and_bounded_as_it_arrives(gateway: Gateway) -> None:
    def body(filler: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"model": "large", "max_tokens": 4, "messages": [{"role": "user", "content": "'
        for _ in range(filler):
            yield b"x" * 10_000
        yield b'"}]}'

    headers = {"content-type": "application/json"}
    small = httpx.post(gateway.v1 + "/chat/completions", content=body(2), headers=headers, timeout=30)
    assert small.status_code == 200, small.text
    big = httpx.post(gateway.v1 + "/chat/completions", content=body(10), headers=headers, timeout=30)
    assert big.status_code == 413
    assert envelope(big)["code"] == "body_too_large"


def test_unknown_path_and_method(gateway: Gateway) -> None:
    resp = httpx.post(gateway.url + "/v1/chat/complete", json=CHAT)
    assert resp.status_code == 404
    envelope(resp)
    resp = httpx.get(gateway.v1 + "/chat/completions")
    assert resp.status_code == 405
    envelope(resp)


def test_a_prompt_too_long_for_the_embedded_model_is_400_before_it_runs(gateway: Gateway) -> None:
    long = {"model": "small", "messages": [{"role": "user", "content": "word " * 3000}], "max_tokens": 4}
    resp = post(gateway, long)
    assert resp.status_code == 400
    error = envelope(resp)
    assert error["code"] == "context_length_exceeded"
    assert error["message"].startswith("prompt is too long: ") and "> 768 maximum" in error["message"]


def test_streaming_n_on_embedded_model_is_400(gateway: Gateway) -> None:
    resp = post(
        gateway, {"model": "small", "messages": [{"role": "user", "content": "x"}], "n": 2, "stream": True}
    )
    assert resp.status_code == 400
    assert envelope(resp)["param"] == "n"


@pytest.mark.parametrize(
    ("script", "status", "code"),
    [
        ({"mode": "error", "status": 500}, 502, "upstream_error"),
        ({"mode": "error", "status": 502}, 502, "upstream_error"),
        ({"mode": "error", "status": 503}, 503, "upstream_overloaded"),
        ({"mode": "error", "status": 429, "retry_after": "7"}, 503, "upstream_overloaded"),
        ({"mode": "error", "status": 401}, 502, "upstream_auth"),
        ({"mode": "error", "status": 404}, 502, "upstream_error"),
        ({"mode": "error", "status": 400}, 400, "upstream_rejected"),
        ({"mode": "error", "status": 422}, 400, "upstream_rejected"),
        ({"mode": "hang"}, 504, "upstream_timeout"),
        ({"mode": "close"}, 502, "upstream_protocol"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failures_map_to_gateway_statuses(
    gateway: Gateway,
    reset_fakes: dict[str, FakeUpstream],
    script: dict[str, Any],
    status: int,
    code: str,
    stream: bool,
) -> None:
    reset_fakes["broken"].set(**script)
    resp = post(gateway, {**CHAT, "model": "broken", "stream": stream})
    assert resp.status_code == status, resp.text
    err = envelope(resp)
    assert err["code"] == code
    assert "fake-broken" in err["message"]  # names the backend, never its URL or key
    assert "127.0.0.1" not in err["message"]
    if script.get("retry_after"):
        assert resp.headers["retry-after"] == "7"


def test_midstream_cut_ends_with_error_event_and_done(gateway: Gateway, reset_fakes: dict) -> None:
    reset_fakes["broken"].set(mode="cut")
    body = {**CHAT, "model": "broken", "stream": True}
    with httpx.stream("POST", gateway.v1 + "/chat/completions", json=body, timeout=10) as resp:
        assert resp.status_code == 200
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["code"] == "stream_interrupted"
    assert any('"content"' in e for e in events[:-2])  # real content came first


def test_openai_client_raises_on_midstream_error(gateway: Gateway, reset_fakes: dict) -> None:
    reset_fakes["broken"].set(mode="cut")
    client = openai.OpenAI(base_url=gateway.v1, api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="broken", messages=CHAT["messages"], stream=True)
    with pytest.raises(openai.APIError):
        list(stream)


def test_all_backends_failing_lists_what_was_tried(gateway: Gateway, reset_fakes: dict) -> None:
    reset_fakes["flaky"].set(mode="error", status=500)
    reset_fakes["spare"].set(mode="error", status=503)
    resp = post(gateway, {**CHAT, "model": "flaky"})
    assert resp.status_code == 502  # mixed failures: the upstream side failed
    err = envelope(resp)
    assert err["code"] == "all_backends_failed"
    assert "fake-flaky" in err["message"] and "fake-spare" in err["message"]


def test_all_backends_overloaded_is_503_with_the_soonest_retry_after(
    gateway: Gateway, reset_fakes: dict
) -> None:
    reset_fakes["flaky"].set(mode="error", status=429, retry_after="30")
    reset_fakes["spare"].set(mode="error", status=503, retry_after="20")
    resp = post(gateway, {**CHAT, "model": "flaky"})
    assert resp.status_code == 503
    assert envelope(resp)["code"] == "all_backends_unavailable"
    assert resp.headers["retry-after"] == "20"


def test_logs_hold_no_prompt_and_no_key(gateway: Gateway) -> None:
    # Runs after the failures above (file order), which logged warnings about each of them.
    text = gateway.log.read_text(errors="replace")
    assert "backend fake-broken failed" in text  # the log is real and was written to
    assert PROMPT_MARKER not in text
    assert FAKE_KEY not in text
