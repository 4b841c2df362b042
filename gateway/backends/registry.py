"""Builds the backend objects a routes file names: one class per kind, looked up by its spec's type.

A new kind is a spec in gateway/rules/backends.py, a Backend subclass with `spec_type` and
`from_spec`, and its line in KINDS below; nothing else in the gateway names kinds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.backends.anthropic import AnthropicBackend
from gateway.backends.base import Backend, Resources
from gateway.backends.llamacpp import LlamaCppBackend
from gateway.backends.openai_compat import OpenAICompatBackend
from gateway.backends.sglang import SGLangBackend
from gateway.backends.vllm import VLLMBackend
from gateway.errors import ConfigError

if TYPE_CHECKING:
    import aiohttp

    from gateway.rules import BackendSpec, RoutesFile

__all__ = ["KINDS", "build_backend", "build_backends", "preflight"]

KINDS: Mapping[type, type[Backend]] = {
    cls.spec_type: cls
    for cls in (LlamaCppBackend, OpenAICompatBackend, VLLMBackend, SGLangBackend, AnthropicBackend)
}


def _kind(spec: BackendSpec) -> type[Backend]:
    cls = KINDS.get(type(spec))
    if cls is None:
        raise ConfigError(f"backend '{spec.name}': kind '{spec.kind}' has no implementation")
    return cls


def preflight(spec: RoutesFile, env: Mapping[str, str] | None = None) -> list[str]:
    """What would stop a backend from starting, checked before serving: kinds without a class, unset
    key variables (named, never a value) and model files that are not there."""
    env = os.environ if env is None else env
    problems: list[str] = []
    for b in spec.backends().values():
        try:
            problems += _kind(b).preflight(b, env)
        except ConfigError as exc:
            problems.append(exc.message)
    return problems


def build_backend(
    spec: BackendSpec,
    *,
    session: aiohttp.ClientSession,
    model_threads: int,
    env: Mapping[str, str] | None = None,
) -> Backend:
    resources = Resources(session, model_threads, os.environ if env is None else env)
    return _kind(spec).from_spec(spec, resources)


def build_backends(
    spec: RoutesFile,
    *,
    session: aiohttp.ClientSession,
    model_threads: int,
    env: Mapping[str, str] | None = None,
) -> dict[str, Backend]:
    return {
        name: build_backend(b, session=session, model_threads=model_threads, env=env)
        for name, b in spec.backends().items()
    }
