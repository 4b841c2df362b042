"""Command line: `gateway serve` runs the server, `gateway check FILE` validates a routes file offline."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gateway.config import Settings
from gateway.errors import ConfigError

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app

    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "routes": args.routes}.items() if v}
    settings = Settings(**overrides)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app = create_app(settings)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # per-request log lines cost CPU; metrics carry the traffic
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from gateway.routing.rules import load_routes

    try:
        table = load_routes(Path(args.file))
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    tiers = ", ".join(f"{n} ({len(t.backends)} backends)" for n, t in table.spec.tiers.items())
    print(f"{args.file}: ok, sha256 {table.sha256[:12]}, tiers: {tiers}; routes: {', '.join(table.routes)}")
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
    args = ap.parse_args(argv)
    code: int = args.func(args)
    return code
