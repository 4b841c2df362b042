"""PromQL for the dashboards: the variables they may use, the gateway's label values, query helpers.

Rules for the expressions: only the macros `$__rate_interval`, `$tier` and `$backend` (as
`tier=~"$tier"`, `backend=~"$backend"`); each returns data once the gateway has served a little traffic,
so sums over series that exist only after something went wrong (fallbacks, retries, budgets) end in
`or on() vector(0)`, and quantiles of histograms that only some requests feed (streams, auto-routed
requests) in `or on() vector(NaN)`: "no observation", drawn as a gap, never as a misleading 0 s.
"""

from __future__ import annotations

# The only import of the gateway's code in the dashboards: label values come from where they are made,
# so a new or renamed outcome reaches the dashboards on the next regeneration (and `--check` fails
# until it does).
from gateway.observability.metrics import OUTCOMES

__all__ = [
    "BACKEND",
    "ERRORS",
    "FAILURES",
    "RI",
    "TB",
    "TIER",
    "TTFT",
    "or_nan",
    "or_zero",
    "quantile",
    "rate",
    "sel",
    "sum_rate",
]

RI = "$__rate_interval"
TIER = 'tier=~"$tier"'
BACKEND = 'backend=~"$backend"'
TB = f"{TIER}, {BACKEND}"

# Outcomes that are not the gateway's failures: answers, the client's own mistakes, clients that went
# away. Named by exclusion, so an outcome the gateway adds counts as a failure until someone says
# otherwise; an excluded name the gateway no longer has stops the build instead of going unnoticed.
_NOT_FAILURES = ("ok", "client_error", "cancelled")
_unknown = sorted(set(_NOT_FAILURES) - set(OUTCOMES))
if _unknown:
    raise RuntimeError(f"outcomes {_unknown} are not in the gateway's OUTCOMES {OUTCOMES}")
FAILURES = tuple(o for o in OUTCOMES if o not in _NOT_FAILURES)
ERRORS = f'outcome=~"{"|".join(FAILURES)}"'

# Shared by more than one dashboard.
TTFT = "gateway_time_to_first_token_seconds"


def sel(metric: str, matchers: str = "") -> str:
    return f"{metric}{{{matchers}}}" if matchers else metric


def rate(metric: str, matchers: str = "") -> str:
    return f"rate({sel(metric, matchers)}[{RI}])"


def sum_rate(metric: str, matchers: str = "", by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} ({rate(metric, matchers)})"


def quantile(q: float, histogram: str, matchers: str = "", by: str = "") -> str:
    """`histogram_quantile` over a histogram's `_bucket` series, grouped by `le` and `by`."""
    grouping = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({grouping}) ({rate(histogram + '_bucket', matchers)}))"


def or_zero(expr: str) -> str:
    """Data even when nothing matched: a rate of nothing is 0. `on()` keeps the 0 out when any series
    exists (a plain `or` would add it next to every labelled series)."""
    return f"{expr} or on() vector(0)"


def or_nan(expr: str) -> str:
    """A quantile of no observations is undefined: NaN, which Grafana draws as a gap."""
    return f"{expr} or on() vector(NaN)"
