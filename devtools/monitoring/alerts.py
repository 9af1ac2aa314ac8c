"""The alerts a platform team needs from the operator, each with the signal it watches.

An alert fires on `signal <condition>`. The signal is what the dashboard would plot, and what the
install tests ask a real Prometheus for (it must return series from the real operator's metrics);
the condition holds the threshold, written as a chart value (`monitoring.thresholds.*`), which helm
fills in when it renders the rules. Labels a rule aggregates by (namespace, config, reason, url,
pod) reach the alert, so routing and the runbook know where to look.

Metric labels: the operator's own `namespace` label names the GoBuildConfig's namespace; the scrape
configuration keeps it (honor_labels), and metrics without one (admission, leadership, certificate)
get the operator's namespace from the target. Each runbook is the section of docs/monitoring.md
named after the alert.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The chart value that holds each threshold (helm renders the rules through `tpl`).
THRESHOLDS = ".Values.monitoring.thresholds"
#: The operator's own namespace, where its per-replica series live.
RELEASE_NAMESPACE = "{{ .Release.Namespace }}"


def threshold(name: str) -> str:
    return f"{{{{ {THRESHOLDS}.{name} }}}}"


@dataclass(frozen=True)
class Alert:
    name: str
    #: The quantity watched: returns series whenever the operator (or the cache) exports the inputs.
    signal: str
    #: Appended to the signal to make the rule's expression (`> 0.2`, `< 14 and ...`).
    condition: str
    duration: str
    severity: str
    summary: str
    description: str

    @property
    def expr(self) -> str:
        return f"(\n  {self.signal}\n) {self.condition}"

    @property
    def runbook(self) -> str:
        """The anchor of the alert's runbook in docs/monitoring.md."""
        return self.name.lower()

    def rule(self) -> dict[str, object]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook": f"docs/monitoring.md#{self.runbook}",
            },
        }


_ADMISSION = "gobuild_admission_requests_total"
_OUTCOMES = "gobuild_download_outcomes_total"

ALERTS: tuple[Alert, ...] = (
    Alert(
        name="GoBuildWebhookErrors",
        signal=(
            f'sum by (namespace) (rate({_ADMISSION}{{outcome=~"error|malformed"}}[5m]))\n'
            f"  / sum by (namespace) (rate({_ADMISSION}[5m]))"
        ),
        condition=f"> {threshold('webhookErrorRatio')}",
        duration="10m",
        severity="warning",
        summary="The gobuild webhook fails on {{ $value | humanizePercentage }} of admission requests",
        description=(
            "Replicas in {{ $labels.namespace }} answered admission requests with an internal error or "
            "could not read them. The objects were admitted unchanged (failurePolicy Ignore): their "
            "builds run without the GoBuildConfig's settings."
        ),
    ),
    Alert(
        name="GoBuildAdmissionOverBudget",
        signal=(f'sum by (namespace) (increase({_ADMISSION}{{outcome=~"over_budget|too_large"}}[15m]))'),
        condition="> 0",
        duration="0m",
        severity="warning",
        summary="{{ $value | humanize }} objects admitted without injection: over budget or too large",
        description=(
            "The webhook in {{ $labels.namespace }} gave up on objects it could not inject within its "
            "admission budget, or whose injected form the API server would not store. They were admitted "
            "unchanged, with a warning to their creator."
        ),
    ),
    Alert(
        name="GoBuildMissedInjections",
        signal="sum by (namespace, config) (increase(gobuild_missed_injections_total[15m]))",
        condition="> 0",
        duration="0m",
        severity="warning",
        summary=(
            "{{ $value | humanize }} Pods of {{ $labels.namespace }}/{{ $labels.config }} ran uninjected"
        ),
        description=(
            "Pods asked for GoBuildConfig {{ $labels.config }} but were admitted without it, because no "
            "operator replica answered the API server in time (failurePolicy Ignore). They build without "
            "the config's proxy, credentials and cache."
        ),
    ),
    Alert(
        name="GoBuildFailureRateHigh",
        signal=(
            f'sum by (namespace, config, reason) (increase({_OUTCOMES}{{outcome="failed"}}[30m]))\n'
            "  / on (namespace, config) group_left\n"
            f"  sum by (namespace, config) (increase({_OUTCOMES}[30m]))"
        ),
        condition=(
            f"> {threshold('failureRatio')}\n"
            f"and on (namespace, config)\n"
            f"  sum by (namespace, config) (increase({_OUTCOMES}[30m])) >= {threshold('failureMinBuilds')}"
        ),
        duration="10m",
        severity="warning",
        summary=(
            "{{ $value | humanizePercentage }} of the builds of {{ $labels.namespace }}/{{ $labels.config }} "
            "fail with {{ $labels.reason }}"
        ),
        description=(
            "Finished injected builds of GoBuildConfig {{ $labels.config }} fail in go mod download with "
            "{{ $labels.reason }}. `kubectl describe gbc -n {{ $labels.namespace }} {{ $labels.config }}` "
            "shows the last failures and the remedy (the field that fixes it)."
        ),
    ),
    Alert(
        name="GoBuildProxyUnreachable",
        signal="max by (namespace, config, url) (gobuild_proxy_reachable)",
        condition="== 0",
        duration="15m",
        severity="warning",
        summary="GOPROXY {{ $labels.url }} of {{ $labels.namespace }}/{{ $labels.config }} is unreachable",
        description=(
            "The operator's probes of {{ $labels.url }} fail. Builds of {{ $labels.config }} fall through "
            "to the next goproxy entry only with proxyFallback OnAnyError. The ProxiesReachable condition "
            "of the GoBuildConfig says why (refused, DNS, TLS, timeout, HTTP 5xx)."
        ),
    ),
    Alert(
        name="GoBuildWebhookCertificateExpiresSoon",
        signal=(
            "min by (namespace, pod) (gobuild_webhook_certificate_expiry_timestamp_seconds - time()) / 86400"
        ),
        condition=f"< {threshold('certificateDaysLeft')}",
        duration="1h",
        severity="critical",
        summary="The webhook certificate served by {{ $labels.pod }} expires in {{ $value | humanize }} days",
        description=(
            "The certificate was not renewed in time (the operator renews it webhook.tls.renewBeforeDays "
            "ahead; cert-manager renewBefore). Once it expires the API server cannot call the webhook and "
            "every Pod is admitted without injection."
        ),
    ),
    Alert(
        name="GoBuildModuleCacheHitRatioLow",
        signal=(
            "sum by (namespace, config) (rate(gomodcache_hits_total[1h]))\n"
            "  / (\n"
            "    sum by (namespace, config) (rate(gomodcache_hits_total[1h]))\n"
            "    + sum by (namespace, config) (rate(gomodcache_misses_total[1h]))\n"
            "  )"
        ),
        condition=(
            f"< {threshold('cacheHitRatio')}\n"
            "and on (namespace, config)\n"
            "  (\n"
            "    sum by (namespace, config) (increase(gomodcache_hits_total[1h]))\n"
            "    + sum by (namespace, config) (increase(gomodcache_misses_total[1h]))\n"
            f"  ) >= {threshold('cacheMinRequests')}"
        ),
        duration="30m",
        severity="info",
        summary=(
            "The module cache of {{ $labels.namespace }}/{{ $labels.config }} answers only "
            "{{ $value | humanizePercentage }} from disk"
        ),
        description=(
            "Most module requests of {{ $labels.config }}'s builds go upstream: the cache is too small "
            "for what the builds use (evictions), was restarted without its volume, or the builds ask for "
            "new versions all the time. gomodcache_evictions_total and the stored bytes tell which."
        ),
    ),
    Alert(
        name="GoBuildOperatorNoLeader",
        signal=f'sum(gobuild_leader{{namespace="{RELEASE_NAMESPACE}"}}) or vector(0)',
        condition="< 1",
        duration="5m",
        severity="critical",
        summary="No gobuild-operator replica holds the leader lease",
        description=(
            "Admission still works, but nothing reconciles GoBuildConfigs, counts build outcomes, probes "
            "proxies or renews the webhook certificate while no replica leads (or none is scraped)."
        ),
    ),
)


def rules_file() -> dict[str, object]:
    """The Prometheus rules file (one group), thresholds as chart values."""
    return {"groups": [{"name": "gobuild-operator", "rules": [alert.rule() for alert in ALERTS]}]}


def by_name() -> dict[str, Alert]:
    return {alert.name: alert for alert in ALERTS}
