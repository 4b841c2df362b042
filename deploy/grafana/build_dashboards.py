#!/usr/bin/env python3
"""The gateway's Grafana dashboards, as code.

    python deploy/grafana/build_dashboards.py           # (re)writes deploy/grafana/dashboards/*.json
    python deploy/grafana/build_dashboards.py --check   # exit 1 if a committed file differs

The modules beside this one: `promql` (query helpers and the gateway's label values), `panels` (one
function per kind of panel), `layout` (grid, variables, the dashboard wrapper) and one `board_*` per
dashboard. Standard library only, apart from the gateway's own metrics module, where the label values
come from. The output is stable (sorted keys, ids in layout order, indent 2, trailing newline), so a
regenerated file diffs cleanly. Every query reads the gateway's metrics (docs/metrics.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
# The checkout's own gateway, not whichever one is installed: the dashboards describe this tree's code.
sys.path.insert(0, str(HERE.parent.parent))

from board_backends import backends  # noqa: E402 (after the path is set)
from board_capacity import capacity  # noqa: E402
from board_overview import overview  # noqa: E402
from board_routing import routing  # noqa: E402

DASHBOARDS = {
    "gateway-overview.json": overview,
    "gateway-routing.json": routing,
    "gateway-backends.json": backends,
    "gateway-capacity.json": capacity,
}


def render() -> dict[str, str]:
    """File name -> the exact text to write."""
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs; write nothing")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        stale = [name for name, text in files.items() if _read(args.out / name) != text]
        for name in stale:
            print(f"{args.out / name} is out of date: run python {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
