"""../shared/bench/loadgen.py with a varied prompt set: every request carries the next of N real
prompts (from ../shared/data), so nothing keyed by the prompt (the scorer's token memo, any cache)
serves a benchmark from one warm entry.

The load generator is the shared one, unchanged: this wrapper only hands its session a body per
request instead of its single payload, so timing, accounting and output are loadgen's own.

  python loadtests/varied_load.py --prompts 2000 [--form chat|responses|messages] [--texts F] -- <loadgen>
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("BENCH_DATA", ROOT.parent / "shared" / "data"))
BENCH = Path(os.environ.get("BENCH_DIR", ROOT.parent / "shared" / "bench"))
SYSTEM = "You are a helpful assistant."


def prompts(n: int, seed: int = 7) -> list[str]:
    """N user prompts drawn from the shared RouterBench and Arena files, in a fixed shuffled order."""
    from gateway.offline.data import load_arena, load_routerbench

    texts = []
    for e in load_routerbench(next(DATA.glob("routerbench*.csv.gz"))) + load_arena(
        next(DATA.glob("arena*.csv.gz"))
    ):
        user = [m["content"] for m in e.body["messages"] if m.get("role") == "user"]
        if user and isinstance(user[-1], str):
            texts.append(user[-1])
    random.Random(seed).shuffle(texts)
    return texts[:n]


def bodies(texts: list[str], form: str, model: str | None, stream: bool) -> list[bytes]:
    out = []
    for text in texts:
        body: dict[str, Any]
        if form == "responses":
            body = {"instructions": SYSTEM, "input": text, "max_output_tokens": 32, "store": False}
        elif form == "messages":
            body = {"system": SYSTEM, "messages": [{"role": "user", "content": text}], "max_tokens": 32}
        else:
            body = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]}
            body["max_tokens"] = 32
        body["temperature"] = 0
        body["model"] = model or "small"
        if stream:
            body["stream"] = True
        out.append(json.dumps(body).encode())
    return out


class _Varied:
    """Loadgen's ClientSession, handing out the next body for each POST."""

    def __init__(self, session: Any, next_body: Iterator[bytes]) -> None:
        self._session = session
        self._next = next_body

    async def __aenter__(self) -> _Varied:
        await self._session.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.__aexit__(*exc)

    def post(self, url: str, *, data: bytes, **kw: Any) -> Any:
        return self._session.post(url, data=next(self._next), **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--form", choices=("chat", "responses", "messages"), default="chat")
    ap.add_argument("--texts", type=Path, help="the prompts, one JSON string a line (default: drawn here)")
    ours, rest = ap.parse_known_args()
    rest = [a for a in rest if a != "--"]
    sys.path.insert(0, str(BENCH))
    import aiohttp
    import loadgen

    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--model", default=None)
    probe.add_argument("--stream", action="store_true")
    known, _ = probe.parse_known_args(rest)
    if ours.texts is not None:
        texts = [json.loads(line) for line in ours.texts.read_text().splitlines()][: ours.prompts]
    else:
        texts = prompts(ours.prompts)
    cycle = itertools.cycle(bodies(texts, ours.form, known.model, known.stream))

    class _Aiohttp:
        TCPConnector = aiohttp.TCPConnector
        ClientTimeout = aiohttp.ClientTimeout

        @staticmethod
        def ClientSession(*a: Any, **kw: Any) -> _Varied:
            return _Varied(aiohttp.ClientSession(*a, **kw), cycle)

    loadgen.aiohttp = _Aiohttp  # type: ignore[attr-defined]
    sys.argv = [str(BENCH / "loadgen.py"), *rest]
    loadgen.main()


if __name__ == "__main__":
    main()
