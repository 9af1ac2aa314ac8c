"""The chart's RBAC is enough: the operator does its whole job as the chart's ServiceAccount with
only the roles `helm install` grants (docs/rbac.md explains each rule), with and without
rbac.readSecrets; only the registration of a local run's own URL needs more."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from conftest import REPO, Cluster
from localcluster import chart
from support.gbc import condition, downloads, make_config
from support.kubelet import NOT_SCHEDULED, finish_pod
from support.operator_process import OperatorProcess
from support.waiting import wait_for

FIXTURES = REPO / "tests" / "fixtures" / "gofailures"


#: What a local run (the operator as a process here, registering its own URL) needs beyond the
#: chart: in a cluster the chart owns the webhook configuration and the operator only patches it.
LOCAL_REGISTRATION = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "rules": [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations"],
            "verbs": ["get", "create", "update"],
        }
    ],
}


@dataclass(frozen=True)
class Restricted:
    kubeconfig: Path
    namespace: str  # the operator's own (the chart's release namespace)
    fullname: str
    read_secrets: bool


def chart_rbac(*, fullname: str, namespace: str, read_secrets: bool) -> list[dict[str, Any]]:
    """The ServiceAccount, roles and bindings `helm install` creates, for release `fullname`."""
    rendered = chart.template(
        values={"fullnameOverride": fullname, "rbac.readSecrets": str(read_secrets).lower()},
        extra=("--skip-tests",),
        namespace=namespace,
    )
    kinds = {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    # pod-markers guards the recorded marker against everyone but this account: here it would
    # refuse the session's operator (another account) its markers; tests/install covers it.
    return [
        doc
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] in kinds and not doc["metadata"]["name"].endswith("-pod-markers")
    ]


def chart_image() -> str:
    """The operator's image as the chart names it (the Proxy caches run it; cache-writes checks it)."""
    metadata = yaml.safe_load((chart.CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((chart.CHART / "values.yaml").read_text())
    return f"{values['image']['repository']}:{values['image']['tag'] or metadata['appVersion']}"


@pytest.fixture(params=[False, True], ids=["default-rbac", "rbac.readSecrets"])
def restricted(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Restricted]:
    """A kubeconfig for the chart's ServiceAccount, with the chart's RBAC and nothing else."""
    suffix = uuid.uuid4().hex[:6]
    home, fullname = f"gobuild-rbac-{suffix}", f"gobuild-rbac-{suffix}"
    cluster.kubectl("create", "namespace", home)
    objects = chart_rbac(fullname=fullname, namespace=home, read_secrets=request.param)
    local = {**LOCAL_REGISTRATION, "metadata": {"name": f"{fullname}-local"}}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*objects, local]))
    cluster.kubectl(
        "create", "clusterrolebinding", f"{fullname}-local", f"--clusterrole={fullname}-local",
        f"--serviceaccount={home}:{fullname}",
    )  # fmt: skip
    token = cluster.kubectl("create", "token", fullname, "-n", home, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
        "current-context": "operator",
    }
    path = tmp_path / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    yield Restricted(path, home, fullname, request.param)
    for kind in ("clusterrolebinding", "clusterrole"):
        for name in (fullname, f"{fullname}-local"):
            cluster.kubectl("delete", kind, name, "--wait=false", check=False)
    for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
        for policy in ("pod-writes", "cache-writes", "namespace-writes", "webhook-writes"):
            name = f"{fullname}-{policy}"
            cluster.kubectl("delete", kind, name, "--wait=false", check=False)
    cluster.kubectl("delete", "namespace", home, "--wait=false", check=False)


@pytest.fixture
def restricted_operator(
    operator: OperatorProcess, restricted: Restricted, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator as that ServiceAccount, in place of the session's (two would count twice)."""
    operator.stop()
    args = [f"--leader-election-lease={restricted.fullname}-leader", f"--cache-image={chart_image()}"]
    if not restricted.read_secrets:
        args.append("--no-secret-checks")  # what the chart passes then
    process = OperatorProcess(
        kubeconfig=restricted.kubeconfig,
        workdir=tmp_path,
        operator_namespace=restricted.namespace,
        extra_args=tuple(args),
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()
        operator.start()


def test_the_charts_rbac_is_enough(
    cluster: Cluster,
    api: client.ApiClient,
    namespace: str,
    restricted: Restricted,
    restricted_operator: OperatorProcess,
) -> None:
    make_config(
        cluster,
        namespace,
        goproxy=["direct"],
        privateModules={"netrc": {"secretName": "netrc"}},
        cache={"enabled": True},
    )
    if not restricted.read_secrets:
        # The default RBAC reads no Secret: the condition says so instead of being refused.
        found = wait_for(
            lambda: (
                (c := condition(cluster, namespace, "SecretsResolved")).get("reason") == "NotChecked" and c
            ),
            timeout=10,
            what="the Secret to be reported as not checked",
        )
        assert "rbac.readSecrets" in found["message"]
    else:
        wait_for(
            lambda: condition(cluster, namespace, "SecretsResolved").get("reason") == "SecretNotFound",
            timeout=10,
            what="the missing Secret to be reported",
        )
        cluster.kubectl(
            "create", "secret", "generic", "netrc", "-n", namespace, "--from-literal=.netrc=machine x"
        )
        wait_for(
            lambda: condition(cluster, namespace, "SecretsResolved").get("status") == "True",
            timeout=5,
            what="the Secret watch to resolve it",
        )
    claim = json.loads(cluster.kubectl("get", "pvc", "go-gomodcache", "-n", namespace, "-o", "json").stdout)
    assert claim["metadata"]["ownerReferences"][0]["name"] == "go"
    # The Proxy cache: created as the chart's ServiceAccount, within what cache-writes allows.
    for kind in ("configmap", "service", "deployment", "poddisruptionbudget", "networkpolicy"):
        made = wait_for(
            lambda kind=kind: (
                got
                if (
                    got := cluster.kubectl(
                        "get", kind, "go-gomodcache", "-n", namespace, "-o", "json", check=False
                    )
                ).returncode
                == 0
                else None
            ),  # type: ignore[misc]
            timeout=10,
            what=f"the cache's {kind}",
        )
        owner = json.loads(made.stdout)["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("GoBuildConfig", "go")

    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "build", "annotations": {"gobuild.dev/config": "go"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "build", "image": "golang:1.26"}],
            **NOT_SCHEDULED,
        },
    }
    pod = client.CoreV1Api(api).create_namespaced_pod(namespace, body)
    assert (pod.metadata.labels or {}).get("gobuild.dev/config") == "go", "the webhook injected it"
    finish_pod(api, namespace, "build", exit_code=1, message=(FIXTURES / "proxy_404.txt").read_text())
    wait_for(
        lambda: downloads(cluster, namespace).get("failed") == 1, timeout=20, what="the failure to be counted"
    )
    wait_for(
        lambda: not downloads(cluster, namespace).get("pending"), timeout=20, what="the Pod to be annotated"
    )

    log = restricted_operator.log()
    for refusal in ("403", "Forbidden", "forbids"):
        assert refusal not in log, f"the operator was refused something:\n{log}"


def _get(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    result = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def test_the_operators_account_can_run_nothing_but_module_caches(
    cluster: Cluster, namespace: str, restricted: Restricted
) -> None:
    """RBAC lets it write Deployments anywhere; the chart's cache-writes policy keeps that to caches."""
    owner = {"apiVersion": "gobuild.dev/v1alpha1", "kind": "GoBuildConfig", "name": "go", "uid": "1"}
    labels = {"app.kubernetes.io/component": "gomodcache", "app": "x"}

    def deployment(name: str, image: str, **pod: Any) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels, "ownerReferences": [owner]},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "containers": [{"name": "c", "image": image}],
                        **pod,
                    },
                },
            },
        }

    def as_operator(obj: dict[str, Any]) -> str:
        result = cluster.kubectl(
            f"--kubeconfig={restricted.kubeconfig}",
            "create", "--dry-run=server", "-n", namespace, "-f", "-",
            input=json.dumps(obj), check=False,
        )  # fmt: skip
        return result.stderr if result.returncode else ""

    assert as_operator(deployment("x-gomodcache", chart_image())) == ""
    other_image = deployment("x-gomodcache", "busybox")
    wait_for(
        lambda: "must run the operator's own image" in as_operator(other_image),
        timeout=30,
        what="the chart's cache-writes policy to be in force",
    )
    host = deployment("x-gomodcache", chart_image(), volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    assert "host access" in as_operator(host)
    other = deployment("web", chart_image())
    assert "only write the objects of a GoBuildConfig's module cache" in as_operator(other)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns"}, "data": {}}
    assert "only write the objects" in as_operator(config_map)

    def network_policy(pods: dict[str, Any], *types: str) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "x-gomodcache", "labels": labels, "ownerReferences": [owner]},
            "spec": {"podSelector": pods, "policyTypes": list(types), "ingress": [{}]},
        }

    cache_pods = {"matchLabels": {"app.kubernetes.io/name": "gomodcache", "app.kubernetes.io/instance": "x"}}
    assert as_operator(network_policy(cache_pods, "Ingress")) == ""
    # a policy of the cache's name may not select (and so open or close) other Pods, nor their egress
    confined = "must select module cache Pods only"
    assert confined in as_operator(network_policy({}, "Ingress"))
    assert confined in as_operator(network_policy({"matchLabels": {"app": "web"}}, "Ingress"))
    assert confined in as_operator(network_policy(cache_pods, "Ingress", "Egress"))


def test_the_operators_account_may_change_one_namespace_label_and_its_webhooks_ca_only(
    cluster: Cluster, namespace: str, restricted: Restricted
) -> None:
    """RBAC lets it patch any namespace and its webhook configuration; the chart's namespace-writes
    and webhook-writes policies keep that to the gobuild.dev/configs label and the caBundle."""

    def as_operator(*args: str, input: str | None = None) -> str:
        result = cluster.kubectl(
            f"--kubeconfig={restricted.kubeconfig}", *args, "--dry-run=server", input=input, check=False
        )
        return result.stderr if result.returncode else ""

    label_refused = "may only change the gobuild.dev/configs label of a namespace"
    privileged = ("label", "namespace", "kube-system", "pod-security.kubernetes.io/enforce=privileged")
    wait_for(lambda: label_refused in as_operator(*privileged), timeout=30, what="the policy to be in force")
    assert as_operator("label", "namespace", namespace, "gobuild.dev/configs=selected") == ""
    assert label_refused in as_operator("label", "namespace", namespace, "team=else")
    assert label_refused in as_operator(
        "annotate", "namespace", namespace, "scheduler.alpha.kubernetes.io/x=y"
    )

    # The configuration the chart creates (same name), with one webhook the API server never calls.
    webhook = {
        "name": "pods.gobuild.dev",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": "Ignore",
        "namespaceSelector": {"matchLabels": {"gobuild.dev/rbac-test": "nothing-matches"}},
        "clientConfig": {"url": "https://127.0.0.1:9/mutate"},
        "rules": [
            {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
        ],
    }
    configuration = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": restricted.fullname},
        "webhooks": [webhook],
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(configuration))
    try:

        def patched(*ops: dict[str, Any]) -> str:
            return as_operator(
                "patch",
                "mutatingwebhookconfiguration",
                restricted.fullname,
                "--type=json",
                "-p",
                json.dumps(ops),
            )

        ca = {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "Y2E="}
        refused = "may only change the caBundle of its webhook configuration"
        fail_closed = {"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Fail"}
        wait_for(lambda: refused in patched(ca, fail_closed), timeout=30, what="the policy to be in force")
        assert patched(ca) == ""
        assert refused in patched({"op": "remove", "path": "/webhooks/0/namespaceSelector/matchLabels"})
        secrets = {"op": "add", "path": "/webhooks/0/rules/0/resources/-", "value": "secrets"}
        assert refused in patched(secrets)
        url = {"op": "replace", "path": "/webhooks/0/clientConfig/url", "value": "https://10.0.0.1/x"}
        assert refused in patched(url)
        assert refused in patched({"op": "add", "path": "/metadata/labels", "value": {"a": "b"}})
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", restricted.fullname, check=False)
