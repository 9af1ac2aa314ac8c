"""`make cluster-down` leaves the host as it found it, also after a `kill -9` of the cluster's owner.

These tests start and stop whole clusters, of one node and of two, and compare global host state
(links, routes, nft ruleset, mounts, cgroups, the kubelet's kernel tunables), so they run in their
own pytest session before the rest of the suite (see the Makefile), when no other local cluster is up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from localcluster import host
from localcluster.__main__ import with_devtools_path
from localcluster.kubectl import run as kubectl_run
from support.hoststate import differences, snapshot
from support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def _localcluster(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcluster", *args],
        env=with_devtools_path(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
    )


def _kubectl(state: Path, *args: str, input: str | None = None) -> str:
    return kubectl_run(state / "kubeconfig", *args, input=input).stdout


@pytest.fixture(autouse=True)
def _alone() -> None:
    if any(host.slot_in_use(index) for index in range(host.MAX_SLOTS)):
        pytest.skip("another local cluster is running; host state cannot be compared")
    # The baseline is the host without what an earlier, killed run left behind (a CI machine may
    # start with one): `down` sweeps such leftovers too, so they must not count as "before".
    host.sweep()


def _sleepers(state: Path) -> None:
    """On every node a Pod whose container keeps running: its shim and process outlive a killed
    cluster owner."""
    nodes = _kubectl(state, "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").split()
    for node in nodes:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"sleeper-{node}", "namespace": "default"},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": node},
                "containers": [{"name": "sleep", "image": "registry.k8s.io/pause:3.10.1"}],
                "terminationGracePeriodSeconds": 0,
            },
        }
        _kubectl(state, "apply", "-f", "-", input=json.dumps(pod))
    for node in nodes:
        _kubectl(state, "wait", "--for=condition=Ready", f"pod/sleeper-{node}", "--timeout=120s")


NODES = pytest.mark.parametrize("nodes", [1, 2], ids=["one-node", "two-nodes"])


@NODES
def test_cluster_down_leaves_the_host_as_it_found_it(tmp_path: Path, nodes: int) -> None:
    state = tmp_path / "cluster"
    before = snapshot()
    up = _localcluster("up", "--state-dir", str(state), f"--nodes={nodes}")
    assert up.returncode == 0, up.stderr[-3000:]
    try:
        assert _kubectl(state, "get", "nodes").count(" Ready") == nodes
        _sleepers(state)
        during = snapshot()
        assert differences(before, during), "the running node changed nothing on the host: is it really up?"
    finally:
        down = _localcluster("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert differences(before, snapshot()) == {}


@NODES
def test_cluster_down_after_kill_9_of_its_owner_leaves_the_host_as_it_found_it(
    tmp_path: Path, nodes: int
) -> None:
    state = tmp_path / "cluster"
    before = snapshot()
    up = _localcluster("up", "--state-dir", str(state), f"--nodes={nodes}")
    assert up.returncode == 0, up.stderr[-3000:]
    _sleepers(state)
    owner = int((state / "serve.pid").read_text())
    os.kill(owner, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{owner}").exists(), timeout=10, what="the cluster's owner to die")
    # The containers and their shims are not children of the owner: on every node they are still there.
    for number in range(1, nodes + 1):
        assert any(host.cgroup_pids(f"gobuild-node{index}/node{number}") for index in range(host.MAX_SLOTS))
    down = _localcluster("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert differences(before, snapshot()) == {}
