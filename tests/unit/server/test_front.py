"""The front `gateway serve` runs: the direct routes answer exactly as they do behind Litestar's router
(success, each kind of error in its envelope, a bad Host), an error after the answer started is the
server's, and every other request is Litestar's."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, asgi, get
from litestar.exceptions import NotAuthorizedException

from gateway.errors import ClientError
from gateway.server.app import EXCEPTION_HANDLERS
from gateway.server.front import Front

SEEN: list[dict[str, Any]] = []


@asgi("/v1/direct", copy_scope=False)
async def direct(scope: Any, receive: Any, send: Any) -> None:
    SEEN.append(dict(scope))
    what = scope["query_string"]
    if what == b"client":
        raise ClientError("Bad field.", param="messages")
    if what == b"litestar":
        raise NotAuthorizedException("no")
    if what == b"bug":
        raise RuntimeError("a secret in a bug")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if what == b"late":
        raise RuntimeError("after the start")
    await send({"type": "http.response.body", "body": b"ok", "more_body": False})


@get("/v1/other", sync_to_thread=False)
def other() -> str:
    return "litestar"


def _app() -> Litestar:
    return Litestar(
        route_handlers=[direct, other],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        openapi_config=None,
        logging_config=None,
    )


def _scope(path: str, query: bytes = b"", host: bytes = b"127.0.0.1:8080") -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query,
        "headers": [(b"host", host), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip


async def _call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("query", "host", "status"),
    [
        (b"", b"127.0.0.1:8080", 200),
        (b"client", b"127.0.0.1:8080", 400),
        (b"litestar", b"127.0.0.1:8080", 401),
        (b"bug", b"127.0.0.1:8080", 500),
        (b"", b"bad host\x01", 400),
    ],
)
async def test_a_direct_route_answers_as_behind_litestar(query: bytes, host: bytes, status: int) -> None:
    app = _app()
    front = Front(app, [direct])
    SEEN.clear()
    through_front = await _call(front, _scope("/v1/direct", query, host))
    ran = list(SEEN)
    behind = await _call(app, _scope("/v1/direct", query, host))
    assert through_front[0]["status"] == behind[0]["status"] == status
    assert through_front == behind  # headers and the envelope, byte for byte
    assert b"secret" not in b"".join(m.get("body", b"") for m in through_front)
    if host.startswith(b"127"):
        assert ran[0]["app"] is app and ran[0]["route_handler"] is direct
        assert "path_template" not in ran[0]  # Litestar's router, which sets it, was not in the way


async def test_an_error_after_the_answer_started_is_the_servers() -> None:
    front = Front(_app(), [direct])
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    with pytest.raises(RuntimeError, match="after the start"):
        await front(_scope("/v1/direct", b"late"), receive, send)
    assert [m["type"] for m in sent] == ["http.response.start"]  # no second start, no envelope


@pytest.mark.parametrize("path", ["/v1/other", "/v1/direct/", "/v1/nothing"])
async def test_every_other_request_is_litestars(path: str) -> None:
    app = _app()
    scope = _scope(path)
    if path == "/v1/other":
        scope["method"] = "GET"
    SEEN.clear()
    through_front = await _call(Front(app, [direct]), dict(scope))
    assert through_front == await _call(app, dict(scope))
    if path == "/v1/direct/":  # normalised by Litestar's router, then the route itself
        assert through_front[0]["status"] == 200 and "path_template" in SEEN[0]
