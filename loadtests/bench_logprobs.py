"""What recording the sampled tokens' logprobs costs the embedded model, in one run.

Three ways to generate the same greedy answers with SmolLM2-135M (one thread, n_ctx 2048):
  plain      the backend's Llama, no logprobs (what every call paid before)
  recorded   the same instance with a TokenLogprobs recorder (backends/llamacpp/logprobs.py)
  logits_all llama-cpp-python's own logprobs, which need a second model built with logits_all=True
Rounds alternate the three so the shared machine's noise hits all of them. Tokens/s counts the
completion tokens over the whole call (prefill included, as a draft pays it).

  OPENBLAS_NUM_THREADS=1 .venv/bin/python loadtests/bench_logprobs.py [--rounds 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from gateway.backends.llamacpp import default_gguf
from gateway.backends.llamacpp.logprobs import TokenLogprobs
from gateway.backends.llamacpp.model import cancellable_llama

PROMPT = [{"role": "user", "content": "Tell me a long story about a dragon who learns to bake bread."}]
N_CTX = 2048


def _run(llm: Any, max_tokens: int, *, record: bool, own: bool) -> tuple[int, float]:
    kw: dict[str, Any] = {"messages": PROMPT, "max_tokens": max_tokens, "temperature": 0, "seed": 1}
    if own:
        kw.update(logprobs=True, top_logprobs=0)
    if record:
        llm.recording = TokenLogprobs()
    t0 = time.perf_counter()
    try:
        out = llm.create_chat_completion(**kw)
    finally:
        if record:
            llm.recording = None
    return int(out["usage"]["completion_tokens"]), time.perf_counter() - t0


def _note_cost_us(llm: Any, repeat: int = 2000) -> float:
    """The recorder alone: one log-sum-exp over a vocabulary-sized row, per token."""
    import numpy as np

    row = np.random.default_rng(0).normal(size=llm.n_vocab()).astype(np.float32)
    rec = TokenLogprobs()
    t0 = time.perf_counter()
    for i in range(repeat):
        rec.note(i % 100, row)
    return (time.perf_counter() - t0) / repeat * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()
    path = str(default_gguf())
    common = {"model_path": path, "n_ctx": N_CTX, "n_threads": 1, "n_threads_batch": 1, "verbose": False}
    llm = cancellable_llama()(**common)
    full = cancellable_llama()(**common, logits_all=True)
    results: dict[str, list[float]] = {"plain": [], "recorded": [], "logits_all": []}
    tokens: dict[str, list[int]] = {k: [] for k in results}
    _run(llm, 8, record=False, own=False)  # warm both (page in the weights)
    _run(full, 8, record=False, own=True)
    for _ in range(args.rounds):
        for name, model, record, own in (
            ("plain", llm, False, False),
            ("recorded", llm, True, False),
            ("logits_all", full, False, True),
        ):
            n, secs = _run(model, args.max_tokens, record=record, own=own)
            results[name].append(n / secs)
            tokens[name].append(n)
    summary = {
        name: {
            "tokens_per_s_median": round(statistics.median(v), 1),
            "tokens_per_s_all": [round(x, 1) for x in v],
            "completion_tokens": tokens[name],
        }
        for name, v in results.items()
    }
    base = statistics.median(results["plain"])
    summary["ratio_recorded_to_plain"] = round(statistics.median(results["recorded"]) / base, 3)
    summary["ratio_logits_all_to_plain"] = round(statistics.median(results["logits_all"]) / base, 3)
    summary["note_us_per_token"] = round(_note_cost_us(llm), 1)
    summary["logits_all_scores_mib"] = round(full.scores.nbytes / 2**20, 1)
    print(json.dumps(summary, indent=2))
    llm.close()
    full.close()


if __name__ == "__main__":
    main()
