"""Image builds on a real API server: builder Pods through the real webhook, `check --config NAME`.

The builders themselves run on the real node in a later issue; here the API server stores what the
webhook made of a builder container, and `check` reads a GoBuildConfig from the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from conftest import Cluster
from support.operator_process import OperatorProcess
from support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "dockerfiles"
SPEC: dict[str, Any] = {
    "goproxy": ["https://goproxy.corp.example", "direct"],
    "goflags": ["-mod=mod"],
    "privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}},
}


def _config(cluster: Cluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "gobuild.dev/v1alpha1",
        "kind": "GoBuildConfig",
        "metadata": {"name": name},
        "spec": spec,
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body))

    def observed() -> bool:
        obj = json.loads(cluster.kubectl("get", "gbc", name, "-n", namespace, "-o", "json").stdout)
        return bool(obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"])

    wait_for(observed, timeout=20, what=f"GoBuildConfig {name} to be reconciled")


def test_a_buildkit_pod_gets_build_arguments_ssh_and_the_annotation(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _config(cluster, namespace, "corp", SPEC)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "image-build", "annotations": {"gobuild.dev/config": "corp"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "build",
                    "image": "moby/buildkit:v0.34.2-rootless",
                    "command": ["buildctl-daemonless.sh"],
                    "args": ["build", "--frontend=dockerfile.v0", "--local=context=/workspace"],
                }
            ],
        },
    }
    result = cluster.kubectl("create", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(pod))
    stored = json.loads(result.stdout)
    assert stored["spec"]["containers"][0]["args"] == [
        "build",
        "--opt",
        "build-arg:GOPROXY=https://goproxy.corp.example,direct",
        "--opt",
        "build-arg:GOPRIVATE=git.corp.example",
        "--opt",
        "build-arg:GOFLAGS=-mod=mod",
        "--ssh",
        "default=/etc/gobuild/ssh/identity",
        "--secret",
        "id=known_hosts,src=/etc/gobuild/ssh/known_hosts",
        "--frontend=dockerfile.v0",
        "--local=context=/workspace",
    ]
    added = json.loads(stored["metadata"]["annotations"]["gobuild.dev/build-args"])
    assert added["build"][0:2] == ["--opt", "build-arg:GOPROXY=https://goproxy.corp.example,direct"]
    assert "container 'build' (buildctl-daemonless.sh build): added --opt build-arg:GOPROXY" in result.stderr


def _check(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gobuild_operator", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PYTHONPATH": str(REPO / "operator")},
    )


def test_check_reads_the_named_config_from_the_cluster(cluster: Cluster, namespace: str) -> None:
    body = {
        "apiVersion": "gobuild.dev/v1alpha1",
        "kind": "GoBuildConfig",
        "metadata": {"name": "corp"},
        "spec": SPEC,
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body))
    proc = _check(
        cluster, str(FIXTURES / "correct" / "Dockerfile"), "--config", "corp", "-n", namespace, "-o", "json"
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["config"] == "corp"
    assert [f["reason"] for f in report["findings"]] == ["GoSettingNotDeclared", "PrivateModulesWithoutMount"]
    assert report["findings"][0]["message"].startswith("GOPRIVATE, GOFLAGS: the GoBuildConfig injects them")


def test_check_with_a_config_that_does_not_exist_exits_2(cluster: Cluster, namespace: str) -> None:
    proc = _check(cluster, str(FIXTURES / "correct" / "Dockerfile"), "--config", "nope", "-n", namespace)
    assert proc.returncode == 2
    assert f"GoBuildConfig {namespace}/nope: not found" in proc.stderr
