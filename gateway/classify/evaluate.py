"""Router quality on held-out data, as ../shared/data/README.md defines it, with bootstrap intervals.

Send the top x share of prompts by score to the large model: q(x) is the mean quality, PGR(x) the share
of the small→large gap recovered, APGR its area over x in [0, 1], CPT(p) the least x with PGR ≥ p, and
calls@95% the least x with q(x) ≥ 95% of the large model's quality.

    gateway evaluate --data-dir ../shared/data --out docs/routing-eval.md
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.classify.data import Example, load_arena, load_routerbench
from gateway.classify.features import extract
from gateway.classify.scorer import LinearScorer
from gateway.classify.train import fit

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Metrics", "evaluate", "metrics", "report", "scorer_latency_us"]

ScoreFn = Callable[[Example], float]


@dataclass(frozen=True)
class Metrics:
    apgr: float
    cpt50: float
    cpt80: float
    calls95: float


def _curve(scores: np.ndarray, qs: np.ndarray, ql: np.ndarray) -> np.ndarray:
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum((ql - qs)[order])])
    q: np.ndarray = qs.mean() + gain / len(qs)
    return q


def metrics(scores: np.ndarray, qs: np.ndarray, ql: np.ndarray) -> Metrics:
    import numpy as np

    q = _curve(scores, qs, ql)
    x = np.linspace(0.0, 1.0, len(q))
    span = ql.mean() - qs.mean()
    pgr = (q - qs.mean()) / span if span > 1e-9 else np.ones_like(q)
    area = float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(x)))

    def first(mask: np.ndarray) -> float:
        idx = np.flatnonzero(mask)
        return float(x[idx[0]]) if len(idx) else 1.0

    return Metrics(area, first(pgr >= 0.5), first(pgr >= 0.8), first(q >= 0.95 * ql.mean()))


def _bootstrap(scores: np.ndarray, qs: np.ndarray, ql: np.ndarray, n: int, seed: int) -> list[Metrics]:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i = rng.integers(0, len(qs), len(qs))
        out.append(metrics(scores[i], qs[i], ql[i]))
    return out


def _ci(values: Sequence[float]) -> str:
    import numpy as np

    lo, hi = np.percentile(np.asarray(values), [2.5, 97.5])
    return f"[{lo:.2f}, {hi:.2f}]"


def evaluate(name: str, score: ScoreFn, examples: Sequence[Example], n_boot: int = 500) -> str:
    """One markdown table row: the point estimates on `examples` and their bootstrap 95% intervals."""
    import numpy as np

    s = np.array([score(e) for e in examples])
    qs = np.array([e.q_small for e in examples])
    ql = np.array([e.q_large for e in examples])
    m = metrics(s, qs, ql)
    boot = _bootstrap(s, qs, ql, n_boot, seed=7)
    cells = [
        f"{m.apgr:.3f} {_ci([b.apgr for b in boot])}",
        f"{m.cpt50:.2f} {_ci([b.cpt50 for b in boot])}",
        f"{m.cpt80:.2f} {_ci([b.cpt80 for b in boot])}",
        f"{m.calls95:.2f} {_ci([b.calls95 for b in boot])}",
    ]
    return f"| {name} | " + " | ".join(cells) + " |"


def _linear(scorer: LinearScorer) -> ScoreFn:
    def score(e: Example) -> float:
        feats, ws = extract(e.view())
        return scorer.score(feats, ws)

    return score


def _length(e: Example) -> float:
    feats, _ = extract(e.view())
    return float(feats.prompt_tokens)


def _random(seed: int) -> ScoreFn:
    import numpy as np

    rng = np.random.default_rng(seed)
    return lambda _e: float(rng.random())


def scorer_latency_us(scorer: LinearScorer, examples: Sequence[Example]) -> dict[str, float]:
    """Feature extraction + scoring per request, as the gateway runs it, in microseconds."""
    import numpy as np

    times = []
    for e in list(examples) * 3:
        t0 = time.perf_counter_ns()
        feats, ws = extract(e.view())
        scorer.score(feats, ws)
        times.append((time.perf_counter_ns() - t0) / 1000)
    a = np.array(times)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


HEADER = "| router | APGR [95% CI] | CPT(50%) | CPT(80%) | calls@95% |\n|---|---|---|---|---|"


def report(data_dir: Path, shipped: LinearScorer, n_boot: int = 500) -> str:
    rb = load_routerbench(next(data_dir.glob("routerbench*.csv.gz")))
    arena = load_arena(next(data_dir.glob("arenabench*.csv.gz")))
    rb_test = [e for e in rb if e.split == "test"]
    arena_test = [e for e in arena if e.split == "test"]
    baselines: list[tuple[str, ScoreFn]] = [("random", _random(1)), ("prompt length", _length)]
    out = [f"Scorer `{shipped.name}`: {shipped.meta}", ""]
    for title, rows in (
        (
            f"RouterBench held-out split (routerdc_split=test, {len(rb_test)} prompts; small = Mistral-7B, "
            "large = GPT-4)",
            rb_test,
        ),
        (
            f"Arena held-out half ({len(arena_test)} real chat prompts, GPT-4-graded 1-10; "
            "small = Mistral-7B, large = GPT-4)",
            arena_test,
        ),
    ):
        out += [f"### {title}", "", HEADER, evaluate("learned (shipped)", _linear(shipped), rows, n_boot)]
        out += [evaluate(n, fn, rows, n_boot) for n, fn in baselines] + [""]
    out += ["### Cross-task: trained without the task it is tested on (all of that task's rows)", "", HEADER]
    for task in ("arc-challenge", "mbpp", "winogrande"):
        train = [e for e in rb if e.task != task and e.split == "train"] + [
            e for e in arena if e.split == "train"
        ]
        held = [e for e in rb if e.task == task]
        model = fit(train, name=f"without-{task}")
        out.append(evaluate(f"learned, tested on {task} ({len(held)})", _linear(model), held, n_boot))
        out.append(evaluate(f"prompt length, on {task}", _length, held, n_boot))
        out.append(evaluate(f"random, on {task}", _random(2), held, n_boot))
    lat = scorer_latency_us(shipped, rb_test)
    out += [
        "",
        f"Scorer latency (features + score, one core, {3 * len(rb_test)} calls): "
        f"p50 {lat['p50']:.0f} µs, p99 {lat['p99']:.0f} µs, max {lat['max']:.0f} µs.",
    ]
    return "\n".join(out) + "\n"
