"""The local control plane is a real Kubernetes: pinned version, RBAC on, controllers running."""

from __future__ import annotations

import json
import uuid

from conftest import Cluster
from localcluster.binaries import KUBE
from support.waiting import wait_for


def test_server_reports_the_pinned_version(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == KUBE.version


def test_rbac_is_enforced_for_service_accounts(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    as_sa = f"--as=system:serviceaccount:{namespace}:nobody"
    denied = cluster.kubectl("auth", "can-i", "list", "secrets", "--all-namespaces", as_sa, check=False)
    assert denied.stdout.strip() == "no"
    allowed = cluster.kubectl("auth", "can-i", "list", "secrets", "-n", namespace, check=False)
    assert allowed.stdout.strip() == "yes"  # the admin identity, for contrast


def test_controller_manager_turns_jobs_into_pods(cluster: Cluster, namespace: str) -> None:
    job = f"j-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "job", job, "-n", namespace, "--image=golang:1.26", "--", "go", "version")
    pods = wait_for(
        lambda: cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", f"job-name={job}", "-o", "name"
        ).stdout.strip(),
        timeout=30,
        what="the Job controller to create a Pod",
    )
    assert pods.startswith("pod/")
