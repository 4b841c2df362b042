"""The container image, built and run for real.

`deploy/dev.sh image` builds it once (on a local debootstrap base where the official Python image cannot
be pulled, reusing the portable llama-cpp-python wheel), then one container runs it with
`--network host` on a free loopback port and a client key. Checked: the image's own HEALTHCHECK, which
must follow GATEWAY_PORT, turns healthy; the gateway process is not root; the embedded model answers a
chat completion through the official openai client, and only with the key. With the image's defaults and
no key, the container refuses to start, like `gateway serve` beyond loopback.

Needs a docker daemon: deploy/dev.sh test installs Debian's docker.io and starts dockerd. Skipped
without one on a workstation, a failure in CI. Deselect with `-m "not container"`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from gateway.testing.processes import free_port
from tests.support import REPO, system_tool

pytestmark = pytest.mark.container

IMAGE = "llm-gateway:test"
KEY = "sk-container-test-3b8e1d"
BUILD_TIMEOUT_S = 1800  # without a cached portable wheel the build compiles llama.cpp
HEALTHY_WITHIN_S = 120  # HEALTHCHECK --interval=10s: the first check runs 10 s after the start


@dataclass
class Container:
    docker: str
    id: str
    port: int

    def inspect(self, template: str) -> Any:
        return json.loads(_run(self.docker, "inspect", "--format", f"{{{{json {template}}}}}", self.id))

    def logs(self) -> str:
        proc = subprocess.run(
            [self.docker, "logs", "--tail", "50", self.id], capture_output=True, text=True, timeout=30
        )
        return proc.stdout + proc.stderr


def _run(*argv: str, timeout: float = 60) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stdout}{proc.stderr}"
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def docker() -> str:
    found = system_tool("docker", "docker.io")
    if subprocess.run([found, "info"], capture_output=True, timeout=30).returncode != 0:
        message = "no docker daemon answers: deploy/dev.sh test starts dockerd"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def image(docker: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.run(
            ["bash", "deploy/dev.sh", "image"],
            cwd=REPO,
            env={**os.environ, "GATEWAY_IMAGE": IMAGE},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT_S,
        )
    assert proc.returncode == 0, log.read_text(errors="replace")[-6000:]
    size = int(_run(docker, "image", "inspect", "--format", "{{.Size}}", IMAGE))
    print(f"\n{IMAGE}: deploy/dev.sh image took {time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB")
    return IMAGE


@pytest.fixture(scope="module")
def container(docker: str, image: str) -> Iterator[Container]:
    port = free_port()
    assert port != 8080  # a healthy container then shows the check follows GATEWAY_PORT
    cid = _run(
        docker, "run", "--detach", "--network", "host",
        # Loopback only: the host network is this machine's, and the test talks to 127.0.0.1.
        "--env", "GATEWAY_HOST=127.0.0.1", "--env", f"GATEWAY_PORT={port}",
        "--env", f"GATEWAY_API_KEYS=ci:{KEY}", "--env", "GATEWAY_MODEL_THREADS=1",
        image,
    )  # fmt: skip
    box = Container(docker, cid, port)
    try:
        deadline = time.monotonic() + HEALTHY_WITHIN_S
        while (status := box.inspect(".State")).get("Health", {}).get("Status") != "healthy":
            assert status["Running"], f"the container exited ({status['ExitCode']}):\n{box.logs()}"
            assert status["Health"]["Status"] != "unhealthy", f"{status['Health']}\n{box.logs()}"
            assert time.monotonic() < deadline, f"not healthy within {HEALTHY_WITHIN_S} s:\n{box.logs()}"
            time.sleep(1)
        yield box
    finally:
        subprocess.run([docker, "rm", "--force", cid], capture_output=True, timeout=60)


def test_health_check_follows_gateway_port(container: Container) -> None:
    health = container.inspect(".State.Health")
    assert health["Status"] == "healthy"
    assert health["Log"] and health["Log"][-1]["ExitCode"] == 0


def test_runs_as_non_root(container: Container) -> None:
    assert container.inspect(".Config.User") == "10001"
    # The gateway itself (PID 1: the entrypoint, exec form): real, effective, saved and fs UIDs.
    status = _run(container.docker, "exec", container.id, "cat", "/proc/1/status")
    (uids,) = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
    assert "gateway" in _run(container.docker, "exec", container.id, "cat", "/proc/1/cmdline")
    assert uids and "0" not in uids, status


def test_embedded_model_answers_through_openai_client(container: Container) -> None:
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{container.port}/v1", api_key=KEY, max_retries=0, timeout=120
    )
    raw = client.chat.completions.with_raw_response.create(
        model="small",
        messages=[{"role": "user", "content": "Say hello in three words."}],
        max_tokens=16,
        temperature=0,
    )
    completion = raw.parse()
    assert raw.headers["x-gateway-backend"] == "smollm2"
    assert completion.choices[0].message.content
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 16

    wrong = openai.OpenAI(base_url=client.base_url, api_key="sk-not-a-key", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_refuses_to_start_without_keys(docker: str, image: str) -> None:
    """The image listens on 0.0.0.0; without a key `serve` must refuse rather than serve openly."""
    name = f"llm-gateway-test-nokeys-{os.getpid()}"
    argv = [docker, "run", "--name", name, "--network", "host", "--env", f"GATEWAY_PORT={free_port()}", image]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run([docker, "rm", "--force", name], capture_output=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no API keys configured: refusing to serve openly on 0.0.0.0" in proc.stderr


# What the serving process imports, eagerly and on its first requests (the scorer, the embedded model,
# the HTTP backends); each module's bytecode for -OO must come with the image.
_SERVING_MODULES = (
    "gateway.cli gateway.server.app gateway.server.serve gateway.backends.registry "
    "gateway.backends.openai_compat gateway.backends.vllm gateway.backends.llamacpp "
    "gateway.classify.scorer numpy tokenizers llama_cpp uvicorn aiohttp"
).split()
_UNCOMPILED = (
    "import importlib, os, sys\n"
    "for name in sys.argv[1:]:\n"
    "    importlib.import_module(name)\n"
    "cached = [m for m in list(sys.modules.values()) if getattr(m, '__cached__', None)]\n"
    "print(len(cached), sorted(m.__name__ for m in cached if not os.path.exists(m.__cached__)))\n"
)


def test_image_ships_the_bytecode_serve_runs_under_oo(container: Container) -> None:
    """`gateway serve` restarts under -OO, and the image's user cannot write bytecode: without the
    image's own .opt-2.pyc files each start compiles every module it imports from source."""
    argv = _run(container.docker, "exec", container.id, "cat", "/proc/1/cmdline").split("\0")
    assert "-OO" in argv, argv
    out = _run(
        container.docker, "exec", container.id, "python", "-OO", "-c", _UNCOMPILED, *_SERVING_MODULES,
        timeout=120,
    )  # fmt: skip
    modules, missing = out.split(" ", 1)
    assert int(modules) > 500, out  # the serving path was imported
    assert missing == "[]", f"imported without -OO bytecode in the image: {missing}"


def test_the_serving_process_scores_with_the_compiled_memo(container: Container) -> None:
    """The build stage compiles gateway/classify/_chunks.c (pip treats it as optional: without it the
    scorer would run, slower, on its Python path): the gateway in the container has it mapped."""
    maps = _run(container.docker, "exec", container.id, "cat", "/proc/1/maps")
    assert "/gateway/classify/_chunks." in maps, "the gateway did not load its compiled memo"
