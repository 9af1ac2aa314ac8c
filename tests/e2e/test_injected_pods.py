"""The whole injection contract, proven by real go, git and ssh inside the mutated Pod's environment.

Every test here goes through the real chain: a GoBuildConfig and the Secrets/ConfigMaps it names
are applied to the real API server; a Pod (or a Job, whose Pod kube-controller-manager creates)
annotated ``gobuild.dev/config`` is mutated by the operator's real webhook; the Pod is read back as
the API server stored it and one of its containers is run by the pod runner with the Secret and
ConfigMap data read back from the API server. Nothing the test writes reaches the container except
through the stored Pod; the only workload-side settings are what a user's own Pod would carry
(hostAliases for a name DNS would resolve on a real cluster, a workload git rewrite in the HTTPS
test).

Checksums: sum.golang.org is unreachable here, and no test needs it. Public modules come with a
complete go.sum and private ones are GOPRIVATE (so GONOSUMDB), which is when go never asks the
checksum database. To make that a checked fact rather than a hope, every config points GOSUMDB at
a local port that refuses connections: a single lookup would fail the build.

Private modules over SSH: the operator rewrites ``https://HOST/`` to ``ssh://git@HOST[:PORT]/``,
keeping the path. The loopback sshd serves its repositories below /srv/git, so these tests use a
server of their own whose module paths carry that path (``git.corp.example/srv/git/team/
secretlib.git``, as on a self-hosted git server reached over plain ssh); the Pod's hostAliases sends
git.corp.example to 127.0.0.1 and the Secret's known_hosts names ``[git.corp.example]:PORT``.
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

from .podrunner import Image, golang_image, run_container
from .servers import (
    GoProxyServer,
    PrivateModule,
    SshGitServer,
    build_private_repos,
)
from .servers.sshd import SSHD
from .stored import Namespace

pytestmark = pytest.mark.usefixtures("sandbox", "operator")

CORP_HOST = "git.corp.example"
#: What each container run may take; go, git and ssh all talk to loopback servers only.
RUN_TIMEOUT = 60
ROOT_IMAGE = golang_image()
USER_IMAGE = golang_image(user=(1000, 1000))  # USER 1000 with a passwd entry (gopher); no runAsUser needed


def _refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: A checksum database nobody answers: any lookup fails the build (see the module docstring).
DEAD_SUMDB = f"sum.golang.org http://127.0.0.1:{_refused_port()}"
#: The operator probes every GOPROXY URL for reporting.probeModule (MODULE/@v/list); a module no
#: build needs keeps those probes apart from the builds' own requests in the proxy's log.
PROBE_MODULE = "e2e.example/operator-probe"
REPORTING = {"probeModule": PROBE_MODULE}


def build_requests(proxy: GoProxyServer) -> list[str]:
    """Paths the proxy served to builds (the operator's probes left out)."""
    probes = set(proxy.module_requests(PROBE_MODULE))
    return [r.path for r in proxy.requests if r.path not in probes]


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def corp_git(sandbox: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshGitServer]:
    """An sshd whose modules live at git.corp.example/srv/git/team/... (see the module docstring)."""
    if not Path(SSHD).exists():
        pytest.skip("openssh-server is not installed (apt-get install openssh-server)")
    repos = build_private_repos(tmp_path_factory.mktemp("corp-repos"), host=f"{CORP_HOST}/srv/git")
    with SshGitServer(repos, tmp_path_factory.mktemp("corp-sshd")) as server:
        yield server


@pytest.fixture
def ns(cluster: Cluster, namespace: str) -> Namespace:
    return Namespace(cluster.kubectl, namespace)


def ssh_host(server: SshGitServer) -> str:
    """The privateModules.ssh.hosts entry: the name go sees, with the sshd's port."""
    return f"{CORP_HOST}:{server.port}"


def known_hosts(server: SshGitServer, public_key: str | None = None) -> bytes:
    return f"[{CORP_HOST}]:{server.port} {public_key or server.host_public_key}\n".encode()


def ssh_secret(server: SshGitServer, public_key: str | None = None) -> dict[str, bytes]:
    return {"ssh-privatekey": server.client_private_key, "known_hosts": known_hosts(server, public_key)}


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


# ------------------------------------------------------------------------------------ objects


def pod_manifest(
    name: str,
    *,
    config: str,
    command: list[str],
    env: list[dict[str, str]] | None = None,
    pod_security: Mapping[str, Any] | None = None,
    container_security: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A build Pod a user would write, opted in with ``gobuild.dev/config: CONFIG``."""
    container: dict[str, Any] = {
        "name": "build",
        "image": "golang:1.26",
        "workingDir": "/src",
        "command": command,
    }
    if env:
        container["env"] = env
    if container_security:
        container["securityContext"] = dict(container_security)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        # cluster DNS would resolve the git server's name; the runner has hostAliases for that
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": [CORP_HOST]}],
        "containers": [container],
    }
    if pod_security:
        spec["securityContext"] = dict(pod_security)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": config}},
        "spec": spec,
    }


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


#: Prints who the build runs as (``id -un`` fails for a uid without a passwd entry), then builds.
WHO = 'u=`id -u`; n=`id -un 2>/dev/null` || n=-; echo "uid=$u user=$n"; '


def env_of(container: Mapping[str, Any]) -> dict[str, str]:
    return {var["name"]: var.get("value", "") for var in container.get("env") or []}


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


def run_build(
    pod: Mapping[str, Any],
    ns: Namespace,
    *,
    project: Path,
    image: Image = ROOT_IMAGE,
    command: list[str] | None = None,
    claims: Mapping[str, Path] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the stored Pod's build container with every Secret/ConfigMap its volumes name, as the API
    server holds them."""
    volumes = pod["spec"].get("volumes") or []
    secrets = [v["secret"]["secretName"] for v in volumes if "secret" in v]
    config_maps = [v["configMap"]["name"] for v in volumes if "configMap" in v]
    return run_container(
        pod,
        container="build",
        command=command,
        secrets=ns.secret_data(*secrets),
        config_maps=ns.config_map_data(*config_maps),
        claims=claims or {},
        image=image,
        workdir=project,
        timeout=RUN_TIMEOUT,
    )


# ------------------------------------------------------------------ 1. private modules over SSH


def ssh_config(goproxy: GoProxyServer, server: SshGitServer) -> dict[str, Any]:
    return {
        "goproxy": [goproxy.url],
        "gosumdb": DEAD_SUMDB,
        "goflags": ["-mod=mod"],  # go writes the private module's go.sum line
        "reporting": REPORTING,
        "privateModules": {"ssh": {"secretName": "corp-git-ssh", "hosts": [ssh_host(server)]}},
    }


#: (pod securityContext, container securityContext, image, what ``id`` prints in the container)
IDENTITIES = {
    "root": ({}, {}, ROOT_IMAGE, "uid=0 user=root"),
    "root-fsGroup": ({"fsGroup": 2000}, {}, ROOT_IMAGE, "uid=0 user=root"),
    "pod-runAsUser": ({"runAsUser": 1000}, {}, ROOT_IMAGE, "uid=1000 user=-"),
    "container-runAsUser-fsGroup": (
        {"fsGroup": 2000},
        {"runAsUser": 1000, "runAsGroup": 1000},
        ROOT_IMAGE,
        "uid=1000 user=-",
    ),
    "image-USER": ({}, {}, USER_IMAGE, "uid=1000 user=gopher"),
    "image-USER-fsGroup": ({"fsGroup": 1000}, {}, USER_IMAGE, "uid=1000 user=gopher"),
}


@pytest.mark.parametrize("identity", list(IDENTITIES), ids=list(IDENTITIES))
def test_private_module_over_ssh_downloads_whoever_the_build_runs_as(
    ns: Namespace, goproxy: GoProxyServer, corp_git: SshGitServer, tmp_path: Path, identity: str
) -> None:
    """Root, a runAsUser the image has no passwd entry for, and the image's own non-root USER (which
    the webhook cannot see), each with and without fsGroup: the same injected Pod downloads."""
    pod_security, container_security, image, who = IDENTITIES[identity]
    module = secretlib(corp_git)
    ns.create_secret("corp-git-ssh", ssh_secret(corp_git), type="kubernetes.io/ssh-auth")
    ns.apply_config("corp", ssh_config(goproxy, corp_git))
    manifest = pod_manifest(
        "build",
        config="corp",
        command=sh(WHO + "exec go mod download -json"),
        pod_security=pod_security,
        container_security=container_security,
    )
    stored, _ = ns.create_pod(manifest)
    assert_injected_once(stored, "corp")
    project = module.write_consumer(tmp_path / "project")
    project.chmod(0o777)  # a non-root build writes go.sum

    result = run_build(stored, ns, project=project, image=image)

    assert result.returncode == 0, result.stdout + result.stderr + corp_git.log()[-2000:]
    whoami, _, downloads = result.stdout.partition("\n")
    assert whoami == who
    downloaded = json.loads(downloads)  # one module: fetched, checked, unpacked
    assert (downloaded["Path"], downloaded["Version"]) == (module.path, module.version)
    assert downloaded["Sum"].startswith("h1:"), downloaded
    assert "Error" not in downloaded, downloaded
    assert f"{module.path} {module.version}/go.mod h1:" in (project / "go.sum").read_text()
    assert build_requests(goproxy) == []  # GOPRIVATE: the private module never went to the proxy


@pytest.mark.parametrize("identity", ["root", "pod-runAsUser"])
def test_ssh_host_key_checking_stays_strict(
    ns: Namespace, goproxy: GoProxyServer, corp_git: SshGitServer, tmp_path: Path, identity: str
) -> None:
    """A known_hosts that names another key for the git server stops the download."""
    pod_security, container_security, image, _ = IDENTITIES[identity]
    module = secretlib(corp_git)
    ns.create_secret(
        "corp-git-ssh", ssh_secret(corp_git, other_host_key(tmp_path)), type="kubernetes.io/ssh-auth"
    )
    ns.apply_config("corp", ssh_config(goproxy, corp_git))
    stored, _ = ns.create_pod(
        pod_manifest(
            "build",
            config="corp",
            command=["go", "mod", "download"],
            pod_security=pod_security,
            container_security=container_security,
        )
    )
    project = module.write_consumer(tmp_path / "project")
    project.chmod(0o777)

    download = run_build(stored, ns, project=project, image=image)
    # go asks git for https://HOST/PATH, which the injected rewrite sends over ssh
    repo = f"https://{module.path}"
    git = run_build(stored, ns, project=project, image=image, command=["git", "ls-remote", repo])

    assert download.returncode != 0, download.stdout
    # For a module path with a .git qualifier go probes the schemes with `git ls-remote` and shows
    # git's stderr only with -v, which `go mod download` lacks: this line is all a build log says.
    assert f"{module.path}@{module.version}: no secure protocol found for repository" in download.stderr
    assert not (project / "go.sum").exists()
    assert git.returncode != 0, git.stdout
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in git.stderr, git.stderr
    assert "Host key verification failed." in git.stderr, git.stderr
