"""Real servers on 127.0.0.1: the gateway as a subprocess, fake upstreams, llama_cpp.server as a peer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.backends.llamacpp import default_gguf
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import free_port, serve_gateway, stop, wait_http

FAKE_KEY = "sk-test-SECRET-4f9c2d"  # must never show up in logs or responses
PROMPT_MARKER = "PROMPT-MARKER-71c3"  # must never show up in logs


@dataclass
class Gateway:
    url: str
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def v1(self) -> str:
        return self.url + "/v1"


def system_tool(name: str, package: str) -> str:
    """A Debian-packaged program the test runs for real: skipped on a workstation without it, a
    failure in CI, where deploy/dev.sh test installs it."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: deploy/dev.sh test installs Debian's {package}")
        pytest.skip(f"{name} is not installed (apt-get install {package})")
    return found


def start_gateway(tmp: Path, routes: str, **env: str) -> Gateway:
    path = tmp / "routes.yaml"
    path.write_text(routes)
    log = tmp / "gateway.log"
    with log.open("wb") as out:
        proc, url = serve_gateway(path, log=out, GATEWAY_MODEL_THREADS="1", GATEWAY_LOG_LEVEL="info", **env)
    return Gateway(url, log, proc)


REDIS_PASSWORD = "r3dis-s3cret-7f1a"  # must never show up in logs or metrics


def start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Debian's redis-server on a free loopback port, with a password, once it answers."""
    server = system_tool("redis-server", "redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [
            *(server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--requirepass", REDIS_PASSWORD, "--dir", str(tmp)),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        probe = subprocess.run(
            ["redis-cli", "-p", str(port), "-a", REDIS_PASSWORD, "--no-auth-warning", "ping"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "PONG":
            return proc, f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)


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
    for f in ups.values():
        f.start_in_thread()
    yield ups
    for f in ups.values():
        f.stop_thread()


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


def full_routes(fakes: dict[str, FakeUpstream], llama_url: str) -> str:
    return f"""
version: 1
default_tier: small
tiers:
  small:
    backends:
      - {{name: smollm2, kind: llamacpp, model: SmolLM2-135M-Instruct, n_ctx: 1024, queue_size: 4}}
  medium:
    price: {{input_per_mtok: 0.2, output_per_mtok: 0.2}}
    backends:
      - {{name: llama-peer, kind: openai, base_url: "{llama_url}", model: smollm2-peer}}
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends:
      - {{name: fake-large, kind: openai, base_url: "{fakes["large"].base_url}", model: fake-large,
          api_key_env: FAKE_LARGE_KEY}}
  flaky:
    backends:
      - {{name: fake-flaky, kind: openai, base_url: "{fakes["flaky"].base_url}", model: fake-flaky}}
      - {{name: fake-spare, kind: openai, base_url: "{fakes["spare"].base_url}", model: fake-spare}}
  broken:
    backends:
      - {{name: fake-broken, kind: openai, base_url: "{fakes["broken"].base_url}", model: fake-broken}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small}}
  - {{model: medium, tier: medium}}
  - {{model: large, tier: large}}
  - {{model: flaky, tier: flaky}}
  - {{model: broken, tier: broken}}
"""


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
