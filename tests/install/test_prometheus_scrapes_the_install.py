"""Prometheus in the local cluster, scraping the operator installed with its chart, as a platform team
would run it: every dashboard query and every alert's signal returns data from the real operator.

Prometheus is built from its Go module and runs as a Pod (localcluster/prometheus.py) with the
chart's own scrape configuration and alerts (`monitoring.prometheusConfig`). The scenario is what
a cluster sees: a Pod admitted while no replica answered (a missed injection), builds that succeed,
builds that fail on an unreachable GOPROXY, builds through the module cache the operator runs for
a config (spec.cache, mode Proxy; the chart's scrape configuration finds it as it finds the
operator), and admission requests the webhook cannot use (one unreadable, one too large). Then
Prometheus is asked every query of the shipped dashboard and every alert's signal, and the alerts
the scenario should raise are pending or firing.

Tests of this module share one scenario and run in order after test_helm_install.py (same session).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, Cluster
from gobuild_operator.serving import pki
from localcluster import chart, demo, prometheus
from localcluster.install import install
from monitoring import alerts, dashboard
from monitoring.generate import DASHBOARD_FILE
from monitoring.queries import substitute
from support.gbc import downloads, make_config, status
from support.kubelet import NOT_SCHEDULED
from support.waiting import wait_for
from support.webhook import review

#: The first test also sets up the shared scenario (the install, the builds, a replica restart).
pytestmark = pytest.mark.timeout(600)

NS = chart.NAMESPACE
DEPLOYMENT = "gobuild-operator"
SELECTOR = "app.kubernetes.io/name=gobuild-operator"
DEMO_PROXY = f"http://goproxy.{demo.NAMESPACE}.svc.cluster.local"
#: What a scrape every 5 s and a probe every 10 s make visible within a test's patience.
VALUES = (
    "--set=metrics.serviceMonitor.interval=5s",
    "--set=operator.extraArgs[0]=--probe-interval-override=10",
    # One failed build in a fresh config is already a rate here (the default asks for 3 in 30 min).
    "--set=monitoring.thresholds.failureMinBuilds=1",
)
METRIC = re.compile(r"\b((?:gobuild|gomodcache)_[a-z_]+)\b")


@dataclass(frozen=True)
class Scenario:
    cluster: Cluster
    prometheus: str
    namespace: str


def _json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def _ready_replicas(cluster: Cluster) -> int:
    status = _json(cluster, "get", "deployment", DEPLOYMENT, "-n", NS).get("status", {})
    return int(status.get("readyReplicas") or 0)


def _remove_plain_install(cluster: Cluster) -> None:
    """The previous module ends with the operator installed from manifests/install.yaml: remove it
    (its CRD and the GoBuildConfigs stay) so that helm can install the release again."""
    if chart.helm("status", chart.RELEASE, f"--namespace={NS}", kubeconfig=cluster.kubeconfig, check=False):
        return
    docs = [d for d in yaml.safe_load_all((REPO / "manifests" / "install.yaml").read_text()) if d]
    plain = [d for d in docs if d["kind"] not in {"CustomResourceDefinition", "Namespace"}]
    cluster.kubectl(
        "delete", "--ignore-not-found", "--wait", "-f", "-", input=yaml.safe_dump_all(plain), timeout=180
    )


def _project(cluster: Cluster, namespace: str) -> None:
    files = demo.example_project()
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "project"}, "data": files}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _build_pod(name: str, config: str, *, runs: bool = True) -> dict[str, Any]:
    """The quick start's build as a bare Pod that opts into `config`."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "build",
                "image": "golang:1.26",
                "workingDir": "/src",
                "command": ["sh", "-c", "set -e; cp /project/* .; go mod download; go build -o /tmp/b ."],
                "volumeMounts": [
                    {"name": "project", "mountPath": "/project"},
                    {"name": "src", "mountPath": "/src"},
                ],
            }
        ],
        "volumes": [
            {"name": "project", "configMap": {"name": "project"}},
            {"name": "src", "emptyDir": {}},
        ],
    }
    if not runs:
        spec.update(NOT_SCHEDULED)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": config}},
        "spec": spec,
    }


def _run_builds(cluster: Cluster, namespace: str, pods: dict[str, str]) -> None:
    """Create the build Pods (name -> config) and wait until each has finished."""
    for name, config in pods.items():
        cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(_build_pod(name, config)))

    def finished() -> bool:
        items = _json(cluster, "get", "pods", "-n", namespace)["items"]
        phases = {p["metadata"]["name"]: p["status"].get("phase") for p in items}
        return all(phases.get(name) in {"Succeeded", "Failed"} for name in pods)

    wait_for(finished, timeout=300, interval=2, what=f"the builds {sorted(pods)} to finish")


def _cache_available(cluster: Cluster, namespace: str, config: str) -> bool:
    cache = status(cluster, namespace, config).get("cache") or {}
    return cache.get("mode") == "Proxy" and cache.get("available") is True


def _miss_an_injection(cluster: Cluster, namespace: str) -> None:
    """With every replica gone, a Pod that asks for `go` is admitted without it (failurePolicy Ignore)."""
    cluster.kubectl("scale", "deployment", DEPLOYMENT, "-n", NS, "--replicas=0")
    try:
        wait_for(
            lambda: not _json(cluster, "get", "pods", "-n", NS, "-l", SELECTOR)["items"],
            timeout=120,
            what="the operator Pods to go",
        )
        cluster.kubectl(
            "create", "-n", namespace, "-f", "-", input=json.dumps(_build_pod("missed", "go", runs=False))
        )
    finally:
        cluster.kubectl("scale", "deployment", DEPLOYMENT, "-n", NS, "--replicas=2")
    wait_for(lambda: _ready_replicas(cluster) == 2, timeout=180, what="the operator to come back")
    wait_for(
        lambda: downloads(cluster, namespace).get("missedInjections") == 1,
        timeout=120,
        what="the Pod counted as a missed injection",
    )


def _post_to_every_replica(cluster: Cluster) -> set[str]:
    """An unreadable AdmissionReview and one larger than the webhook reads, to each replica: what
    a misconfigured client or an oversized object sends, and what the error panels count. Returns
    the replicas' Pod names."""
    webhook = _json(cluster, "get", "mutatingwebhookconfiguration", "gobuild-operator")["webhooks"][0]
    tls = ssl.create_default_context(cadata=base64.b64decode(webhook["clientConfig"]["caBundle"]).decode())
    tls.check_hostname = False  # the certificate names the Service; we call each Pod by address
    pods = _json(cluster, "get", "pods", "-n", NS, "-l", SELECTOR)["items"]
    big = json.dumps(review("Pod", {"metadata": {"name": "x"}}, namespace="default")).encode()
    for pod in pods:
        address = pod["status"]["podIP"]
        connection = http.client.HTTPSConnection(address, 9443, context=tls, timeout=10)
        connection.request(
            "POST", "/inject-pods", body=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert connection.getresponse().status == 400
        connection.close()
        connection = http.client.HTTPSConnection(address, 9443, context=tls, timeout=10)
        connection.putrequest("POST", "/inject-pods")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(9 * 1024 * 1024))
        connection.endheaders()
        connection.send(big + b" " * (64 * 1024))  # the start; the rest is never read
        answer = json.loads(connection.getresponse().read())
        assert "not injected" in " ".join(answer["response"].get("warnings", []))
        connection.close()
    return {pod["metadata"]["name"] for pod in pods}


def _refused_by(prometheus_url: str) -> set[str]:
    """The replicas whose too-large admissions Prometheus has scraped."""
    series = prometheus.query(prometheus_url, 'gobuild_admission_requests_total{outcome="too_large"}')
    return {s["metric"].get("pod", "") for s in series}


@pytest.fixture(scope="module")
def scenario(cluster: Cluster) -> Iterator[Scenario]:
    if cluster.local is None:
        pytest.skip("runs Prometheus and the operator's image on the local cluster's node")
    _remove_plain_install(cluster)
    url = install(cluster.kubeconfig, state_dir=cluster.local.state_dir, with_monitoring=True, values=VALUES)
    assert url is not None
    namespace = f"mon-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    wait_for(
        lambda: (
            cluster.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0
        ),
        timeout=30,
        what="the namespace's default ServiceAccount",
    )
    _project(cluster, namespace)
    make_config(cluster, namespace, "go", goproxy=[DEMO_PROXY], gosumdb="off")
    make_config(cluster, namespace, "cached", goproxy=[DEMO_PROXY], gosumdb="off", cache={"enabled": True})
    make_config(
        cluster,
        namespace,
        "broken",
        goproxy=[f"http://no-such-proxy.{namespace}.svc.cluster.local"],
        gosumdb="off",
    )
    wait_for(
        lambda: _cache_available(cluster, namespace, "cached"),
        timeout=180,
        interval=2,
        what="the module cache the operator runs for the config 'cached'",
    )
    _miss_an_injection(cluster, namespace)  # first: the replicas' counters start again after it
    # Two rounds, so that every counter has risen since Prometheus first saw it (a counter's first
    # sample is no increase).
    replicas = _post_to_every_replica(cluster)
    _run_builds(cluster, namespace, {"go-1": "go", "broken-1": "broken", "cached-1": "cached"})
    wait_for(
        lambda: (
            len(prometheus.query(url, f'gobuild_download_outcomes_total{{namespace="{namespace}"}}')) >= 3
        ),
        timeout=120,
        what="Prometheus to scrape the first outcomes",
    )
    wait_for(
        lambda: replicas <= _refused_by(url),
        timeout=60,
        what=f"Prometheus to scrape the refusals of {sorted(replicas)}",
    )
    _post_to_every_replica(cluster)
    _run_builds(cluster, namespace, {"go-2": "go", "broken-2": "broken", "cached-2": "cached"})
    wait_for(
        lambda: (
            downloads(cluster, namespace, "broken").get("failed") == 2
            and downloads(cluster, namespace, "go").get("succeeded") == 2
        ),
        timeout=120,
        what="the operator to count the second round",
    )
    yield Scenario(cluster=cluster, prometheus=url, namespace=namespace)
    picture = os.environ.get("GOBUILD_DASHBOARD_PICTURE")
    if picture:  # docs/monitoring.md's picture: the panels drawn from this scenario's answers
        from monitoring.render import draw

        draw(url, Path(picture), minutes=15)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    prometheus.remove(cluster.kubeconfig)


def test_prometheus_scrapes_every_replica_and_the_cache_through_the_charts_configuration(
    scenario: Scenario,
) -> None:
    def up() -> dict[tuple[str, str, str], list[str]]:
        """Targets' health by job, namespace and config (caches of other tests' configs count apart)."""
        targets = prometheus.get(scenario.prometheus, "/api/v1/targets")["data"]["activeTargets"]
        found: dict[tuple[str, str, str], list[str]] = {}
        for target in targets:
            labels = target["labels"]
            key = (labels["job"], labels.get("namespace", ""), labels.get("config", ""))
            found.setdefault(key, []).append(target["health"])
        return found

    wait_for(
        lambda: up().get(("gobuild-operator-metrics", NS, "")) == ["up", "up"],
        timeout=60,
        what="both operator replicas scraped",
    )
    assert up().get(("gomodcache", scenario.namespace, "cached")) == ["up"]


def _returns_data(scenario: Scenario, expr: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = wait_for(
        lambda: prometheus.query(scenario.prometheus, expr),
        timeout=90,
        interval=5,
        what=f"data for {expr}",
    )
    return found


DASHBOARD = json.loads((REPO / DASHBOARD_FILE).read_text())


@pytest.mark.parametrize(
    ("title", "expr"),
    [pytest.param(t, e, id=f"{t}:{i}") for i, (t, e) in enumerate(dashboard.queries(DASHBOARD))],
)
def test_every_dashboard_query_returns_data_from_the_real_operator(
    scenario: Scenario, title: str, expr: str
) -> None:
    result = _returns_data(scenario, substitute(expr))
    assert result, f"panel {title!r} shows nothing"


@pytest.mark.parametrize("alert", alerts.ALERTS, ids=lambda a: a.name)
def test_every_alert_signal_returns_data_from_the_real_operator(
    scenario: Scenario, alert: alerts.Alert
) -> None:
    signal = alert.signal.replace("{{ .Release.Namespace }}", NS)
    assert _returns_data(scenario, signal)
    for name in set(METRIC.findall(signal)):  # no input hidden behind `or vector(0)`
        found = prometheus.query(scenario.prometheus, f"count(last_over_time({name}[1h]))")
        assert found, f"no series of {name}"


def _alerts(scenario: Scenario) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = prometheus.get(scenario.prometheus, "/api/v1/alerts")["data"]["alerts"]
    return found


def _active(scenario: Scenario, name: str, **labels: str) -> bool:
    return any(
        a["labels"].get("alertname") == name and all(a["labels"].get(k) == v for k, v in labels.items())
        for a in _alerts(scenario)
    )


def test_the_alerts_the_scenario_raises_are_pending_or_firing(scenario: Scenario) -> None:
    ns = scenario.namespace
    wait_for(
        lambda: _active(scenario, "GoBuildFailureRateHigh", namespace=ns, config="broken"),
        timeout=120,
        interval=5,
        what="GoBuildFailureRateHigh for the config whose proxy does not exist",
    )
    (failing,) = [
        a
        for a in _alerts(scenario)
        if a["labels"]["alertname"] == "GoBuildFailureRateHigh" and a["labels"]["namespace"] == ns
    ]
    assert failing["labels"]["reason"] == downloads(scenario.cluster, ns, "broken")["lastFailure"]["reason"]
    wait_for(
        lambda: _active(scenario, "GoBuildProxyUnreachable", namespace=ns, config="broken"),
        timeout=120,
        interval=5,
        what="GoBuildProxyUnreachable for the proxy that does not exist",
    )
    wait_for(
        lambda: _active(scenario, "GoBuildAdmissionOverBudget", namespace=NS),
        timeout=120,
        interval=5,
        what="GoBuildAdmissionOverBudget for the oversized requests",
    )
    quiet = {"GoBuildOperatorNoLeader", "GoBuildWebhookCertificateExpiresSoon"}
    assert not quiet & {a["labels"]["alertname"] for a in _alerts(scenario)}
    assert not _active(scenario, "GoBuildFailureRateHigh", namespace=ns, config="go")
    assert not _active(scenario, "GoBuildProxyUnreachable", namespace=ns, config="go")


def test_the_replicas_report_one_leader_and_the_certificate_they_serve(scenario: Scenario) -> None:
    leaders = prometheus.query(scenario.prometheus, f'sum(gobuild_leader{{namespace="{NS}"}})')
    assert float(leaders[0]["value"][1]) == 1
    secret = _json(scenario.cluster, "get", "secret", "gobuild-operator-webhook-tls", "-n", NS)
    expires = pki.expires(base64.b64decode(secret["data"]["tls.crt"])).timestamp()
    served = prometheus.query(
        scenario.prometheus, f'gobuild_webhook_certificate_expiry_timestamp_seconds{{namespace="{NS}"}}'
    )
    assert len(served) == 2
    assert {float(s["value"][1]) for s in served} == {expires}
