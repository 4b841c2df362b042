"""Grafana panels as functions: each kind of panel the dashboards use, with the options they share.

A panel comes back with its size only; `layout.layout` places it on the grid and numbers it. Every panel
queries the one Prometheus datasource that provisioning/datasources/prometheus.yml defines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "DATASOURCE",
    "GRID_WIDTH",
    "Json",
    "Q",
    "heatmap",
    "row",
    "stat",
    "state_timeline",
    "table",
    "timeseries",
    "value_map",
]

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "prometheus"}
GRID_WIDTH = 24


@dataclass(frozen=True, slots=True)
class Q:
    """One query of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False


def _targets(queries: list[Q]) -> list[Json]:
    out: list[Json] = []
    for i, q in enumerate(queries):
        t: Json = {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": q.expr,
            "legendFormat": q.legend or "__auto",
            "range": not q.instant,
            "instant": q.instant,
            "refId": chr(ord("A") + i),
        }
        if q.heatmap:
            t["format"] = "heatmap"
        out.append(t)
    return out


def _size(panel: Json, w: int, h: int) -> Json:
    panel["gridPos"] = {"h": h, "w": w, "x": 0, "y": 0}  # x, y and id are set by layout()
    return panel


def _thresholds(steps: list[tuple[float | None, str]]) -> Json:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def value_map(names: dict[int, tuple[str, str]]) -> list[Json]:
    """value -> (text, colour): what a state panel shows in place of a number."""
    options = {
        str(k): {"color": color, "index": i, "text": text}
        for i, (k, (text, color)) in enumerate(sorted(names.items()))
    }
    return [{"options": options, "type": "value"}]


def timeseries(
    title: str,
    queries: list[Q],
    unit: str = "short",
    description: str = "",
    *,
    stack: bool = False,
    minimum: float | None = 0,
    maximum: float | None = None,
    w: int = 12,
    h: int = 8,
) -> Json:
    defaults: Json = {
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line",
            "fillOpacity": 25 if stack else 8,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        },
        "unit": unit,
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {
                "calcs": ["mean", "max", "lastNotNull"],
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries),
        "title": title,
        "type": "timeseries",
    }
    return _size(panel, w, h)


def stat(
    title: str,
    queries: list[Q],
    unit: str = "short",
    description: str = "",
    *,
    thresholds: list[tuple[float | None, str]] | None = None,
    mappings: list[Json] | None = None,
    decimals: int | None = None,
    w: int = 4,
    h: int = 4,
) -> Json:
    defaults: Json = {
        "color": {"mode": "thresholds"},
        "mappings": mappings or [],
        "thresholds": _thresholds(thresholds or [(None, "green")]),
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "auto",
        },
        "targets": _targets(queries),
        "title": title,
        "type": "stat",
    }
    return _size(panel, w, h)


def state_timeline(
    title: str,
    queries: list[Q],
    description: str = "",
    *,
    mappings: list[Json],
    thresholds: list[tuple[float | None, str]],
    w: int = 12,
    h: int = 8,
) -> Json:
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "custom": {"fillOpacity": 70, "lineWidth": 0},
                "mappings": mappings,
                "thresholds": _thresholds(thresholds),
            },
            "overrides": [],
        },
        "options": {
            "alignValue": "left",
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "mergeValues": True,
            "rowHeight": 0.9,
            "showValue": "auto",
            "tooltip": {"mode": "single", "sort": "none"},
        },
        "targets": _targets(queries),
        "title": title,
        "type": "state-timeline",
    }
    return _size(panel, w, h)


def heatmap(
    title: str, query: Q, unit: str = "short", description: str = "", *, w: int = 12, h: int = 8
) -> Json:
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": {"custom": {"scaleDistribution": {"type": "linear"}}}, "overrides": []},
        "options": {
            "calculate": False,
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "yHistogram": True},
            "yAxis": {"axisPlacement": "left", "unit": unit},
        },
        "targets": _targets([Q(query.expr, query.legend or "{{le}}", heatmap=True)]),
        "title": title,
        "type": "heatmap",
    }
    return _size(panel, w, h)


def table(title: str, queries: list[Q], description: str = "", *, w: int = 12, h: int = 6) -> Json:
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"cellHeight": "sm", "showHeader": True},
        "targets": _targets([Q(q.expr, q.legend, instant=True) for q in queries]),
        "title": title,
        "transformations": [
            {"id": "labelsToFields", "options": {"mode": "columns"}},
            {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}},
        ],
        "type": "table",
    }
    return _size(panel, w, h)


def row(title: str) -> Json:
    return {
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": 0},
        "panels": [],
        "title": title,
        "type": "row",
    }
