"""The local cluster's node runs real Pods, and nothing they send leaves this machine."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from conftest import Cluster
from support.waiting import wait_for


def _run_pod(
    cluster: Cluster, namespace: str, name: str, script: str, image: str, *, claim: str | None = None
) -> tuple[str, str]:
    """Run `script` in a Pod of `image` (with `claim` at /data) until it ends; (phase, logs)."""
    container: dict[str, Any] = {"name": "main", "image": image, "command": ["sh", "-c", script]}
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    if claim:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))

    def finished() -> str | None:
        out = cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "jsonpath={.status.phase}").stdout
        return out if out in ("Succeeded", "Failed") else None

    phase = wait_for(finished, timeout=120, interval=0.5, what=f"Pod {name} to finish")
    return phase, cluster.kubectl("logs", name, "-n", namespace).stdout


@pytest.fixture(scope="module")
def golang(cluster: Cluster) -> str:
    if cluster.local is None:
        pytest.skip("the node's images are only made for the local cluster")
    return cluster.load_images("golang-1.26")["golang-1.26"]


def test_the_node_is_ready(cluster: Cluster) -> None:
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 1
    conditions = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert conditions["Ready"] == "True"


def test_a_pod_of_the_builder_image_runs_go(cluster: Cluster, namespace: str, golang: str) -> None:
    phase, logs = _run_pod(cluster, namespace, "go-version", "go version", golang)
    assert phase == "Succeeded"
    assert logs.startswith("go version go1.26")


def test_pods_reach_services_by_name_and_nothing_outside(
    cluster: Cluster, namespace: str, golang: str
) -> None:
    # A Go program, as builds are: cluster DNS answers cluster names, public names fail at once
    # (no upstream), and a public address has no route.
    program = textwrap.dedent(
        """\
        package main

        import (
            "fmt"
            "net"
            "time"
        )

        func main() {
            for _, name := range []string{"kubernetes.default.svc.cluster.local", "proxy.golang.org"} {
                addrs, err := net.LookupHost(name)
                fmt.Println("lookup", name, addrs, err != nil)
            }
            _, err := net.DialTimeout("tcp", "192.0.2.123:443", 5*time.Second)
            fmt.Println("dial", err)
        }
        """
    )
    script = f"cd /tmp && cat > main.go <<'EOF'\n{program}EOF\nGOFLAGS=-mod=mod GOPROXY=off go run main.go"
    phase, logs = _run_pod(cluster, namespace, "net", script, golang)
    assert phase == "Succeeded", logs
    lines = logs.splitlines()
    assert lines[0].startswith("lookup kubernetes.default.svc.cluster.local [")
    assert lines[0].endswith("false")
    assert lines[1] == "lookup proxy.golang.org [] true"
    assert lines[2].endswith("connect: network is unreachable")


def test_a_read_write_many_claim_binds_and_is_shared(cluster: Cluster, namespace: str, golang: str) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "shared"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(claim))
    wait_for(
        lambda: (
            cluster.kubectl("get", "pvc", "shared", "-n", namespace, "-o", "jsonpath={.status.phase}").stdout
            == "Bound"
        ),
        timeout=60,
        what="the claim to bind",
    )
    assert (
        _run_pod(cluster, namespace, "writer", "echo cached > /data/file", golang, claim="shared")[0]
        == "Succeeded"
    )
    phase, logs = _run_pod(cluster, namespace, "reader", "cat /data/file", golang, claim="shared")
    assert (phase, logs) == ("Succeeded", "cached\n")
