"""`preview` against a real API server and the real webhook: what it prints offline is what the API
server stores, for each kind the webhook mutates and for an image builder; `--server` shows it too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Cluster
from support.kubelet import NOT_SCHEDULED
from support.operator_process import OperatorProcess
from support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = {
    "goproxy": ["https://goproxy.corp.example", "direct"],
    "goprivate": ["git.corp.example/*"],
    "goflags": ["-mod=mod"],
    "env": [{"name": "CGO_ENABLED", "value": "0"}],
    "corporateProxy": {
        "httpProxy": "http://proxy.corp.example:3128",
        "httpsProxy": "http://proxy.corp.example:3128",
        "noProxy": [".corp.example"],
    },
    "privateModules": {
        "ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]},
        "netrc": {"secretName": "netrc"},
    },
    "caBundle": {"configMapName": "corp-ca"},
    "cache": {"enabled": True, "mode": "SharedVolume", "buildCache": True},
}
#: What the API server sets on every object it would store, which no preview can know.
VOLATILE_METADATA = ("uid", "creationTimestamp", "managedFields", "resourceVersion", "generation")
#: The ServiceAccount token volume the API server adds to every Pod (not to a Job's template).
TOKEN_VOLUME = "kube-api-access"


def _config(cluster: Cluster, namespace: str, path: Path) -> None:
    body = {
        "apiVersion": "gobuild.dev/v1alpha1",
        "kind": "GoBuildConfig",
        "metadata": {"name": "corp"},
        "spec": SPEC,
    }
    path.write_text(yaml.safe_dump(body))
    cluster.kubectl("apply", "-n", namespace, "-f", str(path))

    def observed() -> bool:
        obj = json.loads(cluster.kubectl("get", "gbc", "corp", "-n", namespace, "-o", "json").stdout)
        return bool(obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"])

    wait_for(observed, timeout=20, what="GoBuildConfig corp to be reconciled")


def _pod_spec(container: dict[str, Any]) -> dict[str, Any]:
    return {"restartPolicy": "Never", "containers": [container], **NOT_SCHEDULED}


GO = {
    "name": "build",
    "image": "golang:1.26",
    "command": ["go", "build", "./..."],
    "env": [{"name": "GOFLAGS", "value": "-mod=vendor"}],
}
BUILDKIT = {
    "name": "build",
    "image": "moby/buildkit:v0.34.2-rootless",
    "command": ["buildctl-daemonless.sh"],
    "args": ["build", "--frontend=dockerfile.v0", "--local=context=/workspace"],
}
OPTED_IN = {"gobuild.dev/config": "corp"}
WORKLOADS: dict[str, dict[str, Any]] = {
    "pod": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "build", "annotations": OPTED_IN},
        "spec": _pod_spec(GO),
    },
    "job": {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "build"},
        "spec": {"template": {"metadata": {"annotations": OPTED_IN}, "spec": _pod_spec(GO)}},
    },
    "cronjob": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {"template": {"metadata": {"annotations": OPTED_IN}, "spec": _pod_spec(GO)}}
            },
        },
    },
    "buildkit-pod": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "image-build", "annotations": OPTED_IN},
        "spec": _pod_spec(BUILDKIT),
    },
}


def _preview(cluster: Cluster, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "gobuild_operator", "preview", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
        cwd=REPO,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PYTHONPATH": str(REPO / "operator")},
    )
    assert result.returncode == 0, result.stderr
    return result


def _dry_run(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server would store for `obj`: a server-side dry run through the real webhook."""
    result = cluster.kubectl(
        "create", "-n", namespace, "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(obj)
    )
    stored: dict[str, Any] = json.loads(result.stdout)
    return stored


def _stable(obj: dict[str, Any]) -> dict[str, Any]:
    """Without what differs between two dry runs of one object: the status and metadata the API server sets,
    the object's uid where it copies it (a Job's controller-uid label and selector), the random
    suffix of the ServiceAccount token volume it adds to a Pod, and where in the lists it adds that
    volume (before the webhook's volumes for the workload as written, after them for the preview,
    which already has them)."""
    metadata = {k: v for k, v in obj["metadata"].items() if k not in VOLATILE_METADATA}
    text = json.dumps({**{k: v for k, v in obj.items() if k != "status"}, "metadata": metadata})
    text = text.replace(obj["metadata"]["uid"], "UID")
    text = re.sub(rf"{TOKEN_VOLUME}-[a-z0-9]{{5}}", TOKEN_VOLUME, text)
    stable: dict[str, Any] = json.loads(text)
    _sort_volumes(_template(stable)["spec"])
    return stable


def _sort_volumes(spec: dict[str, Any]) -> None:
    spec["volumes"] = sorted(spec.get("volumes", []), key=lambda volume: str(volume["name"]))
    for container in spec["containers"]:
        container["volumeMounts"] = sorted(
            container.get("volumeMounts", []), key=lambda mount: str(mount["mountPath"])
        )


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj
    if obj["kind"] == "Job":
        return dict(obj["spec"]["template"])
    return dict(obj["spec"]["jobTemplate"]["spec"]["template"])


def _injected_parts(obj: dict[str, Any]) -> dict[str, Any]:
    """What injection touches: the annotations and labels, each container's env, mounts and args."""
    template = _template(obj)
    return {
        "annotations": {
            **obj["metadata"].get("annotations", {}),
            **template["metadata"].get("annotations", {}),
        },
        "labels": {
            k: v for k, v in template["metadata"].get("labels", {}).items() if k.startswith("gobuild.dev/")
        },
        "volumes": [v for v in template["spec"].get("volumes", []) if not v["name"].startswith(TOKEN_VOLUME)],
        **{
            f"{key} of {container['name']}": container.get(key)
            for container in template["spec"]["containers"]
            for key in ("env", "args")
        },
        **{
            f"volumeMounts of {container['name']}": [
                mount
                for mount in container.get("volumeMounts", [])
                if not mount["name"].startswith(TOKEN_VOLUME)
            ]
            for container in template["spec"]["containers"]
        },
    }


@pytest.mark.parametrize("case", list(WORKLOADS))
def test_the_offline_preview_is_what_the_api_server_stores(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path: Path, case: str
) -> None:
    config = tmp_path / "gbc.yaml"
    _config(cluster, namespace, config)
    workload = tmp_path / f"{case}.yaml"
    workload.write_text(yaml.safe_dump(WORKLOADS[case]))

    previewed = json.loads(
        _preview(cluster, "-f", str(workload), "--config", str(config), "-n", namespace, "-o", "json").stdout
    )
    stored = _dry_run(cluster, namespace, WORKLOADS[case])
    # What the webhook injected, as the API server stores it, is what preview printed.

    assert _template(stored)["metadata"]["annotations"]["gobuild.dev/injected"] == "corp"
    expected = _injected_parts(stored)
    for part, value in _injected_parts(previewed).items():
        assert value == expected[part], part
    # The preview itself, applied: the webhook leaves it as it is (already injected) and the API
    # server stores exactly what it stores for the workload as written, defaults and all.
    assert _stable(_dry_run(cluster, namespace, previewed)) == _stable(stored)


def test_the_server_preview_prints_what_the_api_server_would_store_and_its_warnings(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    _config(cluster, namespace, tmp_path / "gbc.yaml")
    documents = [WORKLOADS["job"], WORKLOADS["buildkit-pod"]]
    result = _preview(cluster, "-f", "-", "-n", namespace, "-o", "json", stdin=yaml.safe_dump_all(documents))
    shown = json.loads(result.stdout)
    assert [_stable(item) for item in shown["items"]] == [
        _stable(_dry_run(cluster, namespace, doc)) for doc in documents
    ]
    assert "job.batch/build: injected with GoBuildConfig corp (server dry run)" in result.stderr
    assert "Warning: gobuild-operator: corp: kept the workload's own GOFLAGS" in result.stderr
    assert "pod/image-build: container build: added arguments --opt build-arg:GOPROXY=" in result.stderr
    # Nothing was created.
    assert cluster.kubectl("get", "jobs,pods", "-n", namespace, "-o", "name").stdout.strip() == ""

    # --config NAME: the config the workloads are expected to get; one that gets none is named.
    plain = {**WORKLOADS["pod"], "metadata": {"name": "plain"}}
    result = _preview(cluster, "-f", "-", "-n", namespace, "--config", "corp", stdin=yaml.safe_dump(plain))
    assert "pod/plain: gets no GoBuildConfig, not --config corp" in result.stderr
