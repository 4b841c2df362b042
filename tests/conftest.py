"""Fixtures shared by the live tests (what they import is in tests/support.py), and the markers no test
module has to remember: every test under tests/live/ is `live`, and every test that uses the session's
embedded model (the gguf, llama_server and gateway fixtures) is `model`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from gateway.backends.llamacpp import default_gguf
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import free_port, stop, wait_http
from tests.support import FAKE_KEY, REPLICA, Gateway, full_routes, start_gateway, started

LIVE = Path(__file__).resolve().parent / "live"
MODEL_FIXTURES = frozenset({"gguf", "llama_server", "gateway"})  # gateway serves through both


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(LIVE):
            item.add_marker(pytest.mark.live)
        if MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def gguf() -> Path:
    return default_gguf()


@pytest.fixture(scope="session")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    ups = {
        "large": FakeUpstream(model="fake-large", reply="I am the large tier.", api_key=FAKE_KEY),
        "flaky": FakeUpstream(model="fake-flaky", reply="flaky answered"),
        "spare": FakeUpstream(model="fake-spare", reply="spare answered"),
        "broken": FakeUpstream(model="fake-broken", reply="broken answered"),
    }
    with started(ups):
        yield ups


@pytest.fixture(scope="session")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server, serving the same GGUF: a real peer."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--model_alias",
                "smollm2-peer",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_threads",
                "1",
                "--n_ctx",
                "1024",
                "--verbose",
                "false",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def gateway(
    fakes: dict[str, FakeUpstream], llama_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("gateway"),
        full_routes(fakes, llama_server),
        FAKE_LARGE_KEY=FAKE_KEY,
        GATEWAY_MAX_BODY_BYTES="65536",
        GATEWAY_READ_TIMEOUT_S="2",
    )
    yield gw
    stop(gw.proc)


@pytest.fixture
def reset_fakes(fakes: dict[str, FakeUpstream]) -> Iterator[dict[str, FakeUpstream]]:
    for f in fakes.values():
        f.set()
    yield fakes
    for f in fakes.values():
        f.set()


@pytest.fixture(scope="module")
def replica_fakes() -> Iterator[Mapping[str, FakeUpstream]]:
    """Two fake replicas of one model, `a` and `b`, answering as REPLICA says; a module's own, which it
    may hang, kill or slow (support.replica_routes puts them in a tier)."""
    fakes = {n: FakeUpstream(model=f"fake-{n}", reply=f"answer from {n}") for n in ("a", "b")}
    with started(fakes, **REPLICA) as ups:
        yield ups
