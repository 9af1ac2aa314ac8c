"""What this machine looks like to a careful admin: the state `make cluster-down` must restore.

Whatever number of nodes ran: every node's links, routes and mounts live in namespaces of its own,
so on the host they show (or not) in the same global tables as one node's would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from localcluster import binaries, host

#: Per-namespace sysctls the node sets inside its own namespace; on the host they must not move.
NETWORK_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.netfilter.nf_conntrack_max",
)


def _run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False).stdout


def _links() -> list[tuple[str, str]]:
    links: list[dict[str, Any]] = json.loads(_run("ip", "-j", "link", "show") or "[]")
    return sorted((link["ifname"], link.get("operstate", "")) for link in links)


def _mounts() -> list[str]:
    # mountinfo without the mount ids, which change when anything remounts
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return sorted(" ".join(line.split()[2:]) for line in lines)


def _processes() -> list[str]:
    """The running programs built for the local cluster (kubelet, containerd and its shims, ...)."""
    root = binaries.cache_root().resolve()
    found: list[str] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            exe = (proc / "exe").readlink()
        except OSError:
            continue
        if exe.is_relative_to(root):
            found.append(str(exe.relative_to(root)))
    return sorted(found)


def _legacy_iptables() -> str:
    """Rules of the legacy (x_tables) backend, which `nft list ruleset` does not show."""
    rules = "".join(
        _run(tool) for tool in ("iptables-legacy-save", "ip6tables-legacy-save") if shutil.which(tool)
    )
    return "\n".join(line for line in rules.splitlines() if not line.startswith("#"))


def _cgroups() -> list[str]:
    found: list[str] = []
    for hierarchy in host.hierarchies():
        found += [str(p) for p in hierarchy.iterdir() if p.is_dir()]
    return sorted(found)


def snapshot() -> dict[str, Any]:
    return {
        "links": _links(),
        "addresses": _run("ip", "-o", "addr", "show"),
        "routes": _run("ip", "route", "show", "table", "all"),
        "routes6": _run("ip", "-6", "route", "show", "table", "all"),
        "nft": _run("nft", "list", "ruleset"),
        "iptables-legacy": _legacy_iptables(),
        "processes": _processes(),
        "mounts": _mounts(),
        "cgroups": _cgroups(),
        "sysctls": host.read_sysctls((*host.KERNEL_TUNABLES, *NETWORK_SYSCTLS)),
        "netns": sorted(p.name for p in Path("/run/netns").glob("*")) if Path("/run/netns").exists() else [],
    }


def differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {key: (before[key], after.get(key)) for key in before if before[key] != after.get(key)}
