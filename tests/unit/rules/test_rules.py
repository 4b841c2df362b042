"""routes.yaml validation: a good file compiles; each kind of bad file names file, line and field (the
commands that load it, `gateway check` and `gateway serve`: tests/live/test_rules_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError, ModelNotFound
from gateway.rules import load_routes
from tests.support import REPO

GOOD = """\
version: 1
default_tier: small
tiers:
  small:
    backends:
      - name: local
        kind: llamacpp
  large:
    price: {input_per_mtok: 2.5, output_per_mtok: 10}
    backends:
      - name: hosted
        kind: openai
        base_url: https://api.example.com/v1
        model: big-model
        api_key_env: EXAMPLE_KEY
routes:
  - model: auto
    policy: auto
  - model: large
    tier: large
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "routes.yaml"
    p.write_text(text)
    return p


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_routes(write(tmp_path, text))
    return info.value.problems


def test_good_file_compiles(tmp_path: Path) -> None:
    table = load_routes(write(tmp_path, GOOD))
    assert table.resolve("auto").tier == "small"
    assert table.resolve("auto").policy == "auto"
    assert table.resolve("large").tier == "large"
    assert table.resolve("big-model").tier == "large"  # a backend's own model name routes to it
    assert table.resolve("big-model").model == "big-model"
    assert table.resolve("SmolLM2-135M-Instruct").tier == "small"
    assert table.tier("large").price.output_per_mtok == 10
    assert len(table.sha256) == 64
    with pytest.raises(ModelNotFound):
        table.resolve("nope")


def test_model_patterns_match_in_file_order_after_exact_names(tmp_path: Path) -> None:
    text = (
        GOOD
        + """  - {model: "claude-*-haiku*", tier: small}
  - {model: "claude-*", tier: large}
  - {model: "claude-exact", policy: auto}
  - {model: "gpt-?o", tier: small}
"""
    )
    table = load_routes(write(tmp_path, text))
    assert table.resolve("claude-opus-5-5").name == "claude-*"  # the route's name, not the client's
    assert table.resolve("claude-opus-5-5").tier == "large"
    assert table.resolve("claude-3-haiku-20240307").name == "claude-*-haiku*"  # first match wins
    assert table.resolve("claude-exact").policy == "auto"  # an exact name wins over a pattern
    assert table.resolve("big-model").tier == "large"  # so does a backend's model name
    assert table.resolve("gpt-4o").name == "gpt-?o"
    with pytest.raises(ModelNotFound):
        table.resolve("CLAUDE-opus")  # patterns are case-sensitive, as model names are
    assert [n for n in table.named() if "*" in n or "?" in n] == ["claude-*-haiku*", "claude-*", "gpt-?o"]


def test_shipped_files_are_valid() -> None:
    assert load_routes(REPO / "routes.yaml").resolve("auto").tier == "small"
    example = load_routes(REPO / "deploy" / "routes.example.yaml")
    assert {"small", "medium", "large"} <= set(example.spec.tiers)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # unknown key (a typo) on a backend
        (
            "        kind: llamacpp\n",
            "        kind: llamacpp\n        treads: 4\n",
            ":8: tiers.small.backends.0.treads: Extra",
        ),
        # unknown backend kind
        (
            "        kind: llamacpp\n",
            "        kind: ollama\n",
            ":6: tiers.small.backends.0: Input tag 'ollama'",
        ),
        # missing required field
        ("        model: big-model\n", "", ":11: tiers.large.backends.0.model: Field required"),
        # wrong type
        ("input_per_mtok: 2.5", "input_per_mtok: cheap", ":9: tiers.large.price.input_per_mtok:"),
        # negative price
        (
            "input_per_mtok: 2.5",
            "input_per_mtok: -1",
            ":9: tiers.large.price.input_per_mtok: Input should be greater",
        ),
        # bad URL
        ("https://api.example.com/v1", "api.example.com", ":13: tiers.large.backends.0.base_url:"),
        # a secret pasted where an env var name belongs
        ("api_key_env: EXAMPLE_KEY", "api_key_env: sk-abc-123", ":15: tiers.large.backends.0.api_key_env:"),
        # route to an unknown tier
        ("    tier: large\n", "    tier: huge\n", ":20: routes.1.tier: unknown tier 'huge'"),
        # route with both a tier and a policy
        (
            "    policy: auto\n",
            "    policy: auto\n    tier: small\n",
            ":17: routes.0: Value error, give exactly one",
        ),
        # default tier that does not exist
        ("default_tier: small", "default_tier: tiny", ":2: default_tier: unknown tier 'tiny'"),
        # two backends with the same name
        (
            "      - name: hosted",
            "      - name: local",
            ":11: tiers.large.backends.0.name: duplicate backend",
        ),
        # unsupported version
        ("version: 1", "version: 2", ":1: version: Input should be 1"),
    ],
)
def test_bad_files_name_file_line_and_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    found = problems(tmp_path, GOOD.replace(old, new))
    assert any(str(tmp_path / "routes.yaml") + expected in p for p in found), found


def test_every_problem_is_listed(tmp_path: Path) -> None:
    bad = GOOD.replace("kind: llamacpp\n", "kind: llamacpp\n        treads: 4\n").replace(
        "input_per_mtok: 2.5", "input_per_mtok: -1"
    )
    assert len(problems(tmp_path, bad)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tiers: [unclosed\n", ":2: not valid YAML"),
        ("- just\n- a list\n", ":1: the routes file must be a mapping"),
        ("", ":1: the routes file must be a mapping"),
    ],
)
def test_not_a_routes_file(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(expected in p for p in found), found


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read routes file"):
        load_routes(tmp_path / "absent.yaml")


async def test_missing_api_key_env_is_named_not_leaked(tmp_path: Path) -> None:
    from gateway.backends.http import make_session
    from gateway.backends.registry import build_backends

    table = load_routes(write(tmp_path, GOOD))
    session = make_session(max_connections=1, connect_timeout_s=1, read_timeout_s=1)
    try:
        with pytest.raises(ConfigError, match="EXAMPLE_KEY is not set"):
            build_backends(table.spec, session=session, model_threads=1, env={})
        backends = build_backends(table.spec, session=session, model_threads=1, env={"EXAMPLE_KEY": "sk-zzz"})
        assert "sk-zzz" not in repr(backends["hosted"].describe())
    finally:
        await session.close()


def test_learn_takes_on_frozen_off_even_as_yaml_booleans(tmp_path: Path) -> None:
    """YAML 1.1 reads a bare `on` / `off` as true / false; `learn:` takes them as the words written."""
    text = GOOD.replace("routes:\n", "routes:\n  - {model: l1, policy: auto, learn: off}\n", 1)
    text = text.replace("routes:\n", "routes:\n  - {model: l2, policy: auto, learn: on}\n", 1)
    text = text.replace("routes:\n", "routes:\n  - {model: l3, policy: auto, learn: frozen}\n", 1)
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    learn = {r.model: r.learn for r in load_routes(path).spec.routes}
    assert (learn["l1"], learn["l2"], learn["l3"]) == ("off", "on", "frozen")
    assert all(v == "on" for k, v in learn.items() if k not in ("l1", "l2", "l3"))
    path.write_text(text.replace("learn: frozen", "learn: maybe"))
    with pytest.raises(ConfigError, match="learn"):
        load_routes(path)
