"""The compiled route table: what a request's `model` resolves to, immutable once built.

A route's `model` is a name (`auto`) or a shell-style pattern (`claude-*`: `*` any run of
characters, `?` one, `[...]` one of a set). A request's model resolves to the route of that exact
name or the backend model of that name first; then to the first pattern that matches it, in file
order. A route is always named by what the file says (the pattern), never by the client's string:
metrics and logs stay bounded whatever names clients send.

A reload builds a new table and swaps it whole, so a request keeps the rules it started with.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.errors import ModelNotFound
from gateway.rules.schema import RoutesFile, RouteSpec, TierSpec

__all__ = ["Route", "RouteTable", "compile_routes", "is_pattern", "redacted", "weights_files"]

_WILD = frozenset("*?[")


def is_pattern(model: str) -> bool:
    return any(c in _WILD for c in model)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    tier: str
    # A route by a backend's model name is answered only by backends serving that model.
    model: str | None = None
    policy: str | None = None
    spec: RouteSpec | None = None


@dataclass(frozen=True, slots=True)
class RouteTable:
    source: str
    sha256: str
    spec: RoutesFile
    routes: MappingProxyType[str, Route]  # by exact name: the routes' and the backends' model names
    patterns: tuple[tuple[re.Pattern[str], Route], ...] = ()  # in file order

    def resolve(self, model: str) -> Route:
        found = self.routes.get(model)
        if found is not None:
            return found
        for pattern, route in self.patterns:
            if pattern.match(model):
                return route
        raise ModelNotFound(model)

    def named(self) -> dict[str, Route]:
        """Every route by its name: exact names first, then patterns in file order."""
        return {**self.routes, **{r.name: r for _, r in self.patterns}}

    def tier(self, name: str) -> TierSpec:
        return self.spec.tiers[name]


def weights_files(spec: RoutesFile, source: str) -> list[Path]:
    """The weights files the rules name (scorer, verifier), relative to the routes file."""
    named = (spec.classifier.weights, spec.classifier.verifier)
    return [p if p.is_absolute() else Path(source).parent / p for p in named if p is not None]


def _digest(spec: RoutesFile, source: str, text: str) -> str:
    """The rules' hash: the file's text and the bytes of the weights it names, so that a weights file
    rewritten in place is a change of rules (a reload picks it up, /admin/routes shows it)."""
    h = hashlib.sha256(text.encode())
    for path in weights_files(spec, source):
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"missing")  # loading the weights will say what is wrong with them
    return h.hexdigest()


def compile_routes(spec: RoutesFile, source: str = "<memory>", text: str = "") -> RouteTable:
    routes: dict[str, Route] = {}
    if spec.expose_backend_models:
        # The cheapest-listed tier wins when two tiers serve the same model name.
        for tname, tier in reversed(list(spec.tiers.items())):
            for b in tier.backends:
                routes[b.model] = Route(name=b.model, tier=tname, model=b.model)
    patterns: list[tuple[re.Pattern[str], Route]] = []
    for r in spec.routes:
        target = r.tier if r.tier is not None else spec.default_tier
        route = Route(name=r.model, tier=target, policy=r.policy, spec=r)
        if is_pattern(r.model):
            patterns.append((re.compile(fnmatch.translate(r.model)), route))
        else:
            routes[r.model] = route
    return RouteTable(
        source=source,
        sha256=_digest(spec, source, text),
        spec=spec,
        routes=MappingProxyType(routes),
        patterns=tuple(patterns),
    )


def _redact_url(url: str) -> str:
    # routes.yaml holds no keys, but a URL may still carry credentials or a token in its query.
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"***@{host}" if parts.username or parts.password else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def redacted(spec: RoutesFile) -> dict[str, Any]:
    """The rules as JSON for GET /admin/routes, with anything secret-looking in URLs masked."""
    data = spec.model_dump(mode="json")
    for tier in data["tiers"].values():
        for b in tier["backends"]:
            for key in ("base_url", "metrics_url", "health_url"):
                if b.get(key):
                    b[key] = _redact_url(b[key])
    return data
