"""YAML with positions: load a file once as data and as a node tree, and point errors at their line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError

__all__ = ["load_yaml", "locate"]


def load_yaml(path: Path, text: str | None = None) -> tuple[str, Any, yaml.Node | None]:
    """The file's text, its data and its node tree; `text` given: parsed as if it were the file's."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read routes file: {exc}") from exc
    try:
        root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the routes file must be a mapping with `tiers` and `routes`")
    return text, data, root


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                found: yaml.Node = value
                return found
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


def locate(path: Path, root: yaml.Node | None, loc: tuple[str | int, ...], msg: str) -> str:
    """'routes.yaml:12: tiers.small.backends.0.kind: why' for a pydantic-style location."""
    node, fields = root, []
    for i, part in enumerate(loc):
        child = _child(node, part) if node is not None else None
        if child is not None:
            node = child
            fields.append(str(part))
        elif i == len(loc) - 1:
            fields.append(str(part))  # a missing key: point at its parent
        # else: a union tag pydantic adds to the path (e.g. the backend `kind`); not in the file
    line = node.start_mark.line + 1 if node is not None else 1
    return f"{path}:{line}: {'.'.join(fields) or '(top)'}: {msg}"
