"""The whole injection contract, proven by Pods the real node runs: real go, git and ssh in the image.

Every test goes through the real chain: a GoBuildConfig and the Secrets/ConfigMaps it names are
applied to the real API server; a Pod (or a Job, whose Pod kube-controller-manager creates)
annotated ``gobuild.dev/config`` is mutated by the operator's real webhook; the kubelet runs it with
containerd and runc from the builder image (Debian bookworm, git, OpenSSH, Go 1.26), mounting the
Secret, ConfigMap, emptyDir and claim volumes itself; the test reads the phase, the termination
message and the log the kubelet reports, and the outcome the operator wrote on the GoBuildConfig
from them. Nothing the test writes reaches the container except through the stored Pod; the only
workload-side settings are what a user's own Pod would carry: the project's go.mod/go.sum from a
ConfigMap copied into an emptyDir, hostAliases for the git server's name (what a corporate DNS
would do; cluster DNS answers only cluster names), and a workload git rewrite in the HTTPS test.

The servers (module proxy, sshd, HTTPS git) run on this machine at `cluster.address`, the host's
end of the node's veth pair: a build's traffic crosses the Pod bridge, the node's routes and the
veth. Their request logs carry the client address, which is the Pod's own IP, so each request is
attributed to the Pod that made it (and the operator's proxy probes, made from this machine, are
never counted as a build's).

Checksums: sum.golang.org is unreachable, and no test needs it. Public modules come with a complete
go.sum and private ones are GOPRIVATE (so GONOSUMDB), which is when go never asks the checksum
database. To make that a checked fact rather than a hope, every config points GOSUMDB at a port of
this machine that refuses connections: a single lookup would fail the build.

Private modules over SSH: the operator rewrites ``https://HOST/`` to ``ssh://git@HOST[:PORT]/``,
keeping the path. The sshd serves its repositories below /srv/git, so these tests use a server of
their own whose module paths carry that path (``git.corp.example/srv/git/team/secretlib.git``, as
on a self-hosted git server reached over plain ssh); the Secret's known_hosts names
``[git.corp.example]:PORT``.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from conftest import Cluster
from support.operator_process import OperatorProcess
from support.waiting import wait_for

from .modules import ModuleSet
from .servers import (
    GoProxyServer,
    HttpsGitServer,
    ModuleStore,
    PrivateModule,
    PrivateRepos,
    SshGitServer,
    build_private_repos,
)
from .stored import Finished, Namespace, fresh_namespace

pytestmark = pytest.mark.usefixtures("operator")

CORP_HOST = "git.corp.example"
ROOT_IMAGE = "golang-1.26"
USER_IMAGE = "golang-1.26-nonroot"  # USER 1000:1000 with a passwd entry (gopher); no runAsUser needed


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def dead_sumdb(server_address: str) -> str:
    """A checksum database nobody answers: any lookup fails the build (see the module docstring)."""
    with socket.socket() as sock:
        sock.bind((server_address, 0))
        port = int(sock.getsockname()[1])
    return f"sum.golang.org http://{server_address}:{port}"


@pytest.fixture(scope="module")
def corp_git(server_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshGitServer]:
    """An sshd whose modules live at git.corp.example/srv/git/team/... (see the module docstring)."""
    from .conftest import require_sshd

    require_sshd()
    repos = build_private_repos(tmp_path_factory.mktemp("corp-repos"), host=f"{CORP_HOST}/srv/git")
    with SshGitServer(repos, tmp_path_factory.mktemp("corp-sshd"), host=server_address) as server:
        yield server


@pytest.fixture(scope="module")
def corp_proxy(go_modules: ModuleSet, server_address: str) -> Iterator[GoProxyServer]:
    """One GOPROXY for the tests of a module that share a GoBuildConfig."""
    with GoProxyServer(ModuleStore(go_modules.download), host=server_address) as server:
        yield server


def ssh_host(server: SshGitServer) -> str:
    """The privateModules.ssh.hosts entry: the name go sees, with the sshd's port."""
    return f"{CORP_HOST}:{server.port}"


def ssh_secret(server: SshGitServer, public_key: str | None = None) -> dict[str, bytes]:
    known_hosts = f"[{CORP_HOST}]:{server.port} {public_key or server.host_public_key}\n"
    return {"ssh-privatekey": server.client_private_key, "known_hosts": known_hosts.encode()}


def secretlib(server: SshGitServer) -> PrivateModule:
    return server.repos.modules["secretlib"]


def other_host_key(tmp_path: Path) -> str:
    """A freshly generated ed25519 public key that is not the sshd's."""
    key = tmp_path / "impostor"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    key_type, blob, *_ = key.with_suffix(".pub").read_text().split()
    return f"{key_type} {blob}"


def logins_from(server: SshGitServer, address: str) -> int:
    """Successful public-key logins the sshd has logged from `address` (a Pod's IP)."""
    return server.log().count(f"Accepted publickey for git from {address} ")


def project_files(path: Path) -> dict[str, str]:
    """A project folder as ConfigMap data (how the tests hand a build its go.mod/go.sum/main.go)."""
    return {file.name: file.read_text() for file in sorted(path.iterdir()) if file.is_file()}


# ------------------------------------------------------------------------------------ objects


def pod_manifest(
    name: str,
    *,
    config: str,
    image: str,
    script: str,
    project: str,
    host_ip: str,
    env: list[dict[str, str]] | None = None,
    pod_security: Mapping[str, Any] | None = None,
    container_security: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A build Pod a user would write, opted in with ``gobuild.dev/config: CONFIG``: its container
    copies the project (ConfigMap `project`) into an emptyDir and runs `script` there."""
    container: dict[str, Any] = {
        "name": "build",
        "image": image,
        "workingDir": "/src",
        "command": ["sh", "-c", f"set -e; cp /project/* .; {script}"],
        "volumeMounts": [
            {"name": "project", "mountPath": "/project", "readOnly": True},
            {"name": "src", "mountPath": "/src"},
        ],
    }
    if env:
        container["env"] = env
    if container_security:
        container["securityContext"] = dict(container_security)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "hostAliases": [{"ip": host_ip, "hostnames": [CORP_HOST]}],
        "containers": [container],
        "volumes": [{"name": "project", "configMap": {"name": project}}, {"name": "src", "emptyDir": {}}],
    }
    if pod_security:
        spec["securityContext"] = dict(pod_security)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": config}},
        "spec": spec,
    }


#: Prints who the build runs as (``id -un`` fails for a uid without a passwd entry).
WHO = 'u=`id -u`; n=`id -un 2>/dev/null` || n=-; echo "uid=$u user=$n"; '
GO_SUM_MARK = "--- go.sum"


def env_of(container: Mapping[str, Any]) -> dict[str, str]:
    return {var["name"]: var.get("value", "") for var in container.get("env") or []}


def pod_ip(finished: Finished) -> str:
    return str(finished.pod["status"]["podIP"])


def assert_injected_once(pod: Mapping[str, Any], config: str) -> None:
    """The stored Pod carries one injection of `config`: marker, label, no duplicated piece."""
    meta = pod["metadata"]
    assert meta["annotations"]["gobuild.dev/injected"] == config, meta
    assert meta["labels"]["gobuild.dev/config"] == config, meta
    volumes = [v["name"] for v in pod["spec"].get("volumes") or []]
    assert [n for n, count in Counter(volumes).items() if count > 1] == [], volumes
    for container in pod["spec"]["containers"]:
        names = [var["name"] for var in container.get("env") or []]
        assert [n for n, count in Counter(names).items() if count > 1] == [], names
        mounts = [m["mountPath"] for m in container.get("volumeMounts") or []]
        assert [p for p, count in Counter(mounts).items() if count > 1] == [], mounts
        env = env_of(container)
        if "GIT_CONFIG_COUNT" in env:
            keys = [n for n in names if n.startswith("GIT_CONFIG_KEY_")]
            assert int(env["GIT_CONFIG_COUNT"]) == len(keys), names


def ours(named: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The injected volumes or mounts (SPEC: named ``gobuild-*``)."""
    return [item for item in named if item["name"].startswith("gobuild-")]


def json_stream(text: str) -> list[dict[str, Any]]:
    """The objects `go mod download -json` prints one after another."""
    decoder, objects, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        obj, at = decoder.raw_decode(text, at)
        objects.append(obj)
    return objects


def failures_of(downloads: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """status.downloads.recentFailures by Pod name."""
    return {failure["pod"]: failure for failure in downloads.get("recentFailures") or []}


# ------------------------------------------------------------------ 1. private modules over SSH


def ssh_config(proxy: GoProxyServer, server: SshGitServer, dead_sumdb: str, *, secret: str) -> dict[str, Any]:
    return {
        "goproxy": [proxy.url],
        "gosumdb": dead_sumdb,
        "goflags": ["-mod=mod"],  # go writes the private module's go.sum line
        "privateModules": {"ssh": {"secretName": secret, "hosts": [ssh_host(server)]}},
    }


@pytest.fixture(scope="module")
def ssh_ns(
    cluster: Cluster,
    operator: OperatorProcess,
    corp_git: SshGitServer,
    corp_proxy: GoProxyServer,
    dead_sumdb: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Namespace]:
    """A team namespace: config `corp` (the Secret with the sshd's key and host key) and config
    `corp-wrongkey` (a Secret whose known_hosts names another key), and the project that needs
    secretlib as ConfigMap `secretlib-consumer`."""
    with fresh_namespace(cluster.kubectl, "e2e-ssh") as ns:
        ns.create_secret("corp-git-ssh", ssh_secret(corp_git), type="kubernetes.io/ssh-auth")
        impostor = other_host_key(tmp_path_factory.mktemp("impostor"))
        ns.create_secret(
            "corp-git-ssh-wrongkey", ssh_secret(corp_git, impostor), type="kubernetes.io/ssh-auth"
        )
        project = secretlib(corp_git).write_consumer(tmp_path_factory.mktemp("secretlib-consumer"))
        ns.create_config_map("secretlib-consumer", project_files(project))
        ns.apply_config("corp", ssh_config(corp_proxy, corp_git, dead_sumdb, secret="corp-git-ssh"))
        ns.apply_config(
            "corp-wrongkey", ssh_config(corp_proxy, corp_git, dead_sumdb, secret="corp-git-ssh-wrongkey")
        )
        yield ns


RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
#: (pod securityContext, container securityContext, image, what ``id`` prints in the container)
IDENTITIES: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]] = {
    "root": ({}, {}, ROOT_IMAGE, "uid=0 user=root"),
    "root-fsgroup": ({"fsGroup": 2000}, {}, ROOT_IMAGE, "uid=0 user=root"),
    "pod-runasuser": ({"runAsUser": 1000}, {}, ROOT_IMAGE, "uid=1000 user=-"),
    "container-runasuser-fsgroup": (
        {"fsGroup": 2000},
        {"runAsUser": 1000, "runAsGroup": 1000},
        ROOT_IMAGE,
        "uid=1000 user=-",
    ),
    "image-user": ({}, {}, USER_IMAGE, "uid=1000 user=gopher"),
    "image-user-fsgroup": ({"fsGroup": 1000}, {}, USER_IMAGE, "uid=1000 user=gopher"),
    # Pod Security "restricted": non-root, seccomp RuntimeDefault, no capabilities or escalation
    "restricted-image-user": (RESTRICTED_POD, RESTRICTED_CONTAINER, USER_IMAGE, "uid=1000 user=gopher"),
    "restricted-runasuser": (
        {**RESTRICTED_POD, "runAsUser": 1000},
        RESTRICTED_CONTAINER,
        ROOT_IMAGE,
        "uid=1000 user=-",
    ),
}
#: Identities the injection does not serve yet; strict, so fixing one fails here until its mark goes.
KNOWN_GAPS = {
    "restricted-runasuser": (
        "OpenSSH needs a passwd entry for the uid; the injected GIT_SSH_COMMAND gets one with `unshare -r`, "
        "which seccomp RuntimeDefault refuses (unshare: Operation not permitted), so go reports "
        "'no secure protocol found for repository'"
    ),
}


@pytest.fixture(scope="module")
def identity_builds(
    ssh_ns: Namespace, images: dict[str, str], server_address: str
) -> dict[str, dict[str, Any]]:
    """One build Pod per identity, all created at once (the node runs them side by side): name ->
    the Pod as stored at admission."""
    stored = {}
    for identity, (pod_security, container_security, image, _) in IDENTITIES.items():
        manifest = pod_manifest(
            f"build-{identity}",
            config="corp",
            image=images[image],
            project="secretlib-consumer",
            script=WHO + f"go mod download -json; echo '{GO_SUM_MARK}'; cat go.sum",
            host_ip=server_address,
            pod_security=pod_security,
            container_security=container_security,
        )
        stored[identity], _ = ssh_ns.create_pod(manifest)
    return stored


@pytest.mark.parametrize(
    "identity",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name]))
        if name in KNOWN_GAPS
        else name
        for name in IDENTITIES
    ],
)
def test_private_module_over_ssh_downloads_whoever_the_build_runs_as(
    ssh_ns: Namespace,
    identity_builds: dict[str, dict[str, Any]],
    corp_git: SshGitServer,
    corp_proxy: GoProxyServer,
    identity: str,
) -> None:
    """Root, a runAsUser the image has no passwd entry for, and the image's own non-root USER (which
    the webhook cannot see), each with and without fsGroup, and under Pod Security "restricted":
    the same injected Pod downloads."""
    who = IDENTITIES[identity][3]
    module = secretlib(corp_git)
    assert_injected_once(identity_builds[identity], "corp")

    build = ssh_ns.wait_finished(f"build-{identity}")

    assert build.phase == "Succeeded", f"{build}\n--- sshd:\n{corp_git.log()[-2000:]}"
    output, _, go_sum = build.logs.partition(GO_SUM_MARK + "\n")
    whoami, _, downloads = output.partition("\n")
    assert whoami == who
    (downloaded,) = json_stream(downloads)  # one module: fetched, checked, unpacked
    assert (downloaded["Path"], downloaded["Version"]) == (module.path, module.version)
    assert downloaded["Sum"].startswith("h1:"), downloaded
    assert "Error" not in downloaded, downloaded
    assert f"{module.path} {module.version}/go.mod h1:" in go_sum
    # GOPRIVATE: the private module never went to the proxy; it came over ssh with the Secret's key
    assert corp_proxy.requests_from(pod_ip(build)) == []
    assert logins_from(corp_git, pod_ip(build)) >= 1


@pytest.mark.parametrize("identity", ["root", "pod-runasuser"])
def test_ssh_host_key_checking_stays_strict(
    ssh_ns: Namespace,
    images: dict[str, str],
    corp_git: SshGitServer,
    server_address: str,
    identity: str,
) -> None:
    """A known_hosts that names another key for the git server stops the download, and the
    GoBuildConfig says why."""
    pod_security, container_security, image, _ = IDENTITIES[identity]
    module = secretlib(corp_git)

    def build(name: str, script: str) -> dict[str, Any]:
        return pod_manifest(
            name,
            config="corp-wrongkey",
            image=images[image],
            project="secretlib-consumer",
            script=script,
            host_ip=server_address,
            pod_security=pod_security,
            container_security=container_security,
        )

    # The build as a user writes it, and the same Pod asking git directly: go asks git for
    # https://HOST/PATH, which the injected rewrite sends over ssh.
    download_pod, git_pod = f"hostkey-{identity}", f"hostkey-git-{identity}"
    ssh_ns.create_pod(build(download_pod, "go mod download"))
    ssh_ns.create_pod(build(git_pod, f"git ls-remote https://{module.path}"))
    download = ssh_ns.wait_finished(download_pod)
    git = ssh_ns.wait_finished(git_pod)

    assert download.phase == "Failed", str(download)
    # For a module path with a .git qualifier go probes the schemes with `git ls-remote` and shows
    # git's stderr only with -v, which `go mod download` lacks: this line is all a build log says.
    bare = f"{module.path}@{module.version}: no secure protocol found for repository"
    assert bare in download.logs
    assert bare in download.terminated["message"]  # FallbackToLogsOnError: the log tail reached the API
    assert git.phase == "Failed", str(git)
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in git.logs, str(git)
    assert "Host key verification failed." in git.logs, str(git)
    for pod in (download, git):
        assert logins_from(corp_git, pod_ip(pod)) == 0  # ssh gave up before offering the key

    downloads = ssh_ns.wait_downloads(
        "corp-wrongkey",
        lambda d: {download_pod, git_pod} <= set(failures_of(d)),
        what=f"the failures of {download_pod} and {git_pod}",
    )
    failures = failures_of(downloads)
    assert failures[download_pod]["reason"] == "AuthenticationFailed"  # all go's message allows
    assert "no secure protocol" in failures[download_pod]["remedy"]
    assert failures[git_pod]["reason"] == "HostKeyVerificationFailed"
    assert "spec.privateModules.ssh.knownHostsKey" in failures[git_pod]["remedy"]
    assert {failures[p]["container"] for p in (download_pod, git_pod)} == {"build"}


# --------------------------------------------------------- 2. private modules over HTTPS + netrc


def https_config(server: HttpsGitServer, dead_sumdb: str, *, ca: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "goproxy": [server.proxy_url],  # public modules: go with NETRC and SSL_CERT_DIR
        "gosumdb": dead_sumdb,
        "goprivate": [CORP_HOST],  # the private module: git with the credential helper and GIT_SSL_CAINFO
        "goflags": ["-mod=mod"],
        "privateModules": {"netrc": {"secretName": "corp-netrc"}},
    }
    if ca:
        spec["caBundle"] = {"configMapName": "corp-ca"}
    return spec


def test_private_module_over_https_with_netrc_and_a_private_ca(
    cluster: Cluster,
    operator: OperatorProcess,
    images: dict[str, str],
    server_address: str,
    https_git: HttpsGitServer,
    private_repos: PrivateRepos,
    consumer_project: Path,
    dead_sumdb: str,
) -> None:
    """The server's certificate is trusted only through the injected caBundle, its Basic auth
    answered only from the netrc Secret; the token never shows in what the API server stores. The
    same Pod without the caBundle fails with x509, and both configs report what their Pods did."""
    module = private_repos.modules["tokenlib"]
    public_only = project_files(consumer_project)
    with (consumer_project / "go.mod").open("a") as go_mod:
        go_mod.write(f"\nrequire {module.path} {module.version}\n")
    with fresh_namespace(cluster.kubectl, "e2e-https") as ns:
        ns.create_secret("corp-netrc", {".netrc": https_git.netrc()})
        ns.create_config_map("corp-ca", {"ca.crt": https_git.ca_pem.decode()})
        ns.create_config_map("project", project_files(consumer_project))
        ns.create_config_map("public-project", public_only)
        ns.apply_config("corp", https_config(https_git, dead_sumdb, ca=True))
        ns.apply_config("corp-noca", https_config(https_git, dead_sumdb, ca=False))
        # The workload's own git rewrite to where its git server really is; ours are appended to it.
        rewrite = [{"name": k, "value": v} for k, v in https_git.rewrite_env().items()]

        def build(name: str, config: str, project: str, script: str) -> dict[str, Any]:
            return pod_manifest(
                name,
                config=config,
                image=images[ROOT_IMAGE],
                project=project,
                script=script,
                host_ip=server_address,
                env=rewrite,
            )

        trusted, warnings = ns.create_pod(build("build", "corp", "project", "go mod download -json"))
        # Without the caBundle: go cannot fetch a public module through the proxy, nor git the
        # private repository. (`go mod download` of the whole project stops at the private module
        # with go's bare "no secure protocol found for repository", see the ssh host key test.)
        untrusted, noca_warnings = ns.create_pod(
            build("build-noca", "corp-noca", "public-project", "go mod download")
        )
        ns.create_pod(build("git-noca", "corp-noca", "project", f"git ls-remote https://{module.path}"))
        assert_injected_once(trusted, "corp")
        assert_injected_once(untrusted, "corp-noca")

        result = ns.wait_finished("build")
        failed = ns.wait_finished("build-noca")
        git = ns.wait_finished("git-noca")

        assert result.phase == "Succeeded", str(result)
        downloads = {d["Path"]: d for d in json_stream(result.logs)}
        assert module.path in downloads
        assert len(downloads) == 6  # tokenlib and the five public modules
        assert [d for d in downloads.values() if "Error" in d or not d.get("Sum")] == []
        served = [r for r in https_git.requests_from(pod_ip(result)) if r.status == 200]
        assert {r.path.split("/")[1] for r in served} == {"git", "proxy"}  # git over HTTPS and go's proxy
        assert {r.user for r in served} == {https_git.username}

        assert failed.phase == "Failed", str(failed)
        assert "x509: certificate signed by unknown authority" in failed.terminated["message"], str(failed)
        assert git.phase == "Failed", str(git)
        assert "server certificate verification failed" in git.terminated["message"], str(git)

        # What the operator made of what the kubelet reported, per config.
        ok = ns.wait_downloads("corp", lambda d: d.get("succeeded") == 1, what="one success")
        assert (ok.get("injected"), ok.get("failed", 0)) == (1, 0), ok
        noca = ns.wait_downloads("corp-noca", lambda d: d.get("failed") == 2, what="two failures")
        assert (noca.get("injected"), noca.get("succeeded", 0)) == (2, 0), noca
        assert noca["byReason"] == {"CertificateUntrusted": 2}, noca
        assert noca["lastFailure"]["reason"] == "CertificateUntrusted"
        assert noca["lastFailure"]["pod"] in ("build-noca", "git-noca")
        assert "spec.caBundle" in noca["lastFailure"]["remedy"]

        # The token lives in the Secret only: not in either stored Pod, not in the configs' status,
        # not in admission warnings, events or the operator's log.
        token = https_git.token
        assert token.encode() in ns.secret_data("corp-netrc")[".netrc"]
        for name in ("build", "build-noca", "git-noca"):
            assert token not in json.dumps(ns.get("pod", name))
        for config in ("corp", "corp-noca"):
            assert token not in json.dumps(ns.get("gobuildconfig", config))
        assert token not in warnings + noca_warnings
        assert token not in ns.kubectl("get", "events", "-n", ns.name, "-o", "json").stdout
        log = operator.log()
        assert ns.name in log  # the log that covers this test (the operator does read the Secret)
        assert token not in log


# ------------------------------------------------------- 3. GOPROXY and a shared volume (SharedVolume)


def test_second_pod_on_the_shared_volume_downloads_without_asking_the_proxy(
    cluster: Cluster,
    images: dict[str, str],
    server_address: str,
    goproxy: GoProxyServer,
    consumer_project: Path,
    dead_sumdb: str,
) -> None:
    """mode SharedVolume: public modules come through spec.goproxy into the claim the operator
    creates; the next Pod on that claim finds them there and asks the proxy nothing."""
    with fresh_namespace(cluster.kubectl, "e2e-cache") as ns:
        ns.create_config_map("project", project_files(consumer_project))
        ns.apply_config(
            "corp",
            {
                "goproxy": [goproxy.url],
                "gosumdb": dead_sumdb,
                "cache": {"enabled": True, "mode": "SharedVolume"},
            },
        )

        def build(name: str) -> dict[str, Any]:
            return pod_manifest(
                name,
                config="corp",
                image=images[ROOT_IMAGE],
                project="project",
                # what the program imports is in the cache afterwards: it builds its package list
                # with lookups disabled
                script="go mod download && GOFLAGS=-mod=readonly GOPROXY=off go list -deps .",
                host_ip=server_address,
            )

        first_stored, _ = ns.create_pod(build("first"))
        assert_injected_once(first_stored, "corp")
        env = env_of(first_stored["spec"]["containers"][0])
        assert (env["GOPROXY"], env["GOMODCACHE"]) == (goproxy.url, "/go/pkg/mod")
        first = ns.wait_finished("first")

        assert first.phase == "Succeeded", str(first)
        assert "rsc.io/sampler" in first.logs.split()
        requests = goproxy.requests_from(pod_ip(first))
        assert len(requests) == 15  # .info, .mod and .zip of five modules
        assert all(r.status == 200 for r in requests), requests
        claim = ns.get("pvc", "corp-gomodcache")
        assert claim["status"]["phase"] == "Bound"
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        assert [ref["kind"] for ref in claim["metadata"]["ownerReferences"]] == ["GoBuildConfig"]

        second = ns.run_pod(build("second"))

        assert second.phase == "Succeeded", str(second)
        assert "rsc.io/sampler" in second.logs.split()
        assert pod_ip(second) != pod_ip(first)
        assert goproxy.requests_from(pod_ip(second)) == []
        done = ns.wait_downloads("corp", lambda d: d.get("succeeded") == 2, what="two successes")
        assert (done.get("injected"), done.get("failed", 0)) == (2, 0), done


# ----------------------------------------------------------------------- 4. a Job's Pod builds


def test_pod_of_a_job_carries_one_injection_and_builds(
    cluster: Cluster,
    images: dict[str, str],
    server_address: str,
    corp_git: SshGitServer,
    corp_proxy: GoProxyServer,
    dead_sumdb: str,
    tmp_path: Path,
) -> None:
    """The annotation sits on the Job's pod template; the Pod kube-controller-manager makes from it
    is admitted again by the webhook, must come out with the template's one injection, and builds
    and runs the program that needs the private module."""
    module = secretlib(corp_git)
    with fresh_namespace(cluster.kubectl, "e2e-job") as ns:
        ns.create_secret("corp-git-ssh", ssh_secret(corp_git), type="kubernetes.io/ssh-auth")
        ns.create_config_map("project", project_files(module.write_consumer(tmp_path / "project")))
        ns.apply_config("corp", ssh_config(corp_proxy, corp_git, dead_sumdb, secret="corp-git-ssh"))
        template = pod_manifest(
            "unused",
            config="corp",
            image=images[ROOT_IMAGE],
            project="project",
            script="go build -o /tmp/app . && exec /tmp/app",
            host_ip=server_address,
        )
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "nightly"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"annotations": template["metadata"]["annotations"]},
                    "spec": template["spec"],
                },
            },
        }

        pod = ns.create_job(job)

        stored_template = ns.get("job", "nightly")["spec"]["template"]
        assert [ref["kind"] for ref in pod["metadata"]["ownerReferences"]] == ["Job"]
        assert_injected_once(pod, "corp")
        # The Pod got nothing beyond the template's injection (the ServiceAccount admission plugin
        # adds its own kube-api-access volume and mount, which are not ours).
        (container,) = pod["spec"]["containers"]
        (in_template,) = stored_template["spec"]["containers"]
        assert container["env"] == in_template["env"]
        assert (
            ours(container["volumeMounts"])
            == ours(in_template["volumeMounts"])
            == [{"mountPath": "/etc/gobuild/ssh", "name": "gobuild-ssh", "readOnly": True}]
        )
        assert ours(pod["spec"]["volumes"]) == ours(stored_template["spec"]["volumes"])
        assert [v["name"] for v in ours(pod["spec"]["volumes"])] == ["gobuild-ssh"]

        result = ns.wait_finished(pod["metadata"]["name"])

        assert result.phase == "Succeeded", f"{result}\n--- sshd:\n{corp_git.log()[-2000:]}"
        # `kubectl logs` holds stderr too: go fetched the module during the build, then it ran
        assert result.logs.splitlines() == [f"go: downloading {module.path} {module.version}", module.message]
        wait_for(
            lambda: any(
                (c["type"], c["status"]) == ("Complete", "True")
                for c in ns.get("job", "nightly").get("status", {}).get("conditions", [])
            ),
            timeout=30,
            what="Job nightly to be Complete",
        )
        done = ns.wait_downloads("corp", lambda d: d.get("succeeded") == 1, what="the Job's Pod succeeding")
        assert (done.get("injected"), done.get("failed", 0)) == (1, 0), done
