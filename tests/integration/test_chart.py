"""The Helm chart: lint-clean, strict about its values, rendered identically to manifests/, its
webhook configuration the operator's own, and every object it renders accepted by the API server."""

from __future__ import annotations

import copy
import re
import subprocess
from typing import Any

import pytest
import yaml

from conftest import REPO, Cluster
from gobuild_operator.k8s.webhookconfig import build_configuration
from gobuild_operator.settings import Settings, WebhookSettings
from localcluster import chart
from localcluster.binaries import HELM, ensure_binaries

VALUES = REPO / "helm" / "gobuild-operator" / "values.yaml"
#: Kinds whose CRDs (cert-manager, prometheus-operator) the local cluster does not have.
FOREIGN_KINDS = {"Certificate", "Issuer", "ServiceMonitor"}


def _documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_helm_lint_strict_is_clean() -> None:
    out = chart.helm("lint", "--strict", str(chart.CHART))
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        pytest.param("replicaCount=two", "replicaCount", id="wrong-type"),
        pytest.param("webhook.timeoutSeconds=60", "timeoutSeconds", id="out-of-range"),
        pytest.param("webhook.failurePolicy=Sometimes", "failurePolicy", id="unknown-enum"),
        pytest.param("webhook.tls.mode=vault", "mode", id="unknown-tls-mode"),
        pytest.param("replicas=3", "replicas", id="unknown-key"),
        pytest.param("image.tags=1.0", "tags", id="unknown-nested-key"),
    ],
)
def test_the_values_schema_refuses_mistakes(value: str, complaint: str) -> None:
    for command in ("lint", "template"):
        result = _helm(command, str(chart.CHART), f"--set={value}", "--kube-version=1.37.2")
        assert result.returncode != 0, f"helm {command} took {value}"
        assert complaint in result.stderr + result.stdout


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = ensure_binaries((HELM,))["helm"]
    argv = [str(binary), args[0], *(["release"] if args[0] == "template" else []), *args[1:]]
    if args[0] == "lint":
        argv = [a for a in argv if not a.startswith("--kube-version")] + ["--strict"]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_every_value_is_documented() -> None:
    """Each value has a `# --` comment; a commented block (resources, securityContext) is passed to
    Kubernetes as it is and documents its members; an uncommented one only groups documented values."""
    lines = VALUES.read_text().splitlines()
    undocumented = []
    passthrough: list[int] = []  # indents of commented blocks we are inside
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        passthrough = [level for level in passthrough if level < indent]
        above = index - 1
        while (
            above >= 0
            and lines[above].strip().startswith("#")
            and not lines[above].strip().startswith("# --")
        ):
            above -= 1
        documented = above >= 0 and lines[above].strip().startswith("# --")
        if passthrough:
            continue
        block = index + 1 < len(lines) and lines[index + 1].startswith(match.group(1) + "  ")
        if block and documented:
            passthrough.append(indent)
        elif not block and not documented:
            undocumented.append(match.group(2))
    assert undocumented == []


def test_the_install_manifest_is_the_rendered_chart() -> None:
    assert (REPO / "manifests" / "install.yaml").read_text() == chart.install_manifest(), (
        "run `make generate` and commit manifests/install.yaml"
    )


def test_the_charts_webhook_configuration_is_the_operators() -> None:
    rendered = _documents(chart.template(values={"fullnameOverride": "gobuild-operator"}))
    (config,) = [doc for doc in rendered if doc["kind"] == "MutatingWebhookConfiguration"]
    settings = Settings(
        operator_namespace=chart.NAMESPACE,
        webhook=WebhookSettings(
            service_name="gobuild-operator-webhook", configuration_name="gobuild-operator"
        ),
    )
    expected = copy.deepcopy(build_configuration(settings, ca_bundle=b"", url_base=None))
    for hook in expected["webhooks"]:
        hook["clientConfig"].pop("caBundle", None)  # the operator (or cert-manager) fills it in
    assert config["webhooks"] == expected["webhooks"]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {
                "networkPolicy.enabled": "true",
                "metrics.requireAuth": "true",
                "rbac.readSecrets": "true",
                "priorityClassName": "system-cluster-critical",
            },
            id="options",
        ),
        pytest.param({"webhook.tls.mode": "certManager"}, id="cert-manager"),
    ],
)
def test_the_api_server_accepts_every_rendered_object(cluster: Cluster, values: dict[str, str]) -> None:
    rendered = chart.template(values=values, extra=("--include-crds", "--skip-tests"))
    documents = [doc for doc in _documents(rendered) if doc["kind"] not in FOREIGN_KINDS]
    cluster.kubectl("create", "namespace", chart.NAMESPACE, check=False)
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(documents), check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_helm_test_account_may_write_only_in_its_own_scratch_namespace() -> None:
    """`helm test` used to bind a ClusterRole that could create and delete any namespace and create
    Pods anywhere, for as long as the test ran."""
    hooks = [
        doc
        for doc in _documents(chart.template(values={}, extra=()))
        if (doc["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"
    ]
    kinds = {doc["kind"] for doc in hooks}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, kinds
    (scratch,) = [doc["metadata"]["name"] for doc in hooks if doc["kind"] == "Namespace"]
    (role,) = [doc for doc in hooks if doc["kind"] == "Role"]
    (binding,) = [doc for doc in hooks if doc["kind"] == "RoleBinding"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == scratch
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} <= {"create", "get", "delete"}
    assert "namespaces" not in {resource for rule in role["rules"] for resource in rule["resources"]}
    (pod,) = [doc for doc in hooks if doc["kind"] == "Pod"]
    assert f"--namespace={scratch}" in pod["spec"]["containers"][0]["args"]
