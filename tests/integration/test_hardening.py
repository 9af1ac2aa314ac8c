"""Attacks a hostile tenant or a careless admin can make, reproduced on the real API server.

Each test is named after the defect of the hardening issue it reproduces.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Cluster
from support.gbc import make_config
from support.hostile import CREDENTIALS, UNUSABLE, USABLE, Refused
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


# --- the API server refuses what builds cannot use (specs from support/hostile.py) ---------------


@pytest.fixture(scope="module")
def dry_runs(cluster: Cluster) -> Iterator[str]:
    """A namespace for server-side dry runs of GoBuildConfigs (nothing is stored)."""
    name = f"hardening-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _dry_run(cluster: Cluster, namespace: str, spec: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    body = {"apiVersion": "gobuild.dev/v1alpha1", "kind": "GoBuildConfig", "metadata": {"name": "x"}}
    manifest = json.dumps({**body, "spec": spec})
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest, check=False
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in UNUSABLE.items()])
def test_defect_9_values_no_build_can_use_are_refused_by_the_api_server(
    cluster: Cluster, dry_runs: str, case: Refused
) -> None:
    result = _dry_run(cluster, dry_runs, case.spec)
    assert result.returncode != 0, "accepted"
    assert case.field in result.stderr
    assert case.says in result.stderr


@pytest.mark.parametrize("spec", [pytest.param(s, id=name) for name, s in USABLE.items()])
def test_defect_9_the_usable_edges_stay_accepted(
    cluster: Cluster, dry_runs: str, spec: dict[str, Any]
) -> None:
    result = _dry_run(cluster, dry_runs, spec)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in CREDENTIALS.items()])
def test_defect_6_the_api_server_refuses_credentials_in_every_url_field(
    cluster: Cluster, dry_runs: str, case: Refused
) -> None:
    result = _dry_run(cluster, dry_runs, case.spec)
    assert result.returncode != 0, "accepted"
    assert case.field in result.stderr
    assert case.says in result.stderr
