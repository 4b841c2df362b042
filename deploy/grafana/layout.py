"""A dashboard from its panels: the grid layout, the template variables, the wrapper Grafana loads.

The output is stable (ids in layout order; the caller writes sorted keys), so a regenerated file diffs
cleanly. Every dashboard carries the same tag and a link to the others, so they read as one set.
"""

from __future__ import annotations

from panels import DATASOURCE, GRID_WIDTH, Json

__all__ = ["BACKEND_VAR", "TIER_VAR", "dashboard", "layout"]

TAG = "llm-gateway"


def layout(items: list[Json]) -> list[Json]:
    """Left to right, wrapping at 24 columns; a row starts a new line. Ids follow the order."""
    x = y = line_h = 0
    out: list[Json] = []
    for pid, item in enumerate(items, start=1):
        pos = item["gridPos"]
        if item["type"] == "row" or x + pos["w"] > GRID_WIDTH:
            y += line_h
            x = line_h = 0
        pos["x"], pos["y"] = x, y
        item["id"] = pid
        x += pos["w"]
        line_h = max(line_h, pos["h"])
        if item["type"] == "row":
            x, y, line_h = 0, y + pos["h"], 0
        out.append(item)
    return out


def _variable(name: str, label: str, query: str) -> Json:
    """Multi-value with "All" as `.*`, so the queries' `=~` matchers hold for any choice."""
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


TIER_VAR = _variable("tier", "Tier", "label_values(gateway_backend_up, tier)")
BACKEND_VAR = _variable("backend", "Backend", 'label_values(gateway_backend_up{tier=~"$tier"}, backend)')


def dashboard(uid: str, title: str, description: str, items: list[Json], variables: list[Json]) -> Json:
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": [TAG],
                "targetBlank": False,
                "title": "Gateway dashboards",
                "type": "dashboards",
            }
        ],
        "panels": layout(items),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": [TAG],
        "templating": {"list": variables},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }
