"""The default module cache (spec.cache.mode Proxy), proven on two real nodes whose volumes are
node-local (ReadWriteOnce, as on managed clusters): the operator runs the cache (its own image, a
Deployment on a ReadWriteOnce claim), builds on either node read it over the Pod network, and
nothing a build does to its own module cache reaches the next build.

The first test's upstream is the test's module proxy on this machine (`goproxy`); the second's is a
static mirror inside the cluster (devtools/images/goproxy, the quick start's kind, answering after
100 ms as a distant upstream would) serving a real program's 22 modules. Both log each request
with the client address, so a request from the cache's Pod and one from a build Pod are told
apart. The checksum database is off for the configs (go.sum is complete, and the cache keeps what
it cannot check only when nothing covers it): the cache's own checks against a database are proven
by tests/unit/test_modcache_server.py against x/mod's real checksum server.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Cluster
from support.waiting import wait_for

from .modules import ModuleSet, ModulesMissing, load
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


def build_on(
    cluster: Cluster, images: dict[str, str], name: str, *, script: str, node: str | None = None
) -> dict[str, Any]:
    """A build Pod opted into GoBuildConfig `corp`, running `script` on the project, on `node` if
    given (else wherever the scheduler puts it)."""
    pod = pod_manifest(
        name,
        config="corp",
        image=images[ROOT_IMAGE],
        project="project",
        script=script,
        host_ip=cluster.address,
    )
    if node is not None:
        pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": node}
    return pod


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
            return build_on(two_node_cluster, node_images, name, script=script, node=node)

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


# --------------------------------------------------------------------------- a real project


#: The in-cluster mirror's image: the static GOPROXY with yq's modules baked in.
MIRROR_IMAGE = "gobuild.dev/local/goproxy-yq:v1"
#: A line of the mirror's log: `2026/12/07 13:20:00 10.88.1.7 GET /golang.org/x/net/@v/v0.33.0.zip 200`.
MIRROR_LOG_LINE = re.compile(
    r"^\S+ \S+ (?P<client>\S+) (?P<method>GET|HEAD) (?P<path>\S+) (?P<status>\d{3})$"
)
#: What the build prints between `go mod download` and `go build` (milliseconds).
DOWNLOADED = re.compile(r"^downloaded in (?P<ms>\d+) ms$", re.MULTILINE)


@pytest.fixture(scope="module")
def real_project() -> ModuleSet:
    """github.com/mikefarah/yq/v4 v4.45.1's requirements, recorded from the Go module proxy."""
    try:
        return load(project="yq")
    except ModulesMissing as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="module")
def mirror_image(two_node_cluster: Cluster, real_project: ModuleSet) -> str:
    """The static mirror of the real project's modules, as an image on both nodes."""
    from localcluster.demo import mirror_image as build_mirror_image

    archive = build_mirror_image(MIRROR_IMAGE, real_project.download)
    if two_node_cluster.local is not None:
        two_node_cluster.local.import_images([archive.path])
    return archive.ref


def mirror_log(ns: Namespace) -> list[str]:
    """The in-cluster mirror's log lines so far."""
    return ns.kubectl("logs", "deployment/mirror", "-n", ns.name).stdout.splitlines()


def module_requests(log: list[str]) -> list[dict[str, str]]:
    """The module requests among the mirror's log lines (client, method, path, status)."""
    return [match.groupdict() for line in log if (match := MIRROR_LOG_LINE.match(line))]


@pytest.mark.timeout(1500)  # the mirror and the cache start, two real compiles of yq on 2 cores
def test_a_real_project_fetched_on_node_1_builds_on_node_2_without_asking_the_in_cluster_mirror(
    two_node_cluster: Cluster, node_images: dict[str, str], mirror_image: str, real_project: ModuleSet
) -> None:
    node1, node2 = two_node_cluster.node_names[:2]
    with fresh_namespace(two_node_cluster.kubectl, "e2e-realproject") as ns:
        from localcluster.demo import mirror_manifests

        # 100 ms before each answer: an upstream across a WAN, not one on the same node's bridge.
        mirror_objects = mirror_manifests(
            ns.name, name="mirror", image=mirror_image, node=node1, latency="100ms"
        )
        for manifest in mirror_objects:
            ns.kubectl("apply", "-n", ns.name, "-f", "-", input=json.dumps(manifest))
        ns.kubectl("rollout", "status", "deployment/mirror", "-n", ns.name, "--timeout=180s")
        ns.create_config_map("project", project_files(real_project.project))
        mirror = f"http://mirror.{ns.name}.svc.cluster.local"
        ns.apply_config("corp", {"goproxy": [mirror], "gosumdb": "off", "cache": {"enabled": True}})
        cache_ip = cache_pod_ip(ns, "corp")
        script = (
            "s=$(date +%s%N); go mod download; e=$(date +%s%N); "
            'echo "downloaded in $(( (e - s) / 1000000 )) ms"; '
            "go build -o /tmp/yq . && echo 'project: {name: gobuild}' | /tmp/yq eval '.project.name'"
        )

        def build(name: str, node: str) -> dict[str, Any]:
            return build_on(two_node_cluster, node_images, name, script=script, node=node)

        first = ns.run_pod(build("first", node1), timeout=900)

        assert first.phase == "Succeeded", str(first)
        assert first.logs.splitlines()[-1] == "gobuild", first.logs  # the real yq, built and run
        log = mirror_log(ns)
        fetched = module_requests(log)
        zips = {r["path"] for r in fetched if r["path"].endswith(".zip") and r["status"] == "200"}
        assert len(zips) >= 20, fetched  # the graph's module zips, through the cache
        assert {r["client"] for r in fetched} == {cache_ip}, fetched  # the build asked only the cache
        assert Counter(r["path"] for r in fetched).most_common(1)[0][1] == 1, fetched  # each file once

        second = ns.run_pod(build("second", node2), timeout=900)

        assert second.phase == "Succeeded", str(second)
        assert second.pod["spec"]["nodeName"] == node2 != first.pod["spec"]["nodeName"]
        assert second.logs.splitlines()[-1] == "gobuild", second.logs
        # Everything came from the cache's disk: the mirror's log has no request from anyone since.
        assert module_requests(mirror_log(ns)[len(log) :]) == []
        durations = [int(m["ms"]) for run in (first, second) if (m := DOWNLOADED.search(run.logs))]
        print(f"go mod download of yq's graph: first build {durations[0]} ms, second {durations[1]} ms")
