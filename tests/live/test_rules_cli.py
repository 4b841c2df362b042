"""`gateway check` and `gateway serve` on good and bad routes files, run as the operator runs them
(the loader's own messages, in process: tests/unit/rules/test_rules.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.unit.rules.test_rules import GOOD, write


def test_check_command(tmp_path: Path) -> None:
    good = subprocess.run(
        [sys.executable, "-m", "gateway", "check", str(write(tmp_path, GOOD))], capture_output=True, text=True
    )
    assert good.returncode == 0 and "ok" in good.stdout
    bad = write(tmp_path, GOOD.replace("default_tier: small", "default_tier: tiny"))
    out = subprocess.run([sys.executable, "-m", "gateway", "check", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert f"{bad}:2: default_tier: unknown tier 'tiny'" in out.stderr


def test_serve_names_a_missing_key_and_exits(tmp_path: Path) -> None:
    routes = write(tmp_path, GOOD)
    env = {k: v for k, v in os.environ.items() if k != "EXAMPLE_KEY"}
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--routes", str(routes), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 1
    assert "backend 'hosted': environment variable EXAMPLE_KEY is not set" in out.stderr
    assert "Traceback" not in out.stderr
    bad_model = write(
        tmp_path,
        GOOD.replace("        kind: llamacpp\n", "        kind: llamacpp\n        path: /nope.gguf\n"),
    )
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--routes", str(bad_model), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "EXAMPLE_KEY": "k"},
    )
    assert out.returncode == 1
    assert "backend 'local': model file /nope.gguf does not exist" in out.stderr


def test_serve_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("version: 1", "version: 2"))
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--routes", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert ":1: version:" in out.stderr


def test_check_lists_schema_and_cross_check_problems_in_one_pass(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        GOOD.replace("default_tier: small", "default_tier: tiny").replace(
            "input_per_mtok: 2.5", "input_per_mtok: -1"
        ),
    )
    out = subprocess.run([sys.executable, "-m", "gateway", "check", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert f"{bad}:2: default_tier: unknown tier 'tiny'" in out.stderr  # a cross-check
    assert "input_per_mtok" in out.stderr  # a schema error, in the same run


def _routes_to(base_url: str) -> str:
    return (
        "version: 1\ndefault_tier: t\ntiers:\n  t:\n    backends:\n"
        f'      - {{name: b, kind: openai, base_url: "{base_url}", model: m}}\n'
        "routes:\n  - {model: t, tier: t}\n"
    )


def test_serve_runs_its_process_without_docstrings_and_asserts(tmp_path: Path) -> None:
    """config.py's `python_optimize`: the same process (its pid) under -OO, unless set to 0."""
    from gateway.testing.fake_upstream import FakeUpstream
    from gateway.testing.processes import stop
    from tests.support import start_gateway

    up = FakeUpstream()
    up.start_in_thread()
    routes = _routes_to(up.base_url)
    try:
        for setting, flag in (("2", "-OO"), ("1", "-O"), ("0", None)):
            g = start_gateway(tmp_path, routes, GATEWAY_PYTHON_OPTIMIZE=setting)
            try:
                argv = Path(f"/proc/{g.proc.pid}/cmdline").read_bytes().split(b"\0")
                assert (flag.encode() in argv) if flag else not any(a.startswith(b"-O") for a in argv), argv
                got = httpx.post(
                    g.v1 + "/chat/completions",
                    json={"model": "t", "messages": [{"role": "user", "content": "hi"}]},
                )
                assert got.status_code == 200, got.text
            finally:
                stop(g.proc)
    finally:
        up.stop_thread()


def test_serve_restarted_under_oo_imports_the_gateway_it_started_with(tmp_path: Path) -> None:
    """The console script started from a directory holding another `gateway/` package: the restarted
    process imports the installed gateway, as the first process did (`-m gateway` would put the
    working directory first on the import path)."""
    from gateway.testing.fake_upstream import FakeUpstream
    from gateway.testing.processes import free_port, stop, wait_http

    shadow = tmp_path / "gateway"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise SystemExit('the gateway/ of the working directory')\n")
    (shadow / "__main__.py").write_text("raise SystemExit('the gateway/ of the working directory')\n")
    up = FakeUpstream()
    up.start_in_thread()
    script = Path(sys.executable).with_name("gateway")
    assert script.exists(), "the console script is installed beside the interpreter"
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_ROUTES": str(write(tmp_path, _routes_to(up.base_url))),
        "GATEWAY_PORT": str(port),
        "GATEWAY_PYTHON_OPTIMIZE": "2",
        "GATEWAY_MODEL_THREADS": "1",
    }
    env.pop("PYTHONPATH", None)
    log = tmp_path / "serve.log"
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(script), "serve"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", proc)
            argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
            assert b"-OO" in argv, argv
            got = httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json={"model": "t", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert got.status_code == 200, got.text
        finally:
            stop(proc)
    finally:
        up.stop_thread()
    assert b"working directory" not in log.read_bytes()
