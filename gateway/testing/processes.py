"""Helpers for tests and benchmarks that run real servers as processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

__all__ = ["free_port", "serve_fake", "serve_gateway", "stop", "wait_http"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until `url` answers below 500, failing early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):  # noqa: S310 - loopback URLs we built
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a process we started, and reap it."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _pinned(cmd: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if cpu is not None else cmd


def serve_gateway(
    routes: Path, *, cpu: str | None = None, log: IO[bytes] | None = None, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`gateway serve` on a free port with these routes (pinned to `cpu` if given), once it answers."""
    port = free_port()
    full_env = {**os.environ, "GATEWAY_ROUTES": str(routes), "GATEWAY_PORT": str(port), **env}
    cmd = _pinned([sys.executable, "-m", "gateway", "serve"], cpu)
    out = subprocess.STDOUT if log else None
    proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=out)  # noqa: S603 - argv is ours
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", proc)
    return proc, url


def serve_fake(
    model: str, *, cpu: str | None = None, script: dict[str, Any] | None = None, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A fake upstream (gateway/testing/fake_upstream.py) in its own process, scripted once it answers
    (on `port`: one that was there before, restarted)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "gateway.testing.fake_upstream", "--port", str(port), "--model", model]
    proc = subprocess.Popen(_pinned(cmd, cpu))  # noqa: S603 - argv is ours
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health", proc)
    if script is not None:
        data = json.dumps(script).encode()
        with urllib.request.urlopen(url + "/_fake/script", data=data, timeout=5):  # noqa: S310 - loopback
            pass
    return proc, url
