"""An SGLang server: vLLM's backend (health, load, saturation, the scrape that tells a working engine
from a hung one) reading SGLang's metric names. Start the server with `--enable-metrics`: without
it `/metrics` shows nothing, the load stays unknown (never saturated) and a plain answer is waited
for as on any server whose engine says nothing.

Its scheduler sets `sglang:num_queue_reqs`, `sglang:num_running_reqs` and `sglang:token_usage` (the
KV cache's share in use) each time it logs its stats: at every prefill batch, so at every chunk of a
long prompt, and every few decode steps (`--decode-log-interval`, 40 by default). The tokens it
processes are counted by `sglang:realtime_tokens_total` (one series per mode: prefill_compute,
prefill_cache, decode) at the same points. The tokenizer's `sglang:prompt_tokens_total` and
`sglang:generation_tokens_total` count a request's tokens when it ends, so they stand still while a
long answer is written; they are summed with the rest, and any of them moving says the engine
works, as the KV cache's usage moving does (all a server older than `realtime_tokens_total` shows
while it decodes: read from SGLang's source, `python/sglang/srt/metrics/collector.py`; no real
server was tried).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from gateway.backends.vllm import VLLMBackend
from gateway.rules import KindSpec, SGLangSpec

__all__ = ["SGLANG_METRICS", "SGLangBackend"]

SGLANG_METRICS: Mapping[str, str] = {
    "sglang:num_queue_reqs": "waiting",
    "sglang:num_running_reqs": "running",
    "sglang:token_usage": "kv_cache",
    "sglang:realtime_tokens_total": "tokens",
    "sglang:prompt_tokens_total": "tokens",
    "sglang:generation_tokens_total": "tokens",
}


class SGLangBackend(VLLMBackend):
    kind = "sglang"
    spec_type: ClassVar[type[KindSpec]] = SGLangSpec
    metric_names: ClassVar[Mapping[str, str]] = SGLANG_METRICS
    metrics_hint: ClassVar[str] = "start SGLang with --enable-metrics"
