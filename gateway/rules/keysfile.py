"""The API keys file (GATEWAY_API_KEYS_FILE): YAML `tenant: [key, ...]`, read here because yaml lives here.

Not through yamlsource: its errors quote the offending line, and here every line holds a key.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.errors import ConfigError

__all__ = ["load_keys_file"]


def load_keys_file(path: Path) -> list[tuple[str, str]]:
    """(tenant, key) pairs; errors say where, never what."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the API keys file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of tenant to a list of keys")
    pairs: list[tuple[str, str]] = []
    for tenant, keys in data.items():
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise ConfigError(f"{path}: tenant '{tenant}': expected a list of keys")
        pairs.extend((str(tenant), k) for k in keys)
    return pairs
