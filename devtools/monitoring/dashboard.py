"""The Grafana dashboard: what a person looks at first when builds fail or the webhook misbehaves.

Built with grafana-foundation-sdk (the builders Grafana publishes for its dashboard schema) and
written as JSON into the chart; Grafana's dashboard sidecar loads it from the ConfigMap the chart
renders (`monitoring.dashboard.enabled`). Rows, top to bottom: builds (injected, failed by
namespace and reason, missed injections), admission (requests by outcome, latency, what was
admitted without injection), proxies (reachability and probe latency per GOPROXY URL), the operator
(leader, certificate) and the module cache (hit ratio, requests, size, upstreams).

Queries use two variables: `$datasource` (a Prometheus) and `$namespace` (GoBuildConfig
namespaces, "All" by default), plus Grafana's `$__rate_interval` and `$__range`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

UID = "gobuild-operator"
TITLE = "gobuild-operator"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    #: A table or stat of the current value rather than a time series.
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # timeseries, stat, table
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""
    width: int = 8
    height: int = 8
    stacked: bool = False
    #: For a stat or table of 0/1 values: what each value means.
    mappings: tuple[tuple[str, str, str], ...] = ()  # (value, text, color)


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


ROWS: tuple[Row, ...] = (
    Row(
        "Builds",
        (
            Panel(
                "Injected Pods per minute, by namespace",
                "timeseries",
                (
                    Query(
                        f"sum by (namespace) (rate(gobuild_injections_total{{{NS}}}[$__rate_interval])) * 60",
                        "{{namespace}}",
                    ),
                ),
                unit="short",
                description="Admission answers that injected a GoBuildConfig (dry runs included).",
            ),
            Panel(
                "Failed builds per minute, by namespace and reason",
                "timeseries",
                (
                    Query(
                        "sum by (namespace, reason) (rate(gobuild_download_outcomes_total"
                        f'{{outcome="failed", {NS}}}[$__rate_interval])) * 60',
                        "{{namespace}} {{reason}}",
                    ),
                ),
                stacked=True,
                description="Finished injected Pods whose go mod download failed, by the classified reason "
                "(docs/diagnosis.md).",
            ),
            Panel(
                "Builds in the time range, by outcome",
                "stat",
                (
                    Query(
                        f"sum by (outcome) (increase(gobuild_download_outcomes_total{{{NS}}}[$__range]))",
                        "{{outcome}}",
                        instant=True,
                    ),
                ),
            ),
            Panel(
                "Failures in the time range, by config and reason",
                "table",
                (
                    Query(
                        "sum by (namespace, config, reason) (increase(gobuild_download_outcomes_total"
                        f'{{outcome="failed", {NS}}}[$__range]))',
                        instant=True,
                    ),
                ),
                width=12,
                description="kubectl describe gbc -n NAMESPACE CONFIG shows the remedy of each reason.",
            ),
            Panel(
                "Missed injections in the time range",
                "table",
                (
                    Query(
                        "sum by (namespace, config) (increase(gobuild_missed_injections_total"
                        f"{{{NS}}}[$__range]))",
                        instant=True,
                    ),
                ),
                width=12,
                description="Pods that asked for a GoBuildConfig, admitted while no replica answered.",
            ),
        ),
    ),
    Row(
        "Admission",
        (
            Panel(
                "Admission requests per second, by outcome",
                "timeseries",
                (
                    Query(
                        "sum by (outcome) (rate(gobuild_admission_requests_total[$__rate_interval]))",
                        "{{outcome}}",
                    ),
                ),
                unit="reqps",
                stacked=True,
            ),
            Panel(
                "Admission latency",
                "timeseries",
                tuple(
                    Query(
                        f"histogram_quantile({q}, sum by (le) "
                        "(rate(gobuild_admission_duration_seconds_bucket[$__rate_interval])))",
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.9, 0.99)
                ),
                unit="s",
                description="Time the operator spends on one request (decision and patch); the API server "
                "gives up after webhook.timeoutSeconds.",
            ),
            Panel(
                "Admitted without injection in the time range",
                "stat",
                (
                    Query(
                        "sum by (outcome) (increase(gobuild_admission_requests_total"
                        '{outcome=~"error|malformed|over_budget|too_large"}[$__range]))',
                        "{{outcome}}",
                        instant=True,
                    ),
                ),
                description="Internal errors, unreadable requests, answers over the admission budget and "
                "objects too large once injected: each was admitted unchanged.",
            ),
        ),
    ),
    Row(
        "Proxies",
        (
            Panel(
                "GOPROXY reachable",
                "table",
                (Query(f"max by (namespace, config, url) (gobuild_proxy_reachable{{{NS}}})", instant=True),),
                width=12,
                mappings=(("0", "unreachable", "red"), ("1", "reachable", "green")),
                description="The last probe of each GOPROXY URL from the operator's network.",
            ),
            Panel(
                "Probe latency (15-minute mean)",
                "timeseries",
                (
                    Query(
                        "max by (namespace, config, url) ("
                        f"rate(gobuild_proxy_probe_duration_seconds_sum{{{NS}}}[15m])"
                        f" / rate(gobuild_proxy_probe_duration_seconds_count{{{NS}}}[15m]))",
                        "{{url}}",
                    ),
                ),
                unit="s",
                width=12,
            ),
        ),
    ),
    Row(
        "Operator",
        (
            Panel(
                "Leader",
                "stat",
                (Query("max by (pod) (gobuild_leader)", "{{pod}}", instant=True),),
                width=12,
                mappings=(("0", "standby", "blue"), ("1", "leader", "green")),
            ),
            Panel(
                "Webhook certificate: days left",
                "stat",
                (
                    Query(
                        "min by (pod) (gobuild_webhook_certificate_expiry_timestamp_seconds - time())"
                        " / 86400",
                        "{{pod}}",
                        instant=True,
                    ),
                ),
                unit="d",
                width=12,
            ),
        ),
    ),
    Row(
        "Module cache",
        (
            Panel(
                "Hit ratio (last hour), by cache",
                "timeseries",
                (
                    Query(
                        f"sum by (namespace, config) (increase(gomodcache_hits_total{{{NS}}}[1h])) / ("
                        f"sum by (namespace, config) (increase(gomodcache_hits_total{{{NS}}}[1h])) + "
                        f"sum by (namespace, config) (increase(gomodcache_misses_total{{{NS}}}[1h])))",
                        "{{namespace}}/{{config}}",
                    ),
                ),
                unit="percentunit",
                width=6,
            ),
            Panel(
                "Cache requests per second, by kind and status",
                "timeseries",
                (
                    Query(
                        f"sum by (kind, code) (rate(gomodcache_requests_total{{{NS}}}[$__rate_interval]))",
                        "{{kind}} {{code}}",
                    ),
                ),
                unit="reqps",
                stacked=True,
                width=6,
            ),
            Panel(
                "Cache size",
                "timeseries",
                (
                    Query(
                        f"sum by (namespace, config) (gomodcache_stored_bytes{{{NS}}})", "{{config}} stored"
                    ),
                    Query(f"sum by (namespace, config) (gomodcache_max_bytes{{{NS}}})", "{{config}} bound"),
                ),
                unit="bytes",
                width=6,
            ),
            Panel(
                "Upstream requests per second, by result",
                "timeseries",
                (
                    Query(
                        "sum by (namespace, config, class) "
                        f"(rate(gomodcache_upstream_requests_total{{{NS}}}[$__rate_interval]))",
                        "{{config}} {{class}}",
                    ),
                ),
                unit="reqps",
                width=6,
                description="What the cache asked upstream; each class but ok and not_found is an error.",
            ),
        ),
    ),
)


def _target(query: Query, ref: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(query.expr).ref_id(ref).datasource(DATASOURCE)
    if query.legend:
        target = target.legend_format(query.legend)
    if query.instant:
        target = target.instant().format(PromQueryFormat.TABLE)
    return target


def _panel(spec: Panel, *, x: int, y: int) -> Any:
    builder: Any
    if spec.kind == "timeseries":
        builder = timeseries.Panel().fill_opacity(10).line_width(1)
        if spec.stacked:
            builder = builder.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    elif spec.kind == "stat":
        builder = stat.Panel().graph_mode(common.BigValueGraphMode.NONE)
    else:
        builder = table.Panel()
    builder = (
        builder.title(spec.title)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .grid_pos(GridPos(h=spec.height, w=spec.width, x=x, y=y))
    )
    if spec.description:
        builder = builder.description(spec.description)
    for index, query in enumerate(spec.queries):
        builder = builder.with_target(_target(query, chr(ord("A") + index)))
    if spec.mappings:
        options = {value: ValueMappingResult(text=text, color=color) for value, text, color in spec.mappings}
        builder = builder.mappings([ValueMap(options=options)])
    return builder


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    board = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .tags(["gobuild-operator", "go", "kubernetes"])
        .description(
            "Go builds injected by gobuild-operator: outcomes, admission, proxies, the module cache."
        )
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            dashboard.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DATASOURCE)
            .query("label_values(gobuild_injections_total, namespace)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
            .multi(True)
        )
    )
    y = 0
    for row in ROWS:
        board = board.with_row(dashboard.Row(row.title).grid_pos(GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        x = 0
        for spec in row.panels:
            if x + spec.width > 24:
                x, y = 0, y + spec.height
            board = board.with_panel(_panel(spec, x=x, y=y))
            x += spec.width
        y += max(p.height for p in row.panels)
    encoded = JSONEncoder(sort_keys=True).encode(board.build())
    result: dict[str, Any] = json.loads(encoded)
    return result


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def queries(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expression) of every query of a dashboard JSON model."""
    for panel in model.get("panels", []):
        for target in panel.get("targets", []) or []:
            if target.get("expr"):
                yield panel.get("title", ""), target["expr"]
        yield from queries({"panels": panel.get("panels", [])})
