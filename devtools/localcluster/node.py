"""One real Kubernetes node: containerd, runc, the CNI plugins, kubelet and kube-proxy.

Containment is the design constraint: nothing the node or its Pods send may leave this machine,
and the host must look the same after the cluster stops. So the node lives in namespaces of its
own, created by a holder process (`unshare --net --mount`) that every node process joins:

* A network namespace, reached from the host over a veth pair (`gbh<N>` on the host, `eth0` in the
  node). The node has no default route, so neither it nor its Pods can reach anything but the host's
  end of the pair, where the API server and the tests' servers listen. The host gets routes to the
  Pod and Service ranges through the pair (so the API server reaches webhook Services and Pods);
  they disappear with the interface.
* A private mount namespace. kubelet and containerd write to /run/containerd, /var/lib/kubelet,
  /var/lib/cni, /var/log/pods and /var/log/containers whatever their configuration says; inside the
  node /run is a fresh tmpfs and /var/lib and /var/log are overlays whose upper layers live in the
  cluster's state dir. Every mount the kubelet and containerd make (volumes, container root
  filesystems, Pod network namespaces) stays in this namespace and dies with it.
* A cgroup tree per node (host.py), which is also the kubelet's cgroupRoot: the node's processes are
  exactly its members.

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
from localcluster.processes import Supervisor, clean_env

NODE_NAME = "gobuild-node"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
#: In the cluster's state dir: the PID whose namespaces are the node's (for `import_images`).
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


@dataclass
class Node:
    """A node registered with the API server at `server`, whose PKI lives in `pki`."""

    slot: host.Slot
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
    def paths(self) -> NodePaths:
        return NodePaths(self.state_dir / "node")

    # --- start ----------------------------------------------------------------------------------

    def start_namespaces(self) -> None:
        """The holder process, its mounts and the veth pair: before the API server binds its address."""
        host.make_cgroup(f"{self.slot.cgroup}/system")
        self._join_system_cgroup = host.joiner(f"{self.slot.cgroup}/system")
        holder = self.supervisor.spawn(
            "node-namespaces",
            ["unshare", "--net", "--mount", "--propagation", "private", "--", "sleep", "infinity"],
            before_exec=self._join_system_cgroup,
        )
        self.holder_pid = holder.pid
        (self.state_dir / NODE_PID_FILE).write_text(str(holder.pid))
        self._wait(lambda: self._namespaces_ready(holder.pid), what="the node's namespaces", timeout=10)
        self._mount_private_dirs()
        self._wire_network()

    def start_runtime(self, *, images: Iterable[Path] = ()) -> None:
        """containerd with runc and CNI; then the images the node needs (there is no registry)."""
        self._write_cni_config()
        config = self._write_containerd_config()
        bin_dirs = sorted({str(self.binaries[name].parent) for name in ("containerd", "ctr")})
        env = clean_env({"PATH": ":".join([*bin_dirs, "/usr/sbin", "/usr/bin", "/sbin", "/bin"])})
        self._spawn_inside("containerd", [str(self.binaries["containerd"]), "--config", str(config)], env=env)
        self._wait(self._containerd_ready, what="containerd", timeout=30)
        for archive in images:
            self.import_image(archive)

    def start_kubelet(self) -> None:
        host.record_sysctls()  # the kubelet sets global kernel tunables; host.py restores them
        kubeconfig = write_kubeconfig(
            self.paths.config / "kubelet.kubeconfig", server=self.server, pki=self.pki,
            user=f"system:node:{NODE_NAME}", pair_stem="kubelet-client",
        )  # fmt: skip
        config = self._write_kubelet_config()
        self._spawn_inside(
            "kubelet",
            [
                str(self.binaries["kubelet"]),
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--node-ip={self.slot.node_ip}",
                f"--hostname-override={NODE_NAME}",
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
                    "clusterCIDR": self.slot.pod_cidr,
                    "hostnameOverride": NODE_NAME,
                    "bindAddress": self.slot.node_ip,
                    "healthzBindAddress": "127.0.0.1:10256",
                    "metricsBindAddress": "127.0.0.1:10249",
                    "nodePortAddresses": [f"{self.slot.node_ip}/32"],
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
        self._spawn_inside("kube-proxy", [str(self.binaries["kube-proxy"]), f"--config={config}", "--v=1"])

    def import_image(self, archive: Path) -> None:
        """Import a docker-archive into the CRI's image store (once per archive)."""
        if archive in self.imported:
            return
        started = time.monotonic()
        self.exec_inside(
            [str(self.binaries["ctr"]), "--address", CONTAINERD_SOCKET, "-n", "k8s.io", "images", "import",
             "--local", str(archive)],
            timeout=600,
        )  # fmt: skip
        self.imported.add(archive)
        self.log(f"  imported {archive.name} in {time.monotonic() - started:.1f}s")

    # --- stop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """End every node process (containers included) and remove what the node made on the host."""
        self.supervisor.stop(["kube-proxy", "kubelet"], timeout=10)
        host.release(self.slot)  # containers, shims, containerd, the holder: all in the node's cgroup
        self.supervisor.stop(["containerd", "node-namespaces"], timeout=5)

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

    def _namespaces_ready(self, pid: int) -> bool:
        self.supervisor.check_alive()
        try:
            return Path(f"/proc/{pid}/ns/net").readlink() != Path("/proc/self/ns/net").readlink()
        except OSError:
            return False

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
        slot = self.slot
        link = f"{slot.link_prefix}"
        run = _run
        run(["ip", "link", "add", slot.host_link, "type", "veth", "peer", "name", "eth0",
             "netns", str(self.holder_pid)])  # fmt: skip
        run(["ip", "addr", "add", f"{slot.host_ip}/{link}", "dev", slot.host_link])
        run(["ip", "link", "set", slot.host_link, "up"])
        inside = [
            "set -e",
            "ip link set lo up",
            f"ip addr add {slot.node_ip}/{link} dev eth0",
            "ip link set eth0 up",
        ]
        for name, value in NODE_SYSCTLS.items():
            path = "/proc/sys/" + name.replace(".", "/")
            inside.append(f"if [ -e {path} ]; then echo {value} > {path}; fi")
        self.exec_inside(["sh", "-c", "\n".join(inside)])
        for cidr in (slot.pod_cidr, slot.service_cidr):
            run(["ip", "route", "add", cidr, "via", slot.node_ip, "dev", slot.host_link])

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
                        "ranges": [[{"subnet": self.slot.pod_cidr}]],
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
            "cgroupRoot": f"/{self.slot.cgroup}",
            "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
            "address": self.slot.node_ip,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(self.pki / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(self.pki / "kubelet-serving.key"),
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


def _run(argv: Sequence[str]) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")


def require_tools() -> str | None:
    """What this machine lacks to run a node, or None."""
    missing = [
        tool for tool in ("unshare", "nsenter", "ip", "iptables", "mount") if shutil.which(tool) is None
    ]
    return f"missing tools: {', '.join(missing)}" if missing else None


def import_images(state_dir: Path, archives: Iterable[Path], *, log: LogFn) -> None:
    """Import image archives into the node of the cluster whose state is in `state_dir`.

    For commands run against a cluster another process owns (`make run` while `make cluster-up`'s
    cluster is up): the node's namespaces are found through the PID recorded at its start.
    """
    from localcluster.binaries import CONTAINERD, ensure_binaries

    pid = int((state_dir / NODE_PID_FILE).read_text())
    ctr = ensure_binaries((CONTAINERD,), log=log)["ctr"]
    for archive in archives:
        started = time.monotonic()
        enter = ["nsenter", f"--target={pid}", "--net", "--mount", "--"]
        command = [str(ctr), "--address", CONTAINERD_SOCKET, "-n", "k8s.io", "images", "import", "--local"]
        result = subprocess.run(
            [*enter, *command, str(archive)], capture_output=True, text=True, check=False, env=clean_env()
        )
        if result.returncode != 0:
            raise RuntimeError(f"importing {archive.name} into the node failed:\n{result.stderr}")
        log(f"  imported {archive.name} in {time.monotonic() - started:.1f}s")
