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
from support.operator_process import OperatorProcess

from .modules import ModuleSet
from .podrunner import Image, golang_image, run_container
from .servers import (
    GoProxyServer,
    HttpsGitServer,
    PrivateModule,
    PrivateRepos,
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


def logins(server: SshGitServer) -> int:
    """Successful public-key logins the sshd has logged so far."""
    return server.log().count("Accepted publickey for git")


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


def ours(named: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The injected volumes or mounts (SPEC: named ``gobuild-*``)."""
    return [item for item in named if item["name"].startswith("gobuild-")]


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
    before = logins(corp_git)

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
    assert logins(corp_git) > before  # it came over ssh with the Secret's key


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
    before = logins(corp_git)

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
    assert logins(corp_git) == before  # ssh gave up before offering the key


# --------------------------------------------------------- 2. private modules over HTTPS + netrc


def https_config(server: HttpsGitServer, *, ca: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "goproxy": [server.proxy_url],  # public modules: go with NETRC and SSL_CERT_DIR
        "gosumdb": DEAD_SUMDB,
        "goprivate": [CORP_HOST],  # the private module: git with the credential helper and GIT_SSL_CAINFO
        "goflags": ["-mod=mod"],
        "reporting": REPORTING,
        "privateModules": {"netrc": {"secretName": "corp-netrc"}},
    }
    if ca:
        spec["caBundle"] = {"configMapName": "corp-ca"}
    return spec


def json_stream(text: str) -> list[dict[str, Any]]:
    """The objects `go mod download -json` prints one after another."""
    decoder, objects, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        obj, at = decoder.raw_decode(text, at)
        objects.append(obj)
    return objects


def test_private_module_over_https_with_netrc_and_a_private_ca(
    ns: Namespace,
    operator: OperatorProcess,
    https_git: HttpsGitServer,
    private_repos: PrivateRepos,
    go_modules: ModuleSet,
    consumer_project: Path,
    tmp_path: Path,
) -> None:
    """The server's certificate is trusted only through the injected caBundle, its Basic auth
    answered only from the netrc Secret; the token never shows in what the API server stores."""
    module = private_repos.modules["tokenlib"]
    with (consumer_project / "go.mod").open("a") as go_mod:
        go_mod.write(f"\nrequire {module.path} {module.version}\n")
    ns.create_secret("corp-netrc", {".netrc": https_git.netrc()})
    ns.create_config_map("corp-ca", {"ca.crt": https_git.ca_pem.decode()})
    ns.apply_config("corp", https_config(https_git, ca=True))
    ns.apply_config("corp-noca", https_config(https_git, ca=False))
    # The workload's own git rewrite to where its git server really is; ours are appended to it.
    rewrite = [{"name": k, "value": v} for k, v in https_git.rewrite_env().items()]
    command = ["go", "mod", "download", "-json"]
    trusted, warnings = ns.create_pod(pod_manifest("build", config="corp", command=command, env=rewrite))
    untrusted, noca_warnings = ns.create_pod(
        pod_manifest("build-noca", config="corp-noca", command=command, env=rewrite)
    )
    assert_injected_once(trusted, "corp")
    assert_injected_once(untrusted, "corp-noca")

    result = run_build(trusted, ns, project=consumer_project)

    assert result.returncode == 0, result.stderr
    downloads = {d["Path"]: d for d in json_stream(result.stdout)}
    assert module.path in downloads
    assert len(downloads) == 6  # tokenlib and the five public modules
    assert [d for d in downloads.values() if "Error" in d or not d.get("Sum")] == []
    served = [r for r in https_git.requests if r.status == 200 and PROBE_MODULE not in r.path]
    assert {r.path.split("/")[1] for r in served} == {"git", "proxy"}  # git over HTTPS and go's proxy
    assert {r.user for r in served} == {https_git.username}

    # Without the caBundle, the same Pod: go cannot fetch a public module through the proxy, nor git
    # the private repository. (`go mod download` of the whole project stops at the private module
    # with go's bare "no secure protocol found for repository", see the ssh host key test.)
    public_only = go_modules.copy_consumer(tmp_path / "public-only")
    failed = run_build(untrusted, ns, project=public_only)
    git = run_build(
        untrusted, ns, project=consumer_project, command=["git", "ls-remote", f"https://{module.path}"]
    )

    assert failed.returncode != 0, failed.stdout
    assert "x509: certificate signed by unknown authority" in failed.stderr, failed.stderr
    assert git.returncode != 0, git.stdout
    assert "server certificate verification failed" in git.stderr, git.stderr

    # The token lives in the Secret only: not in either stored Pod, not in the configs' status, not
    # in admission warnings, events or the operator's log.
    token = https_git.token
    assert token.encode() in ns.secret_data("corp-netrc")["corp-netrc"][".netrc"]
    for pod in (trusted, untrusted):
        assert token not in json.dumps(pod)
        assert token not in json.dumps(ns.get("pod", pod["metadata"]["name"]))
    for config in ("corp", "corp-noca"):
        assert token not in json.dumps(ns.get("gobuildconfig", config))
    assert token not in warnings + noca_warnings
    assert token not in ns.kubectl("get", "events", "-n", ns.name, "-o", "json").stdout
    log = operator.log()
    assert ns.name in log  # the log that covers this test (the operator does read the Secret)
    assert token not in log


# ------------------------------------------------------------------ 3. GOPROXY and a shared cache


def test_second_pod_on_the_cache_claim_downloads_without_asking_the_proxy(
    ns: Namespace, goproxy: GoProxyServer, go_modules: ModuleSet, tmp_path: Path
) -> None:
    """Public modules come through spec.goproxy into the claim; the next Pod finds them there."""
    ns.kubectl(
        "create",
        "-n",
        ns.name,
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "team-gomodcache"},
                "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ),
    )
    ns.apply_config(
        "corp",
        {
            "goproxy": [goproxy.url],
            "gosumdb": DEAD_SUMDB,
            "reporting": REPORTING,
            "cache": {"enabled": True, "existingClaim": "team-gomodcache"},
        },
    )
    command = ["go", "mod", "download"]
    first, _ = ns.create_pod(pod_manifest("first", config="corp", command=command))
    second, _ = ns.create_pod(pod_manifest("second", config="corp", command=command))
    for pod in (first, second):
        assert_injected_once(pod, "corp")
        assert env_of(pod["spec"]["containers"][0])["GOPROXY"] == goproxy.url
    claims = {"team-gomodcache": tmp_path / "claim"}  # one volume, two Pods

    result = run_build(first, ns, project=go_modules.copy_consumer(tmp_path / "first"), claims=claims)

    assert result.returncode == 0, result.stderr
    assert len(build_requests(goproxy)) == 15  # .info, .mod and .zip of five modules
    assert all(r.status == 200 for r in goproxy.requests if PROBE_MODULE not in r.path)
    assert (tmp_path / "claim" / "gomodcache" / "rsc.io" / "quote" / "v3@v3.1.0" / "quote.go").is_file()

    goproxy.reset()
    again = run_build(second, ns, project=go_modules.copy_consumer(tmp_path / "second"), claims=claims)

    assert again.returncode == 0, again.stderr
    assert build_requests(goproxy) == []


# ----------------------------------------------------------------------- 4. a Job's Pod builds


def test_pod_of_a_job_carries_one_injection_and_builds(
    ns: Namespace, goproxy: GoProxyServer, corp_git: SshGitServer, tmp_path: Path
) -> None:
    """The annotation sits on the Job's pod template; the Pod kube-controller-manager makes from it
    is admitted again by the webhook and must come out with the template's one injection."""
    module = secretlib(corp_git)
    ns.create_secret("corp-git-ssh", ssh_secret(corp_git), type="kubernetes.io/ssh-auth")
    ns.apply_config("corp", ssh_config(goproxy, corp_git))
    template = pod_manifest("unused", config="corp", command=sh("go build -o /tmp/app . && exec /tmp/app"))
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
    project = module.write_consumer(tmp_path / "project")

    result = run_build(pod, ns, project=project)  # the Job's own command

    assert result.returncode == 0, result.stderr + corp_git.log()[-2000:]
    assert result.stdout.strip() == module.message
