"""The shipped scorer loads offline, in a fresh interpreter: no network, no hub, no cache written, no
heavy import before the first score."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import REPO

_OFFLINE = """
import socket, sys

def refuse(*a, **k):
    raise OSError("network access during scorer load")

socket.socket.connect = refuse
socket.create_connection = refuse
import gateway.classify.scorer as s
assert "numpy" not in sys.modules and "tokenizers" not in sys.modules, "work at import"
from gateway.classify.view import view_of_body
p = s.default_scorer().score(view_of_body({"messages": [{"role": "user", "content": "hello"}]}))
assert 0 < p < 1
assert "wordllama" not in sys.modules
print("ok")
"""


def test_loads_offline_without_side_effects(tmp_path: Path) -> None:
    """No network, no hub, no cache written: the weights ship in the wordllama wheel and ours."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_OFFLINE)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert not any(home.iterdir())
