"""A real Kubernetes cluster on this machine: a control plane and (by default) one real node, or several.

The operator meets the API server at CRD pruning, the status subresource, AdmissionReview, webhook
TLS and RBAC, and its users' builds meet the kubelet, containerd and Pod networking; none of that
can be trusted against a mock. There is no Docker engine here, so nothing runs in kind: etcd,
kube-apiserver, kube-controller-manager and kube-scheduler run as local processes, and each node
(node.py) runs kubelet, containerd and kube-proxy in namespaces of its own, all of them plugged
into one switch (network.py). CoreDNS and a storage provisioner run on the nodes as Pods
(addons.py), from images made on this machine (images.py) and imported into every node.

Several nodes are what managed clusters are: a Pod may land on another node than the one before
it, and a ReadWriteOnce volume lives on one node (addons.py makes local volumes node-local when
there is more than one node). One node stays the default: it is all most tests need, and starts fastest.

With nodes, the API server listens on the host's port of the switch (it must be reachable from
Pods, and nowhere else); without, on 127.0.0.1. Every child process is tied to the process that
started it (PR_SET_PDEATHSIG), so a crashed or killed test run or `make run` leaves nothing
listening, and host.sweep() removes what its nodes left behind.
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from gobuild_operator.serving import pki
from localcluster import addons, host
from localcluster.binaries import CONTROL_PLANE, NODE, LogFn, _stderr, ensure_binaries
from localcluster.kubeconfig import write_kubeconfig
from localcluster.network import Switch
from localcluster.node import NODE_PID_FILE, Node, require_tools
from localcluster.processes import Supervisor

#: The Service range of a cluster without a node (with one, its slot decides).
SERVICE_CIDR = "10.96.0.0/16"


def free_port(address: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalCluster:
    """A cluster whose state (PKI, etcd data, node, logs, kubeconfig) lives in `state_dir`."""

    state_dir: Path
    log: LogFn = _stderr
    with_node: bool = True
    #: How many nodes, with_node (node 1 is `gobuild-node`, the others `gobuild-node-<n>`).
    node_count: int = 1
    #: Serve the API server's /debug/pprof (the admission benchmark profiles it; off otherwise).
    profiling: bool = False
    apiserver_port: int = 0
    slot: host.Slot | None = None
    nodes: list[Node] = field(default_factory=list)
    switch: Switch | None = None
    supervisor: Supervisor = field(init=False)
    _slot_lock: IO[str] | None = None

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self.supervisor = Supervisor(self.state_dir / "logs")
        if not 1 <= self.node_count <= host.MAX_NODES:
            raise ValueError(f"a local cluster has 1 to {host.MAX_NODES} nodes, not {self.node_count}")

    @property
    def node(self) -> Node | None:
        """The first node (the only one, by default); None without nodes."""
        return self.nodes[0] if self.nodes else None

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.nodes]

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def address(self) -> str:
        """Where the API server listens (and where the host serves anything Pods must reach)."""
        return self.slot.host_ip if self.slot is not None else "127.0.0.1"

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.apiserver_port}"

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return dict(self.supervisor.processes)

    @property
    def webhook_client_ca(self) -> Path:
        """The CA (PEM) of the client certificate the API server presents to every webhook: what an
        operator's --webhook-client-ca (the chart's webhook.clientAuth) trusts."""
        return self.state_dir / "pki" / "webhook-client-ca.crt"

    def start(self, *, timeout: float = 180) -> None:
        started = time.monotonic()
        binaries = ensure_binaries(CONTROL_PLANE + (NODE if self.with_node else ()), log=self.log)
        shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.with_node:
            self._start_network(binaries)
        self._write_pki()
        self._start_control_plane(binaries, timeout=timeout)
        if self.nodes:
            self._start_nodes(timeout=timeout)
        count = f", {len(self.nodes)} nodes" if len(self.nodes) > 1 else ""
        self.log(f"local cluster ready in {time.monotonic() - started:.0f}s{count}")

    def stop(self) -> None:
        """Stop the nodes, then the control plane; state stays for post-mortems."""
        try:
            self.supervisor.stop([name for node in reversed(self.nodes) for name in node.agents], timeout=10)
            if self.slot is not None:
                # Containers, shims, containerd, the nodes' and the switch's namespaces: one cgroup tree.
                host.release(self.slot)
        finally:
            self.supervisor.stop()
            self._release_slot()

    def import_image(self, archive: Path) -> None:
        """Import a docker-archive into every node (once per node), the nodes side by side."""
        self.import_images([archive])

    def import_images(self, archives: list[Path]) -> None:
        def into(node: Node) -> None:
            for archive in archives:
                node.import_image(archive)

        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            list(pool.map(into, self.nodes))  # list(): a failed import raises here

    def check_alive(self) -> None:
        self.supervisor.check_alive()

    def log_file(self, name: str) -> Path:
        return self.supervisor.log_file(name)

    # --- control plane ----------------------------------------------------------------------------

    def _start_control_plane(self, binaries: dict[str, Path], *, timeout: float) -> None:
        etcd_port, peer_port = free_port(), free_port()
        self.apiserver_port = free_port(self.address)
        p = self.state_dir / "pki"
        self.supervisor.spawn(
            "etcd",
            [
                str(binaries["etcd"]),
                "--name=local",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=local=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        service_cidr = self.slot.service_cidr if self.slot is not None else SERVICE_CIDR
        node_flags = [
            "--authorization-mode=Node,RBAC",
            f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={p / 'ca.crt'}",
            # Never the node's host name: that would go to this machine's resolver, which is not on it.
            "--kubelet-preferred-address-types=InternalIP",
        ]
        self.supervisor.spawn(
            "kube-apiserver",
            [
                str(binaries["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                # Loopback cannot be the `kubernetes` Service's endpoint; the node's veth address can.
                f"--endpoint-reconciler-type={'lease' if self.slot is not None else 'none'}",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--api-audiences=https://kubernetes.default.svc.cluster.local",
                *(node_flags if self.slot is not None else ["--authorization-mode=RBAC"]),
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,NodeRestriction,"
                "MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,"
                "ResourceQuota,DefaultStorageClass",
                f"--service-cluster-ip-range={service_cidr}",
                "--allow-privileged=true",
                "--anonymous-auth=false",
                f"--admission-control-config-file={self._write_admission_configuration()}",
                f"--profiling={str(self.profiling).lower()}",
                "--v=0",
            ],
        )
        write_kubeconfig(self.kubeconfig, server=self.server, pki=p, user="admin", pair_stem="admin")
        self._wait_ready(timeout=timeout)
        for name, user in (
            ("kube-controller-manager", "system:kube-controller-manager"),
            ("kube-scheduler", "system:kube-scheduler"),
        ):
            write_kubeconfig(
                self.state_dir / f"{name}.kubeconfig", server=self.server, pki=p, user=user, pair_stem=name
            )
        self.supervisor.spawn(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                *self._component_auth("kube-controller-manager"),
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--service-cluster-ip-range={service_cidr}",
                "--v=0",
            ],
        )
        if self.slot is not None:
            self.supervisor.spawn(
                "kube-scheduler",
                [
                    str(binaries["kube-scheduler"]),
                    *self._component_auth("kube-scheduler"),
                    "--leader-elect=false",
                ],
            )

    def _write_admission_configuration(self) -> Path:
        """The API server presents the webhook client certificate to every webhook ("*"), as a
        cluster admin configures it for webhooks that authenticate their caller (docs/security.md)."""
        p = self.state_dir / "pki"
        users = {
            "apiVersion": "v1",
            "kind": "Config",
            "users": [
                {
                    "name": "*",
                    "user": {
                        "client-certificate": str(p / "webhook-client.crt"),
                        "client-key": str(p / "webhook-client.key"),
                    },
                }
            ],
        }
        kubeconfig = self.state_dir / "webhook-client.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(users, sort_keys=False))
        kubeconfig.chmod(0o600)
        webhook = {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "WebhookAdmissionConfiguration",
            "kubeConfigFile": str(kubeconfig),
        }
        plugins = ("MutatingAdmissionWebhook", "ValidatingAdmissionWebhook")
        configuration = {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "AdmissionConfiguration",
            "plugins": [{"name": name, "configuration": webhook} for name in plugins],
        }
        path = self.state_dir / "admission.yaml"
        path.write_text(yaml.safe_dump(configuration, sort_keys=False))
        return path

    def _component_auth(self, name: str) -> list[str]:
        kubeconfig = self.state_dir / f"{name}.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
        ]

    # --- node ---------------------------------------------------------------------------------------

    def _start_network(self, binaries: dict[str, Path]) -> None:
        """The switch and every node's namespaces, wired: before the API server binds its address."""
        problem = require_tools()
        if problem:
            raise RuntimeError(f"cannot run a node here: {problem}")
        host.sweep()  # whatever a killed run left behind, before taking a slot
        self.slot, self._slot_lock = host.acquire_slot()
        self.switch = Switch(self.slot, self.supervisor)
        self.switch.start()
        numbers = range(1, self.node_count + 1)
        for number in numbers:
            node = Node(
                slot=self.slot,
                number=number,
                state_dir=self.state_dir,
                pki=self.state_dir / "pki",
                server="",  # known once the API server's port is chosen
                binaries=binaries,
                supervisor=self.supervisor,
                log=self.log,
            )
            self.nodes.append(node)
            node.start_namespaces(self.switch)
        for node in self.nodes:
            node.route_to_peers(numbers)
        self.switch.route_from_host(numbers)
        (self.state_dir / NODE_PID_FILE).write_text("".join(f"{node.holder_pid}\n" for node in self.nodes))

    def _start_nodes(self, *, timeout: float) -> None:
        from localcluster.images import ensure_images

        images = addons.images(binaries=self.nodes[0].binaries, log=self.log) + [
            archive.path for archive in ensure_images(["pause"], log=self.log).values()
        ]
        # Processes are started from this thread only: PR_SET_PDEATHSIG ends a child with the
        # thread that forked it, not with the process.
        for node in self.nodes:
            node.server = self.server
            node.start_containerd()
        for node in self.nodes:
            node.wait_for_runtime()
        self.import_images(images)
        for node in self.nodes:
            node.start_kubelet()
            node.start_proxy()
        addons.apply(self, timeout=timeout)

    def _release_slot(self) -> None:
        if self._slot_lock is not None:
            self._slot_lock.close()
            self._slot_lock = None
            host.restore_sysctls()

    # --- PKI ----------------------------------------------------------------------------------------

    def _write_pki(self) -> None:
        p = self.state_dir / "pki"
        ca = pki.make_ca("gobuild-operator local cluster CA")
        ca.write(p, "ca")
        service_ips = ["127.0.0.1", "10.96.0.1"]
        if self.slot is not None:
            service_ips = ["127.0.0.1", self.slot.host_ip, self.slot.kubernetes_service_ip]
        pki.issue(
            ca,
            common_name="kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=tuple(service_ips),
            server=True,
        ).write(p, "apiserver")
        clients = {
            "admin": ("local-admin", "system:masters"),
            "kube-controller-manager": ("system:kube-controller-manager", None),
            "kube-scheduler": ("system:kube-scheduler", None),
            "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
            "kube-proxy": ("system:kube-proxy", None),
        }
        for node in self.nodes:  # each kubelet its own identity: the Node authorizer limits it to its node
            clients[node.client_pair] = (f"system:node:{node.name}", "system:nodes")
        for stem, (common_name, organization) in clients.items():
            pki.issue(ca, common_name=common_name, organization=organization, client=True).write(p, stem)
        for node in self.nodes:
            pki.issue(
                ca, common_name=node.name, dns_names=(node.name,), ip_addresses=(node.ip,), server=True
            ).write(p, node.serving_pair)
        # Its own CA: a webhook that trusts it accepts the API server, not every client of the cluster.
        webhook_ca = pki.make_ca("gobuild-operator local cluster webhook client CA")
        webhook_ca.write(p, "webhook-client-ca")
        client = pki.issue(webhook_ca, common_name="kube-apiserver-webhook-client", client=True)
        client.write(p, "webhook-client")
        private, public = pki.make_service_account_keys()
        (p / "sa.key").write_bytes(private)
        (p / "sa.key").chmod(0o600)
        (p / "sa.pub").write_bytes(public)

    def _wait_ready(self, *, timeout: float) -> None:
        p = self.state_dir / "pki"
        context = ssl.create_default_context(cafile=str(p / "ca.crt"))
        context.load_cert_chain(p / "admin.crt", p / "admin.key")
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=context, timeout=5) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.25)
        raise TimeoutError(f"kube-apiserver not ready after {timeout:.0f}s ({last_error})")


@contextlib.contextmanager
def running(
    state_dir: Path, *, log: LogFn = _stderr, with_node: bool = True, nodes: int = 1, profiling: bool = False
) -> Iterator[LocalCluster]:
    cluster = LocalCluster(
        state_dir=state_dir, log=log, with_node=with_node, node_count=nodes, profiling=profiling
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
