"""The registered webhook configuration fails open and stays off system namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.core.injection.selection import namespace_label_value
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


def test_only_namespaces_with_a_pod_selector_send_objects_that_do_not_opt_in() -> None:
    """elsewhere, an object without gobuild.dev annotations costs no webhook call."""
    tiers = {}
    for hook in _config()["webhooks"]:  # type: ignore[attr-defined]
        expressions = hook["namespaceSelector"]["matchExpressions"]
        label = next(e for e in expressions if e["key"] == "gobuild.dev/configs")
        assert label["values"] == ["selected"]
        tiers[hook["name"]] = (label["operator"], [c["name"] for c in hook["matchConditions"]])
    assert tiers["pods.inject.gobuild.dev"] == (
        "NotIn",
        ["not-already-injected", "not-opted-out", "not-a-mirror-pod", "opted-in-by-annotation"],
    )
    assert tiers["pods-selected.inject.gobuild.dev"] == (
        "In",
        ["not-already-injected", "not-opted-out", "not-a-mirror-pod"],
    )
    assert len(tiers) == 6


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        pytest.param([{}], "annotated", id="no-selector"),
        pytest.param([{"podSelector": {}}], "annotated", id="empty-selector-matches-nothing"),
        pytest.param([{}, {"podSelector": {"matchLabels": {"app": "build"}}}], "selected", id="one-selector"),
        pytest.param([None], "annotated", id="invalid-spec"),
    ],
)
def test_namespace_label_value(specs: list[dict[str, Any] | None], expected: str) -> None:
    parsed = [None if spec is None else parse_spec(spec) for spec in specs]
    assert namespace_label_value(parsed) == expected
