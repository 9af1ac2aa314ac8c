"""Prometheus in the local cluster: the platform team's view of the operator, for real.

Prometheus (built from its Go module with Kubernetes service discovery only, see binaries.py) runs
as a Pod in the namespace `monitoring`, from an image that wraps the binary (images.py). It is not
told where the operator is: it discovers it as any Prometheus without prometheus-operator would,
with the scrape configuration the chart renders from the same values as its ServiceMonitor
(`monitoring.prometheusConfig.enabled`: the ConfigMap `<release>-prometheus`, keys `scrape.yaml`
and `alerts.yaml`), and it evaluates the chart's alerts from that ConfigMap too. So what the tests
and `make run WITH_MONITORING=1` see is what a user's Prometheus sees.

The host reaches Services of the local cluster (the switch routes the Service range), so Prometheus
answers at http://<ClusterIP>:9090 on this machine; nothing outside the machine can reach it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from localcluster.binaries import PROMETHEUS, LogFn, _stderr, ensure_binaries
from localcluster.images import ImageArchive, image_from_files
from localcluster.kubectl import kubectl

NAMESPACE = "monitoring"
NAME = "prometheus"
PORT = 9090
IMAGE = f"gobuild.dev/local/prometheus:{PROMETHEUS.version}"
#: nobody: Prometheus needs no privilege, and writes only its data volume.
USER = "65534:65534"


def image(*, log: LogFn = _stderr) -> ImageArchive:
    """An image of prometheus and promtool (built once, cached by content)."""
    binaries = ensure_binaries((PROMETHEUS,), log=log)
    return image_from_files(
        IMAGE,
        files={"/bin/prometheus": binaries["prometheus"], "/bin/promtool": binaries["promtool"]},
        entrypoint=["/bin/prometheus"],
        user=USER,
        workdir="/prometheus",
        log=log,
    )


#: The chart's ConfigMap for a Prometheus without prometheus-operator (monitoring.prometheusConfig).
def chart_config_name(release: str) -> str:
    return f"{release}-prometheus"


def chart_values(*, scrape_interval: str = "15s") -> list[str]:
    """helm arguments that make the chart render what this Prometheus reads (and the dashboard)."""
    return [
        "--set=monitoring.prometheusConfig.enabled=true",
        "--set=monitoring.dashboard.enabled=true",
        f"--set=metrics.serviceMonitor.interval={scrape_interval}",
        # it scrapes the module caches too, whose NetworkPolicies admit only the namespaces named
        f"--set=operator.cache.ingressNamespaces={{{NAMESPACE}}}",
    ]


def configuration(*, scrape: str, alerts: str, evaluation_interval: str = "15s") -> dict[str, str]:
    """The files of Prometheus' ConfigMap: its own prometheus.yml naming the chart's two files."""
    main = {
        "global": {"scrape_interval": "15s", "evaluation_interval": evaluation_interval},
        "scrape_config_files": ["/etc/prometheus/scrape.yaml"],
        "rule_files": ["/etc/prometheus/alerts.yaml"],
    }
    return {
        "prometheus.yml": yaml.safe_dump(main, sort_keys=False),
        "scrape.yaml": scrape,
        "alerts.yaml": alerts,
    }


def manifests(files: dict[str, str]) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "gobuild-local-cluster"}
    meta = {"name": NAME, "namespace": NAMESPACE, "labels": labels}
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"gobuild-local-{NAME}", "labels": labels},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "pods", "endpoints"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"gobuild-local-{NAME}", "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"gobuild-local-{NAME}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": files},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    # A changed configuration rolls the Pod (Prometheus reads its files at start).
                    "metadata": {"labels": labels, "annotations": {"gobuild.dev/config-digest": digest}},
                    "spec": {
                        "serviceAccountName": NAME,
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "fsGroup": 65534},
                        "containers": [
                            {
                                "name": NAME,
                                "image": IMAGE,
                                "args": [
                                    "--config.file=/etc/prometheus/prometheus.yml",
                                    "--storage.tsdb.path=/prometheus",
                                    "--storage.tsdb.retention.time=1d",
                                    f"--web.listen-address=:{PORT}",
                                ],
                                "ports": [{"name": "web", "containerPort": PORT}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/-/ready", "port": "web"},
                                    "periodSeconds": 2,
                                },
                                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [
                                    {"name": "config", "mountPath": "/etc/prometheus"},
                                    {"name": "data", "mountPath": "/prometheus"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "config", "configMap": {"name": NAME}},
                            {"name": "data", "emptyDir": {}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": labels, "ports": [{"name": "web", "port": PORT, "targetPort": "web"}]},
        },
    ]


def deploy(
    kubeconfig: Path,
    *,
    state_dir: Path,
    release: str,
    release_namespace: str,
    evaluation_interval: str = "15s",
    log: LogFn = _stderr,
    timeout: float = 300,
) -> str:
    """Run Prometheus in the local cluster with the chart's scrape configuration and alerts (read
    from the installed release's ConfigMap); returns its URL as this machine reaches it."""
    from localcluster.node import import_images

    import_images(state_dir, [image(log=log).path], log=log)
    found = json.loads(
        kubectl(
            kubeconfig, "get", "configmap", chart_config_name(release), "-n", release_namespace, "-o", "json"
        )
    )
    files = configuration(
        scrape=found["data"]["scrape.yaml"],
        alerts=found["data"]["alerts.yaml"],
        evaluation_interval=evaluation_interval,
    )
    kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(manifests(files)))
    kubectl(
        kubeconfig, "rollout", "status", "-n", NAMESPACE, f"deployment/{NAME}", f"--timeout={int(timeout)}s"
    )
    base = url(kubeconfig)
    log(f"Prometheus is at {base} (scraping the operator and the module caches; the chart's alerts)")
    return base


def remove(kubeconfig: Path) -> None:
    """Remove what deploy() applied (the chart's ConfigMap stays with the release)."""
    kubectl(
        kubeconfig, "delete", "--ignore-not-found", "--wait=false", "-f", "-",
        stdin=yaml.safe_dump_all(manifests({})),
    )  # fmt: skip


def url(kubeconfig: Path) -> str:
    """Prometheus' address as this machine reaches it (the switch routes the Service range)."""
    address = kubectl(kubeconfig, "get", "service", NAME, "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}")
    return f"http://{address}:{PORT}"


def query(base: str, expr: str, *, timeout: float = 10) -> list[dict[str, Any]]:
    """The result of an instant query (Prometheus' HTTP API); raises on an error answer."""
    request = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the cluster's Prometheus
        answer = json.load(response)
    if answer.get("status") != "success":
        raise RuntimeError(f"{expr}: {answer.get('error')}")
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def get(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as response:  # noqa: S310
        return json.load(response)
