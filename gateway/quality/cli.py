"""`gateway report` (with `--what-if`) and `gateway train --from-log`: the decision log, offline.

`train` itself is classify's command (classify/cli.py); classify sits below this package and cannot
read a decision log, so the log's options are added to its parser here and the command runs the
classify trainer unless `--from-log` is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.classify.cli import single_threaded_blas
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.classify.data import Example
    from gateway.quality.log import Log

__all__ = ["add_commands"]


def _read(paths: list[Path], keep: bool = True) -> Log | int:
    """The log, or the exit code after saying why there is none to read."""
    from gateway.quality.log import read_log

    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"no such decision log: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        log = read_log(paths, keep=keep)
    except OSError as exc:
        print(f"cannot read the decision log: {exc}", file=sys.stderr)
        return 2
    if not log.requests:
        print(
            f"no request lines in {', '.join(map(str, paths))} ({log.lines:,} lines, {log.malformed:,} "
            "malformed): is GATEWAY_DECISION_LOG set on the gateway? (docs/quality.md)",
            file=sys.stderr,
        )
        return 2
    return log


def _report(args: argparse.Namespace) -> int:
    single_threaded_blas()
    from gateway.quality.summary import summarize
    from gateway.quality.text import summary_text, what_if_text

    log = _read(args.log, keep=args.what_if is not None)  # only a what-if rescores
    if isinstance(log, int):
        return log
    summary = summarize(log)
    print(summary_text(summary))
    w = None
    if args.what_if is not None:
        from gateway.classify.loader import weights_path
        from gateway.classify.scorer import load_spec
        from gateway.quality.rescore import rescore
        from gateway.quality.whatif import what_if
        from gateway.spec import load_routes

        try:
            table = load_routes(args.what_if)
            spec = load_spec(weights_path(table))
        except ConfigError as exc:
            print("\n".join(exc.problems), file=sys.stderr)
            return 1
        w = what_if(log, table, rescore(log.requests, spec))
        print()
        print(what_if_text(w))
    if args.html is not None:
        from gateway.quality.html import page

        args.html.write_text(page(summary, w), encoding="utf-8")
        print(f"\nwrote {args.html}")
    return 0


def _examples(args: argparse.Namespace) -> list[Example]:
    """The shipped (or any labelled) data to mix with the log's rows."""
    from gateway.classify.data import load_arena, load_labelled, load_routerbench

    out: list[Example] = []
    if args.with_shared_data is not None:
        out += load_routerbench(next(args.with_shared_data.glob("routerbench*.csv.gz")))
        out += load_arena(next(args.with_shared_data.glob("arenabench*.csv.gz")))
    if args.routerbench:
        out += load_routerbench(args.routerbench)
    if args.arena:
        out += load_arena(args.arena)
    for path in args.data or []:
        out += load_labelled(path, args.small_tier)
    return out


def _train(args: argparse.Namespace, plain: Callable[[argparse.Namespace], int]) -> int:
    if not args.from_log:
        if args.with_shared_data is not None:
            print("--with-shared-data mixes the shipped data into --from-log training", file=sys.stderr)
            return 2
        return plain(args)
    single_threaded_blas()
    from gateway.classify.train import save
    from gateway.quality.retrain import NoRows, retrain
    from gateway.quality.text import retrained_text

    if not 0 < args.target_quality <= 1 or not 0 < args.holdout < 1:
        print("--target-quality must be in (0, 1] and --holdout in (0, 1)", file=sys.stderr)
        return 2
    log = _read(args.from_log)
    if isinstance(log, int):
        return log
    try:
        shared = _examples(args)
    except (OSError, StopIteration, ValueError) as exc:
        print(
            f"cannot read the training data to mix in: {exc or 'no routerbench/arenabench file'}",
            file=sys.stderr,
        )
        return 2
    sources = [p.name for p in args.from_log] + (
        [args.with_shared_data.name] if args.with_shared_data else []
    )
    try:
        result = retrain(
            log,
            shared=shared,
            tiers=set(args.tier) if args.tier else None,
            holdout=args.holdout,
            target=args.target_quality,
            name="from-log" if args.name == "default" else args.name,
            n_boot=args.bootstrap,
            meta={"trained_on": sources},
        )
    except NoRows as exc:
        print(f"no usable rows: {exc}", file=sys.stderr)
        return 2
    save(result.spec, args.out)
    print(retrained_text(result, str(args.out)))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report", help="routing quality from a decision log: tier mix, cost, quality kept; --what-if"
    )
    report.add_argument("log", type=Path, nargs="+", help="decisions.jsonl (and its rotations)")
    report.add_argument("--html", type=Path, help="also write one self-contained HTML file with the plots")
    report.add_argument(
        "--what-if",
        type=Path,
        metavar="ROUTES",
        help="decide the logged traffic again under this routes file",
    )
    report.set_defaults(func=_report)
    train = sub.choices["train"]  # classify/cli.py's, registered first
    log = train.add_argument_group("from a decision log (docs/quality.md)")
    log.add_argument(
        "--from-log",
        type=Path,
        action="append",
        metavar="LOG",
        help="labels from shadow verdicts and feedback in this decision log (repeatable: rotations)",
    )
    log.add_argument("--with-shared-data", type=Path, metavar="DIR", help="mix in the shipped training data")
    log.add_argument("--tier", action="append", help="only requests this cheaper tier answered (repeatable)")
    log.add_argument("--target-quality", type=float, default=0.95, help="for the suggested max_difficulty")
    log.add_argument("--holdout", type=float, default=0.2, help="share of labelled log rows held out")
    log.add_argument("--bootstrap", type=int, default=500, help="resamples for the comparison's intervals")
    train.set_defaults(func=partial(_train, plain=train.get_default("func")))
