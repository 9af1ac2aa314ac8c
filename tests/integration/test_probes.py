"""What the GoBuildConfig says about what it depends on: GOPROXY URLs, Secrets, the cache claim.

The proxies are real HTTP servers on 127.0.0.1 (and a port nobody listens on); Secrets, claims and
PersistentVolumes are real API objects, bound by the real controller-manager.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Cluster
from gobuild_operator.reporting.proxyprobe import COULD_NOT_CONNECT
from support.fakeproxy import FakeProxy, goproxy_fixture  # noqa: F401  (the goproxy fixture)
from support.gbc import condition, describe, events, make_config, status
from support.operator_process import OperatorProcess, free_port
from support.waiting import wait_for

#: Spec changes and Secret/claim changes show within this many seconds (watch-driven, no polling).
PROMPT = 2.0
#: The first round of checks after a config appears.
FIRST_ROUND = 10.0
SECRET_VALUE = "-----BEGIN OPENSSH PRIVATE KEY----- not-a-real-key-7d1e"


def proxies(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = status(cluster, namespace).get("proxies") or []
    return found


# --- GOPROXY probes ------------------------------------------------------------------------------


def test_probes_tell_a_reachable_proxy_from_a_refused_one(
    cluster: Cluster, namespace: str, operator: OperatorProcess, goproxy: FakeProxy
) -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    make_config(
        cluster,
        namespace,
        goproxy=[goproxy.url, refused, "file:///srv/goproxy", "direct"],
        proxyFallback="OnAnyError",
    )

    seen = wait_for(
        lambda: len(p := proxies(cluster, namespace)) == 3 and p,
        timeout=FIRST_ROUND,
        what="the first probe round",
    )
    up, down, local = seen
    assert (up["url"], up["reachable"], up["error"]) == (goproxy.url, True, "")
    assert isinstance(up["latencyMs"], int)
    assert up["lastProbeTime"].endswith("Z")
    assert (down["url"], down["reachable"], down["error"]) == (refused, False, COULD_NOT_CONNECT)
    assert local["url"] == "file:///srv/goproxy"
    assert "reachable" not in local
    assert "not probed" in local["error"]
    assert goproxy.paths == ["/golang.org/x/mod/@v/list"]

    reachable = condition(cluster, namespace, "ProxiesReachable")
    assert (reachable["status"], reachable["reason"]) == ("False", "PartlyUnreachable"), (
        "go gets modules from the proxy before the refused one"
    )
    assert f"{refused} unreachable: {COULD_NOT_CONNECT}" in reachable["message"]
    assert reachable["message"] in describe(cluster, namespace)
    assert condition(cluster, namespace, "Ready")["status"] == "True", (
        "a proxy with a fallback does not gate Ready"
    )
    wait_for(
        lambda: [
            e for e in events(cluster, namespace, "GoBuildConfig") if e["reason"] == "PartlyUnreachable"
        ],
        timeout=PROMPT,
        what="a PartlyUnreachable Event",
    )


def test_the_probe_asks_for_the_configured_module(
    cluster: Cluster, namespace: str, operator: OperatorProcess, goproxy: FakeProxy
) -> None:
    make_config(
        cluster, namespace, goproxy=[goproxy.url], reporting={"probeModule": "github.com/Masterminds/semver"}
    )
    wait_for(lambda: proxies(cluster, namespace), timeout=FIRST_ROUND, what="the first probe")
    assert goproxy.paths == ["/github.com/!masterminds/semver/@v/list"]
    assert condition(cluster, namespace, "ProxiesReachable")["status"] == "True"


def test_reporting_disabled_probes_nothing(
    cluster: Cluster, namespace: str, operator: OperatorProcess, goproxy: FakeProxy
) -> None:
    make_config(cluster, namespace, goproxy=[goproxy.url], reporting={"enabled": False})
    reachable = wait_for(
        lambda: condition(cluster, namespace, "ProxiesReachable"),
        timeout=FIRST_ROUND,
        what="ProxiesReachable",
    )
    assert (reachable["status"], reachable["reason"]) == ("Unknown", "ProbesDisabled")
    assert proxies(cluster, namespace) == []
    assert goproxy.paths == []


@contextlib.contextmanager
def operator_with(operator: OperatorProcess, *args: str) -> Iterator[None]:
    """Run the test's operator with extra flags, then restore the session's."""
    saved = operator.extra_args
    operator.stop()
    operator.extra_args = (*saved, *args)
    operator.start()
    try:
        yield
    finally:
        operator.stop()
        operator.extra_args = saved
        operator.start()


def test_a_proxy_that_comes_back_is_reachable_at_the_next_probe(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    later = FakeProxy()
    with operator_with(operator, "--probe-interval-override=1"):
        make_config(cluster, namespace, goproxy=[later.url, "direct"])
        wait_for(
            lambda: condition(cluster, namespace, "ProxiesReachable").get("status") == "False",
            timeout=FIRST_ROUND,
            what="the proxy to be reported down",
        )
        later.start()
        try:
            wait_for(
                lambda: condition(cluster, namespace, "ProxiesReachable").get("status") == "True",
                timeout=3,
                what="the proxy to be reported up",
            )
        finally:
            later.stop()
    recovered = [
        e
        for e in events(cluster, namespace, "GoBuildConfig")
        if e["type"] == "Normal" and e["reason"] == "Reachable"
    ]
    assert recovered, "the recovery is announced"


# --- referenced Secrets ----------------------------------------------------------------------------


def test_a_missing_secret_is_named_and_creating_it_resolves_the_config(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    make_config(
        cluster,
        namespace,
        goproxy=["direct"],
        privateModules={"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}},
    )
    secrets = wait_for(
        lambda: (c := condition(cluster, namespace, "SecretsResolved")).get("status") == "False" and c,
        timeout=FIRST_ROUND,
        what="SecretsResolved False",
    )
    assert secrets["reason"] == "SecretNotFound"
    assert "Secret git-ssh not found (spec.privateModules.ssh.secretName)" in secrets["message"]
    ready = condition(cluster, namespace, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "SecretNotFound")
    assert secrets["message"] in describe(cluster, namespace)
    generation = json.loads(cluster.kubectl("get", "gbc", "go", "-n", namespace, "-o", "json").stdout)[
        "metadata"
    ]["generation"]

    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "git-ssh",
        "-n",
        namespace,
        f"--from-literal=ssh-privatekey={SECRET_VALUE}",
    )
    missing_key = wait_for(
        lambda: (c := condition(cluster, namespace, "SecretsResolved")).get("reason") == "KeyNotFound" and c,
        timeout=PROMPT,
        what="the missing known_hosts key to be named",
    )
    assert (
        "Secret git-ssh has no key known_hosts (spec.privateModules.ssh.knownHostsKey)"
        in missing_key["message"]
    )

    patch = {"stringData": {"known_hosts": "git.corp.example ssh-ed25519 AAAA"}}
    cluster.kubectl("patch", "secret", "git-ssh", "-n", namespace, "--type=merge", "-p", json.dumps(patch))
    resolved = wait_for(
        lambda: (c := condition(cluster, namespace, "SecretsResolved")).get("status") == "True" and c,
        timeout=PROMPT,
        what="SecretsResolved True",
    )
    assert "Secret git-ssh (ssh-privatekey, known_hosts)" in resolved["message"]
    assert condition(cluster, namespace, "Ready")["status"] == "True"
    after = json.loads(cluster.kubectl("get", "gbc", "go", "-n", namespace, "-o", "json").stdout)
    assert after["metadata"]["generation"] == generation, "the GoBuildConfig was not touched"

    reasons = [(e["type"], e["reason"]) for e in events(cluster, namespace, "GoBuildConfig")]
    assert ("Warning", "SecretNotFound") in reasons
    assert ("Normal", "Resolved") in reasons
    everything = json.dumps(after) + json.dumps(events(cluster, namespace, "GoBuildConfig")) + operator.log()
    assert "not-a-real-key" not in everything, "a Secret value leaked"


# --- the module cache claim ------------------------------------------------------------------------


@pytest.fixture
def volume(cluster: Cluster) -> Iterator[str]:
    """A 1Gi ReadWriteOnce PersistentVolume of class `manual-<id>`, for the controller-manager to bind."""
    name = f"gbc-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": f"manual-{name}",
            "hostPath": {"path": f"/tmp/{name}"},
            "persistentVolumeReclaimPolicy": "Retain",
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    yield f"manual-{name}"
    cluster.kubectl("delete", "pv", name, "--wait=false", check=False)


def test_the_cache_claim_is_created_owned_bound_and_reported(
    cluster: Cluster, namespace: str, operator: OperatorProcess, volume: str
) -> None:
    make_config(
        cluster,
        namespace,
        goproxy=["direct"],
        cache={
            "enabled": True,
            "mode": "SharedVolume",
            "size": "1Gi",
            "storageClassName": volume,
            "accessModes": ["ReadWriteOnce"],
        },
    )
    claim = wait_for(
        lambda: json.loads(
            cluster.kubectl("get", "pvc", "go-gomodcache", "-n", namespace, "-o", "json").stdout
        ),
        timeout=FIRST_ROUND,
        what="the claim go-gomodcache",
    )
    (owner,) = claim["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("GoBuildConfig", "go", True)
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claim["spec"]["storageClassName"] == volume

    ready = wait_for(
        lambda: (c := condition(cluster, namespace, "CacheReady")).get("status") == "True" and c,
        timeout=30,
        what="the controller-manager to bind the claim and CacheReady to say so",
    )
    assert ready["reason"] == "SingleNodeAccess"
    assert "warning" in ready["message"]
    assert "ReadWriteMany" in ready["message"]
    assert "can change what later builds compile" in ready["message"], "the shared volume's trust model"
    assert status(cluster, namespace)["cache"] == {
        "mode": "SharedVolume",
        "claimName": "go-gomodcache",
        "phase": "Bound",
        "capacity": "1Gi",
        "accessModes": ["ReadWriteOnce"],
    }
    assert ready["message"] in describe(cluster, namespace)

    cluster.kubectl("delete", "gbc", "go", "-n", namespace)
    wait_for(
        lambda: cluster.kubectl("get", "pvc", "go-gomodcache", "-n", namespace, check=False).returncode != 0,
        timeout=30,
        what="the garbage collector to delete the owned claim",
    )


def test_a_missing_existing_claim_is_named(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    make_config(
        cluster,
        namespace,
        goproxy=["direct"],
        cache={"enabled": True, "mode": "SharedVolume", "existingClaim": "shared-cache"},
    )
    ready = wait_for(
        lambda: (c := condition(cluster, namespace, "CacheReady")).get("status") == "False" and c,
        timeout=FIRST_ROUND,
        what="CacheReady False",
    )
    assert "PersistentVolumeClaim shared-cache not found (spec.cache.existingClaim)" in ready["message"]
    assert condition(cluster, namespace, "Ready")["status"] == "False"
    assert cluster.kubectl("get", "pvc", "-n", namespace, "-o", "name").stdout.strip() == "", (
        "nothing created"
    )
