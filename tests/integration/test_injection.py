"""The whole injection contract on a real API server: objects, precedence, collisions, validity."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from conftest import Cluster
from support.kubelet import NOT_SCHEDULED
from support.operator_process import OperatorProcess
from support.waiting import wait_for

RICH_SPEC: dict[str, Any] = {
    "goproxy": ["https://goproxy.cn", "direct"],
    "gosumdb": "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org",
    "goprivate": ["git.corp.example/*"],
    "gonoproxy": ["git.corp.example/*"],
    "gonosumdb": ["git.corp.example/*"],
    "goinsecure": ["insecure.corp.example/*"],
    "goflags": ["-mod=mod", "-trimpath"],
    "env": [{"name": "CGO_ENABLED", "value": "0"}],
    "corporateProxy": {
        "httpProxy": "http://proxy.corp.example:3128",
        "httpsProxy": "http://proxy.corp.example:3128",
        "noProxy": [".corp.example"],
    },
    "privateModules": {
        "ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example", "github.com"]},
        "netrc": {"secretName": "netrc"},
    },
    "caBundle": {"configMapName": "corp-ca"},
    "cache": {"enabled": True, "mode": "SharedVolume", "buildCache": True},
}


def _gbc(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gobuild.dev/v1alpha1",
        "kind": "GoBuildConfig",
        "metadata": {"name": name},
        "spec": spec,
    }


def _container(name: str = "build", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "golang:1.26", "command": ["go", "mod", "download"], **extra}


def _pod_spec(**extra: Any) -> dict[str, Any]:
    return {"restartPolicy": "Never", "containers": [_container()], **NOT_SCHEDULED, **extra}


def _wrap(kind: str, name: str, annotations: dict[str, str], pod_spec: dict[str, Any]) -> dict[str, Any]:
    template = {"metadata": {"annotations": annotations}, "spec": pod_spec}
    if kind == "Pod":
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations},
            "spec": pod_spec,
        }
    if kind == "Job":
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {"template": template},
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}},
    }


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    kind = obj["kind"]
    if kind == "Pod":
        return obj
    if kind == "Job":
        return dict(obj["spec"]["template"])
    return dict(obj["spec"]["jobTemplate"]["spec"]["template"])


def _create(
    cluster: Cluster, namespace: str, obj: dict[str, Any], *dry_run: str
) -> tuple[dict[str, Any], str]:
    """Create (or server-side dry-run) an object; return what the API server stored and its warnings."""
    result = cluster.kubectl(
        "create", "-n", namespace, "-o", "json", *dry_run, "-f", "-", input=json.dumps(obj)
    )
    return json.loads(result.stdout), result.stderr


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def _config_ready(cluster: Cluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(_gbc(name, spec)))

    def observed() -> bool:
        obj = json.loads(cluster.kubectl("get", "gbc", name, "-n", namespace, "-o", "json").stdout)
        return bool(obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"])

    wait_for(observed, timeout=20, what=f"GoBuildConfig {name} to be reconciled")


@pytest.mark.parametrize("kind", ["Pod", "Job", "CronJob"])
def test_each_object_kind_is_injected_exactly_once(
    cluster: Cluster, namespace: str, operator: OperatorProcess, kind: str
) -> None:
    _config_ready(cluster, namespace, "corp", {"goprivate": ["git.corp.example/*"]})
    stored, _ = _create(cluster, namespace, _wrap(kind, "build", {"gobuild.dev/config": "corp"}, _pod_spec()))
    template = _template(stored)
    assert template["metadata"]["annotations"]["gobuild.dev/injected"] == "corp"
    assert template["metadata"]["labels"]["gobuild.dev/config"] == "corp"
    names = [e["name"] for e in template["spec"]["containers"][0]["env"]]
    assert names.count("GOPROXY") == 1
    assert names.count("GOPRIVATE") == 1


def test_annotation_on_the_job_itself_is_honoured(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _config_ready(cluster, namespace, "corp", {})
    job = _wrap("Job", "build", {}, _pod_spec())
    job["metadata"]["annotations"] = {"gobuild.dev/config": "corp"}
    stored, _ = _create(cluster, namespace, job)
    assert "GOPROXY" in _env(stored["spec"]["template"]["spec"]["containers"][0])


def test_cronjob_updated_after_creation_keeps_one_injection(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _config_ready(cluster, namespace, "corp", {})
    _create(cluster, namespace, _wrap("CronJob", "nightly", {"gobuild.dev/config": "corp"}, _pod_spec()))
    cluster.kubectl(
        "patch",
        "cronjob",
        "nightly",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"schedule":"0 3 * * *"}}',
    )
    stored = json.loads(cluster.kubectl("get", "cronjob", "nightly", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["schedule"] == "0 3 * * *"
    env_names = [e["name"] for e in _template(stored)["spec"]["containers"][0]["env"]]
    assert env_names.count("GOPROXY") == 1

    # A new container added by an update (the template loses nothing else) gets injected too.
    template = _template(stored)
    containers = [*template["spec"]["containers"], _container("lint")]
    patch = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": containers}}}}}}
    cluster.kubectl("patch", "cronjob", "nightly", "-n", namespace, "--type=merge", "-p", json.dumps(patch))
    stored = json.loads(cluster.kubectl("get", "cronjob", "nightly", "-n", namespace, "-o", "json").stdout)
    assert [e["name"] for e in _template(stored)["spec"]["containers"][0]["env"]].count("GOPROXY") == 1

    # Naming another config after injection is refused loudly, not half-applied.
    _config_ready(cluster, namespace, "other", {"goproxy": ["https://goproxy.io", "direct"]})
    switch = {
        "spec": {
            "jobTemplate": {
                "spec": {"template": {"metadata": {"annotations": {"gobuild.dev/config": "other"}}}}
            }
        }
    }
    result = cluster.kubectl(
        "patch", "cronjob", "nightly", "-n", namespace, "--type=merge", "-p", json.dumps(switch)
    )
    assert "recreate the CronJob to switch configs" in result.stderr
    stored = json.loads(cluster.kubectl("get", "cronjob", "nightly", "-n", namespace, "-o", "json").stdout)
    assert _env(_template(stored)["spec"]["containers"][0])["GOPROXY"] == "https://proxy.golang.org,direct"


def test_workload_goproxy_wins_and_the_warning_names_it(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _config_ready(cluster, namespace, "corp", {"goproxy": ["https://goproxy.cn", "direct"]})
    spec = _pod_spec(containers=[_container(env=[{"name": "GOPROXY", "value": "https://mine.example"}])])
    stored, warnings = _create(cluster, namespace, _wrap("Pod", "own", {"gobuild.dev/config": "corp"}, spec))
    env = _env(stored["spec"]["containers"][0])
    assert env["GOPROXY"] == "https://mine.example"
    assert "GOPROXY" in warnings
    assert stored["metadata"]["annotations"]["gobuild.dev/skipped-env"] == "GOPROXY"


def test_override_env_replaces_the_workload_value(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _config_ready(
        cluster, namespace, "corp", {"goproxy": ["https://goproxy.cn", "direct"], "overrideEnv": True}
    )
    spec = _pod_spec(containers=[_container(env=[{"name": "GOPROXY", "value": "https://mine.example"}])])
    stored, _ = _create(cluster, namespace, _wrap("Pod", "own", {"gobuild.dev/config": "corp"}, spec))
    assert _env(stored["spec"]["containers"][0])["GOPROXY"] == "https://goproxy.cn,direct"


def test_colliding_volume_is_skipped_not_replaced(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _config_ready(
        cluster,
        namespace,
        "corp",
        {"cache": {"enabled": True, "mode": "SharedVolume", "existingClaim": "shared"}},
    )
    spec = _pod_spec(volumes=[{"name": "gobuild-cache", "emptyDir": {"medium": "Memory"}}])
    stored, warnings = _create(cluster, namespace, _wrap("Pod", "mine", {"gobuild.dev/config": "corp"}, spec))
    volume = next(v for v in stored["spec"]["volumes"] if v["name"] == "gobuild-cache")
    assert volume["emptyDir"] == {"medium": "Memory"}
    assert "gobuild-cache" in warnings
    assert "GOMODCACHE" not in _env(stored["spec"]["containers"][0])  # it would point at nothing


def test_missing_named_config_admits_unchanged_with_a_warning(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    stored, warnings = _create(
        cluster, namespace, _wrap("Pod", "lost", {"gobuild.dev/config": "nope"}, _pod_spec())
    )
    assert "nope" in warnings
    assert "env" not in stored["spec"]["containers"][0]


def test_config_of_another_namespace_never_applies(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    other = f"{namespace}-other"
    cluster.kubectl("create", "namespace", other)
    try:
        _config_ready(cluster, other, "corp", {})
        stored, warnings = _create(
            cluster, namespace, _wrap("Pod", "foreign", {"gobuild.dev/config": "corp"}, _pod_spec())
        )
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false")
    assert "env" not in stored["spec"]["containers"][0]
    assert "corp" in warnings


def test_injected_object_submitted_again_is_unchanged(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _config_ready(cluster, namespace, "corp", RICH_SPEC)
    first, _ = _create(cluster, namespace, _wrap("Pod", "once", {"gobuild.dev/config": "corp"}, _pod_spec()))
    again = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "twice",
            "annotations": first["metadata"]["annotations"],
            "labels": first["metadata"]["labels"],
        },
        "spec": {k: v for k, v in first["spec"].items() if k not in ("nodeName",)},
    }
    second, _ = _create(cluster, namespace, again)
    assert second["spec"]["containers"] == first["spec"]["containers"]
    assert second["spec"]["volumes"] == first["spec"]["volumes"]


@pytest.mark.parametrize("kind", ["Pod", "Job", "CronJob"])
@pytest.mark.parametrize(
    ("pod_spec", "case"),
    [
        pytest.param(_pod_spec(), "plain", id="plain"),
        pytest.param(
            _pod_spec(
                initContainers=[_container("fetch")],
                containers=[
                    _container(
                        env=[
                            {"name": "GIT_CONFIG_COUNT", "value": "1"},
                            {"name": "GIT_CONFIG_KEY_0", "value": "core.autocrlf"},
                            {"name": "GIT_CONFIG_VALUE_0", "value": "false"},
                        ]
                    ),
                    _container("sidecar"),
                ],
                securityContext={"runAsUser": 1000, "fsGroup": 2000},
            ),
            "git-config-and-init",
            id="git-config-and-init",
        ),
        pytest.param(
            _pod_spec(
                containers=[_container(volumeMounts=[{"name": "work", "mountPath": "/etc/gobuild/ssh"}])],
                volumes=[{"name": "work", "emptyDir": {}}, {"name": "gobuild-ca", "emptyDir": {}}],
            ),
            "collisions",
            id="collisions",
        ),
    ],
)
def test_every_mutated_object_passes_server_side_validation(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    kind: str,
    pod_spec: dict[str, Any],
    case: str,
) -> None:
    _config_ready(cluster, namespace, "corp", RICH_SPEC)
    obj = _wrap(kind, f"dry-{case}", {"gobuild.dev/config": "corp"}, pod_spec)
    stored, _ = _create(cluster, namespace, obj, "--dry-run=server")  # fails loudly if the API refuses it
    template = _template(stored)
    assert template["metadata"]["annotations"]["gobuild.dev/injected"] == "corp"
    assert {v["name"] for v in template["spec"]["volumes"]} >= {"gobuild-cache"}
    for container in template["spec"]["containers"]:
        assert "-----BEGIN" not in json.dumps(container)  # no key material, ever
    # Dry-run has no side effects: nothing was stored.
    missing = cluster.kubectl("get", kind.lower(), f"dry-{case}", "-n", namespace, check=False)
    assert missing.returncode != 0
