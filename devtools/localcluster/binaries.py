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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

LogFn = Callable[[str], None]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROLPLANE_DIR = REPO_ROOT / "devtools" / "controlplane"
NODE_DIR = REPO_ROOT / "devtools" / "node"
TOOLS_DIR = REPO_ROOT / "devtools" / "tools"
MONITORING_DIR = REPO_ROOT / "devtools" / "monitoring"


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

# --- monitoring: the local cluster's Prometheus and the alert rules' unit tests ---------------------
PROMETHEUS = Component(
    module_dir=MONITORING_DIR / "prometheus",
    pinned_module="github.com/prometheus/prometheus",
    commands={
        "prometheus": "github.com/prometheus/prometheus/cmd/prometheus",
        "promtool": "github.com/prometheus/prometheus/cmd/promtool",
    },
    # Service discovery for Kubernetes only: the other mechanisms (clouds, Consul, ...) are a third
    # of the build and reach services that do not exist here.
    tags=("remove_all_sd", "enable_kubernetes_sd"),
    # Module v0.316.0 is Prometheus 3.16.0 (the module's minor version carries major and minor).
    version_vars=(
        "github.com/prometheus/common/version.Version={release}",
        "github.com/prometheus/common/version.Branch=release",
    ),
)
MONITORING: tuple[Component, ...] = (PROMETHEUS,)


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
    patch = version.lstrip("v").split(".")[2].split("-")[0]
    release = f"{int(minor) // 100}.{int(minor) % 100}.{patch}"  # v0.316.0 -> 3.16.0
    values = {
        "version": version, "bare_version": version.lstrip("v"), "major": major, "minor": minor,
        "release": release,
    }  # fmt: skip
    return " ".join(["-s -w", *(f"-X {var.format(**values)}" for var in component.version_vars)])


def ensure_binaries(
    components: tuple[Component, ...] = CONTROL_PLANE, *, log: LogFn | None = None
) -> dict[str, Path]:
    """Return name -> path of every command of `components`, building what is missing.

    Components built from one module with the same flags (the control plane's and the node's
    Kubernetes commands) are built by one `go build` so the packages they share compile once, and
    independent builds run side by side as far as memory allows. Before a cold build an estimate
    is printed, and while it runs, its progress.
    """
    out = log or _stderr
    missing = [c for c in components if not _complete(c)]
    if missing:
        build_all(missing, log=out)
    paths: dict[str, Path] = {}
    for component in components:
        target = cache_root() / component.cache_name
        paths.update({name: target / name for name in component.commands})
    return paths


def _complete(component: Component) -> bool:
    target = cache_root() / component.cache_name
    return all((target / name).is_file() for name in component.commands)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- building ---------------------------------------------------------------------------------------

#: Minutes a cold build of each group took on a busy 2-core machine (the README's numbers); the
#: estimate before a build scales them by this machine's cores, then by what earlier builds here took.
COLD_MINUTES: dict[str, float] = {
    "k8s.io/kubernetes": 22.0,
    "go.etcd.io/etcd/server/v3": 3.0,
    "github.com/containerd/containerd/v2": 4.0,
    "github.com/opencontainers/runc": 1.0,
    "github.com/containernetworking/plugins": 1.0,
    "github.com/coredns/coredns": 6.0,
    "github.com/rancher/local-path-provisioner": 2.0,
    "helm.sh/helm/v3": 3.0,
    "github.com/moby/buildkit": 5.0,
    "github.com/prometheus/prometheus": 6.0,
}
#: Memory one `go build` of a large module may take (compile of the biggest packages and the link).
BUILD_MEMORY = 3 * 2**30
#: At most this many builds at once: each already compiles on every core, so more only overlaps
#: downloads and links (single-threaded) with compilation.
MAX_PARALLEL_BUILDS = 3
PROGRESS_INTERVAL = 30.0


@dataclass(frozen=True)
class BuildGroup:
    """Components built by one `go build` invocation: same module, version and flags."""

    components: tuple[Component, ...]

    @property
    def first(self) -> Component:
        return self.components[0]

    @property
    def packages(self) -> dict[str, str]:
        """binary name -> package, for every component of the group."""
        return {name: pkg for c in self.components for name, pkg in c.commands.items()}

    @property
    def label(self) -> str:
        return f"{self.first.pinned_module}@{self.first.version} ({', '.join(self.packages)})"


def build_groups(components: list[Component]) -> list[BuildGroup]:
    """`components` grouped by what one `go build` can make together, largest module first."""
    groups: dict[tuple[object, ...], list[Component]] = {}
    for c in components:
        key = (c.module_dir, c.pinned_module, c.in_module, c.cgo, c.tags, c.version_vars)
        groups.setdefault(key, []).append(c)
    ordered = [BuildGroup(tuple(group)) for group in groups.values()]
    return sorted(ordered, key=lambda g: -COLD_MINUTES.get(g.first.pinned_module, 1.0))


def parallel_builds(*, memory: int | None = None) -> int:
    """How many builds may run side by side: what free memory allows, at most MAX_PARALLEL_BUILDS."""
    available = memory if memory is not None else _available_memory()
    return max(1, min(MAX_PARALLEL_BUILDS, available // BUILD_MEMORY))


def _available_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return BUILD_MEMORY


def estimate_minutes(groups: list[BuildGroup], *, workers: int, cores: int | None = None) -> float:
    """A rough wall-clock estimate of building `groups` cold: compilation is CPU-bound, so side by
    side builds share the cores; what builds here took before replaces the built-in numbers."""
    history = _read_history()
    minutes = [
        history.get(g.first.pinned_module, COLD_MINUTES.get(g.first.pinned_module, 2.0)) for g in groups
    ]
    if not minutes:
        return 0.0
    scale = 2 / (cores or os.cpu_count() or 2)  # the table is for 2 cores
    # Side by side, builds overlap downloads and links with compilation; the CPU stays the limit.
    return max(sum(minutes) / (1 + 0.15 * (workers - 1)), max(minutes)) * scale


def _history_file() -> Path:
    return cache_root() / ".build-minutes.json"


def _read_history() -> dict[str, float]:
    try:
        data = json.loads(_history_file().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _record_history(module: str, minutes: float, *, cold: bool) -> None:
    if not cold:
        return
    history = _read_history()
    history[module] = round(minutes, 1)
    with contextlib.suppress(OSError):
        _history_file().parent.mkdir(parents=True, exist_ok=True)
        _history_file().write_text(json.dumps(history, indent=1, sort_keys=True))


def build_all(components: list[Component], *, log: LogFn) -> None:
    """Build every missing component: groups side by side, with an estimate and progress."""
    groups = build_groups(components)
    workers = min(len(groups), parallel_builds())
    minutes = estimate_minutes(groups, workers=workers)
    log(
        f"building {len(groups)} Go module(s) from source, {workers} at a time "
        f"(cold: about {minutes:.0f} min on this machine; cached in {cache_root()}, later runs skip this):"
    )
    for group in groups:
        log(f"  {group.label}")
    progress = _Progress(log)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_build_group, group, progress) for group in groups]
        reporter = threading.Thread(target=progress.report_until_done, daemon=True)
        reporter.start()
        try:
            errors = [exc for f in futures if (exc := f.exception()) is not None]
        finally:
            progress.done.set()
    if errors:
        raise errors[0]


@dataclass
class _Progress:
    log: LogFn
    started: float = field(default_factory=time.monotonic)
    #: group label -> (packages compiled, packages in the build, seconds since the group started)
    running: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)

    def update(self, name: str, compiled: int, total: int, started: float) -> None:
        with self.lock:
            self.running[name] = (compiled, total, started)

    def finish(self, name: str) -> None:
        with self.lock:
            self.running.pop(name, None)

    def report_until_done(self) -> None:
        while not self.done.wait(PROGRESS_INTERVAL):
            with self.lock:
                parts = [
                    _progress_text(name, compiled, total, time.monotonic() - started)
                    for name, (compiled, total, started) in self.running.items()
                ]
            if parts:
                elapsed = time.monotonic() - self.started
                self.log(f"  [{_duration(elapsed)}] " + "; ".join(parts))


def _progress_text(name: str, compiled: int, total: int, elapsed: float) -> str:
    if not total:
        return f"{name}: {compiled} packages"
    share = min(compiled / total, 1.0)
    text = f"{name}: {compiled}/{total} packages ({share:.0%})"
    if share >= 0.1:  # the first packages (the standard library) say little about the rest
        text += f", about {_duration(elapsed * (1 - share) / share)} left"
    return text


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _build_group(group: BuildGroup, progress: _Progress) -> None:
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as locks:
        for component in sorted(group.components, key=lambda c: c.cache_name):
            lock = locks.enter_context(open(root / f".{component.cache_name}.lock", "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build of the same version waits, then reuses
        todo = tuple(c for c in group.components if not _complete(c))
        if not todo:
            return
        group = BuildGroup(todo)
        staging = Path(tempfile.mkdtemp(prefix=f".{group.first.cache_name}.", dir=root))
        try:
            _go_build(group, staging, progress)
            for component in todo:
                target = root / component.cache_name
                part = Path(tempfile.mkdtemp(prefix=f".{component.cache_name}.", dir=root))
                for name in component.commands:
                    (staging / name).rename(part / name)
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(target)
                part.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def go_build_command(group: BuildGroup, output: Path) -> list[str]:
    """One `go build` of every package of `group` into the directory `output`."""
    first = group.first
    cmd = ["go", "build", "-v", "-trimpath", f"-ldflags={_ldflags(first)}"]
    if first.tags:
        cmd.append(f"-tags={','.join(first.tags)}")
    return [*cmd, "-o", f"{output}{os.sep}", *group.packages.values()]


def _go_env(component: Component) -> dict[str, str]:
    return {
        **os.environ,
        "CGO_ENABLED": "1" if component.cgo else "0",
        # In the downloaded module its own go.sum is complete and the directory is read-only.
        "GOFLAGS": "-mod=readonly" if component.in_module else "-mod=mod",
        "GOTOOLCHAIN": "local",
    }


def _count_packages(group: BuildGroup, workdir: Path) -> int:
    """How many packages the build compiles when nothing is cached (its progress' 100%)."""
    first = group.first
    cmd = ["go", "list", "-deps", "-f", "{{.ImportPath}}"]
    if first.tags:
        cmd.append(f"-tags={','.join(first.tags)}")
    result = subprocess.run(
        [*cmd, *group.packages.values()], cwd=workdir, env=_go_env(first), capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    return len(result.stdout.split()) if result.returncode == 0 else 0


def _go_build(group: BuildGroup, output: Path, progress: _Progress) -> None:
    first = group.first
    name = ", ".join(group.packages)
    workdir = module_source(first) if first.in_module else first.module_dir
    started = time.monotonic()
    progress.update(name, 0, 0, started)
    total = _count_packages(group, workdir)  # also downloads the modules the build needs
    progress.log(f"  {name}: compiling ({total} packages when nothing is cached)")
    proc = subprocess.Popen(
        go_build_command(group, output), cwd=workdir, env=_go_env(first),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    compiled = 0
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        compiled += 1
        tail = [*tail[-40:], line.rstrip()]
        progress.update(name, compiled, total, started)
    rc = proc.wait()
    progress.finish(name)
    if rc != 0:
        raise RuntimeError(f"go build of {name} failed (exit {rc}):\n" + "\n".join(tail))
    missing = [n for n in group.packages if not (output / n).is_file()]
    if missing:
        raise RuntimeError(f"go build of {name} made no {', '.join(missing)} in {output}")
    elapsed = time.monotonic() - started
    cold = total > 0 and compiled >= total * 0.8
    _record_history(first.pinned_module, elapsed / 60, cold=cold)
    progress.log(f"  {name}: built in {_duration(elapsed)} ({compiled} packages compiled)")


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
