"""Whatever the workload and the config, what mutate returns is an object the API server accepts.

Hypothesis draws workloads and GoBuildConfig specs (the same strategies as the pure property
tests); every input the API server itself accepts must still be accepted after mutation. Both are
checked with server-side dry-run, so nothing is stored, in a namespace the webhook stays out of
(so the check is of `mutate`'s output alone).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from conftest import Cluster
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.injection.mutate import mutate
from gobuild_operator.core.injection.workload import POD_TEMPLATE_PATH
from gobuild_operator.core.plan import build_plan
from support.strategies import specs, workloads


@pytest.fixture(scope="module")
def quiet_namespace(cluster: Cluster) -> Iterator[str]:
    name = "validity-dry-run"
    cluster.kubectl("create", "namespace", name, check=False)
    cluster.kubectl("label", "namespace", name, "gobuild.dev/injection=disabled", "--overwrite")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _valid_input(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Give the drawn object what any real one has: a name, a restart policy its kind allows."""
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {})["name"] = "drawn"
    node = obj
    for key in POD_TEMPLATE_PATH[kind]:
        node = node[key]
    node["spec"]["restartPolicy"] = "Never"
    return obj


def _dry_run(api: client.ApiClient, namespace: str, kind: str, obj: dict[str, Any]) -> str | None:
    """None when the API server accepts the object, else its reason."""
    try:
        if kind == "Pod":
            client.CoreV1Api(api).create_namespaced_pod(namespace, obj, dry_run="All")
        elif kind == "Job":
            client.BatchV1Api(api).create_namespaced_job(namespace, obj, dry_run="All")
        else:
            client.BatchV1Api(api).create_namespaced_cron_job(namespace, obj, dry_run="All")
    except ApiException as exc:
        return str(json.loads(exc.body or "{}").get("message", exc.reason))
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=workloads(), spec=specs)
def test_mutated_objects_pass_api_server_validation(
    api: client.ApiClient, quiet_namespace: str, workload: tuple[str, dict[str, Any]], spec: GoBuildConfigSpec
) -> None:
    kind, drawn = workload
    original = _valid_input(kind, drawn)
    assume(_dry_run(api, quiet_namespace, kind, original) is None)  # only inputs a user could create
    plan = build_plan(config_name="corp", spec=spec)
    result = mutate(
        original, kind=kind, plan=plan, override_env=spec.override_env, containers=spec.containers
    )
    refused = _dry_run(api, quiet_namespace, kind, result.obj)
    assert refused is None, f"the API server refused the mutated {kind}: {refused}"
