"""The registered webhook configuration fails open and stays off system namespaces."""

from __future__ import annotations

from gobuild_operator.k8s.webhookconfig import build_configuration
from gobuild_operator.settings import Settings, WebhookSettings


def _config(**hook: object) -> dict[str, object]:
    settings = Settings(operator_namespace="gobuild-system", webhook=WebhookSettings(**hook))  # type: ignore[arg-type]
    return build_configuration(settings, ca_bundle=b"CA", url_base="https://127.0.0.1:9443")


def test_every_webhook_fails_open_with_a_short_timeout() -> None:
    for hook in _config()["webhooks"]:  # type: ignore[attr-defined]
        assert hook["failurePolicy"] == "Ignore"
        assert hook["timeoutSeconds"] <= 5
        assert hook["sideEffects"] == "None"


def test_system_and_operator_namespaces_are_excluded() -> None:
    hook = _config()["webhooks"][0]  # type: ignore[index]
    expressions = hook["namespaceSelector"]["matchExpressions"]
    names = next(e for e in expressions if e["key"] == "kubernetes.io/metadata.name")
    assert set(names["values"]) >= {"kube-system", "kube-public", "kube-node-lease", "gobuild-system"}
    disabled = next(e for e in expressions if e["key"] == "gobuild.dev/injection")
    assert disabled == {"key": "gobuild.dev/injection", "operator": "NotIn", "values": ["disabled"]}


def test_rules_cover_pods_jobs_and_cronjob_updates() -> None:
    rules = {
        r["resources"][0]: r["operations"]
        for hook in _config()["webhooks"]  # type: ignore[attr-defined]
        for r in hook["rules"]
    }
    assert rules == {"pods": ["CREATE"], "jobs": ["CREATE"], "cronjobs": ["CREATE", "UPDATE"]}


def test_service_reference_in_cluster() -> None:
    settings = Settings(operator_namespace="ops", webhook=WebhookSettings(service_name="gobuild-webhook"))
    body = build_configuration(settings, ca_bundle=b"CA", url_base=None)
    client_config = body["webhooks"][0]["clientConfig"]
    assert client_config["service"] == {
        "namespace": "ops",
        "name": "gobuild-webhook",
        "path": "/inject-pods",
        "port": 443,
    }
