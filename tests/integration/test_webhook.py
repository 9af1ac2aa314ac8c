"""The operator on a real API server: GoBuildConfigs become Ready, opted-in Pods get the variables."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from conftest import Cluster
from support.kubelet import NOT_SCHEDULED
from support.operator_process import OperatorProcess
from support.waiting import wait_for

GO_VARS = ("GOPROXY", "GOSUMDB", "GOPRIVATE")


def _apply(cluster: Cluster, namespace: str, *docs: dict[str, Any]) -> str:
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))
    return result.stdout + result.stderr


def _create(cluster: Cluster, namespace: str, doc: dict[str, Any]) -> None:
    """kubectl create: unlike apply, it records nothing namespace-specific in annotations."""
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))


def _config(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gobuild.dev/v1alpha1",
        "kind": "GoBuildConfig",
        "metadata": {"name": name},
        "spec": spec,
    }


def _pod(name: str, annotations: dict[str, str] | None = None, *, init: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {"name": "build", "image": "golang:1.26", "command": ["go", "mod", "download"]},
            {"name": "sidecar", "image": "busybox", "command": ["sleep", "1"]},
        ],
        **NOT_SCHEDULED,
    }
    if init:
        spec["initContainers"] = [{"name": "fetch", "image": "golang:1.26", "command": ["go", "version"]}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": spec,
    }


def _get(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    )
    return result


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def _ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    obj = _get(cluster, namespace, "gobuildconfig", name)
    status = obj.get("status", {})
    ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)
    if (
        ready
        and ready["status"] == "True"
        and status.get("observedGeneration") == obj["metadata"]["generation"]
    ):
        return obj
    return None


def test_valid_config_becomes_ready_with_effective_values(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _apply(
        cluster,
        namespace,
        _config(
            "china",
            goproxy=["https://goproxy.cn", "https://goproxy.io", "direct"],
            gosumdb="sum.golang.org https://goproxy.cn/sumdb/sum.golang.org",
        ),
    )
    obj = wait_for(lambda: _ready(cluster, namespace, "china"), timeout=20, what="Ready=True")
    assert obj["status"]["goproxy"] == "https://goproxy.cn,https://goproxy.io,direct"
    assert obj["status"]["gosumdb"] == "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org"

    # A spec change is observed: generation moves, observedGeneration follows.
    cluster.kubectl(
        "patch",
        "gbc",
        "china",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"proxyFallback":"OnAnyError"}}',
    )
    obj = wait_for(
        lambda: (o := _ready(cluster, namespace, "china")) and o["metadata"]["generation"] == 2 and o,
        timeout=20,
        what="the new generation to be observed",
    )
    assert obj["status"]["goproxy"] == "https://goproxy.cn|https://goproxy.io|direct"
    columns = cluster.kubectl("get", "gbc", "china", "-n", namespace).stdout
    assert "https://goproxy.cn|https://goproxy.io|direct" in columns
    assert "True" in columns


def test_annotated_pod_gets_go_variables_in_every_container(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _apply(cluster, namespace, _config("corp", goprivate=["git.corp.example/*"], gosumdb="off"))
    wait_for(lambda: _ready(cluster, namespace, "corp"), timeout=20, what="Ready=True")
    _apply(cluster, namespace, _pod("annotated", {"gobuild.dev/config": "corp"}, init=True))
    pod = _get(cluster, namespace, "pod", "annotated")
    containers = pod["spec"]["containers"] + pod["spec"]["initContainers"]
    assert len(containers) == 3
    for container in containers:
        env = _env(container)
        assert env["GOPROXY"] == "https://proxy.golang.org,direct", container["name"]
        assert env["GOSUMDB"] == "off"
        assert env["GOPRIVATE"] == "git.corp.example/*"
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["metadata"]["annotations"]["gobuild.dev/injected"] == "corp"
    assert pod["metadata"]["labels"]["gobuild.dev/config"] == "corp"


def _normalised_spec(pod: dict[str, Any]) -> str:
    """The stored spec with the per-Pod random token volume name blanked out."""
    return re.sub(r"kube-api-access-[a-z0-9]+", "kube-api-access", json.dumps(pod["spec"], sort_keys=True))


def test_pod_without_annotation_is_untouched(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _apply(cluster, namespace, _config("corp", default=True))
    wait_for(lambda: _ready(cluster, namespace, "corp"), timeout=20, what="Ready=True")
    _create(cluster, namespace, _pod("plain"))

    # The control: the same manifest in a namespace the webhook is never called for.
    control_ns = f"{namespace}-ctl"
    cluster.kubectl("create", "namespace", control_ns)
    cluster.kubectl("label", "namespace", control_ns, "gobuild.dev/injection=disabled")
    try:
        wait_for(
            lambda: cluster.kubectl("get", "sa", "default", "-n", control_ns, check=False).returncode == 0,
            timeout=30,
            what="the default ServiceAccount",
        )
        _create(cluster, control_ns, _pod("plain"))
        plain, control = _get(cluster, namespace, "pod", "plain"), _get(cluster, control_ns, "pod", "plain")
    finally:
        cluster.kubectl("delete", "namespace", control_ns, "--wait=false")
    assert _normalised_spec(plain) == _normalised_spec(control)
    assert plain["metadata"].get("labels") == control["metadata"].get("labels")
    assert plain["metadata"].get("annotations") == control["metadata"].get("annotations")


def test_job_pods_made_by_the_controller_carry_the_variables(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _apply(cluster, namespace, _config("corp", goproxy=["https://goproxy.cn", "direct"]))
    wait_for(lambda: _ready(cluster, namespace, "corp"), timeout=20, what="Ready=True")
    pod = _pod("unused", {"gobuild.dev/config": "corp"})
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "build"},
        "spec": {
            "backoffLimit": 0,
            "template": {"metadata": {"annotations": pod["metadata"]["annotations"]}, "spec": pod["spec"]},
        },
    }
    _apply(cluster, namespace, job)
    names = wait_for(
        lambda: cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", "job-name=build", "-o", "name"
        ).stdout.split(),
        timeout=30,
        what="the Job controller to create the Pod",
    )
    created = _get(cluster, namespace, "pod", names[0].removeprefix("pod/"))
    for container in created["spec"]["containers"]:
        assert _env(container)["GOPROXY"] == "https://goproxy.cn,direct"
    # Injected once, on the template; the Pod is recognised by the marker and left alone.
    assert created["metadata"]["annotations"]["gobuild.dev/injected"] == "corp"
    assert [e["name"] for e in created["spec"]["containers"][0]["env"]].count("GOPROXY") == 1


def test_stopped_operator_blocks_nothing(cluster: Cluster, namespace: str, operator: OperatorProcess) -> None:
    operator.stop()
    try:
        # A stopping operator leaves its registration (another replica may serve it, and a replica
        # that removed it on exit once left the others unregistered): the API server meets a closed
        # port and admits the Pod at once.
        leftovers = cluster.kubectl("get", "mutatingwebhookconfigurations", "-o", "name").stdout
        assert operator.configuration_name in leftovers
        _apply(cluster, namespace, _pod("while-down", {"gobuild.dev/config": "corp"}))
        pod = _get(cluster, namespace, "pod", "while-down")
        assert "gobuild.dev/injected" not in pod["metadata"].get("annotations", {})
    finally:
        operator.start()
