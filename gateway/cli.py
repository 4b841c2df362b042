"""Command line: `serve` runs the gateway, `check FILE` validates a routes file offline, `ask` streams an
answer from a running gateway (a smoke test needing nothing but the standard library); `route` and
`explain` decide without generating. The offline commands (`train`, `evaluate`, `report`,
`fit-verifier`, `calibrate-verifier`) are gateway/offline/cli.py's."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from gateway.config import Settings
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.routing.decision import Hints
    from gateway.rules import RouteTable

__all__ = ["main"]

_GC_THRESHOLDS = (20_000, 20, 20)


def _tune_gc() -> None:
    """Process-wide, once the app has started: the serving process's business, not the app's."""
    # Everything loaded so far (routes, weights, clients) lives as long as the process: keep it out
    # of the garbage collector's scans, which otherwise grow with it on every request burst.
    gc.freeze()
    # Each request in flight holds a few hundred container objects (frames, futures, dicts); with
    # CPython's default gen0 threshold (700) a collection ran every ~5 requests at c=64 and promoted
    # the in-flight ones into older generations, costing ~75 us per request (loadtests/RESULTS.md).
    # Almost all of them die by refcount before 20,000 allocations.
    gc.set_threshold(*_GC_THRESHOLDS)


# The restarted process's first statement. `-P` keeps Python from putting its own first entry on the
# import path (the working directory, for `-c` and `-m`); this puts back the one the first process
# had (the console script's folder, or the directory `python -m gateway` ran from), so both import
# the same `gateway`: a `gateway/` folder in the working directory cannot take the installed one's place.
_BOOT = (
    "import json, sys; first = json.loads(sys.argv.pop(1)); sys.argv[0] = first[0]; "
    "sys.path[:0] = first[1:]; from gateway.cli import main; raise SystemExit(main())"
)


def _restart_optimized(level: int) -> NoReturn:
    """The same process (same pid, limits and affinity) with docstrings and asserts left out of every
    module it imports: config.py's `python_optimize`."""
    import json

    first = [sys.argv[0], *([] if sys.flags.safe_path else sys.path[:1])]
    argv = [sys.executable, "-" + "O" * level, "-P", "-c", _BOOT, json.dumps(first), *sys.argv[1:]]
    os.execv(sys.executable, argv)  # noqa: S606


def _setting_problem(error: Any) -> str:
    where = f"GATEWAY_{str(error['loc'][0]).upper()}: " if error["loc"] else ""
    return where + str(error["msg"]).removeprefix("Value error, ")


def _serve(args: argparse.Namespace) -> int:
    from gateway.server import create_app
    from gateway.server.serve import serve

    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "routes": args.routes}.items() if v}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:  # each GATEWAY_* setting that does not hold, named as routes problems are
        raise ConfigError("settings", [_setting_problem(e) for e in exc.errors()]) from None
    if args.from_command_line and sys.flags.optimize < settings.python_optimize:
        _restart_optimized(settings.python_optimize)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings, on_started=_tune_gc)  # a ConfigError: main() lists its problems, exit 1
    serve(app, settings)
    return 0


def _check(args: argparse.Namespace) -> int:
    table = _load(Path(args.file))
    if table is None:
        return 1
    tiers = ", ".join(f"{n} ({len(t.backends)} backends)" for n, t in table.spec.tiers.items())
    print(f"{args.file}: ok, sha256 {table.sha256[:12]}, tiers: {tiers}; routes: {', '.join(table.named())}")
    return 0


def _ask(args: argparse.Namespace) -> int:
    import json
    import urllib.error
    import urllib.request

    body = {
        "model": args.model,
        "stream": True,
        "max_tokens": args.max_tokens,
        "messages": [{"role": "user", "content": args.prompt}],
    }
    req = urllib.request.Request(  # noqa: S310 - the URL is the operator's own gateway
        args.url.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
            print(
                f"[{resp.headers.get('x-gateway-tier')} tier, {resp.headers.get('x-gateway-backend')}] ",
                end="",
                flush=True,
            )
            for raw in resp:
                line = raw.decode().strip()
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if "error" in event:
                    print(f"\nerror: {event['error']['message']}", file=sys.stderr)
                    return 1
                for choice in event.get("choices", []):
                    print(choice.get("delta", {}).get("content") or "", end="", flush=True)
    except urllib.error.HTTPError as exc:
        print(f"error {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"cannot reach {args.url}: {exc.reason}", file=sys.stderr)
        return 1
    print()
    return 0


def _load(path: Path) -> RouteTable | None:
    from gateway.rules import load_routes

    try:
        return load_routes(path)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return None


def _table_and_hints(args: argparse.Namespace) -> tuple[RouteTable, Hints] | int:
    """The routes file and the --header hints, or the exit code that explains why not."""
    from gateway.routing.replay import hints_from

    table = _load(args.routes)
    if table is None:
        return 1
    try:
        return table, hints_from(args.header)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2


def _route(args: argparse.Namespace) -> int:
    from gateway.routing.replay import replay

    loaded = _table_and_hints(args)
    if isinstance(loaded, int):
        return loaded
    table, hints = loaded
    out = sys.stdout.buffer
    failed = 0
    for line, ok in replay(table, sys.stdin.buffer, hints):
        out.write(line)
        failed += not ok
    out.flush()
    if failed:
        print(
            f"{failed} line(s) could not be routed; each has an error object on its output line",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _explain(args: argparse.Namespace) -> int:
    import json

    from gateway.routing.replay import replay

    loaded = _table_and_hints(args)
    if isinstance(loaded, int):
        return loaded
    table, hints = loaded
    body = {"model": args.model, "messages": [{"role": "user", "content": args.prompt}]}
    if args.max_tokens:
        body["max_tokens"] = args.max_tokens
    for line, ok in replay(table, [json.dumps(body).encode()], hints):
        print(json.dumps(json.loads(line), indent=2))
        if not ok:
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (settings also from GATEWAY_* variables)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--routes", type=Path)
    serve.set_defaults(func=_serve)
    check = sub.add_parser("check", help="validate a routes file; exit 1 listing every problem")
    check.add_argument("file")
    check.set_defaults(func=_check)
    route = sub.add_parser(
        "route", help="decide for each chat request body on stdin (JSONL); no model is called"
    )
    route.add_argument("--routes", type=Path, default=Path("routes.yaml"))
    route.add_argument("--header", action="append", default=[], help="e.g. 'x-latency-budget-ms: 800'")
    route.set_defaults(func=_route)
    explain = sub.add_parser("explain", help="print the routing decision for one prompt")
    explain.add_argument("prompt")
    explain.add_argument("--routes", type=Path, default=Path("routes.yaml"))
    explain.add_argument("--model", default="auto")
    explain.add_argument("--max-tokens", type=int)
    explain.add_argument("--header", action="append", default=[], help="e.g. 'x-latency-budget-ms: 800'")
    explain.set_defaults(func=_explain)
    ask = sub.add_parser("ask", help="stream one answer from a running gateway")
    ask.add_argument("prompt")
    ask.add_argument("--url", default="http://127.0.0.1:8080/v1")
    ask.add_argument("--model", default="auto")
    ask.add_argument("--max-tokens", type=int, default=64)
    ask.set_defaults(func=_ask)
    from gateway.offline.cli import add_commands

    add_commands(sub)
    args = ap.parse_args(argv)
    args.from_command_line = argv is None  # `serve` may restart its process only then
    try:
        code: int = args.func(args)
    except ConfigError as exc:  # a file a command was given does not load: say so, not a traceback
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    return code
