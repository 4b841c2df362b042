"""How far the gateway's token estimate (gateway/protocol/tokens.py) is from an exact count.

The exact count is the embedded model's (SmolLM2: its chat template over the messages, tokenized by its
tokenizer, as gateway/backends/llamacpp/tokens.py counts), plus the tools' JSON tokenized (SmolLM2's
template does not render tools; templates that do render them about as JSON). Prompts: the 300 Chatbot
Arena prompts and the RouterBench prompts in ../shared/data, and any Anthropic Messages request bodies
given with --messages (e.g. what Claude Code sends), translated as the gateway translates them.

    .venv/bin/python loadtests/token_estimate.py [--messages req1.json ...] [--limit 5000] [--data DIR]
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import json
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway.backends.llamacpp import default_gguf  # noqa: E402
from gateway.backends.llamacpp.params import chat_messages  # noqa: E402
from gateway.backends.llamacpp.tokens import PromptCounter  # noqa: E402
from gateway.protocol.tokens import chat_prompt_tokens  # noqa: E402

DATA = REPO.parent / "shared" / "data"
LONG = 256  # tokens: the prompts whose error is reported as a ratio


def prompts(data: Path, limit: int) -> list[tuple[str, dict[str, Any]]]:
    csv.field_size_limit(1 << 30)
    out: list[tuple[str, dict[str, Any]]] = []
    with gzip.open(data / "arenabench_v1_gpt4_single_scores_15models.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            out.append(("arena", {"messages": [{"role": "user", "content": row["prompt"]}]}))
    with gzip.open(data / "routerbench0shot_subset_arc_mbpp_winogrande_11models.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            turns = ast.literal_eval(row["prompt"])
            text = "\n\n".join(turns) if isinstance(turns, list) else str(turns)
            out.append((row["eval_name"], {"messages": [{"role": "user", "content": text}]}))
    return out[:limit]


def messages_bodies(paths: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    if not paths:
        return []
    from gateway.protocol.anthropic import MessagesRequest, chat_body

    out = []
    for path in paths:
        raw = json.loads(path.read_text())
        req = MessagesRequest.model_validate(raw)
        out.append((f"messages:{path.name}", chat_body(req).body))
    return out


def exact(counter: PromptCounter, body: dict[str, Any]) -> int:
    n = counter.chat(chat_messages(body["messages"]))
    if body.get("tools"):
        n += counter.text(json.dumps(body["tools"], separators=(",", ":"))) - 1  # less the BOS
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=Path, nargs="*", default=[], help="Anthropic Messages bodies")
    ap.add_argument("--limit", type=int, default=10_000)
    ap.add_argument("--data", type=Path, default=DATA, help="the routing data (default: %(default)s)")
    args = ap.parse_args()
    from llama_cpp import Llama

    llm = Llama(model_path=str(default_gguf()), vocab_only=True, verbose=False)
    counter = PromptCounter(llm)
    rows = prompts(args.data, args.limit) + messages_bodies(args.messages)
    # Long prompts by ratio (what a context window cares about); short ones by tokens off (a chat
    # template's own framing, e.g. SmolLM2's default system prompt, is most of a short prompt).
    ratios: dict[str, list[float]] = {}
    off: dict[str, list[int]] = {}
    for family, body in rows:
        est = chat_prompt_tokens(body["messages"], body.get("tools"))
        real = exact(counter, body)
        if real >= LONG:
            ratios.setdefault(family, []).append(est / real)
        else:
            off.setdefault(family, []).append(est - real)
        if family.startswith("messages:"):
            print(f"{family}: estimate {est}, exact {real} ({est / real - 1:+.1%})")
    print(f"prompts of {LONG}+ tokens: estimate / exact")
    print(f"{'prompts':<16}{'n':>6}{'p5':>8}{'p50':>8}{'p95':>8}")
    everything = [r for rs in ratios.values() for r in rs]
    for family, rs in [*sorted(ratios.items()), ("all", everything)]:
        if len(rs) >= 2:
            q = statistics.quantiles(rs, n=20)
            print(f"{family:<16}{len(rs):>6}{q[0]:>8.3f}{statistics.median(rs):>8.3f}{q[-1]:>8.3f}")
    print(f"prompts under {LONG} tokens: estimate - exact, in tokens")
    shorts = [d for ds in off.values() for d in ds]
    for family, ds in [*sorted(off.items()), ("all", shorts)]:
        if len(ds) >= 2:
            q = statistics.quantiles(ds, n=20)
            print(f"{family:<16}{len(ds):>6}{q[0]:>8.0f}{statistics.median(ds):>8.0f}{q[-1]:>8.0f}")


if __name__ == "__main__":
    main()
