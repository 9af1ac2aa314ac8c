"""The cluster's own Ethernet: a switch, in a network namespace of its own, between the host and its nodes.

Nodes must reach each other (Pod to Pod, Pod to Service, kubelet to the API server) and the host
(the API server and the tests' servers listen on its end), and nothing may reach past the host.
Two obvious designs change the host: routing node to node through the host needs the host's
`ip_forward`, and a bridge on the host puts node-to-node frames through the host's own
iptables/nft FORWARD rules (br_netfilter is on here). So the switch is a bridge in a namespace that
holds nothing else: no addresses, no routes, no filter rules. The host has one veth into it (`gbh<N>`,
with the cluster's host address), every node has one (`eth0` in the node); the switch forwards
frames between them and cannot route anywhere. The host's routes to the Pod and Service ranges sit
on `gbh<N>`, so they, the switch and every link vanish with the switch's holder process; its
cgroup is below the cluster's slot cgroup, so host.release() ends it with the nodes.

One node or many, the topology is the same, so the one-node clusters of the whole test suite run
on exactly what a multi-node cluster uses.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from localcluster import host
from localcluster.processes import Supervisor, clean_env

BRIDGE = "switch0"
#: The switch's port for the host's veth (inside the switch namespace).
HOST_PORT = "host"


def node_port(number: int) -> str:
    """The switch's port for node `number` (inside the switch namespace)."""
    return f"node{number}"


@dataclass
class Switch:
    """The bridge of cluster `slot`, in the namespace of a holder process the supervisor owns."""

    slot: host.Slot
    supervisor: Supervisor
    holder_pid: int = 0

    @property
    def cgroup(self) -> str:
        return f"{self.slot.cgroup}/switch"

    def start(self) -> None:
        """The namespace, its bridge, and the host's port with the cluster's host address."""
        host.make_cgroup(self.cgroup)
        holder = self.supervisor.spawn(
            "switch", ["unshare", "--net", "--", "sleep", "infinity"], before_exec=host.joiner(self.cgroup)
        )
        self.holder_pid = holder.pid
        wait_for_namespace(holder.pid, self.supervisor)
        self.exec_inside(
            [
                "set -e",
                "ip link set lo up",
                f"ip link add {BRIDGE} type bridge",
                f"ip link set {BRIDGE} up",
                # A switch, not a firewall: its frames skip this namespace's (empty) iptables.
                "f=/proc/sys/net/bridge/bridge-nf-call-iptables; if [ -e $f ]; then echo 0 > $f; fi",
            ]
        )
        slot = self.slot
        run(["ip", "link", "add", slot.host_link, "type", "veth", "peer", "name", HOST_PORT,
             "netns", str(self.holder_pid)])  # fmt: skip
        run(["ip", "addr", "add", f"{slot.host_ip}/{slot.link_prefix}", "dev", slot.host_link])
        run(["ip", "link", "set", slot.host_link, "up"])
        self.exec_inside([f"ip link set {HOST_PORT} master {BRIDGE} up"])

    def plug(self, number: int, node_pid: int) -> None:
        """A veth from the switch into the network namespace of `node_pid`, named eth0 there (down)."""
        port = node_port(number)
        self.exec_inside(
            [
                "set -e",
                f"ip link add {port} type veth peer name eth0 netns {node_pid}",
                f"ip link set {port} master {BRIDGE} up",
            ]
        )

    def route_from_host(self, node_numbers: Sequence[int]) -> None:
        """The host's routes to every node's Pod range, and to the Services through the first node."""
        slot = self.slot
        routes = [(slot.pod_cidr(n), slot.node_ip(n)) for n in node_numbers]
        routes.append((slot.service_cidr, slot.node_ip(min(node_numbers))))
        for destination, gateway in routes:
            run(["ip", "route", "add", destination, "via", gateway, "dev", slot.host_link])

    def exec_inside(self, script: Sequence[str]) -> None:
        result = subprocess.run(
            ["nsenter", f"--target={self.holder_pid}", "--net", "--", "sh", "-c", "\n".join(script)],
            capture_output=True,
            text=True,
            check=False,
            env=clean_env(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"the switch's namespace: {result.stderr.strip()}")


def wait_for_namespace(pid: int, supervisor: Supervisor, *, timeout: float = 10) -> None:
    """Until `pid` (an `unshare` holder) is in a network namespace other than ours."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.check_alive()
        try:
            if Path(f"/proc/{pid}/ns/net").readlink() != Path("/proc/self/ns/net").readlink():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"the namespaces of process {pid} not ready after {timeout:.0f}s")


def run(argv: Sequence[str]) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
