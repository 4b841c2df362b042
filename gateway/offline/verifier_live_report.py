"""The live evaluation's tables (docs/verifier-eval.md, "Live"), the shipped live models and their test data.

Every number is on drafts of families the models never saw: leave one family out (its drafts
judged by models fitted on the other families) for the tables; the shipped models are fitted on
every family but HELDOUT_FAMILIES, whose drafts go to tests/data for the shipped weights' test.
APGR here escalates to a tier taken to be always right (the small model's right drafts are what an
escalation cannot improve), so it reads as "share of the wrong drafts caught, averaged over every
share escalated".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.classify.verifier import Head
from gateway.offline.verifier_live import (
    PSEUDO,
    Live,
    accuracy,
    confidences,
    fit_live,
    shrunk_prior,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CURVE", "HELDOUT_FAMILIES", "report"]

HELDOUT_FAMILIES = ("json_output", "lookup", "percentage", "yes_no")
CURVE = (0, 10, 50, 200)  # labels of the left-out family before its later drafts are judged
THRESHOLD = 0.6  # the route's default min_confidence


class Scored:
    """Leave-one-family-out confidences of one model kind, at each label count of CURVE."""

    def __init__(self, rows: Sequence[Live], key: str) -> None:
        import numpy as np

        self.rows, self.key = list(rows), key
        self.y = np.array([r.y for r in rows], dtype=np.float64)
        self.p0 = np.array([r.p0 for r in rows])
        self.families = sorted({r.family for r in rows})
        self.fam = np.array([r.family for r in rows])
        self.index = np.array([r.index for r in rows])
        self.heads: dict[str, Head] = {}
        self.levels: dict[str, float] = {}
        self.evidence = np.zeros(len(rows))  # evidence alone: no prior, no level
        self.by_n: dict[int, np.ndarray] = {}
        self.priors = {n: shrunk_prior(rows, n) for n in CURVE}
        for n in CURVE:
            self.by_n[n] = np.zeros(len(rows))
        for f in self.families:
            head, level, _ = fit_live([r for r in rows if r.family != f], key)
            self.heads[f], self.levels[f] = head, level
            m = self.fam == f
            part = [r for r in rows if r.family == f]
            self.evidence[m] = confidences(part, head, 0.0, None, key)
            for n in CURVE:
                self.by_n[n][m] = confidences(part, head, level, self.priors[n][m], key, n)

    def later(self, n: int) -> np.ndarray:
        """The drafts that come after the first n of their family (all of them at n = 0)."""
        import numpy as np

        return np.asarray(self.index >= n)


def _auc_ci(score: np.ndarray, y: np.ndarray, n_boot: int) -> str:
    from gateway.offline.stats import auc, boot_ci

    return f"{auc(score, y):.3f} {boot_ci(lambda i: auc(score[i], y[i]), n_boot, len(y))}"


def _apgr(conf: np.ndarray, y: np.ndarray) -> float:
    import numpy as np

    from gateway.offline.stats import metrics

    return metrics(1 - conf, y, np.ones_like(y)).apgr


def _diff_ci(a: np.ndarray, b: np.ndarray, y: np.ndarray, n_boot: int) -> str:
    from gateway.offline.stats import auc, paired_bootstrap

    _, _, (lo, hi) = paired_bootstrap(auc, a, b, y, n_boot, seed=5)
    return f"{auc(a, y) - auc(b, y):+.3f} [{lo:+.3f}, {hi:+.3f}]"


def pooled_table(s: Scored, n_boot: int) -> list[str]:
    """Every family's drafts pooled, each judged by models fitted without its family."""
    from gateway.offline.stats import auc, ece

    lines = [
        "| labels of the left-out family | drafts judged | prior alone: AUC | verifier: AUC [95% CI] | "
        "verifier - prior, AUC [95% CI] | prior alone: APGR | verifier: APGR | verifier: ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in CURVE:
        m = s.later(n) & _with_curve(s, n)
        if m.sum() < 20:
            continue
        y, conf, prior = s.y[m], s.by_n[n][m], s.priors[n][m]
        fams = len(set(s.fam[m]))
        lines.append(
            f"| {n} ({fams} families) | {int(m.sum())} | {auc(prior, y):.3f} | {_auc_ci(conf, y, n_boot)} | "
            f"{_diff_ci(conf, prior, y, n_boot)} | {_apgr(prior, y):.3f} | {_apgr(conf, y):.3f} | "
            f"{ece(conf, y):.3f} |"
        )
    m = s.later(0)
    lines.append(
        f"| no prior: the evidence alone | {int(m.sum())} | - | {_auc_ci(s.evidence, s.y, n_boot)} | - | - | "
        f"{_apgr(s.evidence, s.y):.3f} | - |"
    )
    return lines


def _with_curve(s: Scored, n: int) -> np.ndarray:
    """Families with drafts left to judge after n labels (at least 20 of them, some right)."""
    import numpy as np

    keep = np.zeros(len(s.y), dtype=bool)
    for f in s.families:
        m = (s.fam == f) & s.later(n)
        if m.sum() >= 20:
            keep |= s.fam == f
    return keep


def family_table(s: Scored, n_boot: int) -> list[str]:
    """Each family left out, with no label of it: the fresh gateway's view."""
    import numpy as np

    from gateway.offline.stats import auc

    lines = [
        "| left-out family | drafts | right | prior alone: AUC | verifier: AUC | verifier - prior, AUC "
        "[95% CI] | evidence alone: AUC | prior alone: APGR | verifier: APGR | mean confidence |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in s.families:
        m = s.fam == f
        y, conf, prior = s.y[m], s.by_n[0][m], s.priors[0][m]
        both = 0 < y.mean() < 1
        cells = (
            [f"{auc(prior, y):.3f}", f"{auc(conf, y):.3f}", _diff_ci(conf, prior, y, n_boot)]
            if both
            else ["-", "-", "- (all drafts alike)"]
        )
        ev = f"{auc(s.evidence[m], y):.3f}" if both else "-"
        lines.append(
            f"| {f} | {int(m.sum())} | {y.mean():.2f} | " + " | ".join(cells) + f" | {ev} | "
            f"{_apgr(prior, y):.3f} | {_apgr(conf, y):.3f} | {float(np.mean(conf)):.2f} |"
        )
    return lines


def curve_table(s: Scored) -> list[str]:
    """Per family, as its labels come in: how confident the verifier is on its later drafts against
    how often they are right, and what the route's default threshold does with them."""
    import numpy as np

    head = " / ".join(str(n) for n in CURVE)
    lines = [
        f"| family | right | mean confidence after {head} labels | share escalated at confidence < "
        f"{THRESHOLD}, after {head} | right among the accepted, after {head} |",
        "|---|---|---|---|---|",
    ]
    for f in s.families:
        conf_cells, esc_cells, acc_cells = [], [], []
        for n in CURVE:
            m = (s.fam == f) & s.later(n)
            if m.sum() < 20:
                conf_cells.append("-")
                esc_cells.append("-")
                acc_cells.append("-")
                continue
            conf, y = s.by_n[n][m], s.y[m]
            keep = conf >= THRESHOLD
            conf_cells.append(f"{float(np.mean(conf)):.2f}")
            esc_cells.append(f"{1 - keep.mean():.2f}")
            acc_cells.append(f"{y[keep].mean():.2f}" if keep.any() else "-")
        m = s.fam == f
        lines.append(
            f"| {f} | {s.y[m].mean():.2f} | {' / '.join(conf_cells)} | {' / '.join(esc_cells)} | "
            f"{' / '.join(acc_cells)} |"
        )
    return lines


def samples_table(rows: Sequence[Live], n_boot: int) -> list[str]:
    """On the questions with samples: one greedy draft against three drafts, left-one-family-out."""
    with_k = [r for r in rows if r.xk is not None]
    if len({r.family for r in with_k}) < 3:
        return []
    lines = [
        "| drafts, model | AUC, no labels [95% CI] | AUC, 50 labels |",
        "|---|---|---|",
    ]
    for label, key in (
        ("1 (greedy), `logprobs`", "logprobs"),
        ("3 (greedy + 2 at T 0.7), `samples` (no logprobs)", "samples"),
        ("3, `logprobs+samples`", "logprobs+samples"),
    ):
        s = Scored(with_k, key)
        lines.append(f"| {label} | {_auc_ci(s.by_n[0], s.y, n_boot)} | {_auc50(s)} |")
    return lines


def _auc50(s: Scored) -> str:
    from gateway.offline.stats import auc

    m = s.later(50) & _with_curve(s, 50)
    return f"{auc(s.by_n[50][m], s.y[m]):.3f}" if m.sum() >= 20 else "-"


def report(rows: Sequence[Live], n_boot: int = 500) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Markdown, the shipped live models (fitted on every family but HELDOUT_FAMILIES) with their
    level, and what they were fitted on."""
    s = Scored(rows, "logprobs")
    acc = accuracy(rows)
    n_fam = len(s.families)
    lines = [
        f"Embedded SmolLM2-135M-Instruct (Q4_1, one thread): {len(rows)} questions from {n_fam} families, "
        f"greedy drafts right {acc['greedy']:.3f} of the time"
        + (
            f"; on the {sum(1 for r in rows if r.sample_right)} questions also sampled, a draft at "
            f"temperature 0.7 is right {acc['sampled']:.3f}, the majority of greedy + 2 samples "
            f"{acc['majority']:.3f}, the greedy draft {acc['greedy_of_sampled']:.3f}."
            if "sampled" in acc
            else "."
        ),
        "",
        "#### Pooled: every family left out in turn (greedy drafts, `logprobs` model)",
        "",
        *pooled_table(s, n_boot),
        "",
        "#### Each family left out, no label of it (a fresh gateway with the shipped prior)",
        "",
        *family_table(s, n_boot),
        "",
        "#### Learning curve: the left-out family's prior after 0, 10, 50, 200 of its labels (its rate "
        f"shrunk by {PSEUDO:g} pseudo-labels towards the shipped prior), on its later drafts",
        "",
        *curve_table(s),
    ]
    samples = samples_table(rows, n_boot)
    if samples:
        lines += ["", "#### Samples: one draft against three, on the questions with samples", "", *samples]
    train = [r for r in rows if r.family not in HELDOUT_FAMILIES]
    heads: dict[str, Head] = {}
    info: dict[str, Any] = {}
    for key in ("logprobs", "samples", "logprobs+samples"):
        part = train if key == "logprobs" else [r for r in train if r.xk is not None]
        if len({r.family for r in part}) < 3:
            continue
        head, lv, info[key] = fit_live(part, key)
        heads[key] = Head(head.bias, head.weights, round(lv, 5))
    lines += [
        "",
        f"#### Shipped live models (fitted on {len({r.family for r in train})} families; held out for the "
        f"shipped weights' test: {', '.join(HELDOUT_FAMILIES)})",
        "",
        "| model | bias | weights (log-odds per unit) | strength | shrink (inner pooled AUC by shrink) |",
        "|---|---|---|---|---|",
    ]
    for key, h in heads.items():
        ws = ", ".join(f"{k} {v:+.2f}" for k, v in h.weights.items() if v)
        lines.append(
            f"| {key} | {h.bias:+.2f} | {ws} | {info[key]['lambda']:g} | {info[key]['shrink']:g} "
            f"{info[key]['inner_auc']} |"
        )
    lines += [
        "",
        "Level (added to a prior with no labels of the family, from the shipped counts; it fades as "
        "m / (m + n)): " + ", ".join(f"{k} {h.level:+.2f}" for k, h in heads.items()) + " log-odds.",
    ]
    meta = {
        "data": "generated question families (offline/live_families.py), SmolLM2-135M-Instruct Q4_1 drafts",
        "questions": len(train),
        "families": sorted({r.family for r in train}),
        "accuracy": {k: round(v, 4) for k, v in acc.items()},
        "fit": info,
    }
    out = {k: {"bias": h.bias, "weights": h.weights, "level": h.level} for k, h in heads.items()}
    return "\n".join(lines) + "\n", out, meta
