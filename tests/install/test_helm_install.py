"""The operator installed as users install it, on the local cluster's real node: its image (built
from the Dockerfile with BuildKit), `helm upgrade --install` of the chart, then the chart's promises
under the failures operators meet: a replica lost during a burst of Pod creations, the operator
scaled to zero, the leader killed, a certificate renewed and a `helm upgrade` during creations,
`helm uninstall`, and the same install from manifests/install.yaml.

These tests run in a pytest session of their own (see the Makefile): the operator here is the
in-cluster one, and the host-process operator the other suites start must not run beside it.
The tests of this module share one install and run in order.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import ssl
import time
import urllib.request
from typing import Any

import pytest
import yaml

from conftest import REPO, Cluster
from gobuild_operator.serving import pki
from gobuild_operator.serving.tls import split_pem
from localcluster import chart
from localcluster.install import install
from support.gbc import downloads, make_config
from support.kubelet import NOT_SCHEDULED
from support.waiting import wait_for
from support.webhook import review

NS = chart.NAMESPACE
DEPLOYMENT = "gobuild-operator"
SA = f"system:serviceaccount:{NS}:gobuild-operator"
SELECTOR = "app.kubernetes.io/name=gobuild-operator"


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Cluster:
    if cluster.local is None:
        pytest.skip("builds and loads the operator's image into the local cluster's node")
    install(cluster.kubeconfig, state_dir=cluster.local.state_dir)
    return cluster


def _json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def _ready_replicas(cluster: Cluster) -> int:
    return int(
        _json(cluster, "get", "deployment", DEPLOYMENT, "-n", NS).get("status", {}).get("readyReplicas") or 0
    )


def _leader(cluster: Cluster) -> str:
    lease = _json(cluster, "get", "lease", "gobuild-operator-leader", "-n", NS)
    return str(lease["spec"].get("holderIdentity") or "")


def _pod(name: str, config: str = "go") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": config}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "build", "image": "golang:1.26", "command": ["go", "version"]}],
            **NOT_SCHEDULED,
        },
    }


def _create_pods(
    cluster: Cluster, namespace: str, names: list[str], *, workers: int = 8
) -> list[dict[str, Any]]:
    """Create Pods concurrently, as a CI system would; what the API server stored for each."""

    def create(name: str) -> dict[str, Any]:
        out = cluster.kubectl(
            "create", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(_pod(name))
        )
        stored: dict[str, Any] = json.loads(out.stdout)
        return stored

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(create, names))


def _injected(pod: dict[str, Any]) -> bool:
    return "gobuild.dev/injected" in (pod["metadata"].get("annotations") or {})


def _make_config(cluster: Cluster, namespace: str, name: str = "go", **spec: Any) -> None:
    """make_config, then wait until every operator replica injects with it.

    Each replica answers admission from its own watch of GoBuildConfigs; `observedGeneration` says
    the leader has the config, and a replica whose watch is a moment behind admits a Pod created in
    that moment uninjected (counted as missed; docs/admission.md). A CI system creating Pods right
    after applying its config meets the same window; these tests are about other failures."""
    make_config(cluster, namespace, name, **spec)
    pods = _json(cluster, "get", "pods", "-n", NS, "-l", SELECTOR)["items"]
    addresses = [
        p["status"]["podIP"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
    ]
    assert addresses, "no Ready operator Pod"
    webhook = _json(cluster, "get", "mutatingwebhookconfiguration", "gobuild-operator")["webhooks"][0]
    tls = ssl.create_default_context(cadata=base64.b64decode(webhook["clientConfig"]["caBundle"]).decode())
    tls.check_hostname = False  # the certificate names the Service, and we call each Pod by address
    body = json.dumps(review("Pod", _pod("probe", name), namespace=namespace)).encode()

    def injects(address: str) -> bool:
        request = urllib.request.Request(
            f"https://{address}:9443/inject-pods", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, context=tls, timeout=5) as response:  # noqa: S310 - https to a Pod
            answer: dict[str, Any] = json.load(response)["response"]
        return "patch" in answer

    for address in addresses:
        wait_for(lambda a=address: injects(a), timeout=15, what=f"the replica at {address} to know {name}")


# --- install --------------------------------------------------------------------------------------


def test_both_replicas_become_ready_and_one_leads(installed: Cluster) -> None:
    wait_for(lambda: _ready_replicas(installed) == 2, timeout=120, what="both operator Pods to be Ready")
    pods = {p["metadata"]["name"] for p in _json(installed, "get", "pods", "-n", NS, "-l", SELECTOR)["items"]}
    assert wait_for(lambda: _leader(installed) in pods, timeout=30, what="a leader among the operator Pods")


def test_the_quickstart_job_builds_and_its_outcome_is_reported(installed: Cluster) -> None:
    installed.kubectl("apply", "-f", str(REPO / "examples" / "quickstart.yaml"))
    installed.kubectl(
        "wait", "-n", "builds", "--for=condition=complete", "job/build", "--timeout=240s", timeout=260
    )
    logs = installed.kubectl("logs", "-n", "builds", "job/build").stdout
    assert "http://goproxy.gobuild-demo.svc.cluster.local" in logs  # the injected GOPROXY, as go saw it
    status = wait_for(
        lambda: (d := downloads(installed, "builds")) and d.get("succeeded") == 1 and d,
        timeout=60,
        what="the in-cluster operator to report the build",
    )
    assert status["injected"] == 1
    assert status.get("failed", 0) == 0


def test_the_charts_role_reads_no_secret_and_may_only_annotate_pods(installed: Cluster) -> None:
    def can(*args: str) -> bool:
        result = installed.kubectl("auth", "can-i", *args, f"--as={SA}", check=False)
        return result.stdout.strip() == "yes"

    assert not can("get", "secrets", "--all-namespaces")
    assert not can("list", "secrets", "-n", "builds")
    assert can("get", "secrets/gobuild-operator-webhook-tls", "-n", NS)  # its own certificate only
    (pod,) = _create_pods(installed, "builds", ["rbac-target"])
    assert _injected(pod)
    swap = installed.kubectl(
        "patch", "pod", "rbac-target", "-n", "builds", f"--as={SA}", "--type=json",
        "-p", '[{"op":"replace","path":"/spec/containers/0/image","value":"evil:1"}]', check=False,
    )  # fmt: skip
    assert swap.returncode != 0
    assert "may only annotate Pods" in swap.stderr
    relabel = installed.kubectl(
        "label", "pod", "rbac-target", "-n", "builds", f"--as={SA}",
        "gobuild.dev/config=other", "--overwrite", check=False,
    )  # fmt: skip
    assert relabel.returncode != 0
    marked = installed.kubectl(
        "annotate",
        "pod",
        "rbac-target",
        "-n",
        "builds",
        f"--as={SA}",
        "gobuild.dev/recorded=test",
        check=False,
    )
    assert marked.returncode == 0, marked.stderr


def test_only_the_operator_marks_a_pod_as_counted(installed: Cluster) -> None:
    """The author of a build can neither hide its outcome (create the Pod already marked counted)
    nor have it counted again (remove the mark): the chart's pod-markers policy."""
    refused = "only gobuild-operator writes the gobuild.dev/recorded annotation"
    forged = _pod("forged-marker")
    forged["metadata"]["annotations"]["gobuild.dev/recorded"] = "forged"
    created = installed.kubectl("create", "-n", "builds", "-f", "-", input=json.dumps(forged), check=False)
    assert created.returncode != 0
    assert refused in created.stderr
    _create_pods(installed, "builds", ["marker-target"])
    installed.kubectl(
        "annotate", "pod", "marker-target", "-n", "builds", f"--as={SA}", "gobuild.dev/recorded=1"
    )
    unmarked = installed.kubectl(
        "annotate", "pod", "marker-target", "-n", "builds", "gobuild.dev/recorded-", check=False
    )
    assert unmarked.returncode != 0
    assert refused in unmarked.stderr


# --- availability ---------------------------------------------------------------------------------


def test_losing_a_replica_during_200_creations_leaves_no_pod_uninjected(
    installed: Cluster, namespace: str
) -> None:
    _make_config(installed, namespace, "go")
    victim = _json(installed, "get", "pods", "-n", NS, "-l", SELECTOR)["items"][0]["metadata"]["name"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        creating = pool.submit(_create_pods, installed, namespace, [f"p{i}" for i in range(200)])
        installed.kubectl("delete", "pod", victim, "-n", NS, "--wait=false")
        stored = creating.result(timeout=600)
    assert [p["metadata"]["name"] for p in stored if not _injected(p)] == []
    wait_for(lambda: _ready_replicas(installed) == 2, timeout=120, what="the replacement Pod to be Ready")
    counted = wait_for(
        lambda: (d := downloads(installed, namespace)).get("injected") == 200 and d,
        timeout=60,
        what="200 injections counted",
    )
    assert counted.get("missedInjections", 0) == 0


def test_with_the_operator_scaled_to_zero_pods_are_created_and_counted_as_missed(
    installed: Cluster, namespace: str
) -> None:
    make_config(installed, namespace, "go")
    installed.kubectl("scale", "deployment", DEPLOYMENT, "-n", NS, "--replicas=0")
    try:
        wait_for(
            lambda: not _json(installed, "get", "pods", "-n", NS, "-l", SELECTOR)["items"],
            timeout=120,
            what="the operator Pods to go",
        )
        stored = _create_pods(installed, namespace, [f"m{i}" for i in range(5)])
        assert not any(_injected(p) for p in stored)  # created, not blocked, not injected
    finally:
        installed.kubectl("scale", "deployment", DEPLOYMENT, "-n", NS, "--replicas=2")
    wait_for(lambda: _ready_replicas(installed) == 2, timeout=120, what="the operator to come back")
    wait_for(
        lambda: downloads(installed, namespace).get("missedInjections") == 5,
        timeout=90,
        what="the 5 Pods counted as missed injections",
    )


def test_killing_the_leader_moves_the_handlers_and_nothing_is_counted_twice(
    installed: Cluster, namespace: str
) -> None:
    _make_config(installed, namespace, "go")
    assert all(_injected(p) for p in _create_pods(installed, namespace, [f"k{i}" for i in range(10)]))
    wait_for(lambda: downloads(installed, namespace).get("injected") == 10, timeout=60, what="10 injections")
    leader = _leader(installed)
    started = time.monotonic()
    installed.kubectl("delete", "pod", leader, "-n", NS, "--grace-period=0", "--force", check=False)
    new = wait_for(
        lambda: (holder := _leader(installed)) and holder != leader and holder,
        timeout=60,
        what="another replica to take the lease",
    )
    print(f"leadership moved from {leader} to {new} in {time.monotonic() - started:.1f}s")
    # A killed replica is not drained: until kube-proxy drops its endpoint, the API server's calls
    # to it fail and the Pods they were for are admitted uninjected (failurePolicy Ignore). On a
    # loaded machine that is a few of these ten; each must then be counted as missed, once.
    after = _create_pods(installed, namespace, [f"l{i}" for i in range(10)])
    injected = 10 + sum(_injected(p) for p in after)
    expected = {"injected": injected, "missedInjections": 20 - injected}
    print(f"after the kill: {expected}")

    def counted() -> dict[str, int]:
        status = downloads(installed, namespace)
        return {key: status.get(key, 0) for key in expected}

    wait_for(lambda: counted() == expected, timeout=60, what=f"the 20 Pods counted as {expected}")
    assert counted() == expected  # once more: a double count shows here


def _hostile_pods() -> list[dict[str, Any]]:
    """Stored Pods whose text once froze both replicas (quadratic patterns under the GIL): a 200 KB
    config name, an 80 KB `sh -c` of repeated builder names, a 100 KB env value of URL schemes."""
    name_pod = _pod("long-config-name", config="a-" * 100_000)
    script_pod = _pod("long-script")
    script_pod["spec"]["containers"][0]["command"] = ["sh", "-c", "buildctl " * 10_000]
    env_pod = _pod("schemes")
    container = env_pod["spec"]["containers"][0]
    container["command"] = ["buildctl", "build"]
    container["env"] = [{"name": "GOPROXY", "value": "a://" * 25_000}]
    return [name_pod, script_pod, env_pod]


def test_stored_hostile_pods_leave_both_replicas_ready_through_a_leader_kill(
    installed: Cluster, namespace: str
) -> None:
    _make_config(installed, namespace, "go")
    for pod in _hostile_pods():
        installed.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(pod))
    leader = _leader(installed)
    installed.kubectl("delete", "pod", leader, "-n", NS, "--grace-period=0", "--force", check=False)
    wait_for(
        lambda: (holder := _leader(installed)) and holder != leader,
        timeout=60,
        what="another replica to take the lease with the hostile Pods stored",
    )
    wait_for(lambda: _ready_replicas(installed) == 2, timeout=120, what="both replicas Ready again")
    other = f"{namespace}-other"
    installed.kubectl("create", "namespace", other)
    try:
        _make_config(installed, other, "go")
        assert all(_injected(p) for p in _create_pods(installed, other, [f"o{i}" for i in range(10)]))
        wait_for(lambda: downloads(installed, other).get("injected") == 10, timeout=60, what="10 injections")
        restarts = [
            status.get("restartCount", 0)
            for pod in _json(installed, "get", "pods", "-n", NS, "-l", SELECTOR)["items"]
            for status in pod["status"].get("containerStatuses") or []
        ]
        assert restarts
        assert max(restarts) == 0, restarts  # no replica was killed by its liveness probe
    finally:
        installed.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_a_forced_renewal_and_an_upgrade_during_creations_lose_no_admission(
    installed: Cluster, namespace: str
) -> None:
    _make_config(installed, namespace, "go")
    before = _tls(installed)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        creating = pool.submit(_create_pods, installed, namespace, [f"r{i}" for i in range(150)], workers=4)
        installed.kubectl(
            "annotate", "secret", "gobuild-operator-webhook-tls", "-n", NS, "gobuild.dev/renew=now"
        )
        chart.helm(
            "upgrade", chart.RELEASE, str(chart.CHART), f"--namespace={NS}", "--set=operator.verbose=true",
            "--wait", "--timeout=300s", kubeconfig=installed.kubeconfig,
        )  # fmt: skip
        stored = creating.result(timeout=600)
    assert [p["metadata"]["name"] for p in stored if not _injected(p)] == []
    after = wait_for(
        lambda: (tls := _tls(installed))["tls.crt"] != before["tls.crt"] and tls,
        timeout=60,
        what="the serving certificate to be renewed",
    )
    config = _json(installed, "get", "mutatingwebhookconfiguration", "gobuild-operator")
    for hook in config["webhooks"]:
        bundle = split_pem(base64.b64decode(hook["clientConfig"]["caBundle"]))
        assert any(pki.signed_by(after["tls.crt"], ca) for ca in bundle)


def _tls(cluster: Cluster) -> dict[str, bytes]:
    data = _json(cluster, "get", "secret", "gobuild-operator-webhook-tls", "-n", NS)["data"]
    return {key: base64.b64decode(value) for key, value in data.items()}


def test_helm_test_proves_injection(installed: Cluster) -> None:
    out = chart.helm(
        "test", chart.RELEASE, f"--namespace={NS}", "--timeout=120s", kubeconfig=installed.kubeconfig
    )
    assert "Phase:          Succeeded" in out


# --- removal and the plain manifests ----------------------------------------------------------------


def test_uninstall_removes_the_webhook_and_keeps_the_crd_and_configs(
    installed: Cluster, namespace: str
) -> None:
    make_config(installed, namespace, "go")
    chart.helm("uninstall", chart.RELEASE, f"--namespace={NS}", "--wait", kubeconfig=installed.kubeconfig)
    configs = installed.kubectl("get", "mutatingwebhookconfigurations", "-o", "name").stdout
    assert "gobuild-operator" not in configs
    wait_for(
        lambda: not _json(installed, "get", "pods", "-n", NS, "-l", SELECTOR)["items"],
        timeout=120,
        what="the operator Pods to go",
    )
    (pod,) = _create_pods(installed, namespace, ["after-uninstall"])
    assert not _injected(pod)
    installed.kubectl("get", "crd", "gobuildconfigs.gobuild.dev")
    assert installed.kubectl("get", "gbc", "go", "-n", namespace, "-o", "name").stdout.strip()


def test_the_plain_manifests_install_the_same_working_operator(installed: Cluster, namespace: str) -> None:
    installed.kubectl("apply", "--server-side", "-f", str(REPO / "manifests" / "install.yaml"))
    wait_for(lambda: _ready_replicas(installed) == 2, timeout=180, what="both operator Pods to be Ready")
    _make_config(installed, namespace, "go", goproxy=["http://goproxy.gobuild-demo.svc.cluster.local"])
    (pod,) = _create_pods(installed, namespace, ["from-manifests"])
    assert _injected(pod)
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["GOPROXY"] == "http://goproxy.gobuild-demo.svc.cluster.local"
    docs = [d for d in yaml.safe_load_all((REPO / "manifests" / "install.yaml").read_text()) if d]
    assert {d["kind"] for d in docs} >= {
        "CustomResourceDefinition",
        "Deployment",
        "MutatingWebhookConfiguration",
    }
