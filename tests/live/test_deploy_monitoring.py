"""The monitoring files under deploy/: generated dashboards are current and well-formed, Prometheus'
config and alert rules pass promtool.

`dashboard_exprs()` and `alert_exprs()` are importable helpers for a live check (every query returns
data once the gateway has served traffic): the expressions come back with Grafana's variables already
substituted, and each alert's query without its final comparison.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO, system_tool

GRAFANA = REPO / "deploy" / "grafana"
GENERATOR = GRAFANA / "build_dashboards.py"
DASHBOARDS = GRAFANA / "dashboards"
PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD_FILES = (
    "gateway-overview.json",
    "gateway-routing.json",
    "gateway-backends.json",
    "gateway-capacity.json",
)

# What Grafana would put in place of the only variables the dashboards may use.
SUBSTITUTIONS = {"$__rate_interval": "30s", "$tier": ".*", "$backend": ".*"}
_COMPARISON = re.compile(
    r"^(?P<query>.*\S)\s+(?P<op>==|!=|>=|<=|>|<)\s*(?P<n>[-+]?[0-9.]+(?:e[-+]?\d+)?)\s*$"
)


def _dashboards() -> list[dict[str, Any]]:
    return [json.loads((DASHBOARDS / name).read_text(encoding="utf-8")) for name in DASHBOARD_FILES]


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that queries (rows, also nested in collapsed rows, excluded)."""
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            out.extend(p for p in panel.get("panels", []) if p.get("type") != "row")
        else:
            out.append(panel)
    return out


def substitute(expr: str) -> str:
    # Longest names first: `$__rate_interval` before any shorter variable it might contain.
    for name in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(name, SUBSTITUTIONS[name])
    return expr


def dashboard_exprs() -> list[tuple[str, str]]:
    """("dashboard title / panel title", expr with variables substituted) for every panel target."""
    out: list[tuple[str, str]] = []
    for dashboard in _dashboards():
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                if expr:
                    out.append((f"{dashboard['title']} / {panel['title']}", substitute(expr)))
    return out


def split_comparison(expr: str) -> str:
    """The query of `<query> <op> <number>`: the alert's final comparison stripped."""
    m = _COMPARISON.match(expr.strip())
    if m is None:
        raise ValueError(f"not `<query> <comparison> <number>`: {expr!r}")
    return m.group("query")


def alert_exprs() -> list[tuple[str, str, str]]:
    """(alert name, full expr, expr with the final comparison stripped) for every alert rule."""
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    out: list[tuple[str, str, str]] = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                expr = str(rule["expr"]).strip()
                out.append((rule["alert"], expr, split_comparison(expr)))
    return out


def test_generated_dashboards_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_generator_check_notices_a_stale_file(tmp_path: Path) -> None:
    wrote = subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], timeout=60, check=False)
    assert wrote.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DASHBOARD_FILES)
    for name in DASHBOARD_FILES:  # byte-identical to the committed files
        assert (tmp_path / name).read_bytes() == (DASHBOARDS / name).read_bytes()
    stale = tmp_path / DASHBOARD_FILES[0]
    stale.write_text(stale.read_text(encoding="utf-8").replace('"version": 1', '"version": 2'))
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert DASHBOARD_FILES[0] in proc.stderr


def test_dashboards_are_well_formed() -> None:
    dashboards = _dashboards()
    uids = [d["uid"] for d in dashboards]
    assert len(set(uids)) == len(uids)
    for d in dashboards:
        assert d["schemaVersion"] == 39
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids), d["title"]
        variables = {v["name"] for v in d["templating"]["list"]}
        assert variables <= {"datasource", "tier", "backend"}, d["title"]
        panels = _panels(d)
        assert panels, d["title"]
        for panel in panels:
            where = f"{d['title']} / {panel['title']}"
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
            exprs = [t.get("expr", "") for t in panel.get("targets", [])]
            assert any(e.strip() for e in exprs), f"{where}: no query"
            for expr in exprs:
                # Only $__rate_interval, $tier and $backend, and those only where they belong.
                leftover = re.findall(r"\$\{?\w+", substitute(expr))
                assert not leftover, f"{where}: unknown variable {leftover} in {expr}"
                for var in ("tier", "backend"):
                    uses = expr.count(f"${var}")
                    assert uses == expr.count(f'{var}=~"${var}"'), f"{where}: ${var} outside {var}=~: {expr}"
                    assert f"${var}" not in expr or var in variables, f"{where}: ${var} not defined"


def test_helpers() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 30
    assert all("$" not in e for _, e in exprs)
    alerts = alert_exprs()
    assert {a for a, _, _ in alerts} == {
        "GatewayHighErrorRatio",
        "GatewayTierDown",
        "GatewayLatencyBudgetMisses",
        "GatewaySpendRateHigh",
        "GatewayConfigReloadFailed",
    }
    for name, full, query in alerts:
        assert "\n" not in full, name
        assert full.startswith(query) and query != full, name
    assert split_comparison("max by (tier) (gateway_backend_up) == 0") == "max by (tier) (gateway_backend_up)"
    assert split_comparison("(a or on() vector(0)) > 0.1") == "(a or on() vector(0))"
    with pytest.raises(ValueError, match="comparison"):
        split_comparison("sum(rate(x[5m]))")


def test_alerts_count_the_failures_the_dashboards_count() -> None:
    # The dashboards take the failure outcomes from the gateway's code; alerts.yml is plain YAML, so a
    # new outcome must be added there by hand, and this is where that is noticed.
    matcher = re.compile(r'outcome=~"[^"]*"')
    in_dashboards = {m for _, expr in dashboard_exprs() for m in matcher.findall(expr)}
    in_alerts = {m for _, expr, _ in alert_exprs() for m in matcher.findall(expr)}
    assert len(in_dashboards) == 1, in_dashboards
    assert in_alerts == in_dashboards


def test_alert_rules_carry_severity_and_text() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    assert [g["name"] for g in rules["groups"]] == ["gateway"]
    for rule in rules["groups"][0]["rules"]:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


@pytest.mark.parametrize(
    ("check", "path"), [("config", PROMETHEUS / "prometheus.yml"), ("rules", PROMETHEUS / "alerts.yml")]
)
def test_promtool(check: str, path: Path) -> None:
    proc = subprocess.run(
        [system_tool("promtool", "prometheus"), "check", check, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
