"""One writer owns each GoBuildConfig's status: every update carries the spec part, the checks
(probes, cache claim) and the download counts together, before and after the leader restarts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from conftest import Cluster
from support.fakeproxy import FakeProxy, goproxy_fixture  # noqa: F401  (the goproxy fixture)
from support.gbc import make_config, status
from support.kubelet import NOT_SCHEDULED, finish_pod
from support.operator_process import OperatorProcess
from support.waiting import wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gofailures"
MODULE_NOT_FOUND_LOG = (FIXTURES / "proxy_404.txt").read_text()


@pytest.fixture
def updates(api: client.ApiClient, namespace: str) -> Iterator[list[dict[str, Any]]]:
    """Every status the API server stores for GoBuildConfig `go` while the test runs, in order."""
    seen: list[dict[str, Any]] = []
    stream = watch.Watch()

    def run() -> None:
        with contextlib.suppress(Exception):  # the stream is cut when the test ends
            for event in stream.stream(
                client.CustomObjectsApi(api).list_namespaced_custom_object,
                "gobuild.dev",
                "v1alpha1",
                namespace,
                "gobuildconfigs",
                field_selector="metadata.name=go",
                timeout_seconds=180,
            ):
                seen.append(event["object"].get("status") or {})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield seen
    stream.stop()


def _build(api: client.ApiClient, namespace: str, name: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": "go"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "build", "image": "golang:1.26", "command": ["go", "build"]}],
            **NOT_SCHEDULED,
        },
    }
    client.CoreV1Api(api).create_namespaced_pod(namespace, body)


def _complete(state: dict[str, Any]) -> bool:
    """The status has every part: spec, probes, cache, downloads."""
    return bool(
        state.get("observedGeneration")
        and state.get("goproxy")
        and state.get("proxies")
        and (state.get("cache") or {}).get("claimName")
        and state.get("downloads")
    )


def _condition(state: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in state.get("conditions") or [] if c["type"] == type_), {})


def test_every_status_update_carries_every_part_across_a_leader_restart(
    cluster: Cluster,
    api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    goproxy: FakeProxy,
    updates: list[dict[str, Any]],
) -> None:
    make_config(cluster, namespace, goproxy=[goproxy.url, "direct"], cache={"enabled": True})
    _build(api, namespace, "first")
    wait_for(
        lambda: (status(cluster, namespace).get("downloads") or {}).get("injected") == 1, what="injected"
    )
    finish_pod(api, namespace, "first", exit_code=1, message=MODULE_NOT_FOUND_LOG)
    wait_for(
        lambda: _complete(s := status(cluster, namespace)) and s["downloads"]["failed"] == 1, what="failed"
    )

    operator.restart()  # a new leader: it knows nothing of the parts until it sees them again
    _build(api, namespace, "second")
    wait_for(
        lambda: (status(cluster, namespace).get("downloads") or {}).get("injected") == 2,
        timeout=20,
        what="the second Pod after the restart",
    )
    finish_pod(api, namespace, "second", exit_code=0, message="")
    final = wait_for(
        lambda: (s := status(cluster, namespace))["downloads"].get("succeeded") == 1 and s,
        timeout=10,
        what="the success after the restart",
    )

    complete_from = next(i for i, state in enumerate(updates) if _complete(state))
    for state in updates[complete_from:]:
        assert _complete(state), f"a status update dropped a part: {sorted(state)}"
        assert state["observedGeneration"] == 1
    downloads = final["downloads"]
    assert (downloads["injected"], downloads["failed"], downloads["succeeded"]) == (2, 1, 1)
    assert [p["url"] for p in final["proxies"]] == [goproxy.url]
    assert final["cache"]["claimName"] == "go-gomodcache"
    assert _condition(final, "ProxiesReachable")["status"] == "True"
    assert _condition(final, "DownloadsHealthy")["reason"] == "BuildSucceeded"
    assert _condition(final, "SpecValid")["status"] == "True"
    ready = _condition(final, "Ready")
    assert ready["status"] in ("True", "Unknown"), ready  # Unknown while the claim waits for a Pod
