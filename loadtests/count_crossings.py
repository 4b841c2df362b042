"""Counts how often one request crosses between the gateway's packages, so every issue reports the same
figure (docs/architecture.md has the walk it measures).

The gateway runs in-process (create_app, driven as an ASGI app by httpx in the same thread and event
loop) with one OpenAI-compatible
backend, a fake upstream on 127.0.0.1 in a thread of its own. After a warm-up request, one plain and one
streamed chat request are traced with sys.setprofile: a crossing is a call into a function of package
X (`gateway.X...`; top-level modules count as their own package) whose nearest calling gateway frame is
in another package. A coroutine or generator counts when it starts, not each time it resumes; frames of
the framework, the event loop and libraries in between are skipped, so an entry from Litestar into a
handler is not a crossing, and neither is anything the upstream thread does.

Reading a value another package defines is not a move into that package: property getters and the
dunders that make or drop a value (`__init__`, `__post_init__`, `__del__`, `__eq__`, `__hash__`) are
listed apart ("reads"), and "crossings" counts only the calls that hand work to another package.

    .venv/bin/python loadtests/count_crossings.py [--model auto] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import dis
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
_VALUE_DUNDERS = frozenset({"__init__", "__post_init__", "__del__", "__eq__", "__hash__"})
_first: dict[CodeType, int] = {}
_getters: set[CodeType] = set()


def _collect_getters() -> None:
    """The code of every property getter in the gateway's loaded modules."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("gateway.") or module is None:
            continue
        for cls in vars(module).values():
            if isinstance(cls, type) and cls.__module__ == name:
                for attr in vars(cls).values():
                    if (
                        isinstance(attr, property)
                        and attr.fget is not None
                        and hasattr(attr.fget, "__code__")
                    ):
                        _getters.add(attr.fget.__code__)


ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    max_difficulty: 0.6
    backends:
      - {{name: up-small, kind: openai, base_url: "{url}", model: m-small}}
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends:
      - {{name: up-large, kind: openai, base_url: "{url}", model: m-large}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small}}
  - {{model: large, tier: large}}
"""


def package(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    if not isinstance(name, str) or not name.startswith("gateway."):
        return None
    return name.split(".")[1]


def first_entry(frame: FrameType) -> bool:
    """A call event for this frame starts it (not a generator or coroutine resuming)."""
    code = frame.f_code
    if not code.co_flags & _GENERATOR_FLAGS:
        return True
    start = _first.get(code)
    if start is None:
        start = next(i.offset for i in dis.get_instructions(code) if i.opname == "RESUME")
        _first[code] = start
    return frame.f_lasti <= start


class Crossings:
    def __init__(self) -> None:
        self.moves: Counter[tuple[str, str]] = Counter()
        self.reads = 0  # property reads and value dunders across packages
        self.sequence: list[str] = []  # each crossing in order: caller -> callee module.function

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        callee = package(frame)
        if callee is None or not first_entry(frame):
            return
        back = frame.f_back
        while back is not None:
            caller = package(back)
            if caller is not None:
                if caller != callee:
                    code = frame.f_code
                    if code in _getters or code.co_name in _VALUE_DUNDERS:
                        self.reads += 1
                        return
                    self.moves[(caller, callee)] += 1
                    where = f"{frame.f_globals['__name__'].removeprefix('gateway.')}.{frame.f_code.co_name}"
                    self.sequence.append(f"{caller} -> {where}")
                return
            back = back.f_back

    @property
    def total(self) -> int:
        return sum(self.moves.values())

    def entered(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, callee), n in self.moves.items():
            out[callee] += n
        return out


async def _traced(client: Any, body: dict[str, Any]) -> Crossings:
    seen = Crossings()
    sys.setprofile(seen)
    try:
        if body.get("stream"):
            async with client.stream("POST", "/v1/chat/completions", json=body) as resp:
                async for _ in resp.aiter_bytes():
                    pass
        else:
            resp = await client.post("/v1/chat/completions", json=body)
    finally:
        sys.setprofile(None)
    assert resp.status_code == 200, resp.status_code
    return seen


async def count(model: str) -> dict[str, Crossings]:
    import httpx

    from gateway.config import Settings
    from gateway.server import create_app
    from gateway.testing.fake_upstream import FakeUpstream

    up = FakeUpstream(model="m", reply="a short fake answer")
    up.start_in_thread()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            routes = Path(tmp) / "routes.yaml"
            routes.write_text(ROUTES.format(url=up.base_url))
            app = create_app(Settings(routes=routes, allow_open=True))
            transport = httpx.ASGITransport(app=app)
            async with (
                app.state.gateway.running(),
                httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
            ):
                ask = "Explain, in two sentences, why the sky is blue at noon and red at sunset."
                body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": ask}]}
                for stream in (False, True):  # warm-up: lazy imports and first-use caches
                    await client.post("/v1/chat/completions", json={**body, "stream": stream})
                _collect_getters()
                return {
                    "plain": await _traced(client, body),
                    "stream": await _traced(client, {**body, "stream": True}),
                }
    finally:
        up.stop_thread()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="auto", help="the route to request (auto, small, large)")
    ap.add_argument("--show", action="store_true", help="list each package-to-package move")
    ap.add_argument("--sequence", action="store_true", help="list every crossing in the order it happened")
    args = ap.parse_args()
    found = asyncio.run(count(args.model))
    out = {
        kind: {"crossings": c.total, "reads": c.reads, "entered": dict(c.entered().most_common())}
        for kind, c in found.items()
    }
    print(json.dumps({"model": args.model, **out}, indent=1))
    if args.show:
        for kind, c in found.items():
            print(f"\n{kind}:")
            for (a, b), n in c.moves.most_common():
                print(f"  {a:>14} -> {b:<14} {n}")
    if args.sequence:
        for kind, c in found.items():
            print(f"\n{kind}:")
            for i, step in enumerate(c.sequence, 1):
                print(f"  {i:3} {step}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
