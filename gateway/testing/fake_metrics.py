"""What the fake upstream's `/metrics` shows: a vLLM or an SGLang server's load and token counters,
under each engine's own names (backends/vllm.py and backends/sglang.py read them)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ENGINES", "metrics_text"]

ENGINES = ("vllm", "sglang")


def metrics_text(engine: str, model: str, load: Mapping[str, float], generated: int, ended: int) -> str:
    """`load`: waiting, running, kv_cache (a share). `generated`: tokens written so far, counted as
    they are; `ended`: those of answers that ended (SGLang counts its token totals only then)."""
    if engine == "sglang":
        labels = f'model_name="{model}",engine_type="unified",tp_rank="0"'
        return (
            f"# TYPE sglang:num_queue_reqs gauge\nsglang:num_queue_reqs{{{labels}}} {load['waiting']}\n"
            f"# TYPE sglang:num_running_reqs gauge\nsglang:num_running_reqs{{{labels}}} {load['running']}\n"
            f"# TYPE sglang:token_usage gauge\nsglang:token_usage{{{labels}}} {load['kv_cache']}\n"
            "# TYPE sglang:realtime_tokens_total counter\n"
            f'sglang:realtime_tokens_total{{{labels},mode="prefill_compute"}} 0.0\n'
            f'sglang:realtime_tokens_total{{{labels},mode="decode"}} {float(generated)}\n'
            "# TYPE sglang:generation_tokens_total counter\n"
            f"sglang:generation_tokens_total{{{labels}}} {float(ended)}\n"
        )
    labels = f'{{model_name="{model}"}}'
    return (
        f"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{labels} {load['waiting']}\n"
        f"vllm:num_requests_running{labels} {load['running']}\n"
        f"vllm:kv_cache_usage_perc{labels} {load['kv_cache']}\n"
        f"# TYPE vllm:generation_tokens_total counter\n"
        f"vllm:generation_tokens_total{labels} {float(generated)}\n"
    )
