"""Loading routes.yaml: read, validate, cross-check, compile. Every problem is listed in one pass.

Schema errors come from pydantic; the cross-checks (unknown tiers, duplicate names) read the parsed
YAML itself, so a file with both kinds of mistakes shows both at once, each as `file:line: field: why`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.errors import ConfigError
from gateway.rules.schema import RoutesFile
from gateway.rules.table import RouteTable, compile_routes
from gateway.rules.yamlsource import load_yaml, locate

__all__ = ["cross_checks", "load_routes", "parse_routes"]

Loc = tuple[str | int, ...]


def _dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _tier_refs(data: dict[str, Any]) -> Iterator[tuple[Loc, Any]]:
    """Every place the file names a tier, with where it does."""
    yield ("default_tier",), data.get("default_tier")
    for name, tenant in _dict(data.get("tenants")).items():
        for j, tier in enumerate(_list(_dict(tenant).get("tiers"))):
            yield ("tenants", name, "tiers", j), tier
    cost = _dict(data.get("cost"))
    if cost.get("reference_tier") is not None:
        yield ("cost", "reference_tier"), cost["reference_tier"]
    for i, route in enumerate(_list(data.get("routes"))):
        route = _dict(route)
        if route.get("tier") is not None:
            yield ("routes", i, "tier"), route["tier"]
        for j, tier in enumerate(_list(route.get("fallback"))):
            yield ("routes", i, "fallback", j), tier
        shadow = _dict(route.get("shadow"))
        for key in ("reference", "judge"):
            if shadow.get(key) is not None:
                yield ("routes", i, "shadow", key), shadow[key]
        if route.get("draft") is not None:
            yield ("routes", i, "draft"), route["draft"]
        for j, tier in enumerate(_list(route.get("escalate"))):
            yield ("routes", i, "escalate", j), tier


def cross_checks(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """Problems between fields of a parsed file, whether or not each field alone is valid."""
    problems: list[tuple[Loc, str]] = []
    tiers = _dict(data.get("tiers"))
    for loc, name in _tier_refs(data):
        if isinstance(name, str) and name not in tiers:
            problems.append((loc, f"unknown tier '{name}'"))
    seen: set[str] = set()
    for tname, tier in tiers.items():
        for i, b in enumerate(_list(_dict(tier).get("backends"))):
            name = _dict(b).get("name")
            if isinstance(name, str):
                if name in seen:
                    problems.append((("tiers", tname, "backends", i, "name"), f"duplicate backend '{name}'"))
                seen.add(name)
    aliases: set[str] = set()
    for i, route in enumerate(_list(data.get("routes"))):
        model = _dict(route).get("model")
        if isinstance(model, str):
            if model in aliases:
                problems.append((("routes", i, "model"), f"duplicate route '{model}'"))
            aliases.add(model)
    return problems


def parse_routes(path: Path, text: str | None = None) -> tuple[str, RoutesFile]:
    """The file's text and its validated schema; ConfigError lists every problem of both kinds."""
    text, data, root = load_yaml(path, text)
    problems: list[str] = []
    spec: RoutesFile | None = None
    try:
        spec = RoutesFile.model_validate(data)
    except ValidationError as exc:
        problems += [
            locate(path, root, tuple(e["loc"]), e["msg"])
            for e in exc.errors(include_url=False, include_input=False)
        ]
    problems += [locate(path, root, loc, msg) for loc, msg in cross_checks(data)]
    if problems or spec is None:
        raise ConfigError(f"{path}: invalid routes file", problems)
    return text, spec


def load_routes(path: Path, text: str | None = None) -> RouteTable:
    """Read, validate and compile a routes file (or `text` as if it were that file); ConfigError lists
    every problem as file:line: field: why."""
    text, spec = parse_routes(path, text)
    return compile_routes(spec, str(path), text)
