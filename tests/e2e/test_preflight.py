"""`preflight` on the real node: the command creates its Job through the real API server, the
operator's real webhook injects it with the config, the kubelet runs real go from the builder
image (golang:1.26, the command's default image), and the command reads the Pod's log back.

The module proxy is the e2e GoProxyServer on this machine (the recorded real modules); the
checksum database is off, so nothing is asked of a public name (the node's Pods have no route off
this machine anyway). Each case is what the issue names: everything right exits 0 and leaves
nothing behind; a module the proxy lacks, an incomplete go.sum, an unreachable proxy and a go line
newer than the image each exit 1 naming the module (or the project), the route and the remedy.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Cluster

from .modules import ModuleSet
from .servers import GoProxyServer, ModuleStore
from .stored import Namespace, fresh_namespace

pytestmark = pytest.mark.usefixtures("operator")

ROOT_IMAGE = "golang-1.26"  # docker.io/library/golang:1.26 on the node: preflight's default image


@pytest.fixture(scope="module")
def proxy(go_modules: ModuleSet, server_address: str) -> Iterator[GoProxyServer]:
    with GoProxyServer(ModuleStore(go_modules.download), host=server_address) as server:
        yield server


@pytest.fixture(scope="module")
def ns(
    cluster: Cluster, images: dict[str, str], proxy: GoProxyServer, server_address: str
) -> Iterator[Namespace]:
    assert images[ROOT_IMAGE] == "docker.io/library/golang:1.26"
    with socket.socket() as sock:  # a port of this machine nobody listens on
        sock.bind((server_address, 0))
        dead = f"http://{server_address}:{sock.getsockname()[1]}"
    with fresh_namespace(cluster.kubectl, "e2e-preflight") as namespace:
        namespace.apply_config("corp", {"goproxy": [proxy.url, "off"], "gosumdb": "off"})
        namespace.apply_config("dead", {"goproxy": [dead, "off"], "gosumdb": "off"})
        yield namespace


def preflight(cluster: Cluster, ns: Namespace, project: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    done = subprocess.run(
        [sys.executable, "-m", "gobuild_operator", "preflight", "-n", ns.name, str(project), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def report(
    cluster: Cluster, ns: Namespace, project: Path, config: str = "corp"
) -> tuple[int, dict[str, Any]]:
    code, out, err = preflight(cluster, ns, project, "--config", config, "-o", "json", "--timeout", "240")
    assert code in (0, 1), err
    return code, json.loads(out)


def rows(answer: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {row["module"]: row for row in answer["modules"]}


def left_behind(ns: Namespace) -> list[str]:
    listed = ns.kubectl("get", "jobs,configmaps", "-n", ns.name, "-l", "gobuild.dev/preflight", "-o", "name")
    return listed.stdout.split()


@pytest.mark.timeout(600)
def test_everything_right_exits_zero_and_leaves_nothing_behind(
    cluster: Cluster, ns: Namespace, proxy: GoProxyServer, consumer_project: Path
) -> None:
    proxy.reset()
    code, out, err = preflight(cluster, ns, consumer_project, "--config", "corp", "--timeout", "240")

    assert code == 0, out + err
    assert out.rstrip().endswith("preflight: every module downloads")
    header, *lines = out.split("\n\n")[0].splitlines()
    assert header.split() == ["MODULE", "VERSION", "ROUTE", "PATTERN", "SUMDB", "CREDENTIAL", "OUTCOME"]
    assert len(lines) == 5
    for line in lines:
        assert line.split()[2:] == [f"{proxy.url},off", "-", "off", "none", "ok"], line
    assert "project: ok (go 1.22.0; image: go1.26." in out
    # go in the Pod asked the proxy (the config's, injected by the webhook) for every module
    zips = {r.path for r in proxy.requests if r.path.endswith(".zip")}
    assert len(zips) == 5, zips
    assert left_behind(ns) == []


@pytest.mark.timeout(600)
def test_a_module_absent_from_the_proxy_is_named_with_its_route_and_remedy(
    cluster: Cluster, ns: Namespace, proxy: GoProxyServer, consumer_project: Path
) -> None:
    go_mod = consumer_project / "go.mod"
    go_mod.write_text(
        go_mod.read_text().replace("require (\n", "require (\n\texample.com/absent v1.0.0\n", 1)
    )

    code, answer = report(cluster, ns, consumer_project)

    assert code == 1
    assert answer["ok"] is False
    absent = rows(answer)["example.com/absent"]
    assert (absent["outcome"], absent["reason"], absent["route"]) == ("failed", "ModuleNotFound", "proxy")
    assert absent["via"] == f"{proxy.url},off"
    assert "example.com/absent" in absent["remedy"]
    assert "spec.goproxy" in absent["remedy"]
    assert {m: r["outcome"] for m, r in rows(answer).items() if m != "example.com/absent"} == dict.fromkeys(
        [
            "github.com/google/uuid",
            "golang.org/x/mod",
            "rsc.io/quote/v3",
            "golang.org/x/text",
            "rsc.io/sampler",
        ],
        "ok",
    )
    assert left_behind(ns) == []


@pytest.mark.timeout(600)
def test_an_incomplete_go_sum_is_named_with_the_module_and_the_missing_line(
    cluster: Cluster, ns: Namespace, consumer_project: Path
) -> None:
    go_sum = consumer_project / "go.sum"
    go_sum.write_text(
        "".join(
            line
            for line in go_sum.read_text().splitlines(True)
            if not line.startswith("rsc.io/sampler v1.3.0 h1:")
        )
    )

    code, answer = report(cluster, ns, consumer_project)

    assert code == 1
    failed = [row for row in answer["modules"] if row["outcome"] == "failed"]
    assert [(r["module"], r["route"], r["reason"]) for r in failed] == [
        ("rsc.io/sampler", "proxy", "MissingGoSum")
    ]
    assert failed[0]["evidence"].startswith("go.sum lacks: rsc.io/sampler v1.3.0 h1:")
    assert "go mod tidy" in failed[0]["remedy"]


@pytest.mark.timeout(600)
def test_an_unreachable_proxy_fails_every_module_naming_the_proxy(
    cluster: Cluster, ns: Namespace, consumer_project: Path
) -> None:
    code, answer = report(cluster, ns, consumer_project, config="dead")

    assert code == 1
    assert {r["reason"] for r in answer["modules"]} == {"ProxyUnreachable"}
    assert all("connection refused" in r["evidence"] for r in answer["modules"])
    assert all(r["remedy"].startswith("The proxy ") for r in answer["modules"])


@pytest.mark.timeout(600)
def test_a_go_line_newer_than_the_image_fails_the_project(
    cluster: Cluster, ns: Namespace, consumer_project: Path
) -> None:
    go_mod = consumer_project / "go.mod"
    go_mod.write_text(go_mod.read_text().replace("go 1.22.0", "go 1.99.0"))

    code, answer = report(cluster, ns, consumer_project)

    assert code == 1
    assert {r["outcome"] for r in answer["modules"]} == {"ok"}
    [project] = [c for c in answer["checks"] if c["check"] == "project"]
    assert project["reason"] == "ToolchainNotAvailable"
    assert answer["goVersion"].startswith("go1.26.")
    assert "golang:<that version>" in project["remedy"]
