"""Each e2e server works with the real go, git and ssh, run directly on this machine (clean env).

These also pin down how the clients behave, which the operator's injection depends on: go matches
netrc machines with the port, git reads only $HOME/.netrc and trusts a CA only via GIT_SSL_CAINFO.
The host's Debian bookworm git/OpenSSH are the versions the builder image carries; the Pods of
test_injected_pods.py show the injection works with those clients in a real container.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from .modules import ModuleSet
from .servers import GoProxyServer, HttpsGitServer, ModuleStore, PrivateRepos, SshGitServer

pytestmark = pytest.mark.e2e

TIMEOUT = 60


def run(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the e2e test server
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# ------------------------------------------------------------------------------------- GOPROXY


def test_go_downloads_real_modules_through_the_proxy_and_then_from_cache(
    goproxy: GoProxyServer, consumer_project: Path, host_env: dict[str, str]
) -> None:
    env = host_env | {"GOPROXY": goproxy.url}
    first = run(["go", "mod", "download"], env, consumer_project)
    assert first.returncode == 0, first.stderr
    assert sorted({r.path.rsplit(".", 1)[1] for r in goproxy.requests}) == ["info", "mod", "zip"]
    assert len(goproxy.requests) == 15
    assert all(r.status == 200 for r in goproxy.requests)
    assert goproxy.module_requests("golang.org/x/text") != []  # a transitive requirement came too

    goproxy.reset()
    again = run(["go", "mod", "download"], env, consumer_project)
    assert again.returncode == 0, again.stderr
    assert goproxy.requests == []
    # everything the program imports is now local: its packages load with lookups disabled
    listed = run(["go", "list", "-deps", "."], env | {"GOPROXY": "off"}, consumer_project)
    assert "rsc.io/sampler" in listed.stdout.split(), listed.stderr


def test_proxy_protocol_endpoints(goproxy: GoProxyServer) -> None:
    assert get(f"{goproxy.url}/github.com/google/uuid/@v/list") == (200, b"v1.6.0\n")
    status, latest = get(f"{goproxy.url}/github.com/google/uuid/@latest")
    assert status == 200
    assert json.loads(latest)["Version"] == "v1.6.0"
    status, mod = get(f"{goproxy.url}/rsc.io/quote/v3/@v/v3.1.0.mod")
    assert (status, mod.splitlines()[0]) == (200, b"module rsc.io/quote/v3")
    assert get(f"{goproxy.url}/example.test/nothing/@v/list")[0] == 404
    assert get(f"{goproxy.url}/github.com/google/uuid/@v/v9.9.9.info")[0] == 404
    assert get(f"{goproxy.url}/github.com/google/uuid/@v/../../../../etc/passwd")[0] == 404


def test_go_sum_catches_a_tampered_module(
    goproxy: GoProxyServer, consumer_project: Path, host_env: dict[str, str]
) -> None:
    goproxy.proxy.corrupt.add("github.com/google/uuid")
    result = run(["go", "mod", "download"], host_env | {"GOPROXY": goproxy.url}, consumer_project)
    assert result.returncode != 0
    assert "github.com/google/uuid@v1.6.0: checksum mismatch" in result.stderr
    assert "SECURITY ERROR" in result.stderr


@pytest.mark.parametrize(
    ("goproxy_value", "succeeds"),
    [("{url},{spare}", False), ("{url}|{spare}", True)],
    ids=["comma-stops-on-500", "pipe-falls-through-any-error"],
)
def test_failing_proxy_and_fallback_separators(
    goproxy: GoProxyServer,
    go_modules: ModuleSet,
    consumer_project: Path,
    host_env: dict[str, str],
    goproxy_value: str,
    succeeds: bool,
) -> None:
    """What proxyFallback OnNotFound (",") and OnAnyError ("|") mean when a proxy answers 500."""
    goproxy.proxy.fail_status = 500
    with GoProxyServer(ModuleStore(go_modules.download), host=goproxy.host) as spare:
        value = goproxy_value.format(url=goproxy.url, spare=spare.url)
        result = run(["go", "mod", "download"], host_env | {"GOPROXY": value}, consumer_project)
        assert (result.returncode == 0) is succeeds, result.stderr
        if not succeeds:
            assert "500 Internal Server Error" in result.stderr
            assert spare.requests == []


# ----------------------------------------------------------------------------------------- sshd


def _ssh_env(
    sshd: SshGitServer, host_env: dict[str, str], tmp_path: Path, known_hosts: str
) -> dict[str, str]:
    key = tmp_path / "id_ed25519"
    key.write_bytes(sshd.client_private_key)
    key.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts)
    return host_env | {"GIT_SSH_COMMAND": sshd.ssh_command(key=key, known_hosts=known)}


def test_git_over_ssh_with_strict_host_key_checking(
    sshd: SshGitServer, host_env: dict[str, str], tmp_path: Path
) -> None:
    env = _ssh_env(sshd, host_env, tmp_path, sshd.known_hosts_line)
    result = run(["git", "ls-remote", sshd.repo_url("team/secretlib.git")], env)
    assert result.returncode == 0, result.stderr + sshd.log()
    assert "refs/tags/v1.0.0" in result.stdout
    assert sshd.known_hosts_line.startswith(f"[{sshd.host}]:{sshd.port} ssh-ed25519 ")
    assert set(sshd.secret_data()) == {"ssh-privatekey", "known_hosts"}


def test_ssh_refuses_an_unknown_host_key(
    sshd: SshGitServer, host_env: dict[str, str], tmp_path: Path
) -> None:
    other = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    env = _ssh_env(sshd, host_env, tmp_path, f"[{sshd.host}]:{sshd.port} ssh-ed25519 {other}\n")
    result = run(["git", "ls-remote", sshd.repo_url("team/secretlib.git")], env)
    assert result.returncode != 0
    assert "Host key verification failed" in result.stderr


def test_sshd_refuses_a_key_it_does_not_know(
    sshd: SshGitServer, host_env: dict[str, str], tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True, timeout=30
    )
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line)
    env = host_env | {"GIT_SSH_COMMAND": sshd.ssh_command(key=stranger, known_hosts=known)}
    result = run(["git", "ls-remote", sshd.repo_url("team/secretlib.git")], env)
    assert result.returncode != 0
    assert "Permission denied (publickey)" in result.stderr


def test_go_fetches_a_private_module_over_ssh_without_dns(
    sshd: SshGitServer, private_repos: PrivateRepos, host_env: dict[str, str], tmp_path: Path
) -> None:
    module = private_repos.modules["secretlib"]
    project = module.write_consumer(tmp_path / "project")
    env = _ssh_env(sshd, host_env, tmp_path, sshd.known_hosts_line) | sshd.rewrite_env()
    env |= {"GOPROXY": "direct", "GOPRIVATE": private_repos.host, "GOFLAGS": "-mod=mod"}
    result = run(["go", "mod", "download", "-json", f"{module.path}@{module.version}"], env, project)
    assert result.returncode == 0, result.stderr + sshd.log()
    source = Path(json.loads(result.stdout)["Dir"]) / "secretlib.go"
    assert module.message in source.read_text()


# ---------------------------------------------------------------------------------------- https


def _https_env(https_git: HttpsGitServer, host_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    ca = tmp_path / "ca.crt"
    ca.write_bytes(https_git.ca_pem)
    return host_env | {"GIT_SSL_CAINFO": str(ca)}


def test_git_over_https_needs_the_ca_and_the_netrc_in_home(
    https_git: HttpsGitServer, host_env: dict[str, str], tmp_path: Path
) -> None:
    url = https_git.git_url_base + "team/tokenlib.git"
    untrusted = run(["git", "ls-remote", url], host_env)
    assert "server certificate verification failed" in untrusted.stderr

    env = _https_env(https_git, host_env, tmp_path)
    netrc = tmp_path / "netrc"
    netrc.write_bytes(https_git.netrc())
    no_token = run(["git", "ls-remote", url], env | {"NETRC": str(netrc)})  # git ignores $NETRC
    assert no_token.returncode != 0
    assert [r.status for r in https_git.requests][-1] == 401

    (Path(host_env["HOME"]) / ".netrc").write_bytes(https_git.netrc(token="wrong"))
    wrong = run(["git", "ls-remote", url], env)
    assert wrong.returncode != 0

    https_git.reset()
    (Path(host_env["HOME"]) / ".netrc").write_bytes(https_git.netrc())
    ok = run(["git", "ls-remote", url], env)
    assert ok.returncode == 0, ok.stderr
    assert "refs/tags/v1.0.0" in ok.stdout
    assert https_git.username in {r.user for r in https_git.requests}


def test_git_ignores_ssl_cert_file(
    https_git: HttpsGitServer, host_env: dict[str, str], tmp_path: Path
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_bytes(https_git.ca_pem)
    (Path(host_env["HOME"]) / ".netrc").write_bytes(https_git.netrc())
    result = run(
        ["git", "ls-remote", https_git.git_url_base + "team/tokenlib.git"],
        host_env | {"SSL_CERT_FILE": str(ca)},
    )
    assert "server certificate verification failed" in result.stderr


def test_go_uses_netrc_and_ca_for_an_https_proxy(
    https_git: HttpsGitServer,
    go_modules: ModuleSet,
    consumer_project: Path,
    host_env: dict[str, str],
    tmp_path: Path,
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_bytes(https_git.ca_pem)
    netrc = tmp_path / "netrc"
    netrc.write_bytes(https_git.netrc())
    env = host_env | {"GOPROXY": https_git.proxy_url}

    untrusted = run(["go", "mod", "download"], env | {"NETRC": str(netrc)}, consumer_project)
    assert "x509: certificate signed by unknown authority" in untrusted.stderr

    anonymous = run(
        ["go", "mod", "download"], env | {"SSL_CERT_FILE": str(ca), "NETRC": "/dev/null"}, consumer_project
    )
    assert "401 Unauthorized" in anonymous.stderr

    https_git.reset()
    ok = run(
        ["go", "mod", "download"], env | {"SSL_CERT_FILE": str(ca), "NETRC": str(netrc)}, consumer_project
    )
    assert ok.returncode == 0, ok.stderr
    assert {(r.status, r.user) for r in https_git.requests} == {(200, https_git.username)}


def test_go_needs_the_port_in_the_netrc_machine(
    https_git: HttpsGitServer,
    go_modules: ModuleSet,
    consumer_project: Path,
    host_env: dict[str, str],
    tmp_path: Path,
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_bytes(https_git.ca_pem)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {https_git.host}\nlogin {https_git.username}\npassword {https_git.token}\n")
    env = host_env | {"GOPROXY": https_git.proxy_url, "SSL_CERT_FILE": str(ca), "NETRC": str(netrc)}
    result = run(["go", "mod", "download"], env, consumer_project)
    assert "401 Unauthorized" in result.stderr


def test_go_fetches_a_private_module_over_https_with_netrc(
    https_git: HttpsGitServer, private_repos: PrivateRepos, host_env: dict[str, str], tmp_path: Path
) -> None:
    module = private_repos.modules["tokenlib"]
    project = module.write_consumer(tmp_path / "project")
    (Path(host_env["HOME"]) / ".netrc").write_bytes(https_git.netrc())
    env = _https_env(https_git, host_env, tmp_path) | https_git.rewrite_env()
    env |= {"GOPROXY": "direct", "GOPRIVATE": private_repos.host, "GOFLAGS": "-mod=mod"}
    result = run(["go", "mod", "download", "-json", f"{module.path}@{module.version}"], env, project)
    assert result.returncode == 0, result.stderr
    source = Path(json.loads(result.stdout)["Dir"]) / "tokenlib.go"
    assert module.message in source.read_text()
