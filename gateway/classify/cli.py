"""`gateway train` and `gateway evaluate`: offline tools for the difficulty scorer (numpy needed)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["add_commands", "single_threaded_blas"]

_SHIPPED = Path(__file__).parent / "weights" / "default.json"


def single_threaded_blas() -> None:
    # Multi-threaded BLAS sums in a varying order; one thread makes a retrain byte-identical.
    # Must happen before numpy is first imported, which this command does lazily.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def _train(args: argparse.Namespace) -> int:
    single_threaded_blas()
    from gateway.classify.data import load_arena, load_labelled, load_routerbench
    from gateway.classify.train import save, train

    examples = []
    if args.routerbench:
        examples += load_routerbench(args.routerbench)
    if args.arena:
        examples += load_arena(args.arena)
    for path in args.data or []:
        examples += load_labelled(path, args.small_tier)
    if not any(e.split == "train" for e in examples):
        print("no training rows: give --routerbench/--arena, --data FILE or --from-log LOG", file=sys.stderr)
        return 2
    sources = [p.name for p in (args.routerbench, args.arena, *(args.data or [])) if p]
    spec = train(examples, name=args.name, meta={"trained_on": sources, "split": "train"})
    save(spec, args.out)
    m = spec.meta
    print(
        f"{args.out}: {m['examples']} examples, tasks {', '.join(m['tasks'])}; target {m['target']}, "
        f"lexical {m['lexical']}, embedding {m['embedding']}, ridge {m['ridge']}"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    single_threaded_blas()
    from gateway.classify.evaluate import report
    from gateway.classify.scorer import load_scorer

    text = report(args.data_dir, load_scorer(args.weights), n_boot=args.bootstrap)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = sub.add_parser("train", help="train difficulty-scorer weights from labelled prompts")
    train.add_argument("--routerbench", type=Path, help="the shared RouterBench CSV(.gz)")
    train.add_argument("--arena", type=Path, help="the shared arena-bench CSV(.gz)")
    train.add_argument(
        "--data",
        type=Path,
        action="append",
        help="your traffic: CSV/JSONL with `prompt` and `tier`, optional `task` and `split` (repeatable)",
    )
    train.add_argument("--small-tier", default="small", help="label 0 = this tier was good enough")
    train.add_argument("--name", default="default")
    train.add_argument("--out", type=Path, required=True)
    train.set_defaults(func=_train)
    ev = sub.add_parser(
        "evaluate", help="APGR, CPT, calls@95%%, calibration: leave-one-task-out and held-out splits"
    )
    ev.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ev.add_argument("--weights", type=Path, default=_SHIPPED)
    ev.add_argument("--bootstrap", type=int, default=500)
    ev.add_argument("--out", type=Path)
    ev.set_defaults(func=_evaluate)
