"""Build the real control-plane binaries from pinned Go modules, once per version.

There is no container runtime on the machines this project is developed and tested on, so the
control plane runs as local processes (the envtest approach). The binaries are compiled from the
wrapper modules under devtools/controlplane/, whose go.mod files are the single place the versions
are pinned. A build takes minutes, so results are cached per version outside the repository and a
second `make cluster-up` builds nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
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


@dataclass(frozen=True)
class Component:
    """One wrapper module and the commands built from it."""

    module_dir: Path
    pinned_module: str
    commands: dict[str, str]  # binary name -> Go package to build

    @property
    def version(self) -> str:
        return pinned_version(self.module_dir / "go.mod", self.pinned_module)


KUBE = Component(
    module_dir=CONTROLPLANE_DIR / "kube",
    pinned_module="k8s.io/kubernetes",
    commands={
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    },
)
ETCD = Component(
    module_dir=CONTROLPLANE_DIR / "etcd",
    pinned_module="go.etcd.io/etcd/server/v3",
    commands={"etcd": "."},
)


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
    if component is not KUBE:
        return "-s -w"
    version = component.version
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return " ".join(
        [
            "-s -w",
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    )


def ensure_binaries(*, log: LogFn | None = None) -> dict[str, Path]:
    """Return name -> path of etcd, kube-apiserver and kube-controller-manager, building what is missing."""
    out = log or _stderr
    paths: dict[str, Path] = {}
    for component in (ETCD, KUBE):
        target = cache_root() / f"{component.pinned_module.replace('/', '_')}@{component.version}"
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
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    cmd = ["go", "build", "-v", "-trimpath", f"-ldflags={_ldflags(component)}", "-o", str(output), package]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=component.module_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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
