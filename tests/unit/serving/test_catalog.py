"""Codex's model catalog from routes.yaml: one entry per route, its window from its backends or its
metadata, the room an answer needs, the fields Codex 0.169 requires."""

from __future__ import annotations

from pathlib import Path

from gateway.rules import load_routes
from gateway.serving.catalog import INSTRUCTIONS, codex_catalog

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{name: local, kind: llamacpp, n_ctx: 4096}]
  big:
    backends:
      - {name: vllm, kind: vllm, base_url: "http://v.invalid/v1", model: qwen}
      - {name: hosted, kind: openai, base_url: "http://h.invalid/v1", model: gpt}
routes:
  - {model: auto, policy: auto}
  - {model: small, tier: small}
  - model: coder
    tier: big
    metadata: {context_window: 200000, max_output_tokens: 32000, display_name: Coder, instructions: Be brief.}
"""
# What Codex 0.169 refuses a catalog entry without (serde's "missing field", probed).
REQUIRED = {
    "slug", "display_name", "supported_reasoning_levels", "shell_type", "visibility", "supported_in_api",
    "priority", "support_verbosity", "truncation_policy", "experimental_supported_tools", "base_instructions",
}  # fmt: skip


def test_one_entry_per_route_with_its_window_and_answer_room() -> None:
    table = load_routes(Path("<test>/routes.yaml"), ROUTES)
    models = {m["slug"]: m for m in codex_catalog(table)["models"]}
    assert list(models)[:3] == ["auto", "small", "coder"]  # routes first, backends' own names after
    for entry in models.values():
        assert entry.keys() >= REQUIRED
    auto, small, coder = models["auto"], models["small"], models["coder"]
    assert auto["context_window"] == 128_000  # the largest window the route can reach
    assert auto["auto_compact_token_limit"] == 128_000 - 16_000
    assert small["context_window"] == 4096 and small["max_output_tokens"] == 512
    assert (coder["context_window"], coder["max_output_tokens"]) == (200_000, 32_000)
    assert coder["auto_compact_token_limit"] == 168_000
    assert coder["display_name"] == "Coder" and coder["base_instructions"] == "Be brief."
    assert auto["base_instructions"] == INSTRUCTIONS and auto["apply_patch_tool_type"] == "freeform"
    assert models["qwen"]["visibility"] == "hide" and models["qwen"]["context_window"] == 32_768
