"""A real etcd + kube-apiserver + kube-controller-manager, run as local processes.

The operator meets the API server at CRD pruning, the status subresource, AdmissionReview, webhook
TLS and RBAC; none of that can be trusted against a mock. With no container runtime on hand, the
control plane runs the way envtest runs it: real binaries on loopback. RBAC is on, and the
controller-manager runs so namespaces get their default ServiceAccount, Jobs create Pods, and
garbage collection works. There is no kubelet, so Pods stay Pending.

Every child process is tied to the process that started it (PR_SET_PDEATHSIG), so a crashed or
killed test run or `make run` leaves nothing listening.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from gobuild_operator import pki
from localcluster.binaries import LogFn, _stderr, ensure_binaries

_PR_SET_PDEATHSIG = 1
SERVICE_CIDR = "10.96.0.0/16"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalCluster:
    """A control plane whose state (PKI, etcd data, logs, kubeconfig) lives in `state_dir`."""

    state_dir: Path
    log: LogFn = _stderr
    apiserver_port: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "pki" / "ca.crt"

    def start(self, *, timeout: float = 120) -> None:
        binaries = ensure_binaries(log=self.log)
        shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._write_pki()
        etcd_port, peer_port = free_port(), free_port()
        self.apiserver_port = free_port()
        self._spawn(
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
        p = self.state_dir / "pki"
        self._spawn(
            "kube-apiserver",
            [
                str(binaries["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",  # loopback cannot be an Endpoints address
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--api-audiences=https://kubernetes.default.svc.cluster.local",
                "--authorization-mode=RBAC",
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,"
                "ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,ResourceQuota",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--anonymous-auth=false",
                "--profiling=false",
                "--v=0",
            ],
        )
        self._write_kubeconfig(self.kubeconfig, user="admin", pair_stem="admin")
        self._wait_ready(timeout=timeout)
        self._write_kubeconfig(
            self.state_dir / "controller-manager.kubeconfig",
            user="controller-manager",
            pair_stem="controller-manager",
        )
        self._spawn(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                f"--kubeconfig={self.state_dir / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={self.state_dir / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={self.state_dir / 'controller-manager.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--v=0",
            ],
        )

    def stop(self) -> None:
        """Stop every process this cluster started, newest first; state stays for post-mortems."""
        for name in reversed(list(self.processes)):
            proc = self.processes.pop(name)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: see {self.log_file(name)}")

    def log_file(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def _spawn(self, name: str, argv: list[str]) -> None:
        handle = open(self.log_file(name), "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(handle)
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.processes[name] = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            # Own process group: a terminal's Ctrl-C reaches the operator first, which then still
            # has an API server to remove its webhook configuration from; stop() ends these.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _write_pki(self) -> None:
        p = self.state_dir / "pki"
        ca = pki.make_ca("gobuild-operator local cluster CA")
        ca.write(p, "ca")
        pki.issue(
            ca,
            common_name="kube-apiserver",
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
            ip_addresses=("127.0.0.1", "10.96.0.1"),
            server=True,
        ).write(p, "apiserver")
        pki.issue(ca, common_name="local-admin", organization="system:masters", client=True).write(p, "admin")
        pki.issue(ca, common_name="system:kube-controller-manager", client=True).write(
            p, "controller-manager"
        )
        private, public = pki.make_service_account_keys()
        (p / "sa.key").write_bytes(private)
        (p / "sa.key").chmod(0o600)
        (p / "sa.pub").write_bytes(public)

    def _write_kubeconfig(self, path: Path, *, user: str, pair_stem: str) -> None:
        p = self.state_dir / "pki"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "gobuild-local",
                    "cluster": {"server": self.server, "certificate-authority-data": _b64(p / "ca.crt")},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": _b64(p / f"{pair_stem}.crt"),
                        "client-key-data": _b64(p / f"{pair_stem}.key"),
                    },
                }
            ],
            "contexts": [{"name": "gobuild-local", "context": {"cluster": "gobuild-local", "user": user}}],
            "current-context": "gobuild-local",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

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
def running(state_dir: Path, *, log: LogFn = _stderr) -> Iterator[LocalCluster]:
    cluster = LocalCluster(state_dir=state_dir, log=log)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
