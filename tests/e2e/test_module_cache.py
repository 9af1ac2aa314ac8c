"""The default module cache (spec.cache.mode Proxy), proven on two real nodes whose volumes are
node-local (ReadWriteOnce, as on managed clusters): the operator runs the cache (its own image, a
Deployment on a ReadWriteOnce claim), builds on either node read it over the Pod network, and
nothing a build does to its own module cache reaches the next build.

The upstream is the test's module proxy on this machine (`goproxy`); its request log carries the
client address, so a request from the cache's Pod and one from a build Pod are told apart. The
checksum database is off for the config (go.sum is complete, and the cache keeps what it cannot
check only when nothing covers it): the cache's own checks against a database are proven by
tests/unit/test_modcache_server.py against x/mod's real checksum server.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Cluster
from support.waiting import wait_for

from .modules import ModuleSet
from .servers import GoProxyServer, ModuleStore
from .stored import Namespace, fresh_namespace
from .test_injected_pods import ROOT_IMAGE, assert_injected_once, env_of, pod_ip, pod_manifest, project_files

pytestmark = pytest.mark.usefixtures("two_node_operator")

#: The file of rsc.io/sampler whose text the consumer prints ("Hello, world.").
SAMPLER_TEXT = "rsc.io/sampler@v1.3.0/hello.go"
#: What a hostile build writes into its module cache, hoping the next build compiles it.
POISON = "poisoned-by-an-earlier-build"


@pytest.fixture(scope="module")
def node_images(two_node_cluster: Cluster) -> dict[str, str]:
    """The builder image, and the operator's image (the cache runs it), on both nodes."""
    from localcluster.operator_image import ensure_operator_image

    archive = ensure_operator_image()
    if two_node_cluster.local is not None:
        two_node_cluster.local.import_images([archive.path])
    return {**two_node_cluster.load_images(ROOT_IMAGE), "operator": archive.ref}


@pytest.fixture
def upstream(go_modules: ModuleSet, two_node_cluster: Cluster) -> Iterator[GoProxyServer]:
    """The config's GOPROXY: the recorded modules, served on an address of this machine both nodes reach."""
    with GoProxyServer(ModuleStore(go_modules.download), host=two_node_cluster.address) as server:
        yield server


def cache_pod_ip(ns: Namespace, config: str) -> str:
    """The address of the cache's Pod once it is ready (what the upstream sees as the client)."""

    def ready() -> str | None:
        selector = f"app.kubernetes.io/name=gomodcache,app.kubernetes.io/instance={config}"
        listed = ns.kubectl("get", "pods", "-n", ns.name, "-l", selector, "-o", "json")
        pods = json.loads(listed.stdout)["items"]
        for pod in pods:
            conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
            if conditions.get("Ready") == "True":
                return str(pod["status"]["podIP"])
        return None

    address = wait_for(ready, timeout=180, what=f"the module cache of {ns.name}/{config} to be ready")
    assert address is not None
    return address


@pytest.mark.timeout(900)  # the cache's first start, two builds, a round of checks
def test_builds_on_two_nodes_share_modules_through_the_cache_and_none_changes_what_the_next_compiles(
    two_node_cluster: Cluster,
    node_images: dict[str, str],
    upstream: GoProxyServer,
    consumer_project: Path,
) -> None:
    goproxy, (node1, node2) = upstream, two_node_cluster.node_names[:2]
    with fresh_namespace(two_node_cluster.kubectl, "e2e-modcache") as ns:
        ns.create_config_map("project", project_files(consumer_project))
        # The cache's counters reach the status with each round of checks (probeIntervalSeconds).
        spec = {"goproxy": [goproxy.url], "gosumdb": "off", "cache": {"enabled": True}}
        ns.apply_config("corp", {**spec, "reporting": {"probeIntervalSeconds": 30}})
        cache_ip = cache_pod_ip(ns, "corp")
        claim = ns.get("pvc", "corp-gomodcache")
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]

        def build(name: str, script: str, *, node: str) -> dict[str, Any]:
            pod = pod_manifest(
                name,
                config="corp",
                image=node_images[ROOT_IMAGE],
                project="project",
                script=script,
                host_ip=two_node_cluster.address,
            )
            pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": node}
            return pod

        # The first build downloads through the cache, then rewrites the module it compiled in its
        # own module cache, as a pull-request build running untrusted code could.
        poison = (
            f'f="$(go env GOMODCACHE)/{SAMPLER_TEXT}"; chmod u+w "$f" "$(dirname "$f")"; '
            f'sed -i "s/Hello, world./{POISON}/" "$f"; '
        )
        stored, _ = ns.create_pod(build("first", f"go mod download; {poison} go run .", node=node1))
        assert_injected_once(stored, "corp")
        env = env_of(stored["spec"]["containers"][0])
        url = f"http://corp-gomodcache.{ns.name}.svc.cluster.local:8080"
        assert env["GOPROXY"] == f"{url}|{goproxy.url}"
        volumes = {v["name"]: v for v in stored["spec"]["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in stored["spec"]["containers"][0]["volumeMounts"]}
        assert "emptyDir" in volumes[mounts[env["GOMODCACHE"]]]  # its own, not the cache's claim
        assert not any("persistentVolumeClaim" in v for v in volumes.values())
        first = ns.wait_finished("first")

        assert first.phase == "Succeeded", str(first)
        assert POISON in first.logs  # it did change its own copy
        assert goproxy.requests_from(pod_ip(first)) == []  # the build asked only the cache
        fetched = Counter(r.path for r in goproxy.requests_from(cache_ip))
        assert sum(path.endswith(".zip") for path in fetched) == 5, fetched  # the five modules
        assert set(fetched.values()) == {1}, fetched  # each file fetched once
        goproxy.reset()

        second = ns.run_pod(build("second", "go run .", node=node2))

        assert second.phase == "Succeeded", str(second)
        assert second.pod["spec"]["nodeName"] == node2 != first.pod["spec"]["nodeName"]
        assert "Hello, world." in second.logs
        assert POISON not in second.logs
        # served from the cache's disk: neither the cache nor the build asked the upstream anything
        assert goproxy.requests_from(cache_ip) + goproxy.requests_from(pod_ip(second)) == []

        def cache_status() -> dict[str, Any] | None:
            cache = ns.get("gobuildconfig", "corp").get("status", {}).get("cache") or {}
            return cache if cache.get("available") and (cache.get("hits") or 0) >= 10 else None

        cache = wait_for(cache_status, timeout=90, what="the cache's hits on the GoBuildConfig's status")
        assert cache is not None
        assert (cache["mode"], cache["url"]) == ("Proxy", url)
        done = ns.wait_downloads("corp", lambda d: d.get("succeeded") == 2, what="two successes")
        assert done.get("failed", 0) == 0, done
