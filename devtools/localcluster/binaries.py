"""Build the local cluster's real binaries from pinned Go modules, once per version.

No Docker engine and no registry are available where this project is developed and tested, so
every component is compiled from source: the control plane (etcd, kube-apiserver,
kube-controller-manager) from devtools/controlplane/, and the node (kubelet, kube-proxy,
kube-scheduler, containerd, runc, the CNI plugins, CoreDNS, the local-path storage provisioner)
from the same Kubernetes wrapper and from devtools/node/. Each wrapper's go.mod is the single place
its version is pinned. A cold build takes minutes, so results are cached per version outside the
repository and a second `make cluster-up` builds nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LogFn = Callable[[str], None]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROLPLANE_DIR = REPO_ROOT / "devtools" / "controlplane"
NODE_DIR = REPO_ROOT / "devtools" / "node"
TOOLS_DIR = REPO_ROOT / "devtools" / "tools"


@dataclass(frozen=True)
class Component:
    """One wrapper module and the commands built from it, cached together per version."""

    module_dir: Path
    pinned_module: str
    commands: dict[str, str]  # binary name -> Go package to build
    #: Distinguishes several components built from one module (the control plane, the node).
    part: str = ""
    cgo: bool = False
    tags: tuple[str, ...] = ()
    #: -X assignments (package.var=value) that make `--version` tell the truth; {version} is filled in.
    version_vars: tuple[str, ...] = ()
    #: Build inside the downloaded module (packages relative to it) instead of from the wrapper:
    #: for modules whose replace/exclude directives only apply when they are the main module.
    in_module: bool = False

    @property
    def version(self) -> str:
        return pinned_version(self.module_dir / "go.mod", self.pinned_module)

    @property
    def cache_name(self) -> str:
        suffix = f"-{self.part}" if self.part else ""
        return f"{self.pinned_module.replace('/', '_')}{suffix}@{self.version}"


_KUBE_VERSION_PKG = "k8s.io/component-base/version"
_KUBE_VERSION_VARS = (
    f"{_KUBE_VERSION_PKG}.gitVersion={{version}}",
    f"{_KUBE_VERSION_PKG}.gitMajor={{major}}",
    f"{_KUBE_VERSION_PKG}.gitMinor={{minor}}",
    f"{_KUBE_VERSION_PKG}.gitTreeState=clean",
    f"{_KUBE_VERSION_PKG}.buildDate=1970-01-01T00:00:00Z",
)
KUBE = Component(
    module_dir=CONTROLPLANE_DIR / "kube",
    pinned_module="k8s.io/kubernetes",
    commands={
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    },
    version_vars=_KUBE_VERSION_VARS,
)
ETCD = Component(
    module_dir=CONTROLPLANE_DIR / "etcd",
    pinned_module="go.etcd.io/etcd/server/v3",
    commands={"etcd": "."},
)
#: The control plane: what every test session and `make run` start.
CONTROL_PLANE: tuple[Component, ...] = (ETCD, KUBE)

# --- the node: same k8s.io/kubernetes pin as the control plane, so the build cache is shared -------
KUBE_NODE = Component(
    module_dir=CONTROLPLANE_DIR / "kube",
    pinned_module="k8s.io/kubernetes",
    part="node",
    commands={
        "kubelet": "k8s.io/kubernetes/cmd/kubelet",
        "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    },
    version_vars=_KUBE_VERSION_VARS,
)
CONTAINERD = Component(
    module_dir=NODE_DIR / "containerd",
    pinned_module="github.com/containerd/containerd/v2",
    commands={
        "containerd": "github.com/containerd/containerd/v2/cmd/containerd",
        "ctr": "github.com/containerd/containerd/v2/cmd/ctr",
        "containerd-shim-runc-v2": "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
    },
    # Storage drivers that need C libraries this node does not use (it runs overlayfs).
    tags=("no_btrfs", "no_devmapper", "no_zfs"),
    version_vars=("github.com/containerd/containerd/v2/version.Version={version}",),
)
RUNC = Component(
    module_dir=NODE_DIR / "runc",
    pinned_module="github.com/opencontainers/runc",
    commands={"runc": "github.com/opencontainers/runc"},
    cgo=True,  # libseccomp (Debian libseccomp-dev) for the RuntimeDefault seccomp profile
    tags=("seccomp",),
    version_vars=("main.version={bare_version}",),
)
CNI = Component(
    module_dir=NODE_DIR / "cni",
    pinned_module="github.com/containernetworking/plugins",
    commands={
        name: f"github.com/containernetworking/plugins/plugins/{kind}/{name}"
        for kind, name in (
            ("main", "bridge"),
            ("ipam", "host-local"),
            ("main", "loopback"),
            ("meta", "portmap"),
        )
    },
    version_vars=("github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={version}",),
)
COREDNS = Component(
    module_dir=NODE_DIR / "coredns",
    pinned_module="github.com/coredns/coredns",
    commands={"coredns": "github.com/coredns/coredns"},
)
LOCAL_PATH_PROVISIONER = Component(
    module_dir=NODE_DIR / "local-path-provisioner",
    pinned_module="github.com/rancher/local-path-provisioner",
    commands={"local-path-provisioner": "github.com/rancher/local-path-provisioner"},
    version_vars=("main.VERSION={version}",),
)
#: What the node runs: kubelet and kube-proxy as processes, containerd with runc and the CNI
#: plugins; CoreDNS and the storage provisioner as Pods (their images wrap these binaries).
NODE: tuple[Component, ...] = (KUBE_NODE, CONTAINERD, RUNC, CNI, COREDNS, LOCAL_PATH_PROVISIONER)

# --- tools: what builds and installs the operator the way users do ----------------------------------
HELM = Component(
    module_dir=TOOLS_DIR / "helm",
    pinned_module="helm.sh/helm/v3",
    commands={"helm": "helm.sh/helm/v3/cmd/helm"},
    version_vars=("helm.sh/helm/v3/internal/version.version={version}",),
)
BUILDKIT = Component(
    module_dir=TOOLS_DIR / "buildkit",
    pinned_module="github.com/moby/buildkit",
    commands={"buildkitd": "./cmd/buildkitd", "buildctl": "./cmd/buildctl"},
    version_vars=("github.com/moby/buildkit/version.Version={version}",),
    in_module=True,  # its go.mod excludes versions, which only counts when it is the main module
)
TOOLS: tuple[Component, ...] = (HELM, BUILDKIT)


def pinned_version(go_mod: Path, module: str) -> str:
    """The version go.mod requires for `module` (the pin every build uses)."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{go_mod} does not require {module}")
    return match.group(1)


def cache_root() -> Path:
    override = os.environ.get("GOBUILD_OPERATOR_CACHE")
    base = Path(override) if override else Path.home() / ".cache" / "gobuild-operator"
    return base / "bin"


def _ldflags(component: Component) -> str:
    version = component.version
    major, minor = version.lstrip("v").split(".")[:2]
    values = {"version": version, "bare_version": version.lstrip("v"), "major": major, "minor": minor}
    return " ".join(["-s -w", *(f"-X {var.format(**values)}" for var in component.version_vars)])


def ensure_binaries(
    components: tuple[Component, ...] = CONTROL_PLANE, *, log: LogFn | None = None
) -> dict[str, Path]:
    """Return name -> path of every command of `components`, building what is missing."""
    out = log or _stderr
    paths: dict[str, Path] = {}
    for component in components:
        target = cache_root() / component.cache_name
        names = list(component.commands)
        if not all((target / name).is_file() for name in names):
            _build(component, target, out)
        paths.update({name: target / name for name in names})
    return paths


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _build(component: Component, target: Path, log: LogFn) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build of the same version waits, then reuses
        if all((target / name).is_file() for name in component.commands):
            return
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for name, package in component.commands.items():
                _go_build(component, package, staging / name, name, log)
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _go_build(component: Component, package: str, output: Path, name: str, log: LogFn) -> None:
    log(f"building {name} {component.version} (first time only; cached in {output.parent.parent})")
    env = {
        **os.environ,
        "CGO_ENABLED": "1" if component.cgo else "0",
        # In the downloaded module its own go.sum is complete and the directory is read-only.
        "GOFLAGS": "-mod=readonly" if component.in_module else "-mod=mod",
        "GOTOOLCHAIN": "local",
    }
    workdir = module_source(component) if component.in_module else component.module_dir
    cmd = ["go", "build", "-v", "-trimpath", f"-ldflags={_ldflags(component)}"]
    if component.tags:
        cmd.append(f"-tags={','.join(component.tags)}")
    cmd += ["-o", str(output), package]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    compiled = 0
    tail: list[str] = []
    done = threading.Event()

    def report() -> None:
        while not done.wait(10):
            log(f"  {name}: {compiled} packages compiled, {time.monotonic() - started:.0f}s")

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        compiled += 1
        tail = [*tail[-40:], line.rstrip()]
    rc = proc.wait()
    done.set()
    if rc != 0:
        raise RuntimeError(f"go build of {name} failed (exit {rc}):\n" + "\n".join(tail))
    log(f"  {name}: built in {time.monotonic() - started:.0f}s")


def module_source(component: Component) -> Path:
    """The directory of the pinned module in the module cache (downloaded if needed)."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{component.pinned_module}@{component.version}"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or not info.get("Dir"):
        raise RuntimeError(f"go mod download {component.pinned_module}: {info.get('Error') or result.stderr}")
    return Path(info["Dir"])
