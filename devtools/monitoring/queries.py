"""The dashboard's queries as Prometheus' API takes them: Grafana's variables given values."""

from __future__ import annotations

#: What Grafana would put in for its variables: every namespace, and windows a Prometheus scraping
#: every few seconds has data for.
VARIABLES = {
    "$__rate_interval": "2m",
    "$__range": "1h",
    "$__interval": "1m",
    "$namespace": ".*",
}


def substitute(expr: str, variables: dict[str, str] | None = None) -> str:
    values = variables or VARIABLES
    for name in sorted(values, key=len, reverse=True):  # $__range before a shorter prefix
        expr = expr.replace(name, values[name])
    return expr
