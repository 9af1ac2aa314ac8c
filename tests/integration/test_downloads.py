"""Build outcomes on the GoBuildConfig, as a platform team sees them after their builds finish.

Pods are created through the real webhook (annotation gobuild.dev/config), and finished the way a
kubelet would finish them: a status write with the container's terminated state, whose message
holds the tail of a recorded real `go` failure (FallbackToLogsOnError).
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from conftest import Cluster
from support.gbc import condition, describe, downloads, events, make_config, metric
from support.kubelet import NOT_SCHEDULED, finish_pod
from support.operator_process import OperatorProcess
from support.podpolicy import refuse_pod_updates
from support.waiting import wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gofailures"
MODULE_NOT_FOUND_LOG = (FIXTURES / "proxy_404.txt").read_text()
HOST_KEY_LOG = (FIXTURES / "git_ssh_unknown_host_key.txt").read_text()
#: The host of the private module in HOST_KEY_LOG: configs list it in goprivate, so its failure is
#: read on the private route (with the module outside GOPRIVATE, go reached git only because no proxy
#: had it, and that is what diagnosis says).
PRIVATE_HOST = "git.corp.invalid"

#: The contract: a finished Pod shows on its GoBuildConfig within this many seconds.
PROMPT = 2.0
#: After an operator (re)start: kopf's start-up, its first list, and then the same path.
AFTER_START = 20.0


# --- helpers -------------------------------------------------------------------------------------


def create_pod(api: client.ApiClient, namespace: str, name: str, *, config: str = "go") -> dict[str, Any]:
    """A build Pod that asks for `config`; admitted through the real webhook."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": config}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "build", "image": "golang:1.26", "command": ["go", "mod", "download"]}],
            **NOT_SCHEDULED,
        },
    }
    created = client.CoreV1Api(api).create_namespaced_pod(namespace, body)
    result: dict[str, Any] = api.sanitize_for_serialization(created)
    return result


def create_injected_pod(api: client.ApiClient, namespace: str, name: str, *, config: str = "go") -> None:
    pod = create_pod(api, namespace, name, config=config)
    labels = pod["metadata"].get("labels") or {}
    assert labels.get("gobuild.dev/config") == config, "the webhook did not inject the Pod"


def recorded(api: client.ApiClient, namespace: str, name: str) -> str | None:
    pod = client.CoreV1Api(api).read_namespaced_pod(name, namespace)
    value: str | None = (pod.metadata.annotations or {}).get("gobuild.dev/recorded")
    return value


def running_pods(downloads: dict[str, Any]) -> list[str]:
    """The Pods status.downloads.running lists: injected, still running (their only record)."""
    return [word.partition("/")[2] for word in (downloads.get("running") or "").split()]


def running(downloads: dict[str, Any]) -> int:
    return len(running_pods(downloads))


def wait_downloads(
    cluster: Cluster,
    namespace: str,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = PROMPT,
    what: str,
) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (d := downloads(cluster, namespace)) and predicate(d) and d, timeout=timeout, what=what
    )
    return found


# --- what a failed or succeeded build shows -----------------------------------------------------


def test_a_failed_build_shows_its_reason_and_remedy(
    cluster: Cluster, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace, goproxy=["https://goproxy.corp.invalid", "direct"])
    create_injected_pod(api, namespace, "build-1")
    wait_downloads(
        cluster, namespace, lambda d: d.get("injected") == 1, what="the injected Pod to be counted"
    )

    finish_pod(api, namespace, "build-1", exit_code=1, message=MODULE_NOT_FOUND_LOG)

    seen = wait_downloads(
        cluster, namespace, lambda d: d.get("failed") == 1, what="the failure to be counted"
    )
    assert seen["byReason"] == {"ModuleNotFound": 1}
    last = seen["lastFailure"]
    assert (last["pod"], last["container"], last["reason"]) == ("build-1", "build", "ModuleNotFound")
    assert "spec.goprivate" in last["remedy"]
    assert "404" in last["summary"]
    assert seen["recentFailures"] == [last]
    assert (seen["injected"], seen["succeeded"]) == (1, 0)
    health = condition(cluster, namespace, "DownloadsHealthy")
    assert (health["status"], health["reason"]) == ("False", "ModuleNotFound")
    assert "build-1" in health["message"]

    on_config = wait_for(
        lambda: [
            e for e in events(cluster, namespace, "GoBuildConfig", "go") if e["reason"] == "ModuleNotFound"
        ],
        timeout=PROMPT,
        what="an Event on the GoBuildConfig",
    )
    assert "build-1" in on_config[0]["message"]
    assert "Remedy: " in on_config[0]["message"]
    on_pod = wait_for(
        lambda: [e for e in events(cluster, namespace, "Pod", "build-1") if e["reason"] == "ModuleNotFound"],
        timeout=PROMPT,
        what="an Event on the Pod",
    )
    assert on_pod[0]["type"] == "Warning"
    assert "spec.goprivate" in on_pod[0]["message"]

    assert wait_for(
        lambda: (
            metric(
                operator.metrics_port,
                "gobuild_download_outcomes_total",
                namespace=namespace,
                config="go",
                outcome="failed",
                reason="ModuleNotFound",
            )
            == 1
        ),
        timeout=PROMPT,
        what="the outcome metric",
    )

    table = cluster.kubectl("get", "gbc", "go", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "PROXY", "READY", "FAILED", "REASON", "AGE"]
    row = table[1].split()
    assert (row[0], row[1], row[3]) == ("go", "https://goproxy.corp.invalid,direct", "1")


def test_a_succeeded_build_counts_as_succeeded(
    cluster: Cluster, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace)
    create_injected_pod(api, namespace, "build-ok")

    finish_pod(api, namespace, "build-ok", exit_code=0)

    seen = wait_downloads(
        cluster, namespace, lambda d: d.get("succeeded") == 1, what="the success to be counted"
    )
    assert (seen["injected"], seen["failed"], seen["byReason"]) == (1, 0, {})
    assert "lastFailure" not in seen
    health = condition(cluster, namespace, "DownloadsHealthy")
    assert (health["status"], health["reason"]) == ("True", "BuildSucceeded")
    assert wait_for(lambda: recorded(api, namespace, "build-ok") == "succeeded", timeout=PROMPT)


def test_describe_shows_the_download_condition(
    cluster: Cluster, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace, goprivate=[PRIVATE_HOST])  # else go reached ssh because no proxy had it
    create_injected_pod(api, namespace, "build-ssh")
    finish_pod(api, namespace, "build-ssh", exit_code=1, message=HOST_KEY_LOG)
    wait_downloads(cluster, namespace, lambda d: d.get("failed") == 1, what="the failure to be counted")

    described = describe(cluster, namespace)
    message = condition(cluster, namespace, "DownloadsHealthy")["message"]
    assert "HostKeyVerificationFailed" in described
    assert "spec.privateModules.ssh" in message
    assert message in described


# --- exactly once, across restarts and crashes ----------------------------------------------------


def test_restarts_and_crashes_neither_lose_nor_double_count(
    cluster: Cluster, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace, goprivate=[PRIVATE_HOST])
    for name in ("a", "b", "c"):
        create_injected_pod(api, namespace, name)
    finish_pod(api, namespace, "a", exit_code=1, message=MODULE_NOT_FOUND_LOG)
    wait_downloads(
        cluster,
        namespace,
        lambda d: d.get("failed") == 1 and d.get("injected") == 3,
        what="a and the injections",
    )

    finish_pod(api, namespace, "b", exit_code=0)
    operator.stop(kill=True)  # a crash, most likely before b's outcome was written
    finish_pod(api, namespace, "c", exit_code=1, message=HOST_KEY_LOG)  # finishes while nobody watches
    operator.start()

    seen = wait_downloads(
        cluster,
        namespace,
        lambda d: d.get("succeeded") == 1 and d.get("failed") == 2,
        timeout=AFTER_START,
        what="b and c to be counted after the restart",
    )
    assert seen["injected"] == 3
    assert seen["byReason"] == {"ModuleNotFound": 1, "HostKeyVerificationFailed": 1}

    operator.restart()
    create_injected_pod(api, namespace, "d")  # a barrier: counted after the others were seen again
    finish_pod(api, namespace, "d", exit_code=0)
    wait_for(
        lambda: recorded(api, namespace, "d") == "succeeded", timeout=AFTER_START, what="d to be recorded"
    )

    seen = downloads(cluster, namespace)
    assert (seen["injected"], seen["succeeded"], seen["failed"]) == (4, 2, 2)
    assert seen["byReason"] == {"ModuleNotFound": 1, "HostKeyVerificationFailed": 1}
    assert [recorded(api, namespace, n) for n in "abc"] == ["failed", "succeeded", "failed"]
    wait_for(lambda: not downloads(cluster, namespace)["pending"], timeout=PROMPT, what="pending to settle")


def test_an_injected_pod_is_counted_without_a_write_to_it_and_exactly_once_across_crashes(
    cluster: Cluster, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    """creating an injected Pod costs no PATCH of it; status.downloads.running is its record."""
    make_config(cluster, namespace)
    create_injected_pod(api, namespace, "r1")
    create_injected_pod(api, namespace, "r2")
    seen = wait_downloads(
        cluster, namespace, lambda d: d.get("injected") == 2 and running(d) == 2, what="two running entries"
    )
    core = client.CoreV1Api(api)
    for name in ("r1", "r2"):
        pod = core.read_namespaced_pod(name, namespace)
        assert "gobuild.dev/recorded" not in (pod.metadata.annotations or {})
        managers = {entry.manager for entry in pod.metadata.managed_fields or []}
        assert "gobuild-operator" not in managers, "the operator wrote to a running Pod"

    operator.stop(kill=True)
    core.delete_namespaced_pod("r2", namespace, grace_period_seconds=0)  # deleted while nobody watches
    operator.start()
    create_injected_pod(api, namespace, "r4")  # a barrier: counted after the others were listed again
    seen = wait_downloads(
        cluster,
        namespace,
        lambda d: d.get("injected") == 3 and running(d) == 2,
        timeout=AFTER_START,
        what="r4 counted, r1 not again, r2's entry settled",
    )
    assert sorted(running_pods(seen)) == ["r1", "r4"]

    finish_pod(api, namespace, "r1", exit_code=0)
    operator.stop(kill=True)  # most likely before the outcome was written
    operator.start()
    seen = wait_downloads(
        cluster,
        namespace,
        lambda d: d.get("succeeded") == 1 and running(d) == 1,
        timeout=AFTER_START,
        what="r1's success, once",
    )
    assert (seen["injected"], seen["failed"]) == (3, 0)
    wait_for(lambda: recorded(api, namespace, "r1") == "succeeded", timeout=PROMPT, what="r1 recorded")


@pytest.fixture
def markers_refused(cluster: Cluster, namespace: str) -> Iterator[Callable[[], None]]:
    """A ValidatingAdmissionPolicy that refuses the gobuild.dev/recorded annotation on the namespace's
    Pods (as a cluster's own policy might); the fixture's function lifts it."""
    name = f"refuse-recorded-{namespace}"
    refuse_pod_updates(
        cluster,
        name,
        namespace=namespace,
        expression="!has(object.metadata.annotations) || "
        "!('gobuild.dev/recorded' in object.metadata.annotations)",
        message="this cluster does not let anyone annotate Pods",
    )

    def lift() -> None:
        cluster.kubectl("delete", "validatingadmissionpolicybinding", name, "--ignore-not-found")

    yield lift
    lift()
    cluster.kubectl("delete", "validatingadmissionpolicy", name, "--ignore-not-found")


def test_pods_whose_marker_is_refused_stay_counted_once_across_a_restart(
    cluster: Cluster,
    api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    markers_refused: Callable[[], None],
) -> None:
    """A refused marker once dropped the Pod's entry as if the Pod were gone, and a restart counted
    the Pods again (5/3/2 became 10/6/4)."""
    make_config(cluster, namespace)
    names = [f"m{i}" for i in range(5)]
    for name in names:
        create_injected_pod(api, namespace, name)
    wait_downloads(cluster, namespace, lambda d: d.get("injected") == 5, what="five injections")
    for i, name in enumerate(names):
        finish_pod(api, namespace, name, exit_code=i % 2, message=MODULE_NOT_FOUND_LOG if i % 2 else "")
    counted = wait_downloads(
        cluster,
        namespace,
        lambda d: d.get("succeeded") == 3 and d.get("failed") == 2,
        what="the outcomes",
    )
    assert len(counted["pending"]) == 5, "refused markers: each Pod's entry is its record"
    wait_for(
        lambda: "was refused" in operator.log() and "does not let anyone annotate" in operator.log(),
        timeout=PROMPT,
        what="a log line naming the refusal",
    )

    operator.restart()
    create_injected_pod(api, namespace, "barrier")  # counted after the others were listed again
    seen = wait_downloads(
        cluster, namespace, lambda d: d.get("injected") == 6, timeout=AFTER_START, what="barrier"
    )
    assert (seen["succeeded"], seen["failed"]) == (3, 2)

    markers_refused()
    wait_for(
        lambda: [recorded(api, namespace, n) for n in names] == ["succeeded", "failed"] * 2 + ["succeeded"],
        timeout=AFTER_START,
        what="the markers once the policy is lifted",
    )
    settled = wait_downloads(
        cluster, namespace, lambda d: not d.get("pending"), timeout=AFTER_START, what="settled"
    )
    assert (settled["injected"], settled["succeeded"], settled["failed"]) == (6, 3, 2)


# --- missed injections ---------------------------------------------------------------------------


def test_a_pod_admitted_while_the_webhook_was_down_counts_as_missed(
    cluster: Cluster, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace)
    operator.stop()
    pod = create_pod(api, namespace, "missed-1")
    assert "gobuild.dev/config" not in (pod["metadata"].get("labels") or {}), "the webhook is down"
    operator.start()

    seen = wait_downloads(
        cluster,
        namespace,
        lambda d: d.get("missedInjections") == 1,
        timeout=AFTER_START,
        what="the missed Pod",
    )
    assert (seen["injected"], seen["failed"]) == (0, 0)
    on_pod = wait_for(
        lambda: [
            e for e in events(cluster, namespace, "Pod", "missed-1") if e["reason"] == "InjectionMissed"
        ],
        timeout=PROMPT,
        what="an Event on the missed Pod",
    )
    assert "asked for GoBuildConfig go but" in on_pod[0]["message"], "the Event names the config"
    assert "recreate" in on_pod[0]["message"]
    wait_for(
        lambda: [
            e for e in events(cluster, namespace, "GoBuildConfig", "go") if e["reason"] == "InjectionMissed"
        ],
        timeout=PROMPT,
        what="an Event on the GoBuildConfig",
    )
    assert (
        metric(operator.metrics_port, "gobuild_missed_injections_total", namespace=namespace, config="go")
        == 1
    )

    operator.stop()
    create_pod(api, namespace, "missed-2")  # listed after missed-1, so a barrier for it
    operator.start()
    wait_for(lambda: recorded(api, namespace, "missed-2") == "missed", timeout=AFTER_START, what="missed-2")
    assert downloads(cluster, namespace)["missedInjections"] == 2


def test_a_pod_older_than_its_config_is_not_missed(
    cluster: Cluster, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    early = create_pod(api, namespace, "early", config="later")  # no such config yet: admitted unchanged
    born = datetime.datetime.fromisoformat(early["metadata"]["creationTimestamp"])
    # creationTimestamps have one-second resolution: let the config be measurably younger
    wait_for(lambda: datetime.datetime.now(datetime.UTC) >= born + datetime.timedelta(seconds=1), timeout=2)
    make_config(cluster, namespace, name="later")
    make_config(cluster, namespace, name="go")
    operator.stop()
    create_pod(api, namespace, "missed")
    operator.start()
    wait_for(
        lambda: recorded(api, namespace, "missed") == "missed", timeout=AFTER_START, what="the missed Pod"
    )
    assert downloads(cluster, namespace, "later").get("missedInjections", 0) == 0
    assert recorded(api, namespace, "early") is None


# --- a burst costs a handful of status writes -------------------------------------------------------


@pytest.fixture
def status_writes(cluster: Cluster, api: client.ApiClient, namespace: str) -> Iterator[list[int]]:
    """Counts the GoBuildConfig `go` updates that change status.downloads, while the test runs."""
    counted: list[int] = []
    stop = watch.Watch()
    custom = client.CustomObjectsApi(api)

    def run() -> None:
        with contextlib.suppress(Exception):  # the stream is cut when the test ends
            count(previous=None)

    def count(previous: Any) -> None:
        for event in stop.stream(
            custom.list_namespaced_custom_object,
            "gobuild.dev",
            "v1alpha1",
            namespace,
            "gobuildconfigs",
            field_selector="metadata.name=go",
            timeout_seconds=120,
        ):
            current = (event["object"].get("status") or {}).get("downloads")
            if event["type"] == "MODIFIED" and current != previous:
                counted.append(1)
            previous = current

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield counted
    stop.stop()


def test_a_burst_of_finished_pods_costs_a_handful_of_status_writes(
    cluster: Cluster,
    api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    status_writes: list[int],
) -> None:
    make_config(cluster, namespace)
    names = [f"burst-{i:02d}-{uuid.uuid4().hex[:4]}" for i in range(40)]
    for name in names:
        create_injected_pod(api, namespace, name)
    wait_downloads(
        cluster,
        namespace,
        lambda d: d.get("injected") == 40 and running(d) == 40,
        timeout=10,
        what="40 injections, each listed as running",
    )
    before = len(status_writes)

    for i, name in enumerate(names):
        finish_pod(api, namespace, name, exit_code=i % 2, message=MODULE_NOT_FOUND_LOG if i % 2 else "")
    wait_downloads(
        cluster,
        namespace,
        lambda d: d.get("succeeded") == 20 and d.get("failed") == 20 and d.get("pending") == [],
        timeout=10,
        what="the burst to be counted and settled",
    )
    writes = len(status_writes) - before
    assert writes <= 10, f"{writes} status writes for 40 finished Pods"
    assert downloads(cluster, namespace)["byReason"] == {"ModuleNotFound": 20}
