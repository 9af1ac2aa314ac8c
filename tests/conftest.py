"""Session fixtures: a real Kubernetes cluster and the operator running against it.

By default the tests start the local cluster (a control plane and one real node, built from pinned
Go modules; see devtools/localcluster); `--nodes N` gives it N nodes. With `--existing-cluster` they
use the cluster KUBECONFIG names (the images tests run must then be pullable there, and servers the
tests start on this machine must be reachable from its Pods); with `--kind` they create one with
pytest-kind (needs a Docker engine, which our CI machines do not have).

Tests of what differs between nodes (ReadWriteOnce volumes, a build that lands on another node than
the one before it) ask for `two_node_cluster`: the session's cluster if it has two nodes, else a
two-node local cluster of its own, started only when such a test runs, so the rest of the suite
keeps its one fast node.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client, config

from localcluster.cluster import LocalCluster
from localcluster.kubectl import run as kubectl_run
from support.operator_process import OperatorProcess
from support.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
CRDS = REPO / "crds"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gobuild-operator")
    group.addoption("--existing-cluster", action="store_true", help="use the cluster KUBECONFIG names")
    group.addoption(
        "--kind", action="store_true", help="create a kind cluster with pytest-kind (needs Docker)"
    )
    group.addoption(
        "--nodes", type=int, default=1, help="nodes of the local cluster the session starts (default 1)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if parts[0] == "integration":
            item.add_marker(pytest.mark.integration)
        elif parts[0] == "e2e":
            item.add_marker(pytest.mark.e2e)


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    #: An address of this machine that the cluster's Pods reach: servers tests start for builds
    #: (module proxy, git over ssh and https) listen here.
    address: str = "127.0.0.1"
    local: LocalCluster | None = field(default=None, compare=False)

    def load_images(self, *names: str) -> dict[str, str]:
        """Make the named images of devtools/localcluster/images.py available on every node: name -> ref."""
        from localcluster.images import ensure_images

        archives = ensure_images(names)
        if self.local is not None:
            self.local.import_images([archive.path for archive in archives.values()])
        return {name: archive.ref for name, archive in archives.items()}

    @property
    def node_names(self) -> list[str]:
        """The nodes' names (of a local cluster: node 1 first). Pin a Pod to one with
        `nodeSelector: {"kubernetes.io/hostname": NAME}` (not `nodeName`, which skips the scheduler
        and with it the checks a user's Pod meets, such as a volume's node affinity)."""
        if self.local is not None:
            return self.local.node_names
        items = json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        return sorted(item["metadata"]["name"] for item in items)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = kubectl_run(self.kubeconfig, *args, input=input, check=False, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if request.config.getoption("--existing-cluster"):
        kubeconfig = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
        handle = Cluster(kubeconfig=kubeconfig)
        _install_crds(handle)
        yield handle
        return
    if request.config.getoption("--kind"):
        from pytest_kind import KindCluster  # optional extra: pip install -e '.[kind]'; needs Docker

        kind = KindCluster("gobuild-operator-test")
        kind.create()
        try:
            handle = Cluster(kubeconfig=Path(kind.kubeconfig_path))
            _install_crds(handle)
            yield handle
        finally:
            kind.delete()
        return
    with _local_cluster(
        tmp_path_factory.mktemp("cluster"), nodes=request.config.getoption("--nodes")
    ) as handle:
        yield handle


@pytest.fixture(scope="session")
def two_node_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """A cluster with at least two nodes, their names in `.node_names` (the first is node 1).

    The session's `cluster` when that has two nodes (`--nodes 2`, or `--existing-cluster` with
    two); otherwise a local cluster of its own (its own slot: addresses, `.kubeconfig`,
    `.address`), started the first time a test asks for it and stopped at the end of the session.
    Its default StorageClass is node-local (ReadWriteOnce, bound on the node of the claim's first Pod).
    """
    if _session_cluster_has_two_nodes(request.config):
        shared: Cluster = request.getfixturevalue("cluster")
        if len(shared.node_names) < 2:
            pytest.skip("the session's cluster has fewer than two nodes")
        yield shared
        return
    if request.config.getoption("--kind"):
        pytest.skip("the kind cluster has one node")
    with _local_cluster(tmp_path_factory.mktemp("two-node-cluster"), nodes=2) as handle:
        yield handle


def _session_cluster_has_two_nodes(config: pytest.Config) -> bool:
    """Whether `two_node_cluster` is the session's `cluster` (else a local cluster of its own)."""
    return bool(config.getoption("--existing-cluster")) or int(config.getoption("--nodes")) >= 2


@contextmanager
def _local_cluster(state_dir: Path, *, nodes: int) -> Iterator[Cluster]:
    from localcluster.cluster import running

    with running(state_dir, nodes=nodes) as local:
        handle = Cluster(kubeconfig=local.kubeconfig, address=local.address, local=local)
        _wait_for_default_serviceaccount(handle)
        _install_crds(handle)
        yield handle


def _wait_for_default_serviceaccount(cluster: Cluster) -> None:
    wait_for(
        lambda: (
            cluster.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0
        ),
        timeout=60,
        what="the controller-manager to create the default ServiceAccount",
    )


def _install_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd/gobuildconfigs.gobuild.dev", "--timeout=60s")


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster) -> object:
    return cluster.kubectl


@pytest.fixture(scope="session")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    with _namespace(cluster) as name:
        yield name


@pytest.fixture
def two_node_namespace(two_node_cluster: Cluster) -> Iterator[str]:
    """A fresh namespace of `two_node_cluster`, deleted after the test."""
    with _namespace(two_node_cluster) as name:
        yield name


@contextmanager
def _namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        what=f"the default ServiceAccount in {name}",
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The real operator (python -m gobuild_operator run) with its webhook registered."""
    proc = OperatorProcess(kubeconfig=cluster.kubeconfig, workdir=tmp_path_factory.mktemp("operator"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def two_node_operator(
    request: pytest.FixtureRequest, two_node_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The real operator against `two_node_cluster` (the session's `operator` when that is the same
    cluster: one operator per cluster)."""
    if _session_cluster_has_two_nodes(request.config):
        yield request.getfixturevalue("operator")
        return
    workdir = tmp_path_factory.mktemp("two-node-operator")
    proc = OperatorProcess(kubeconfig=two_node_cluster.kubeconfig, workdir=workdir)
    proc.start()
    yield proc
    proc.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a test of the installed operator (tests/install) fails: every operator Pod's last lines."""
    outcome = yield
    report = outcome.get_result()
    installed = getattr(item, "funcargs", {}).get("installed")
    if report.when != "call" or not report.failed or not isinstance(installed, Cluster):
        return
    logs = installed.kubectl(
        "logs", "-n", "gobuild-system", "-l", "app.kubernetes.io/name=gobuild-operator",
        "--prefix", "--tail=60", "--all-containers", check=False,
    )  # fmt: skip
    report.sections.append(("operator logs", logs.stdout + logs.stderr))
