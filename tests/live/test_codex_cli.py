"""The real Codex CLI (npm @openai/codex, pinned) in exec mode through the gateway, over SSE and over a
WebSocket, with a scripted model behind it that answers by content (a chat-only fake upstream: a call
to `exec_command` until the conversation holds its output, then a final text).

Each run asserts that the command ran (its marker file) and that the final text was printed, that
Codex's catalog was read (no "Model metadata ... not found" warning) and that the transport asked for
was used, and times it: the WebSocket run must not stall in Codex's ~6.5 s fallback to HTTP.

And once with a tier behind Anthropic's Messages API (`kind: anthropic`, a fake Anthropic API that
refuses what the API's documented rules refuse): Codex's Responses requests reach it translated
twice (Responses to chat, chat to Messages), its tools included, and the answers come back the same
way.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.testing.fake_anthropic import FakeAnthropic
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, agent_cli, start_gateway

CODEX = "@openai/codex@0.169.0"
KEY = "sk-codex-test-5d1e"
FINAL = "ALL-DONE-7c41"
ROUTES = """
version: 1
default_tier: coder
tiers:
  coder:
    backends: [{{name: coder-chat, kind: openai, base_url: "{chat}", model: coder-model}}]
routes:
  - {{model: codex, tier: coder, metadata: {{context_window: 64000, max_output_tokens: 8000}}}}
"""
CONFIG = """
model = "codex"
model_provider = "gateway"

[model_providers.gateway]
name = "LLM routing gateway"
base_url = "{v1}"
wire_api = "responses"
env_key = "GATEWAY_API_KEY"
model_catalog_url = "{v1}/models"
supports_websockets = {ws}
"""


@pytest.fixture(scope="module")
def coder() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(model="coder-model", reply=FINAL)
    fake.tool_name = "exec_command"
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


@pytest.fixture(scope="module")
def gw(coder: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = start_gateway(
        tmp_path_factory.mktemp("codex-gw"), ROUTES.format(chat=coder.base_url), GATEWAY_API_KEYS=f"dev:{KEY}"
    )
    yield g
    stop(g.proc)


def _metric(gw: Gateway, name: str) -> float:
    text = httpx.get(gw.url + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def _run_codex(
    gw: Gateway, coder: FakeUpstream | FakeAnthropic, tmp: Path, websocket: bool
) -> tuple[str, float]:
    codex = agent_cli(CODEX, "codex")
    home, work = tmp / "home", tmp / "work"
    home.mkdir()
    work.mkdir()
    marker = work / "marker.txt"
    command = {"cmd": f"echo codex-ran > {marker}"}
    if isinstance(coder, FakeAnthropic):
        coder.tool_input = command
    else:
        coder.tool_arguments = json.dumps(command)
    (home / "config.toml").write_text(CONFIG.format(v1=gw.v1, ws="true" if websocket else "false"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CODEX_HOME": str(home),
        "GATEWAY_API_KEY": KEY,
        "TERM": "dumb",
        "RUST_LOG": "warn",
    }
    started = time.monotonic()
    proc = subprocess.run(
        [str(codex), "exec", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check",
         "Run the probe command."],
        cwd=work, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert marker.read_text().strip() == "codex-ran", out[-3000:]
    assert FINAL in proc.stdout, out[-3000:]
    assert "Model metadata for" not in out, out[-3000:]  # the catalog was read
    print(f"\n--- codex over {'WebSocket' if websocket else 'SSE'}: {took:.2f} s\n{proc.stdout}")
    return out, took


def test_codex_exec_over_sse(gw: Gateway, coder: FakeUpstream, tmp_path: Path) -> None:
    before = _metric(gw, 'gateway_websocket_upgrades_total{result="accepted"}')
    _, took = _run_codex(gw, coder, tmp_path, websocket=False)
    assert _metric(gw, 'gateway_websocket_upgrades_total{result="accepted"}') == before
    # Codex's own startup is most of it; the budget only catches a stall (a retry, a timeout).
    assert took < 20
    body = coder.stats.last_body or {}
    names = [t["function"]["name"] for t in body.get("tools", [])]
    assert "exec_command" in names and "apply_patch" in names  # the catalog's freeform tool, translated
    assert "multi_agent_v1__spawn_agent" in names  # the namespace, flattened
    assert body.get("prompt_cache_key")  # Codex's session, passed on


def test_codex_exec_over_a_websocket(gw: Gateway, coder: FakeUpstream, tmp_path: Path) -> None:
    accepted = 'gateway_websocket_upgrades_total{result="accepted"}'
    before = _metric(gw, accepted), _metric(gw, 'gateway_websocket_messages_total{type="warmup"}')
    out, took = _run_codex(gw, coder, tmp_path, websocket=True)
    assert _metric(gw, accepted) >= before[0] + 1, "Codex did not use the WebSocket"
    assert _metric(gw, 'gateway_websocket_messages_total{type="warmup"}') >= before[1] + 1
    assert "Falling back" not in out
    # Refused, Codex retries for ~6.5 s before it falls back to HTTP: the run would take that longer.
    assert took < 6.0


@pytest.fixture(scope="module")
def claude_coder() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic(model="claude-coder", reply=FINAL)
    fake.tool_name = "exec_command"
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


def test_codex_exec_through_an_anthropic_tier(claude_coder: FakeAnthropic, tmp_path: Path) -> None:
    routes = f"""
version: 1
default_tier: coder
tiers:
  coder:
    backends: [{{name: claude, kind: anthropic, base_url: "{claude_coder.base_url}", model: claude-coder}}]
routes:
  - {{model: codex, tier: coder, metadata: {{context_window: 64000, max_output_tokens: 8000}}}}
"""
    (tmp_path / "gw").mkdir()
    gw = start_gateway(tmp_path / "gw", routes, GATEWAY_API_KEYS=f"dev:{KEY}")
    try:
        _, took = _run_codex(gw, claude_coder, tmp_path, websocket=False)
    finally:
        stop(gw.proc)
    assert claude_coder.stats.paths["/v1/messages"] >= 2 and not claude_coder.stats.refused
    body = claude_coder.stats.last_body or {}
    names = [t["name"] for t in body.get("tools", [])]
    assert "exec_command" in names and "apply_patch" in names  # Codex's freeform tool, a function here
    assert body["stream"] is True and isinstance(body["system"], str)  # Codex's instructions
    results = [b for b in body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert results, body["messages"][-1]  # the command's output went back as the API wants it
    assert took < 20
