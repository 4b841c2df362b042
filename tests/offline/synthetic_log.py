"""A synthetic decision log with a known ground truth, in the format the gateway writes (docs/quality.md).

Each request has a latent hardness h in [0, 1]: its prompt mixes words of a hard vocabulary (share h)
and of an easy one, longer when harder, and the small tier's answer falls short of the large tier's
with probability `p_fail(h)`. The `auto` route sends a request to the small tier when its difficulty is
at most `threshold`, else to the large tier (the reference). The difficulty is, with `features`, the
shipped scorer's score of the prompt (what a gateway logs) and the scorer inputs are logged beside it;
without, a noisy reading of h. A share of small-tier answers gets a shadow verdict drawn from p_fail,
a share of requests a rating (by label, or by score), and a few lines are malformed or of an unknown
kind. `Truth` keeps what the report should find.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HARD = (
    "prove theorem integral derivative eigenvalue asymptotic complexity recursion lemma induction "
    "compile segfault concurrency deadlock polynomial manifold topology bayesian gradient"
).split()
EASY = "hello weather capital colour recipe movie song friend holiday garden coffee breakfast city".split()
SMALL_PRICE = (0.0, 0.0)  # USD per million input / output tokens: the embedded model is free
LARGE_PRICE = (2.5, 10.0)

ROUTES = """\
version: 1
default_tier: small
tiers:
  small:
    max_difficulty: {threshold}
    price: {{input_per_mtok: 0.0, output_per_mtok: 0.0}}
    backends: [{{name: local, kind: llamacpp, ttft_ms: 40, tpot_ms: 2}}]
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: hosted, kind: openai, base_url: "https://api.example.com/v1", model: big,
                ttft_ms: 300, tpot_ms: 4}}]
{classifier}routes:
  - {{model: auto, policy: auto, expected_output_tokens: 100}}
  - {{model: large, tier: large}}
"""


def routes_yaml(threshold: float, weights: str | None = None) -> str:
    classifier = f"classifier: {{weights: {weights}}}\n" if weights else ""
    return ROUTES.format(threshold=threshold, classifier=classifier)


def p_fail(h: float) -> float:
    return 1.0 / (1.0 + math.exp(-8.0 * (h - 0.55)))


@dataclass
class Truth:
    threshold: float
    requests: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    reference_usd: float = 0.0
    small_fail: list[float] = field(default_factory=list)  # p_fail of each small-tier request
    judged_fail: list[float] = field(default_factory=list)  # ... of those with a verdict
    difficulty: dict[str, float | None] = field(default_factory=dict)
    fail: dict[str, float] = field(default_factory=dict)  # request id → p_fail(h) on the small tier
    tier: dict[str, str] = field(default_factory=dict)
    rated_small_fail: list[float] = field(default_factory=list)
    planned: int = 0
    budget_missed: int = 0
    with_budget: int = 0
    malformed: int = 0
    unknown: int = 0
    shadow: int = 0
    feedback: int = 0


def _prompt(rng: random.Random, h: float) -> str:
    words = [rng.choice(HARD) if rng.random() < h else rng.choice(EASY) for _ in range(4 + int(40 * h))]
    return " ".join(words) + "?"


def _usd(price: tuple[float, float], prompt: int, completion: int) -> float:
    return (prompt * price[0] + completion * price[1]) / 1e6


def write_log(
    path: Path,
    *,
    n: int = 3000,
    seed: int = 0,
    features: bool = False,
    threshold: float | None = None,
    shadow_share: float = 0.5,
    feedback_share: float = 0.15,
    content_share: float = 0.0,
) -> Truth:
    """Write the log; `threshold` defaults to 0.6 (noisy difficulty) or the 70th percentile of the
    shipped scores (features), so that ~70% of `auto` traffic goes to the small tier."""
    rng = random.Random(seed)
    hs = [rng.random() for _ in range(n)]
    prompts = [_prompt(rng, h) for h in hs]
    records: list[Any] = [None] * n
    if features:
        from gateway.classify.features import profile
        from gateway.classify.inputs import scorer_inputs
        from gateway.classify.scorer import default_scorer
        from gateway.classify.view import view_of_body

        scorer = default_scorer()
        scores: list[float | None] = []
        for i, p in enumerate(prompts):
            view = view_of_body({"messages": [{"role": "user", "content": p}]})
            f = profile(view)
            scores.append(round(scorer.score(view, f), 4))
            records[i] = scorer_inputs(view, f)
        cut = sorted(s for s in scores if s is not None)[int(0.7 * n)]
        threshold = threshold if threshold is not None else cut
    else:
        scores = [min(1.0, max(0.0, round(h + rng.gauss(0, 0.08), 4))) for h in hs]
        threshold = threshold if threshold is not None else 0.6
    truth = Truth(threshold)
    lines: list[str] = []
    t0 = 1_764_640_000.0
    for i, (h, prompt) in enumerate(zip(hs, prompts, strict=True)):
        rid = f"chatcmpl-gw{seed:02d}{i:06d}"
        pinned = rng.random() < 0.05
        d = None if pinned else scores[i]
        tier = "large" if pinned or (d is not None and d > threshold) else "small"
        pt, ct = len(prompt) // 4 + 1, rng.randint(20, 300)
        ref = _usd(LARGE_PRICE, pt, ct)
        cost = _usd(SMALL_PRICE if tier == "small" else LARGE_PRICE, pt, ct)
        budget = 1000.0 if rng.random() < 0.3 else None
        latency = max(5.0, rng.gauss(300, 80) if tier == "small" else rng.gauss(900, 300))
        reason = "pinned" if pinned else "cheapest_capable"
        if budget is not None and rng.random() < 0.05:
            reason = "budget_miss_fastest_capable"
            truth.planned += 1
        backend = "local" if tier == "small" else "hosted"
        line = {
            "ts": t0 + i, "kind": "request", "id": rid, "route": "large" if pinned else "auto",
            "tenant": None, "endpoint": "chat", "tier": tier, "backend": backend,
            "outcome": "ok", "difficulty": d, "cascade": None, "confidence": None, "reason": reason,
            "latency_ms": round(latency, 1), "ttft_ms": None, "prompt_tokens": pt, "completion_tokens": ct,
            "cost_usd": cost, "savings_usd": ref - cost, "reference_tier": "large", "budget_ms": budget,
            "features": records[i], "prompt": None, "answer": None,
        }  # fmt: skip
        if content_share and rng.random() < content_share:
            line["features"] = None
            line["prompt"] = [{"role": "user", "content": prompt}]
            line["answer"] = "an answer"
        lines.append(json.dumps(line))
        truth.requests += 1
        truth.tiers[tier] = truth.tiers.get(tier, 0) + 1
        truth.cost_usd += cost
        truth.reference_usd += ref
        truth.difficulty[rid] = d
        if budget is not None:
            truth.with_budget += 1
            truth.budget_missed += latency > budget
        fail = p_fail(h)
        truth.fail[rid], truth.tier[rid] = fail, tier
        if tier == "small":
            truth.small_fail.append(fail)
            if rng.random() < shadow_share:
                verdict = (
                    "reference_better"
                    if rng.random() < fail
                    else rng.choice(["cheaper_as_good"] * 4 + ["tie"])
                )
                lines.append(json.dumps({"ts": t0 + i + 0.5, "kind": "shadow", "id": rid, "route": "auto",
                                         "tier": tier, "reference_tier": "large", "verdict": verdict,
                                         "shadow_cost_usd": ref}))  # fmt: skip
                truth.judged_fail.append(fail)
                truth.shadow += 1
        if rng.random() < feedback_share:
            bad = rng.random() < (fail if tier == "small" else 0.05)
            if tier == "small":
                truth.rated_small_fail.append(fail)
            rating: dict[str, Any] = {"ts": t0 + i + 1, "kind": "feedback", "id": rid, "route": "auto",
                                      "tier": tier, "comment": None}  # fmt: skip
            if rng.random() < 0.5:
                rating["label"] = "bad" if bad else "good"
            else:
                rating["score"] = -0.6 if bad else 0.8
            lines.append(json.dumps(rating))
            truth.feedback += 1
    junk = [
        "{broken",
        "[1, 2]",
        '{"kind": "request", "route": "auto"}',
        "null",
        '{"kind": "shadow", "id": "x", "verdict": "meh"}',
        '{"kind": "feedback", "id": "y", "score": 3}',
    ]
    for bad_line in junk * 3:
        lines.insert(rng.randrange(len(lines)), bad_line)
        truth.malformed += 1
    for _ in range(4):
        lines.insert(rng.randrange(len(lines)), json.dumps({"ts": t0, "kind": "audit", "id": "z"}))
        truth.unknown += 1
    path.write_text("\n".join(lines) + "\n")
    return truth
