"""What the operator tells about a failing route, proven with real go on the node.

- A module an in-cluster mirror lacks, behind `GOPROXY=mirror,off`: go reports only "module lookup
  disabled by GOPROXY=off". The operator names the reason (ModuleNotFound), the module and the
  mirror on the status, and its remedy (a proxy that has the module before "off") fixes the build
  when applied, while ProxiesReachable stays True (the mirror answers; it lacks one module).
- A GOPROXY whose port refuses connections: the probe finds it within seconds, the config is not
  Ready (reason ProxyUnreachable, which `kubectl get gbc` shows), and creating a build with it gets
  an admission warning naming the URL, instead of a build that fails minutes later.

The mirror and the full proxy are GoProxyServers on this machine (tests/e2e/servers); the project is
testdata/consumer (go.mod and go.sum of real modules), so no checksum database is asked.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Cluster
from support.waiting import wait_for

from .modules import ModuleSet
from .servers import GoProxyServer, ModuleStore
from .stored import fresh_namespace
from .test_injected_pods import ROOT_IMAGE, pod_manifest, project_files

pytestmark = pytest.mark.usefixtures("operator")


@pytest.fixture
def empty_mirror(server_address: str) -> Iterator[GoProxyServer]:
    """An in-cluster mirror that has none of the project's modules (every request is 404)."""
    with GoProxyServer(ModuleStore(), host=server_address) as server:
        yield server


@pytest.fixture
def refused_url(server_address: str) -> str:
    """A GOPROXY URL on this machine where nothing listens."""
    with socket.socket() as sock:
        sock.bind((server_address, 0))
        port = int(sock.getsockname()[1])
    return f"http://{server_address}:{port}"


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_)


def test_a_module_the_mirror_lacks_is_named_with_the_mirror_and_the_remedy_fixes_it(
    cluster: Cluster,
    images: dict[str, str],
    server_address: str,
    empty_mirror: GoProxyServer,
    goproxy: GoProxyServer,
    consumer_project: Path,
    go_modules: ModuleSet,
) -> None:
    mirror_host = empty_mirror.url.split("://", 1)[1].rstrip("/")
    with fresh_namespace(cluster.kubectl, "e2e-mirror") as ns:
        ns.create_config_map("project", project_files(consumer_project))
        base = {"gosumdb": "off", "cache": {"enabled": False}}
        ns.apply_config("mirror", {**base, "goproxy": [empty_mirror.url, "off"]})

        def build(name: str) -> dict[str, Any]:
            return pod_manifest(
                name,
                config="mirror",
                image=images[ROOT_IMAGE],
                project="project",
                script="go mod download",
                host_ip=server_address,
            )

        failed = ns.run_pod(build("first"))
        assert failed.phase == "Failed", str(failed)
        assert "module lookup disabled by GOPROXY=off" in failed.logs
        downloads = ns.wait_downloads("mirror", lambda d: d.get("failed") == 1, what="the failure")
        last = downloads["lastFailure"]
        assert (last["reason"], last["route"], last["host"]) == ("ModuleNotFound", "proxy", mirror_host)
        required = (consumer_project / "go.mod").read_text()
        assert last["module"]
        assert last["module"] in required
        assert f"{mirror_host}: it does not have {last['module']}" in last["remedy"]
        assert 'before "off"' in last["remedy"]
        stored = ns.get("gobuildconfig", "mirror")
        assert condition(stored, "DownloadsHealthy")["reason"] == "ModuleNotFound"
        assert last["module"] in condition(stored, "DownloadsHealthy")["message"]
        probed = wait_for(
            lambda: condition(ns.get("gobuildconfig", "mirror"), "ProxiesReachable"),
            timeout=60,
            what="the mirror's probe",
        )
        assert probed is not None
        assert probed["status"] == "True", "the mirror answers: it lacks a module, it is not down"

        # the remedy: a proxy that has the module, before "off"
        ns.apply_config("mirror", {**base, "goproxy": [empty_mirror.url, goproxy.url, "off"]})
        fixed = ns.run_pod(build("second"))
        assert fixed.phase == "Succeeded", str(fixed)
        done = ns.wait_downloads("mirror", lambda d: d.get("succeeded") == 1, what="the fixed build")
        assert done["failed"] == 1


def test_a_refused_proxy_is_not_ready_and_warns_whoever_creates_a_build(
    cluster: Cluster, images: dict[str, str], server_address: str, refused_url: str
) -> None:
    with fresh_namespace(cluster.kubectl, "e2e-refused") as ns:
        ns.apply_config("down", {"goproxy": [refused_url], "gosumdb": "off", "cache": {"enabled": False}})

        def not_ready() -> dict[str, Any] | None:
            ready = condition(ns.get("gobuildconfig", "down"), "Ready")
            return ready if ready["status"] == "False" else None

        ready = wait_for(not_ready, timeout=60, what="the config to turn not Ready after its probe")
        assert ready is not None
        assert ready["reason"] == "ProxyUnreachable"
        assert refused_url in ready["message"]
        table = cluster.kubectl("get", "gbc", "-n", ns.name).stdout
        header, row = table.splitlines()[:2]
        assert "REASON" in header.split()
        assert "ProxyUnreachable" in row.split()

        pod = pod_manifest(
            "build",
            config="down",
            image=images[ROOT_IMAGE],
            project="none",
            script="go version",
            host_ip=server_address,
        )
        pod["spec"]["volumes"][0] = {"name": "project", "emptyDir": {}}
        _, warnings = ns.create_pod(pod)
        assert "the GOPROXY probe" in warnings
        assert refused_url in warnings
        assert "builds fail at go mod download" in warnings
