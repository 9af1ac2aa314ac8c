"""One real Kubernetes node: containerd, runc, the CNI plugins, kubelet and kube-proxy.

Containment is the design constraint: nothing the node or its Pods send may leave this machine,
and the host must look the same after the cluster stops. So each node lives in namespaces of its
own, created by a holder process (`unshare --net --mount`) that every process of that node joins:

* A network namespace, plugged into the cluster's switch (network.py) by a veth pair (`eth0` in the
  node), on one link network with the host and the other nodes. The node has no default route, so
  neither it nor its Pods can reach anything but the host's address, where the API server and the
  tests' servers listen, and the other nodes, through which it routes to their Pod ranges. The host
  gets routes to the Pod and Service ranges (so the API server reaches webhook Services and Pods);
  they disappear with the switch.
* A private mount namespace. kubelet and containerd write to /run/containerd, /var/lib/kubelet,
  /var/lib/cni, /var/log/pods and /var/log/containers whatever their configuration says; inside the
  node /run is a fresh tmpfs and /var/lib and /var/log are overlays whose upper layers live in the
  node's directory of the cluster's state dir. Every mount the kubelet and containerd make (volumes,
  container root filesystems, Pod network namespaces) stays in this namespace and dies with it, and
  what one node writes below /var/lib (local volumes included) no other node sees.
* A cgroup subtree per node below the cluster's (host.py), which is also the kubelet's cgroupRoot:
  the node's processes are exactly its members.

Facts of these hosts the configuration follows (see FACTS.md): cgroup v1 (the kubelet needs
`failCgroupV1: false`; cgroupfs driver), root without CAP_SYS_RESOURCE (containerd's
`restrict_oom_score_adj`), a kubelet that refuses a loopback node IP, and no registry (images are
imported from archives; see images.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from localcluster import host
from localcluster.binaries import LogFn
from localcluster.kubeconfig import write_kubeconfig
from localcluster.network import Switch, wait_for_namespace
from localcluster.processes import Supervisor, clean_env

CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
#: In the cluster's state dir: the PIDs whose namespaces are the nodes' (one a line, for `import_images`).
NODE_PID_FILE = "node.pid"
#: Host directories the node sees through an overlay (writes land in the state dir).
OVERLAID = ("/var/lib", "/var/log")
#: The kubelet's global kernel tunables are restored by host.py; the node's own are per namespace.
NODE_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    # Pod -> Service -> Pod on the same bridge: replies must pass through iptables to be un-NATed.
    "net.bridge.bridge-nf-call-iptables": "1",
}


@dataclass(frozen=True)
class NodePaths:
    """Where the node keeps its state on the host (all below the cluster's state dir)."""

    root: Path

    @property
    def containerd_root(self) -> Path:
        # Not below an overlay: containerd's overlayfs snapshots cannot sit on an overlayfs.
        return self.root / "containerd"

    @property
    def cni_conf(self) -> Path:
        return self.root / "cni"

    @property
    def config(self) -> Path:
        return self.root / "config"

    def upper(self, overlaid: str) -> Path:
        return self.root / "overlay" / overlaid.strip("/").replace("/", "-")


def node_name(number: int) -> str:
    """The name node `number` (from 1) registers with; a one-node cluster's node is `gobuild-node`."""
    return "gobuild-node" if number == 1 else f"gobuild-node-{number}"


@dataclass
class Node:
    """Node `number` (from 1) of cluster `slot`, registered with the API server at `server`.

    Its certificates are in `pki`; its processes run under `supervisor` with names prefixed by the
    node's name.
    """

    slot: host.Slot
    number: int
    state_dir: Path
    pki: Path
    server: str
    binaries: dict[str, Path]
    supervisor: Supervisor
    log: LogFn
    holder_pid: int = 0
    imported: set[Path] = field(default_factory=set)
    _join_system_cgroup: Callable[[], None] = field(default=lambda: None, repr=False)

    @property
    def name(self) -> str:
        return node_name(self.number)

    @property
    def ip(self) -> str:
        return self.slot.node_ip(self.number)

    @property
    def pod_cidr(self) -> str:
        return self.slot.pod_cidr(self.number)

    @property
    def cgroup(self) -> str:
        """The node's subtree below the cluster's cgroup: the kubelet's cgroupRoot."""
        return f"{self.slot.cgroup}/node{self.number}"

    @property
    def paths(self) -> NodePaths:
        return NodePaths(self.state_dir / self.name)

    @property
    def client_pair(self) -> str:
        """The stem of the kubelet's client certificate and key in `pki` (user system:node:<name>)."""
        return f"{self.name}-kubelet-client"

    @property
    def serving_pair(self) -> str:
        """The stem of the kubelet's serving certificate and key in `pki`."""
        return f"{self.name}-kubelet-serving"

    def process(self, component: str) -> str:
        """The supervisor's name for this node's `component` (its log is `<name>.log`)."""
        return f"{self.name}-{component}"

    @property
    def agents(self) -> list[str]:
        """The processes that act on the node's behalf (stopped before its containers are ended)."""
        return [self.process("kube-proxy"), self.process("kubelet")]

    # --- start ----------------------------------------------------------------------------------

    def start_namespaces(self, switch: Switch) -> None:
        """The holder process, its mounts and its port on the switch: before the API server binds."""
        system = f"{self.cgroup}/system"
        host.make_cgroup(system)
        self._join_system_cgroup = host.joiner(system)
        holder = self.supervisor.spawn(
            self.process("namespaces"),
            ["unshare", "--net", "--mount", "--propagation", "private", "--", "sleep", "infinity"],
            before_exec=self._join_system_cgroup,
        )
        self.holder_pid = holder.pid
        wait_for_namespace(holder.pid, self.supervisor)
        self._mount_private_dirs()
        switch.plug(self.number, self.holder_pid)
        self._wire_network()

    def route_to_peers(self, numbers: Iterable[int]) -> None:
        """Routes to the Pod ranges of the other nodes `numbers`, each through that node."""
        routes = [
            f"ip route add {self.slot.pod_cidr(n)} via {self.slot.node_ip(n)} dev eth0"
            for n in numbers
            if n != self.number
        ]
        if routes:
            self.exec_inside(["sh", "-c", "set -e\n" + "\n".join(routes)])

    def start_containerd(self) -> None:
        """containerd with runc and CNI; it answers after wait_for_runtime(), then images can be
        imported (there is no registry)."""
        self._write_cni_config()
        config = self._write_containerd_config()
        bin_dirs = sorted({str(self.binaries[name].parent) for name in ("containerd", "ctr")})
        env = clean_env({"PATH": ":".join([*bin_dirs, "/usr/sbin", "/usr/bin", "/sbin", "/bin"])})
        self._spawn_inside(
            self.process("containerd"), [str(self.binaries["containerd"]), "--config", str(config)], env=env
        )

    def wait_for_runtime(self) -> None:
        self._wait(self._containerd_ready, what=f"containerd of {self.name}", timeout=30)

    def start_kubelet(self) -> None:
        host.record_sysctls()  # the kubelet sets global kernel tunables; host.py restores them
        kubeconfig = write_kubeconfig(
            self.paths.config / "kubelet.kubeconfig", server=self.server, pki=self.pki,
            user=f"system:node:{self.name}", pair_stem=self.client_pair,
        )  # fmt: skip
        config = self._write_kubelet_config()
        self._spawn_inside(
            self.process("kubelet"),
            [
                str(self.binaries["kubelet"]),
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--node-ip={self.ip}",
                f"--hostname-override={self.name}",
                "--v=1",
            ],
        )

    def start_proxy(self) -> None:
        kubeconfig = write_kubeconfig(
            self.paths.config / "kube-proxy.kubeconfig", server=self.server, pki=self.pki,
            user="system:kube-proxy", pair_stem="kube-proxy",
        )  # fmt: skip
        config = self.paths.config / "kube-proxy.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                    "kind": "KubeProxyConfiguration",
                    "clientConnection": {"kubeconfig": str(kubeconfig)},
                    "mode": "iptables",
                    # Every node's Pods: traffic from outside it to a Service is masqueraded, so
                    # its replies come back through the node that translated it.
                    "clusterCIDR": self.slot.cluster_cidr,
                    "hostnameOverride": self.name,
                    "bindAddress": self.ip,
                    "healthzBindAddress": "127.0.0.1:10256",
                    "metricsBindAddress": "127.0.0.1:10249",
                    "nodePortAddresses": [f"{self.ip}/32"],
                    # 0 leaves the host's conntrack sysctls alone (they are not per namespace).
                    "conntrack": {
                        "maxPerCore": 0,
                        "min": 0,
                        "tcpEstablishedTimeout": "0s",
                        "tcpCloseWaitTimeout": "0s",
                    },
                }
            )
        )
        self._spawn_inside(
            self.process("kube-proxy"), [str(self.binaries["kube-proxy"]), f"--config={config}", "--v=1"]
        )

    def import_image(self, archive: Path) -> None:
        """Import a docker-archive into the CRI's image store (once per archive)."""
        if archive in self.imported:
            return
        started = time.monotonic()
        self.exec_inside(_import_command(self.binaries["ctr"], archive), timeout=600)
        self.imported.add(archive)
        self.log(f"  imported {archive.name} into {self.name} in {time.monotonic() - started:.1f}s")

    # --- inside the namespaces ------------------------------------------------------------------

    def _enter(self) -> list[str]:
        return ["nsenter", f"--target={self.holder_pid}", "--net", "--mount", "--"]

    def _spawn_inside(self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.supervisor.spawn(name, [*self._enter(), *argv], env=env, before_exec=self._join_system_cgroup)

    def exec_inside(self, argv: Sequence[str], *, timeout: float = 60) -> str:
        """Run a command in the node's namespaces; its stdout, or RuntimeError with its output."""
        result = subprocess.run(
            [*self._enter(), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=clean_env(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed in the node ({result.returncode}):\n{result.stderr}")
        return result.stdout

    def _mount_private_dirs(self) -> None:
        # This machine's resolver is not on this machine: nothing in the node may ask it anything
        # (containerd would, to pull an image that is missing).
        resolv = self.paths.config / "resolv.conf"
        resolv.parent.mkdir(parents=True, exist_ok=True)
        resolv.write_text("# no upstream resolver: cluster DNS answers cluster names only\n")
        script = [
            "set -e",
            "mount -t tmpfs -o mode=0755,size=256m node-run /run",
            f"mount --bind {resolv} /etc/resolv.conf",
        ]
        for directory in OVERLAID:
            upper = self.paths.upper(directory)
            (upper / "upper").mkdir(parents=True, exist_ok=True)
            (upper / "work").mkdir(parents=True, exist_ok=True)
            script.append(
                f"mount -t overlay node-overlay -o lowerdir={directory},upperdir={upper / 'upper'},"
                f"workdir={upper / 'work'} {directory}"
            )
        self.exec_inside(["sh", "-c", "\n".join(script)])

    def _wire_network(self) -> None:
        """The node's end of its switch port: its address, and forwarding for its Pods."""
        inside = [
            "set -e",
            "ip link set lo up",
            f"ip addr add {self.ip}/{self.slot.link_prefix} dev eth0",
            "ip link set eth0 up",
        ]
        for name, value in NODE_SYSCTLS.items():
            path = "/proc/sys/" + name.replace(".", "/")
            inside.append(f"if [ -e {path} ]; then echo {value} > {path}; fi")
        self.exec_inside(["sh", "-c", "\n".join(inside)])

    def _containerd_ready(self) -> bool:
        self.supervisor.check_alive()
        try:
            self.exec_inside(
                [str(self.binaries["ctr"]), "--address", CONTAINERD_SOCKET, "version"], timeout=10
            )
        except RuntimeError:
            return False
        return True

    # --- configuration files --------------------------------------------------------------------

    def _write_cni_config(self) -> None:
        self.paths.cni_conf.mkdir(parents=True, exist_ok=True)
        config = {
            "cniVersion": "1.0.0",
            "name": "gobuild-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,  # nothing leaves the node, so nothing needs hiding behind it
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.pod_cidr}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (self.paths.cni_conf / "10-gobuild.conflist").write_text(json.dumps(config, indent=2))

    def _write_containerd_config(self) -> Path:
        self.paths.config.mkdir(parents=True, exist_ok=True)
        self.paths.containerd_root.mkdir(parents=True, exist_ok=True)
        cni_dir = self.binaries["bridge"].parent
        runtime = "plugins.'io.containerd.cri.v1.runtime'"
        text = f"""\
version = 3
root = "{self.paths.containerd_root}"
state = "/run/containerd"

[grpc]
  address = "{CONTAINERD_SOCKET}"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "{PAUSE_IMAGE}"

[{runtime}]
  # root here lacks CAP_SYS_RESOURCE: never lower a container's oom_score_adj below containerd's
  restrict_oom_score_adj = true

[{runtime}.containerd]
  default_runtime_name = "runc"

[{runtime}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{runtime}.containerd.runtimes.runc.options]
  BinaryName = "{self.binaries["runc"]}"
  SystemdCgroup = false

[{runtime}.cni]
  bin_dirs = ["{cni_dir}"]
  conf_dir = "{self.paths.cni_conf}"
  max_conf_num = 1
"""
        path = self.paths.config / "containerd.toml"
        path.write_text(text)
        return path

    def _write_kubelet_config(self) -> Path:
        # Pods with dnsPolicy Default get no resolver either.
        resolv = self.paths.config / "resolv.conf"
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup}",
            "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
            "address": self.ip,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(self.pki / f"{self.serving_pair}.crt"),
            "tlsPrivateKeyFile": str(self.pki / f"{self.serving_pair}.key"),
            "clusterDomain": CLUSTER_DOMAIN,
            "clusterDNS": [self.slot.dns_ip],
            "resolvConf": str(resolv),
            "failSwapOn": False,
            "makeIPTablesUtilChains": False,
            "protectKernelDefaults": False,
            "staticPodPath": "",
            "serializeImagePulls": False,
            # Imported images have no registry to come back from: never garbage-collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "evictionPressureTransitionPeriod": "10s",
            "registerNode": True,
            "shutdownGracePeriod": "0s",
        }
        path = self.paths.config / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    # --- helpers --------------------------------------------------------------------------------

    def _wait(self, ready: object, *, what: str, timeout: float) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def require_tools() -> str | None:
    """What this machine lacks to run a node, or None."""
    missing = [
        tool for tool in ("unshare", "nsenter", "ip", "iptables", "mount") if shutil.which(tool) is None
    ]
    return f"missing tools: {', '.join(missing)}" if missing else None


def import_images(state_dir: Path, archives: Iterable[Path], *, log: LogFn) -> None:
    """Import image archives into every node of the cluster whose state is in `state_dir`.

    For commands run against a cluster another process owns (`make run` while `make cluster-up`'s
    cluster is up): the nodes' namespaces are found through the PIDs recorded at their start.
    """
    from localcluster.binaries import CONTAINERD, ensure_binaries

    pids = [int(line) for line in (state_dir / NODE_PID_FILE).read_text().split()]
    ctr = ensure_binaries((CONTAINERD,), log=log)["ctr"]
    for archive in archives:
        for number, pid in enumerate(pids, start=1):
            started = time.monotonic()
            result = subprocess.run(
                ["nsenter", f"--target={pid}", "--net", "--mount", "--", *_import_command(ctr, archive)],
                capture_output=True,
                text=True,
                check=False,
                env=clean_env(),
            )
            where = node_name(number)
            if result.returncode != 0:
                raise RuntimeError(f"importing {archive.name} into {where} failed:\n{result.stderr}")
            log(f"  imported {archive.name} into {where} in {time.monotonic() - started:.1f}s")


def _import_command(ctr: Path, archive: Path) -> list[str]:
    client = [str(ctr), "--address", CONTAINERD_SOCKET, "-n", "k8s.io"]
    return [*client, "images", "import", "--local", str(archive)]
