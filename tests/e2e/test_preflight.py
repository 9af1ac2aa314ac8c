"""`preflight` on the real node: the command creates its Job through the real API server, the
operator's real webhook injects it with the config, the kubelet runs real go from the builder
image (golang:1.26, the command's default image), and the command reads the Pod's log back.

The module proxy is the e2e GoProxyServer on this machine (the recorded real modules); the
checksum database is off, so nothing is asked of a public name (the node's Pods have no route off
this machine anyway). Each case is what the issue names: everything right exits 0 and leaves
nothing behind; a module the proxy lacks, an incomplete go.sum, an unreachable proxy and a go line
newer than the image each exit 1 naming the module (or the project), the route and the remedy.
After the passing run and the missing-module run, the operator has recorded each on the config's
status.lastPreflight (Passed; Failed with the module and ModuleNotFound) and counted neither in
status.downloads.

A private module over SSH comes from the e2e sshd on this machine, named by its address
(`ADDRESS/srv/git/team/secretlib.git`: a module path's first element may be an IPv4 address, so
no name has to be mapped into the Pod), with the config's privateModules.ssh; with the right
known_hosts it downloads, with a known_hosts that lacks the server's key it fails on the direct
route with HostKeyVerificationFailed (go's own message says only "no secure protocol found"; the
Job's `git ls-remote` of the repository says why).

`check --preflight` runs the same Job with the image of a Dockerfile's go stage: a stage image
golang:1.26 (through an ARG and a stage name) and a go line newer than it is ToolchainNotAvailable.
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
from support.waiting import wait_for

from .modules import ModuleSet
from .servers import (
    GoProxyServer,
    HttpsGitServer,
    ModuleStore,
    PrivateModule,
    SshGitServer,
    build_private_repos,
)
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


@pytest.fixture(scope="module")
def git_server(server_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshGitServer]:
    from .conftest import require_sshd

    require_sshd()
    repos = build_private_repos(tmp_path_factory.mktemp("preflight-repos"), host=f"{server_address}/srv/git")
    with SshGitServer(repos, tmp_path_factory.mktemp("preflight-sshd"), host=server_address) as server:
        yield server


def secretlib_sums(server: SshGitServer, tmp_path: Path) -> str:
    """secretlib's go.sum lines, from the host's go fetching it from the sshd (GOPROXY=direct)."""
    module = server.repos.modules["secretlib"]
    key = tmp_path / "id_ed25519"
    key.write_bytes(server.client_private_key)
    key.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line)
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/go/bin:/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GOMODCACHE": str(tmp_path / "gomodcache"),
        "GOCACHE": str(tmp_path / "gocache"),
        "GOTOOLCHAIN": "local",
        "GOSUMDB": "off",
        "GOPROXY": "direct",
        "GOPRIVATE": server.host,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": server.ssh_command(key=key, known_hosts=known),
        **server.rewrite_env(),
    }
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{module.path}@{module.version}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    got = json.loads(done.stdout)
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path / "gomodcache")], check=False)
    line = f"{module.path} {module.version}"
    return f"{line} {got['Sum']}\n{line}/go.mod {got['GoModSum']}\n"


def with_secretlib(project: Path, module: PrivateModule, sums: str) -> None:
    go_mod = project / "go.mod"
    go_mod.write_text(
        go_mod.read_text().replace("require (\n", f"require (\n\t{module.path} {module.version}\n", 1)
    )
    (project / "go.sum").write_text((project / "go.sum").read_text() + sums)


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


def config_status(ns: Namespace, config: str = "corp") -> dict[str, Any]:
    return dict(ns.get("gobuildconfig", config).get("status") or {})


def counts(status: dict[str, Any]) -> tuple[int, int, int]:
    """status.downloads' (injected, succeeded, failed)."""
    downloads = status.get("downloads") or {}
    return downloads.get("injected", 0), downloads.get("succeeded", 0), downloads.get("failed", 0)


def new_last_preflight(ns: Namespace, before: dict[str, Any], config: str = "corp") -> dict[str, Any]:
    """The config's status once the operator has recorded a preflight other than `before`'s."""
    old = (before.get("lastPreflight") or {}).get("pod")

    def recorded() -> dict[str, Any] | None:
        status = config_status(ns, config)
        record = status.get("lastPreflight") or {}
        return status if record.get("pod") not in (None, old) else None

    return wait_for(recorded, timeout=30, interval=0.5, what=f"a new status.lastPreflight on {config}")


def left_behind(ns: Namespace) -> list[str]:
    listed = ns.kubectl("get", "jobs,configmaps", "-n", ns.name, "-l", "gobuild.dev/preflight", "-o", "name")
    return listed.stdout.split()


@pytest.mark.timeout(600)
def test_everything_right_exits_zero_and_leaves_nothing_behind(
    cluster: Cluster, ns: Namespace, proxy: GoProxyServer, consumer_project: Path
) -> None:
    proxy.reset()
    before = config_status(ns)
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
    # the operator recorded the run on the config's status, and did not count it as a build
    status = new_last_preflight(ns, before)
    record = status["lastPreflight"]
    assert (record["outcome"], record["modules"], record.get("failing", [])) == ("Passed", 5, [])
    assert record["pod"].startswith("gobuild-preflight-")
    assert counts(status) == counts(before)  # the preflight Pod is not a build


@pytest.mark.timeout(600)
def test_a_module_absent_from_the_proxy_is_named_with_its_route_and_remedy(
    cluster: Cluster, ns: Namespace, proxy: GoProxyServer, consumer_project: Path
) -> None:
    go_mod = consumer_project / "go.mod"
    go_mod.write_text(
        go_mod.read_text().replace("require (\n", "require (\n\texample.com/absent v1.0.0\n", 1)
    )
    before = config_status(ns)

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
    status = new_last_preflight(ns, before)
    record = status["lastPreflight"]
    assert (record["outcome"], record["modules"]) == ("Failed", 6)
    assert record["failing"] == [{"module": "example.com/absent", "reason": "ModuleNotFound"}]
    assert counts(status) == counts(before)  # the preflight Pod is not a build


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


@pytest.mark.timeout(600)
def test_check_preflight_runs_the_dockerfiles_go_stage_image(
    cluster: Cluster, ns: Namespace, consumer_project: Path
) -> None:
    """`check --preflight`: the go stage's image, named through an ARG and a stage name, is the one
    the Job runs, so a go line newer than its Go is ToolchainNotAvailable before any image build."""
    go_mod = consumer_project / "go.mod"
    go_mod.write_text(go_mod.read_text().replace("go 1.22.0", "go 1.99.0"))
    (consumer_project / "Dockerfile").write_text(
        "ARG GO_VERSION=1.26\n"
        "FROM golang:${GO_VERSION} AS base\n"
        "ARG GOPROXY GOSUMDB\n"
        "WORKDIR /src\n"
        "FROM base AS build\n"
        "ARG GOPROXY GOSUMDB\n"
        "COPY go.mod go.sum ./\n"
        "RUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    )
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    argv = ["check", str(consumer_project / "Dockerfile"), "--config", "corp", "-n", ns.name, "--preflight"]
    done = subprocess.run(
        [sys.executable, "-m", "gobuild_operator", *argv, "-o", "json", "--timeout", "240"],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert [f["reason"] for f in answer["findings"]] == ["GoVersionTooOld"]  # the static check
    preflight = answer["preflight"]
    assert (preflight["image"], preflight["goMod"]) == ("golang:1.26", "go.mod")
    assert preflight["goVersion"].startswith("go1.26.")  # real go from the stage's image
    assert {r["outcome"] for r in preflight["modules"]} == {"ok"}
    [project] = [c for c in preflight["checks"] if c["check"] == "project"]
    assert project["reason"] == "ToolchainNotAvailable"
    assert left_behind(ns) == []


@pytest.mark.timeout(600)
@pytest.mark.parametrize("known_hosts", ["right", "without-the-server"])
def test_a_private_module_over_ssh_takes_the_direct_route_with_the_configs_key(
    known_hosts: str,
    cluster: Cluster,
    ns: Namespace,
    proxy: GoProxyServer,
    git_server: SshGitServer,
    consumer_project: Path,
    tmp_path: Path,
) -> None:
    module = git_server.repos.modules["secretlib"]
    with_secretlib(consumer_project, module, secretlib_sums(git_server, tmp_path))
    config = f"ssh-{known_hosts}"
    data = git_server.secret_data()
    if known_hosts != "right":  # a known_hosts with another server's line only
        data["known_hosts"] = b"[192.0.2.1]:22 " + git_server.host_public_key.encode() + b"\n"
    ns.create_secret(config, data, type="kubernetes.io/ssh-auth")
    host = f"{git_server.host}:{git_server.port}"
    ns.apply_config(
        config,
        {
            "goproxy": [proxy.url, "off"],
            "gosumdb": "off",
            "privateModules": {"ssh": {"secretName": config, "hosts": [host]}},
        },
    )

    code, answer = report(cluster, ns, consumer_project, config=config)

    row = rows(answer)[module.path]
    assert (row["route"], row["via"], row["noproxy"], row["credential"]) == (
        "direct",
        "direct",
        f"GOPRIVATE={git_server.host}",
        f"ssh {host}",
    )
    public = [r for m, r in rows(answer).items() if m != module.path]
    assert {(r["route"], r["outcome"]) for r in public} == {("proxy", "ok")}
    if known_hosts == "right":
        assert code == 0, row
        assert row["outcome"] == "ok"
    else:
        assert code == 1
        # go says only "no secure protocol found" (test_injected_pods.py); the Job's git ls-remote
        # of the same repository, through the same rewrite and key, says why
        assert (row["outcome"], row["reason"]) == ("failed", "HostKeyVerificationFailed")
        assert "host key" in row["evidence"]
        assert "spec.privateModules.ssh.knownHostsKey" in row["remedy"]


@pytest.mark.timeout(600)
def test_a_missing_netrc_secret_is_found_before_the_deadline_naming_the_field(
    cluster: Cluster, ns: Namespace, proxy: GoProxyServer, consumer_project: Path
) -> None:
    ns.apply_config(
        "no-netrc",
        {
            "goproxy": [proxy.url, "off"],
            "gosumdb": "off",
            "privateModules": {"netrc": {"secretName": "absent-tokens"}},
        },
    )

    code, out, err = preflight(
        cluster, ns, consumer_project, "--config", "no-netrc", "-o", "json", "--timeout", "240"
    )

    assert code == 1, err
    answer = json.loads(out)
    [pod] = answer["checks"]
    assert (pod["check"], pod["outcome"]) == ("pod", "failed")
    assert 'secret "absent-tokens" not found' in pod["evidence"]
    assert "spec.privateModules.netrc.secretName" in pod["remedy"]
    assert {r["outcome"] for r in answer["modules"]} == {"not checked"}
    assert {r["credential"] for r in answer["modules"]} == {f"netrc {proxy.url.split('//')[1].split(':')[0]}"}
    assert left_behind(ns) == []


@pytest.mark.timeout(600)
def test_an_authenticated_https_proxy_with_netrc_and_a_private_ca(
    cluster: Cluster, ns: Namespace, https_git: HttpsGitServer, consumer_project: Path
) -> None:
    """The config's proxy is HTTPS with a private CA and Basic auth from the netrc Secret: with the
    right token every module downloads and the token never shows; with a wrong one the proxy's 401
    is AuthenticationFailed; without the caBundle, CertificateUntrusted."""
    ns.create_secret("https-netrc", {".netrc": https_git.netrc()})
    ns.create_secret("https-netrc-wrong", {".netrc": https_git.netrc(token="not-the-token")})
    ns.create_config_map("https-ca", {"ca.crt": https_git.ca_pem.decode()})
    base = {"goproxy": [https_git.proxy_url, "off"], "gosumdb": "off"}
    ns.apply_config(
        "https",
        {
            **base,
            "privateModules": {"netrc": {"secretName": "https-netrc"}},
            "caBundle": {"configMapName": "https-ca"},
        },
    )
    ns.apply_config(
        "https-wrong-token",
        {
            **base,
            "privateModules": {"netrc": {"secretName": "https-netrc-wrong"}},
            "caBundle": {"configMapName": "https-ca"},
        },
    )
    ns.apply_config("https-no-ca", {**base, "privateModules": {"netrc": {"secretName": "https-netrc"}}})
    host = https_git.proxy_url.split("//")[1].split(":")[0]

    code, out, err = preflight(
        cluster, ns, consumer_project, "--config", "https", "-o", "json", "--timeout", "240"
    )
    assert code == 0, out + err
    answer = json.loads(out)
    assert {(r["route"], r["credential"], r["outcome"]) for r in answer["modules"]} == {
        ("proxy", f"netrc {host}", "ok")
    }
    assert https_git.token not in out + err
    served = [r for r in https_git.requests if r.status == 200 and r.path.startswith("/proxy/")]
    assert {r.user for r in served} == {https_git.username}  # go answered the proxy from the netrc

    code, wrong = report(cluster, ns, consumer_project, config="https-wrong-token")
    assert code == 1
    assert {r["reason"] for r in wrong["modules"]} == {"AuthenticationFailed"}
    assert "not-the-token" not in json.dumps(wrong)

    code, untrusted = report(cluster, ns, consumer_project, config="https-no-ca")
    assert code == 1
    assert {r["reason"] for r in untrusted["modules"]} == {"CertificateUntrusted"}
    assert all("spec.caBundle" in r["remedy"] for r in untrusted["modules"])
