"""Which objects the API server sends to the webhook at all, on the real API server.

Objects that do not opt in by annotation are sent only from namespaces the operator labelled
`gobuild.dev/configs=selected` (a config there has a podSelector), and matchConditions (CEL) leave
out objects already injected or opted out. A call is seen in the operator's admission request
counter, so "not called" is measured, not assumed.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Cluster
from support.gbc import make_config
from support.kubelet import NOT_SCHEDULED
from support.operator_process import OperatorProcess
from support.waiting import wait_for


def admission_calls(operator: OperatorProcess) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gobuild_admission_requests_total"
    )


def _pod(annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"p-{uuid.uuid4().hex[:8]}",
            "annotations": annotations or {},
            "labels": labels or {},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "build", "image": "golang:1.26"}],
            **NOT_SCHEDULED,
        },
    }


def _create(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = cluster.kubectl("create", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(obj)).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _label(cluster: Cluster, namespace: str) -> str | None:
    out = cluster.kubectl("get", "namespace", namespace, "-o", "json").stdout
    value: str | None = json.loads(out)["metadata"].get("labels", {}).get("gobuild.dev/configs")
    return value


def _injected(obj: dict[str, Any]) -> bool:
    return "gobuild.dev/injected" in (obj["metadata"].get("annotations") or {})


CASES = {
    "opted-in-by-name": (_pod({"gobuild.dev/config": "go"}), True, True),
    "opted-in-to-the-default": (_pod({"gobuild.dev/inject": "true"}), True, False),
    "not-opted-in": (_pod(), False, False),
    "opted-out": (_pod({"gobuild.dev/config": "go", "gobuild.dev/inject": "false"}), False, False),
    "already-injected": (_pod({"gobuild.dev/config": "go", "gobuild.dev/injected": "go"}), False, True),
}


@pytest.mark.parametrize(("obj", "called", "injected"), [pytest.param(*c, id=n) for n, c in CASES.items()])
def test_in_a_namespace_without_pod_selectors_only_opted_in_objects_are_sent(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    obj: dict[str, Any],
    called: bool,
    injected: bool,
) -> None:
    make_config(cluster, namespace)
    assert _label(cluster, namespace) == "annotated", "reconciled means labelled"
    before = admission_calls(operator)
    stored = _create(cluster, namespace, obj)
    assert _injected(stored) is injected
    calls = admission_calls(operator) - before
    assert calls == (1 if called else 0)


def test_a_namespace_without_a_config_sends_only_what_opts_in_to_get_its_warning(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    before = admission_calls(operator)
    assert not _injected(_create(cluster, namespace, _pod(labels={"app": "build"})))
    assert admission_calls(operator) == before, "an ordinary Pod costs no webhook call"
    result = cluster.kubectl(
        "create", "-n", namespace, "-f", "-", input=json.dumps(_pod({"gobuild.dev/config": "go"}))
    )
    assert "GoBuildConfig 'go' not found" in result.stderr, "a typo still gets its warning"
    assert admission_calls(operator) == before + 1
    assert _label(cluster, namespace) is None


def test_a_pod_selector_makes_every_object_of_the_namespace_a_candidate(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace, podSelector={"matchLabels": {"app": "build"}})
    assert _label(cluster, namespace) == "selected"
    before = admission_calls(operator)
    assert _injected(_create(cluster, namespace, _pod(labels={"app": "build"})))
    assert not _injected(_create(cluster, namespace, _pod(labels={"app": "web"})))
    assert admission_calls(operator) - before == 2


def test_a_jobs_pods_are_not_sent_again_and_the_label_goes_with_the_last_config(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace)
    before = admission_calls(operator)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "build"},
        "spec": {
            "template": {
                "metadata": {"annotations": {"gobuild.dev/config": "go"}},
                "spec": _pod()["spec"],
            }
        },
    }
    assert _injected(_create(cluster, namespace, job))
    wait_for(
        lambda: cluster.kubectl("get", "pods", "-n", namespace, "-l", "job-name=build", "-o", "name").stdout,
        timeout=30,
        what="the Job's Pod",
    )
    assert admission_calls(operator) - before == 1, "the Job was sent; its injected Pod was not"

    cluster.kubectl("delete", "gbc", "go", "-n", namespace)
    wait_for(lambda: _label(cluster, namespace) is None, timeout=10, what="the label to go")
