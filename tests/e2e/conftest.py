"""Fixtures for the end-to-end tests: the node's images, and the servers builds reach from Pods.

The servers run on this machine and listen on `cluster.address`, the host's end of the local node's
veth pair: a Pod's traffic to them crosses the Pod bridge, the node namespace's routes and the veth,
as it would reach a server beside a real cluster. Host-side tests (test_servers.py) use the same
servers with the host's own go, git and ssh.

Server fixtures skip (never fail) when this machine lacks what they need, with the reason and the
fix: sshd for the ssh server, the recorded modules for the GOPROXY.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Cluster

from .modules import ModuleSet, ModulesMissing, load
from .servers import (
    GoProxyServer,
    HttpsGitServer,
    ModuleStore,
    PrivateCA,
    PrivateRepos,
    SshGitServer,
    build_private_repos,
    make_private_ca,
)
from .servers.sshd import SSHD

#: The builder images the e2e Pods run (devtools/localcluster/images.py), loaded once per session.
IMAGE_NAMES = ("golang-1.26", "golang-1.26-nonroot")


@pytest.fixture(scope="session")
def images(cluster: Cluster) -> dict[str, str]:
    """name -> image reference on the node: ``golang-1.26`` (root), ``golang-1.26-nonroot``
    (USER 1000:1000 ``gopher``)."""
    return cluster.load_images(*IMAGE_NAMES)


@pytest.fixture(scope="session")
def server_address(cluster: Cluster) -> str:
    """Where the servers listen: an address of this machine that the node's Pods reach."""
    return cluster.address


@pytest.fixture(scope="session")
def go_modules() -> ModuleSet:
    """The recorded real modules (``.download`` GOPROXY tree, ``.copy_consumer(dest)``)."""
    try:
        return load()
    except ModulesMissing as missing:
        pytest.skip(str(missing))


@pytest.fixture
def goproxy(go_modules: ModuleSet, server_address: str) -> Iterator[GoProxyServer]:
    """A fresh GOPROXY for each test: ``.url``, ``.requests``, ``.reset()``, ``.proxy.fail_status``,
    ``.proxy.corrupt``."""
    with GoProxyServer(ModuleStore(go_modules.download), host=server_address) as server:
        yield server


@pytest.fixture
def consumer_project(go_modules: ModuleSet, tmp_path: Path) -> Path:
    """A copy of testdata/consumer (go.mod + go.sum pinning real public modules)."""
    return go_modules.copy_consumer(tmp_path / "consumer")


@pytest.fixture(scope="session")
def private_repos(tmp_path_factory: pytest.TempPathFactory) -> PrivateRepos:
    """Bare repos of the private modules (``.modules["secretlib"]``, ``["tokenlib"]``)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return build_private_repos(tmp_path_factory.mktemp("private-repos"))


def require_sshd() -> None:
    if not Path(SSHD).exists():
        pytest.skip("openssh-server is not installed (apt-get install openssh-server)")


@pytest.fixture(scope="session")
def sshd(
    private_repos: PrivateRepos, server_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SshGitServer]:
    """The sshd: ``.port``, ``.known_hosts_line``, ``.client_key``, ``.secret_data()``,
    ``.url_base``, ``.rewrite_env()``, ``.ssh_command(key=, known_hosts=)``, ``.log()``."""
    require_sshd()
    with SshGitServer(private_repos, tmp_path_factory.mktemp("sshd"), host=server_address) as server:
        yield server


@pytest.fixture(scope="session")
def private_ca() -> PrivateCA:
    return make_private_ca()


@pytest.fixture
def https_git(
    private_ca: PrivateCA, private_repos: PrivateRepos, server_address: str, tmp_path: Path
) -> Iterator[HttpsGitServer]:
    """HTTPS git + GOPROXY behind Basic auth: ``.ca_pem``, ``.netrc()``, ``.git_url_base``,
    ``.proxy_url``, ``.rewrite_env()``, ``.requests``. The proxy serves the recorded modules when
    they are there (else every module is 404)."""
    try:
        roots: tuple[Path, ...] = (load().download,)
    except ModulesMissing:
        roots = ()
    with HttpsGitServer(
        ca=private_ca,
        repos=private_repos,
        store=ModuleStore(*roots),
        state_dir=tmp_path / "https",
        host=server_address,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def shared_gocache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One GOCACHE for all host-side go runs of the session (builds stay fast)."""
    return tmp_path_factory.mktemp("gocache")


@pytest.fixture
def host_env(tmp_path: Path, shared_gocache: Path) -> dict[str, str]:
    """A clean environment for running go/git/ssh directly on the host: a fresh HOME and
    GOMODCACHE, no user or system git config, no GO* settings from the caller."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/local/go/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "GOMODCACHE": str(tmp_path / "gomodcache"),
        "GOCACHE": str(shared_gocache),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly",
        "GOSUMDB": "off",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
