"""Attacks a hostile tenant or a careless admin can make, reproduced on the real API server.

Each test is named after the defect of the hardening issue it reproduces.
"""

from __future__ import annotations

import json
from typing import Any

from conftest import Cluster
from support.gbc import make_config
from support.kubelet import NOT_SCHEDULED
from support.operator_process import OperatorProcess

SSH_SPEC: dict[str, Any] = {
    "privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}}
}


def _pod(name: str, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "build", "image": "golang:1.26", "command": ["go", "version"]}
    if env:
        container["env"] = env
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": "corp"}},
        "spec": {"restartPolicy": "Never", "containers": [container], **NOT_SCHEDULED},
    }


def _create(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    result = cluster.kubectl("create", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(obj))
    stored: dict[str, Any] = json.loads(result.stdout)
    return stored


def _injected(pod: dict[str, Any]) -> bool:
    return pod["metadata"].get("annotations", {}).get("gobuild.dev/injected") == "corp"


def test_defect_1_a_pod_with_a_hostile_git_config_count_does_not_stop_the_operator(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace, "corp", **SSH_SPEC)
    hostile = _create(
        cluster, namespace, _pod("hostile", [{"name": "GIT_CONFIG_COUNT", "value": "99999999999999999999"}])
    )
    assert _injected(hostile)
    assert "GIT_CONFIG_COUNT" in hostile["metadata"]["annotations"]["gobuild.dev/skipped-env"]
    assert _injected(_create(cluster, namespace, _pod("after")))

    # After a restart the operator re-reads the stored hostile Pod (missed-injection check) and
    # still admits the next one in time.
    operator.restart()
    assert _injected(_create(cluster, namespace, _pod("after-restart")))


def test_defect_7_an_object_over_a_mebibyte_is_injected(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    """The API server stores objects up to 1.5 MiB and sends them to the webhook; kopf's server
    refused AdmissionReviews over 1 MiB, so such a Pod was admitted unchanged, uncounted, unwarned."""
    make_config(cluster, namespace, "corp", **SSH_SPEC)
    big = _pod("big", [{"name": "BLOB", "value": "x" * (1200 * 1024)}])
    assert _injected(_create(cluster, namespace, big))
