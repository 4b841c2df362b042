"""The offline commands, in one place: what learns and reports away from traffic (numpy needed).

    gateway train        difficulty-scorer weights: the family model from the shared data, an operator's
                         labels added to it, or v2 weights from labelled prompts or a decision log
    gateway evaluate     the scorer's report: left-out families, learning curves, agent turns, calibration
    gateway report       routing quality from a decision log (tier mix, cost, quality kept; --what-if)
    gateway fit-verifier the cascade verifier's text model, fitted and reported on the shared answers
    gateway calibrate-verifier   its live models, on the embedded model's own drafts
    gateway fit-prompt-prior     the embedded model's own prior from the question, on the same drafts

Every command imports what it needs when it runs, so `gateway serve` never loads any of it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.offline.data import Example
    from gateway.offline.report.log import Log

__all__ = ["add_commands"]


def _single_threaded_blas() -> None:
    # Multi-threaded BLAS sums in a varying order; one thread makes a retrain byte-identical.
    # Must happen before numpy is first imported, which these commands do lazily.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def _examples(args: argparse.Namespace, shared: Path | None = None) -> list[Example]:
    """The labelled rows the options name: the shared benchmark files and the operator's own."""
    from gateway.offline.data import load_arena, load_labelled, load_routerbench

    out: list[Example] = []
    if shared is not None:
        out += load_routerbench(next(shared.glob("routerbench*.csv.gz")))
        out += load_arena(next(shared.glob("arenabench*.csv.gz")))
    if args.routerbench:
        out += load_routerbench(args.routerbench)
    if args.arena:
        out += load_arena(args.arena)
    for path in args.data or []:
        out += load_labelled(path, args.small_tier)
    return out


def _train(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    if args.from_log:
        return _train_from_log(args)
    if args.with_shared_data is not None:
        print("--with-shared-data mixes the shipped data into --from-log training", file=sys.stderr)
        return 2
    if not args.replace:
        return _train_families(args)
    from gateway.offline.scorer_train import save, train

    examples = _examples(args)
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


def _train_families(args: argparse.Namespace) -> int:
    """v3: the shared data's counts, or those of --weights (the shipped ones by default), plus each
    --data file's labels (offline/family_train.py)."""
    from gateway.offline.family_train import TrainError, train_families

    try:
        text = train_families(
            args.out,
            routerbench=args.routerbench,
            arena=args.arena,
            label=args.label,
            weights=args.weights,
            data=args.data or [],
            small_tier=args.small_tier,
            name=args.name,
        )
    except TrainError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(text)
    return 0


def _read(
    paths: list[Path], keep: bool = True, labelled: bool = False, latest: int | None = None
) -> Log | int:
    """The log, or the exit code after saying why there is none to read. `labelled`: a training read,
    the inputs of labelled requests alone (of the `latest` so many labels, when given)."""
    from gateway.offline.report.log import labelled_ids, read_log

    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"no such decision log: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        only = labelled_ids(paths, latest) if labelled else None
        log = read_log(paths, keep=keep, only=only)
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


def _families_from_log(args: argparse.Namespace, log: Log) -> int:
    """v3: the log's labels added to the family counts (offline/family_train.py)."""
    from gateway.offline.family_train import TrainError, families_from_log

    try:
        text = families_from_log(
            args.out,
            log,
            [p.name for p in args.from_log],
            args.weights,
            set(args.tier) if args.tier else None,
        )
    except TrainError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(text)
    return 0


def _train_from_log(args: argparse.Namespace) -> int:
    from gateway.offline.report.retrain import NoRows, retrain
    from gateway.offline.report.text import retrained_text
    from gateway.offline.scorer_train import save

    if not 0 < args.target_quality <= 1 or not 0 < args.holdout < 1:
        print("--target-quality must be in (0, 1] and --holdout in (0, 1)", file=sys.stderr)
        return 2
    if not args.replace and args.with_shared_data is not None:
        print(
            "--with-shared-data mixes the shared data into a v2 retrain (--replace); the family counts "
            "already start from it",
            file=sys.stderr,
        )
        return 2
    if args.max_labels is not None and args.max_labels < 1:
        print("--max-labels must be at least 1", file=sys.stderr)
        return 2
    log = _read(args.from_log, labelled=True, latest=args.max_labels)
    if isinstance(log, int):
        return log
    if not args.replace:
        return _families_from_log(args, log)
    try:
        shared = _examples(args, args.with_shared_data)
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


def _evaluate(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    from gateway.offline.scorer_eval import report

    text = report(args.data_dir, label=args.label, n_boot=args.bootstrap, orders=args.orders)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


def _report(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    from gateway.offline.report.summary import summarize
    from gateway.offline.report.text import summary_text, what_if_text

    log = _read(args.log, keep=args.what_if is not None)  # only a what-if rescores
    if isinstance(log, int):
        return log
    summary = summarize(log)
    print(summary_text(summary))
    w = None
    if args.what_if is not None:
        from gateway.classify.loader import weights_path
        from gateway.classify.scorer import load_weights
        from gateway.offline.report.rescore import rescore
        from gateway.offline.report.whatif import what_if
        from gateway.rules import load_routes

        table = load_routes(args.what_if)  # a ConfigError: main() lists its problems, exit 1
        spec = load_weights(weights_path(table))
        w = what_if(log, table, rescore(log.requests, spec))
        print()
        print(what_if_text(w))
    if args.html is not None:
        from gateway.offline.report.html import page

        args.html.write_text(page(summary, w), encoding="utf-8")
        print(f"\nwrote {args.html}")
    return 0


def _fit_verifier(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    from gateway.offline.verifier_eval import replace_section, report, write_text_model

    text, shipped = report(args.data_dir, args.bootstrap)
    if args.doc:
        replace_section(args.doc, "verifier-fit", text)
    if args.weights:
        write_text_model(args.weights, shipped)
    sys.stdout.write(text)
    return 0


def _calibrate_verifier(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    from gateway.offline.verifier_calibrate import calibrate

    sys.stdout.write(
        calibrate(args.per_family, args.sampled, args.cache, args.doc, args.weights, args.bootstrap)
    )
    return 0


def _fit_prompt_prior(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    from gateway.offline.prompt_prior_fit import fit_command

    try:
        text = fit_command(args.cache, args.labels, args.weight, args.bootstrap, args.doc, args.weights)
    except ValueError as exc:
        sys.stderr.write(f"gateway fit-prompt-prior: {exc}\n")
        return 2
    sys.stdout.write(text)
    return 0


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = sub.add_parser(
        "train", help="family counts from the shared data, your labels added to them, or v2 weights"
    )
    train.add_argument("--routerbench", type=Path, help="the shared RouterBench CSV(.gz)")
    train.add_argument("--arena", type=Path, help="the shared arena-bench CSV(.gz)")
    train.add_argument(
        "--data",
        type=Path,
        action="append",
        help="your traffic: CSV/JSONL with `prompt` and `tier`, optional `task` and `split` (repeatable)",
    )
    train.add_argument("--small-tier", default="small", help="label 0 = this tier was good enough")
    train.add_argument(
        "--weights",
        type=Path,
        help="v3 weights whose family counts --data adds to (default: the shipped ones)",
    )
    train.add_argument(
        "--label",
        choices=["mixtral", "mistral"],
        default="mixtral",
        help="the shared data's label: Mixtral-8x7B (shipped) or Mistral-7B falls short",
    )
    train.add_argument(
        "--replace",
        action="store_true",
        help="v2 weights fitted on the rows given alone (the meaning of --data before issue 21)",
    )
    train.add_argument("--name", default="default")
    train.add_argument("--out", type=Path, required=True)
    log = train.add_argument_group("from a decision log (docs/quality.md)")
    log.add_argument(
        "--from-log",
        type=Path,
        action="append",
        metavar="LOG",
        help="labels from shadow verdicts and feedback in this decision log, added to the family counts "
        "(--replace: v2 weights retrained on them) (repeatable: rotations)",
    )
    log.add_argument(
        "--with-shared-data",
        type=Path,
        metavar="DIR",
        help="with --replace: mix in the shipped training data",
    )
    log.add_argument("--tier", action="append", help="only requests this cheaper tier answered (repeatable)")
    log.add_argument(
        "--max-labels",
        type=int,
        metavar="N",
        help="only the latest N labelled requests (by the label's time): bounds the memory a long log takes",
    )
    log.add_argument("--target-quality", type=float, default=0.95, help="for the suggested max_difficulty")
    log.add_argument("--holdout", type=float, default=0.2, help="share of labelled log rows held out")
    log.add_argument("--bootstrap", type=int, default=500, help="resamples for the comparison's intervals")
    train.set_defaults(func=_train)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _add_train(sub)
    ev = sub.add_parser(
        "evaluate", help="left-out families, learning curves, agent turns, calibration (docs/routing-eval.md)"
    )
    ev.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ev.add_argument("--label", choices=["mixtral", "mistral"], default="mixtral", help="whose shortfalls")
    ev.add_argument("--bootstrap", type=int, default=500)
    ev.add_argument("--orders", type=int, default=10, help="arrival orders of the learning curves")
    ev.add_argument("--out", type=Path)
    ev.set_defaults(func=_evaluate)
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
    fit = sub.add_parser(
        "fit-verifier", help="fit the verifier's text model on the shared answers and report it"
    )
    fit.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    fit.add_argument("--bootstrap", type=int, default=500)
    fit.add_argument("--doc", type=Path, help="markdown file whose verifier-fit section is replaced")
    fit.add_argument("--weights", type=Path, help="verifier weights file whose text model is replaced")
    fit.set_defaults(func=_fit_verifier)
    cal = sub.add_parser(
        "calibrate-verifier", help="fit the verifier's live models on the embedded model's drafts"
    )
    from gateway.offline.verifier_calibrate import DEFAULT_CACHE

    cal.add_argument("--per-family", type=int, default=90, help="questions of each family")
    cal.add_argument("--sampled", type=int, default=45, help="questions of each family also sampled twice")
    cal.add_argument("--bootstrap", type=int, default=500)
    cal.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="drafts generated before (JSONL)")
    cal.add_argument("--doc", type=Path, help="markdown file whose verifier-live section is replaced")
    cal.add_argument("--weights", type=Path, help="verifier weights file whose live models are replaced")
    cal.set_defaults(func=_calibrate_verifier)
    pp = sub.add_parser(
        "fit-prompt-prior", help="fit the drafting model's own prompt prior on its graded drafts"
    )
    pp.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="calibrate-verifier's drafts (JSONL)")
    pp.add_argument(
        "--labels",
        type=Path,
        nargs="*",
        default=[],
        help="more graded questions (JSONL: set, family, question, right)",
    )
    pp.add_argument(
        "--weight", type=float, default=0.5, help="how much of its logit a verdict without a prior takes"
    )
    pp.add_argument("--bootstrap", type=int, default=500)
    pp.add_argument("--doc", type=Path, help="markdown file whose prompt-prior section is replaced")
    pp.add_argument("--weights", type=Path, help="verifier weights file whose prompt prior is replaced")
    pp.set_defaults(func=_fit_prompt_prior)
