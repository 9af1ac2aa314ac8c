"""What the local node changes on this machine, and how every change is undone.

The node runs in namespaces the cluster creates (see node.py), so most of what it does vanishes
with them: its network namespace (and with it the veth pair and the routes through it), its mount
namespace (every mount containerd and the kubelet make), its iptables rules. Three things are
global and are handled here:

* cgroups: cgroup v1 hierarchies are shared with the host. Every process of a cluster's nodes lives
  below one cgroup per slot, `/gobuild-node<N>`, in every hierarchy (each node has a subtree of its
  own there, its kubelet's `cgroupRoot`), so the processes a cluster started are exactly the
  members of that tree, even after a `kill -9` left container shims running, and removing the tree
  leaves the hierarchies as they were.
* sysctls: the kubelet sets a few kernel tunables that are not per network namespace
  (KERNEL_TUNABLES). Their values before the first node started are recorded once and restored
  when the last node stops.
* slots: several clusters may run at once (a `make run` and a test session); each takes a slot,
  held by an exclusive lock for the lifetime of the process that owns the cluster, which decides
  the addresses, interface and cgroup names of all its nodes. A slot whose lock is free but whose
  cgroup or interface still exists was left behind by a killed process, and `sweep()` removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Global kernel tunables the kubelet sets (setupKernelTunables); everything else it or kube-proxy
#: writes lives in the node's own network namespace.
KERNEL_TUNABLES: tuple[str, ...] = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
MAX_SLOTS = 16
#: Nodes of one cluster: their addresses are .2 to .9 of the slot's link network.
MAX_NODES = 8


def state_root() -> Path:
    """Where slot locks and the sysctl record live (the same cache root as the binaries)."""
    override = os.environ.get("GOBUILD_OPERATOR_CACHE")
    base = Path(override) if override else Path.home() / ".cache" / "gobuild-operator"
    return base / "nodes"


# --- slots -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """The names and addresses of cluster number `index`; none of them exists outside its cluster.

    The host and every node of the cluster share one link network (172.30.<index>.0/24): the host
    is .1, node number n (from 1) is .<n+1> with Pod range 10.<200+index>.<n-1>.0/24, all Pod ranges
    inside the cluster's 10.<200+index>.0.0/16.
    """

    index: int

    @property
    def cgroup(self) -> str:
        return f"gobuild-node{self.index}"

    @property
    def host_link(self) -> str:
        return f"gbh{self.index}"

    @property
    def host_ip(self) -> str:
        """The host's address on the cluster's link network: the API server listens here."""
        return f"172.30.{self.index}.1"

    @property
    def link_prefix(self) -> int:
        return 24

    def node_ip(self, number: int) -> str:
        _check_node_number(number)
        return f"172.30.{self.index}.{1 + number}"

    def pod_cidr(self, number: int) -> str:
        _check_node_number(number)
        return f"10.{200 + self.index}.{number - 1}.0/24"

    @property
    def cluster_cidr(self) -> str:
        """Every node's Pod range (what kube-proxy counts as inside the cluster)."""
        return f"10.{200 + self.index}.0.0/16"

    @property
    def service_cidr(self) -> str:
        return f"10.{96 + self.index}.0.0/16"

    @property
    def kubernetes_service_ip(self) -> str:
        return f"10.{96 + self.index}.0.1"

    @property
    def dns_ip(self) -> str:
        return f"10.{96 + self.index}.0.10"


def _check_node_number(number: int) -> None:
    if not 1 <= number <= MAX_NODES:
        raise ValueError(f"node number {number} is not between 1 and {MAX_NODES}")


def _lock_path(index: int) -> Path:
    return state_root() / f"slot-{index}.lock"


def acquire_slot() -> tuple[Slot, IO[str]]:
    """The first free slot and the open lock file that holds it (close it to release)."""
    state_root().mkdir(parents=True, exist_ok=True)
    for index in range(MAX_SLOTS):
        handle = open(_lock_path(index), "w")  # noqa: SIM115 - held for the cluster's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        # The lock must not leak into the node's processes: they outlive nothing of ours.
        os.set_inheritable(handle.fileno(), False)
        return Slot(index), handle
    raise RuntimeError(f"all {MAX_SLOTS} local node slots are in use")


def slot_in_use(index: int) -> bool:
    path = _lock_path(index)
    if not path.exists():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


# --- cgroups ---------------------------------------------------------------------------------


def hierarchies() -> list[Path]:
    """Every mounted cgroup v1 hierarchy (or the one v2 hierarchy)."""
    if (CGROUP_ROOT / "cgroup.procs").exists():
        return [CGROUP_ROOT]
    return sorted(p for p in CGROUP_ROOT.iterdir() if not p.is_symlink() and (p / "cgroup.procs").exists())


def make_cgroup(relative: str) -> None:
    """Create /<relative> in every hierarchy (cpuset needs its cpus and mems filled in to be used)."""
    for hierarchy in hierarchies():
        path = hierarchy
        for part in Path(relative).parts:
            parent, path = path, path / part
            if path.exists():
                continue
            path.mkdir()
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (path / name).exists() and not (path / name).read_text().strip():
                    (path / name).write_text((parent / name).read_text())


def joiner(relative: str) -> Callable[[], None]:
    """A function that moves the calling process into /<relative> of every hierarchy.

    Meant for Popen's preexec_fn: the paths are found here, so the child (forked from a process that
    may have threads) only makes plain system calls.
    """
    paths = [str(hierarchy / relative / "cgroup.procs") for hierarchy in hierarchies()]

    def join() -> None:
        for path in paths:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0\n")  # 0: the writing process itself
            finally:
                os.close(fd)

    return join


def cgroup_pids(relative: str) -> set[int]:
    """Every process in the tree /<relative>, in any hierarchy."""
    pids: set[int] = set()
    for hierarchy in hierarchies():
        top = hierarchy / relative
        if not top.is_dir():
            continue
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(line) for line in procs.read_text().split())
    return pids


def kill_cgroup(relative: str, *, timeout: float = 20) -> None:
    """SIGKILL every process of the tree until it is empty; these are all processes the node started."""
    deadline = time.monotonic() + timeout
    while True:
        pids = cgroup_pids(relative)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {sorted(pids)} of cgroup {relative} survive SIGKILL")
        time.sleep(0.1)


def remove_cgroup(relative: str, *, timeout: float = 20) -> None:
    """Remove the (empty) tree /<relative> in every hierarchy, deepest first."""
    deadline = time.monotonic() + timeout
    for hierarchy in hierarchies():
        top = hierarchy / relative
        if not top.is_dir():
            continue
        directories = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts))
        for path in [*reversed(directories), top]:
            while path.exists():
                try:
                    path.rmdir()
                except OSError:
                    # A cgroup is busy for a moment after its last process died.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


# --- sysctls ---------------------------------------------------------------------------------


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls(names: tuple[str, ...] = KERNEL_TUNABLES) -> dict[str, str]:
    return {name: _sysctl_path(name).read_text().strip() for name in names if _sysctl_path(name).exists()}


def _record_path() -> Path:
    return state_root() / "sysctls.json"


@contextlib.contextmanager
def _record_lock() -> Iterator[None]:
    state_root().mkdir(parents=True, exist_ok=True)
    with open(state_root() / "sysctls.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def record_sysctls() -> None:
    """Remember the host's values before the first node changes them (kept while any node runs).

    Call it while holding a slot: a concurrent restore_sysctls() then sees that slot in use.
    """
    with _record_lock():
        if not _record_path().exists():
            _record_path().write_text(json.dumps(read_sysctls(), indent=2))


def restore_sysctls() -> None:
    """Put the recorded values back once no node is left (call it after releasing the slot)."""
    with _record_lock():
        if any(slot_in_use(index) for index in range(MAX_SLOTS)) or not _record_path().exists():
            return
        for name, value in json.loads(_record_path().read_text()).items():
            with contextlib.suppress(OSError):
                _sysctl_path(name).write_text(value)
        _record_path().unlink()


# --- links -----------------------------------------------------------------------------------


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def delete_link(name: str) -> None:
    if link_exists(name):
        subprocess.run(["ip", "link", "delete", name], check=False, capture_output=True)


# --- after a crash ---------------------------------------------------------------------------


def release(slot: Slot) -> None:
    """Undo what the nodes of cluster `slot` changed on the host (its processes must be ours to end).

    One cgroup tree holds every node of the cluster and its network switch, so this ends all of
    them, however many nodes there were; their namespaces, links and routes go with their last process.
    """
    kill_cgroup(slot.cgroup)
    remove_cgroup(slot.cgroup)
    delete_link(slot.host_link)  # normally gone with the cluster's switch namespace


def sweep() -> list[int]:
    """Release every slot left behind by a process that died without stopping its nodes."""
    swept: list[int] = []
    for index in range(MAX_SLOTS):
        slot = Slot(index)
        if slot_in_use(index):
            continue
        leftover = link_exists(slot.host_link) or any((h / slot.cgroup).exists() for h in hierarchies())
        if leftover:
            release(slot)
            swept.append(index)
    restore_sysctls()
    return swept
