"""The chart's ClusterRole is enough: the operator does its whole job as a ServiceAccount with only
that role (the one `helm install` grants; docs/rbac.md explains each rule)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
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


def documented_role() -> dict[str, Any]:
    """The ClusterRole the chart grants (default values: no cluster-wide Secret reads)."""
    rendered = [doc for doc in yaml.safe_load_all(chart.template()) if doc]
    (role,) = [
        doc for doc in rendered if doc["kind"] == "ClusterRole" and "test" not in doc["metadata"]["name"]
    ]
    return dict(role)


@pytest.fixture
def service_account_kubeconfig(cluster: Cluster, tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig for a fresh ServiceAccount bound to the documented ClusterRole, and nothing else."""
    suffix = uuid.uuid4().hex[:6]
    home = f"gobuild-rbac-{suffix}"
    name = f"gobuild-operator-{suffix}"
    cluster.kubectl("create", "namespace", home)
    cluster.kubectl("create", "serviceaccount", "gobuild-operator", "-n", home)
    role = documented_role()
    role["metadata"]["name"] = name
    cluster.kubectl("apply", "-f", "-", input=json.dumps(role))
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        name,
        f"--clusterrole={name}",
        f"--serviceaccount={home}:gobuild-operator",
    )
    token = cluster.kubectl("create", "token", "gobuild-operator", "-n", home, "--duration=1h").stdout.strip()
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
    yield path
    cluster.kubectl("delete", "clusterrolebinding", name, "--wait=false", check=False)
    cluster.kubectl("delete", "clusterrole", name, "--wait=false", check=False)
    cluster.kubectl("delete", "namespace", home, "--wait=false", check=False)


@pytest.fixture
def restricted_operator(
    operator: OperatorProcess, service_account_kubeconfig: Path, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator as that ServiceAccount, in place of the session's (two would count twice)."""
    operator.stop()
    restricted = OperatorProcess(kubeconfig=service_account_kubeconfig, workdir=tmp_path)
    restricted.start()
    try:
        yield restricted
    finally:
        restricted.stop()
        operator.start()


def test_the_documented_role_is_enough(
    cluster: Cluster, api: client.ApiClient, namespace: str, restricted_operator: OperatorProcess
) -> None:
    make_config(
        cluster,
        namespace,
        goproxy=["direct"],
        privateModules={"netrc": {"secretName": "netrc"}},
        cache={"enabled": True},
    )
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
        timeout=2,
        what="the Secret watch to resolve it",
    )
    claim = json.loads(cluster.kubectl("get", "pvc", "go-gomodcache", "-n", namespace, "-o", "json").stdout)
    assert claim["metadata"]["ownerReferences"][0]["name"] == "go"

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
        lambda: downloads(cluster, namespace).get("failed") == 1, timeout=2, what="the failure to be counted"
    )
    wait_for(
        lambda: not downloads(cluster, namespace).get("pending"), timeout=2, what="the Pod to be annotated"
    )

    log = restricted_operator.log()
    for refusal in ("403", "Forbidden", "forbids"):
        assert refusal not in log, f"the operator was refused something:\n{log}"
