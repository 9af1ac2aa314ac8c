"""Create GoBuildConfigs and read what they report, as a user would with kubectl."""

from __future__ import annotations

import json
from typing import Any, Protocol

from support.waiting import wait_for


class Kubectl(Protocol):
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> Any: ...


def make_config(cluster: Kubectl, namespace: str, name: str = "go", **spec: Any) -> None:
    """Apply a GoBuildConfig and wait until the operator has reconciled it."""
    body = {
        "apiVersion": "gobuild.dev/v1alpha1",
        "kind": "GoBuildConfig",
        "metadata": {"name": name},
        "spec": spec,
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    wait_for(
        lambda: status(cluster, namespace, name).get("observedGeneration"),
        timeout=30,  # a leader that has just started reconciles every config it finds first
        what=f"GoBuildConfig {name} to be reconciled",
    )


def status(cluster: Kubectl, namespace: str, name: str = "go") -> dict[str, Any]:
    out = cluster.kubectl("get", "gbc", name, "-n", namespace, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out).get("status") or {}
    return result


def downloads(cluster: Kubectl, namespace: str, name: str = "go") -> dict[str, Any]:
    result: dict[str, Any] = status(cluster, namespace, name).get("downloads") or {}
    return result


def condition(cluster: Kubectl, namespace: str, type_: str, name: str = "go") -> dict[str, Any]:
    for c in status(cluster, namespace, name).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def events(cluster: Kubectl, namespace: str, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    selector = f"involvedObject.kind={kind}" + (f",involvedObject.name={name}" if name else "")
    out = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def describe(cluster: Kubectl, namespace: str, name: str = "go") -> str:
    """`kubectl describe gbc`, whitespace-normalised (it wraps long messages)."""
    return " ".join(cluster.kubectl("describe", "gbc", name, "-n", namespace).stdout.split())


def metric(port: int, name: str, **labels: str) -> float | None:
    """One sample from the operator's Prometheus endpoint, or None when it is not exposed."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None
