"""What the test modules share: where things are, and real servers on 127.0.0.1 (the gateway as a
subprocess, redis-server, the routes file the session's gateway serves). Fixtures are in conftest.py."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import free_port, serve_gateway, stop

__all__ = [
    "ARENA",
    "DATA",
    "FAKE_KEY",
    "PROMPT_MARKER",
    "RB",
    "REDIS_PASSWORD",
    "REPLICA",
    "REPO",
    "Answered",
    "Beside",
    "Gateway",
    "answered_by",
    "beside",
    "chat_once",
    "full_routes",
    "needs_data",
    "replica_routes",
    "start_gateway",
    "start_redis",
    "started",
    "stop",
    "system_tool",
]

REPO = Path(__file__).resolve().parent.parent  # the repository's root


def _data() -> Path:
    """../shared/data beside the checkout (or beside the folder of worktrees a checkout sits in), or
    where GATEWAY_TEST_DATA (or BENCH_DATA, as the loadtests read it) says."""
    given = os.environ.get("GATEWAY_TEST_DATA") or os.environ.get("BENCH_DATA")
    if given:
        return Path(given)
    near = [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
    return next((p for p in near if p.exists()), near[0])


DATA = _data()
RB = DATA / "routerbench0shot_subset_arc_mbpp_winogrande_11models.csv.gz"
ARENA = DATA / "arenabench_v1_gpt4_single_scores_15models.csv.gz"
needs_data = pytest.mark.skipif(
    not RB.exists(), reason="needs ../shared/data or GATEWAY_TEST_DATA (present in CI)"
)

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


@contextmanager
def loadtests_module(name: str) -> Iterator[ModuleType]:
    """A script of loadtests/ imported as a module (its siblings importable), the path restored after."""
    where = str(REPO / "loadtests")
    sys.path.insert(0, where)
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(where)


def system_tool(name: str, package: str) -> str:
    """A Debian-packaged program the test runs for real: skipped on a workstation without it, a
    failure in CI, where deploy/dev.sh test installs it."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: deploy/dev.sh test installs Debian's {package}")
        pytest.skip(f"{name} is not installed (apt-get install {package})")
    return found


def agent_cli(spec: str, binary: str) -> Path:
    """A coding agent's real CLI, pinned (`spec`, e.g. "@openai/codex@0.169.0"), as deploy/dev.sh test
    installs it from npm into its cache: a failure there, skipped on a workstation without it."""
    given = os.environ.get("GATEWAY_AGENT_CLIS")
    root = Path(given) if given else Path.home() / ".cache" / "llm-gateway" / "npm"
    path = root / spec.replace("/", "_") / "node_modules" / ".bin" / binary
    if not path.exists():
        if given or os.environ.get("CI"):
            pytest.fail(f"{spec} is not installed in {root}: deploy/dev.sh test installs it")
        pytest.skip(f"{spec} is not installed (bash deploy/dev.sh test installs it into {root})")
    return path


@contextmanager
def started(fakes: Mapping[str, FakeUpstream], **settings: Any) -> Iterator[Mapping[str, FakeUpstream]]:
    """Fake upstreams serving (each in its own thread and loop) for the block, stopped after it;
    `settings` (FakeUpstream.set) given to each once it serves."""
    for f in fakes.values():
        f.start_in_thread()
        if settings:
            f.set(**settings)
    try:
        yield fakes
    finally:
        for f in fakes.values():
            f.stop_thread()


# A replica's answer as the replica tests set it: ~20 ms, all of it before the first byte (a killed
# process then cuts no stream mid-body).
REPLICA = {"mode": "slow", "delay_ms": 20, "spread": False}


def replica_routes(
    fakes: Mapping[str, FakeUpstream], *order: str, half_life_s: float = 30, priors: str = ""
) -> str:
    """A routes file of one tier, `local`, of vLLM replicas of model `m` (`rep-<name>`, in this file
    order; all of `fakes` when none is given), on their kind's default latency priors unless
    `priors` (as "ttft_ms: 20, tpot_ms: 0.05") says otherwise; route `local` pins it."""
    extra = f", {priors}" if priors else ""
    lines = "".join(
        f'      - {{name: rep-{n}, kind: vllm, base_url: "{fakes[n].base_url}", model: m{extra}}}\n'
        for n in order or fakes
    )
    return f"""
version: 1
default_tier: local
estimator: {{half_life_s: {half_life_s:g}}}
tiers:
  local:
    backends:
{lines}routes:
  - {{model: local, tier: local}}
"""


def chat_once(client: openai.OpenAI, model: str, stream: bool) -> tuple[str | None, str | None]:
    """One chat request, its answer read to the end: (the backend that answered, None), or (the
    backend if known, what went wrong: the exception's type name, or an empty stream)."""
    backend = None
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        backend = raw.headers.get("x-gateway-backend")
        body = raw.parse()
        if stream and not "".join(c.choices[0].delta.content or "" for c in body if c.choices):  # type: ignore[union-attr]
            return backend, "empty stream"
    except Exception as exc:
        return backend, type(exc).__name__
    return backend, None


Answered = tuple[str | None, str | None]  # what chat_once returns


def answered_by(client: openai.OpenAI, model: str, name: str, stream: bool) -> None:
    """Requests until backend `name` answers one (one ejected by an earlier test is probed again)."""
    for _ in range(40):
        if chat_once(client, model, stream) == (name, None):
            return
        time.sleep(0.25)
    raise AssertionError(f"{name} never answered")


@dataclass
class Beside:
    first: Answered  # the request sent while the upstream misbehaves
    first_s: float
    later: Answered  # one sent beside it
    later_s: float
    reached: int  # chat requests the upstream got meanwhile


def beside(
    upstream: FakeUpstream,
    first: Callable[[], Answered],
    later: Callable[[], Answered],
    after_s: float,
    **script: Any,
) -> Beside:
    """`first` while `upstream` follows `script`, and `later` sent `after_s` into it; the upstream
    is back to REPLICA after."""
    held: list[tuple[Answered, float]] = []

    def run_first() -> None:
        t0 = time.monotonic()
        held.append((first(), time.monotonic() - t0))

    path = "/v1/chat/completions"
    upstream.set(**script)
    try:
        reached = upstream.stats.paths.get(path, 0)
        thread = threading.Thread(target=run_first)
        thread.start()
        time.sleep(after_s)
        t0 = time.monotonic()
        got_later = later()
        later_s = time.monotonic() - t0
        thread.join(30)
    finally:
        upstream.set(**REPLICA)
    [(got, first_s)] = held
    return Beside(got, first_s, got_later, later_s, upstream.stats.paths.get(path, 0) - reached)


def start_gateway(tmp: Path, routes: str, **env: str) -> Gateway:
    path = tmp / "routes.yaml"
    path.write_text(routes)
    log = tmp / "gateway.log"
    with log.open("wb") as out:
        proc, url = serve_gateway(path, log=out, GATEWAY_MODEL_THREADS="1", GATEWAY_LOG_LEVEL="info", **env)
    return Gateway(url, log, proc)


def logged_as(gw: Gateway, rid: str) -> dict[str, Any]:
    """The decision log's line for the request the client knows by `rid` (written as it ends), from a
    gateway started with GATEWAY_DECISION_LOG beside its log (`decisions.jsonl`)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in (gw.log.parent / "decisions.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record.get("id") == rid:
                return record
        time.sleep(0.05)
    raise AssertionError(f"{rid} is not in the decision log")


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
