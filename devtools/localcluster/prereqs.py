"""What a fresh machine needs before `make run` or `make test` builds anything, checked in seconds.

`python -m localcluster.prereqs` checks, in this order: Python (the version pyproject.toml
accepts), Go (at least the newest `go` line of the wrapper modules, since builds use
GOTOOLCHAIN=local), the Debian packages of devtools/packages.txt (the one list; .ci/run reads it
through this module too), free disk where the builds cache, and, for the local cluster, root and
a writable cgroup filesystem. Missing packages are installed with one printed `apt-get` line when
running as root (unless --no-install); otherwise the exact command is printed and the exit status
is 1, before anything is built.

It imports only the standard library: it runs with the system's Python before `.venv` exists.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES_FILE = REPO_ROOT / "devtools" / "packages.txt"
PYPROJECT = REPO_ROOT / "pyproject.toml"
WRAPPER_MODULES = REPO_ROOT / "devtools"
#: Free space a cold set-up needs where the builds cache (module cache, build cache, images,
#: binaries: measured at about 17 GB, see the README) and what a warm start still writes.
COLD_DISK_BYTES = 24 * 10**9
WARM_DISK_BYTES = 3 * 10**9
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str


def read_packages(path: Path = PACKAGES_FILE) -> list[str]:
    """The package names of the list: one a line, `#` comments and blank lines ignored."""
    names: list[str] = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name and name not in names:
            names.append(name)
    return names


def missing_packages(names: Iterable[str], *, installed: Callable[[str], bool] | None = None) -> list[str]:
    check = installed or _dpkg_installed
    return [name for name in names if not check(name)]


def _dpkg_installed(name: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True, check=False
    )
    return result.returncode == 0 and result.stdout.strip().endswith("install ok installed")


def apt_command(names: Sequence[str], *, root: bool) -> str:
    """The one line that installs `names` (with sudo when not root)."""
    sudo = "" if root else "sudo "
    return (
        f"{sudo}apt-get update -qq && {sudo}env DEBIAN_FRONTEND=noninteractive "
        f"apt-get install -y -qq --no-install-recommends {' '.join(names)}"
    )


def required_python(pyproject: Path = PYPROJECT) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """(minimum, exclusive maximum) of pyproject.toml's requires-python ('>=3.11,<3.12')."""
    match = re.search(r'^requires-python\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
    spec = match.group(1) if match else ">=3.11"
    low = re.search(r">=\s*(\d+)\.(\d+)", spec)
    high = re.search(r"<\s*(\d+)\.(\d+)", spec)
    minimum = (int(low.group(1)), int(low.group(2))) if low else (3, 11)
    maximum = (int(high.group(1)), int(high.group(2))) if high else None
    return minimum, maximum


def required_go(root: Path = WRAPPER_MODULES) -> tuple[int, ...]:
    """The newest `go` directive of the wrapper modules: builds use GOTOOLCHAIN=local."""
    versions: list[tuple[int, ...]] = [(0,)]
    for go_mod in root.glob("*/*/go.mod"):
        match = re.search(r"^go\s+(\d+(?:\.\d+)*)", go_mod.read_text(), re.MULTILINE)
        if match:
            versions.append(_version(match.group(1)))
    return max(versions)


def _version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", text)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def _dotted(version: Sequence[int]) -> str:
    return ".".join(str(v) for v in version)


def go_version() -> tuple[int, ...] | None:
    if shutil.which("go") is None:
        return None
    result = subprocess.run(
        ["go", "env", "GOVERSION"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )
    match = re.match(r"go(\d+(?:\.\d+)*)", result.stdout.strip())
    return _version(match.group(1)) if match else None


def cache_dirs() -> list[Path]:
    """Where a set-up writes: the operator's cache, Go's module and build caches."""
    base = os.environ.get("GOBUILD_OPERATOR_CACHE") or str(Path.home() / ".cache" / "gobuild-operator")
    dirs = [Path(base)]
    for var, default in (("GOMODCACHE", Path.home() / "go" / "pkg" / "mod"), ("GOCACHE", None)):
        value = os.environ.get(var) or _go_env(var)
        dirs.append(Path(value) if value else (default or Path.home() / ".cache" / "go-build"))
    return dirs


def _go_env(var: str) -> str:
    if shutil.which("go") is None:
        return ""
    result = subprocess.run(["go", "env", var], capture_output=True, text=True, check=False)
    return result.stdout.strip()


def warm(base: Path) -> bool:
    """Whether the Kubernetes binaries are already built (then little is written)."""
    return any((base / "bin").glob("k8s.io_kubernetes*@*/kube-apiserver"))


def free_bytes(path: Path) -> int:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def cgroup_problem(root: Path = CGROUP_ROOT) -> str | None:
    """None when the node can make its cgroups here (v1 hierarchies or the v2 one)."""
    if not root.is_dir():
        return f"{root} is not mounted"
    v2 = (root / "cgroup.procs").exists()
    hierarchies = [root] if v2 else [p for p in root.iterdir() if (p / "cgroup.procs").exists()]
    if not hierarchies:
        return f"no cgroup hierarchy under {root}"
    if not all(os.access(h, os.W_OK) for h in hierarchies):
        return f"the cgroup hierarchies under {root} are read-only here"
    return None


def cgroup_mode(root: Path = CGROUP_ROOT) -> str:
    if (root / "cgroup.procs").exists():
        return "v2 (unified)"
    return "v1" + (" (hybrid)" if (root / "unified").is_dir() else "")


def check(
    *,
    local_cluster: bool,
    install: bool,
    packages_file: Path = PACKAGES_FILE,
    root: bool | None = None,
    log: Callable[[str], None] = print,
) -> list[Problem]:
    """Every problem found (packages installed first when `install` and root); each line printed."""
    problems: list[Problem] = []
    root = os.geteuid() == 0 if root is None else root

    minimum, maximum = required_python()
    here = sys.version_info[:2]
    if here < minimum or (maximum is not None and here >= maximum):
        wanted = f">={_dotted(minimum)}" + (f",<{_dotted(maximum)}" if maximum else "")
        problems.append(
            Problem(
                f"Python {_dotted(here)} ({sys.executable})", f"use Python {wanted}: make PYTHON=python3.11"
            )
        )
    else:
        log(f"  python  {_dotted(sys.version_info[:3])}")

    need_go = required_go()
    have_go = go_version()
    if have_go is None:
        problems.append(
            Problem("no go on PATH", f"install Go {_dotted(need_go)} or newer (https://go.dev/dl)")
        )
    elif have_go < need_go:
        problems.append(
            Problem(f"Go {_dotted(have_go)}", f"the wrapper modules need Go {_dotted(need_go)} or newer")
        )
    else:
        log(f"  go      {_dotted(have_go)} (needs {_dotted(need_go)})")

    packages = read_packages(packages_file)
    missing = missing_packages(packages)
    if missing and install and root and shutil.which("apt-get"):
        command = apt_command(missing, root=True)
        log(f"  installing {len(missing)} Debian package(s): {command}")
        result = subprocess.run(["sh", "-c", command], check=False)
        missing = missing_packages(missing) if result.returncode == 0 else missing
    if missing:
        problems.append(
            Problem(f"missing Debian packages: {' '.join(missing)}", apt_command(missing, root=root))
        )
    else:
        log(f"  debian  {len(packages)} packages of {packages_file.name} installed")

    dirs = cache_dirs()
    need = WARM_DISK_BYTES if warm(dirs[0]) else COLD_DISK_BYTES
    free = min(free_bytes(d) for d in dirs)
    if free < need:
        where = ", ".join(str(d) for d in dirs)
        problems.append(
            Problem(
                f"{free / 1e9:.1f} GB free where the builds cache ({where})",
                f"free {need / 1e9:.0f} GB there, or point GOBUILD_OPERATOR_CACHE, GOMODCACHE and "
                "GOCACHE at a larger disk",
            )
        )
    else:
        log(f"  disk    {free / 1e9:.0f} GB free (needs {need / 1e9:.0f} GB)")

    if local_cluster:
        if not root:
            problems.append(
                Problem(
                    "not root",
                    "the local cluster's node needs root (namespaces, cgroups, mounts): run as root, "
                    "or set KUBECONFIG to use another cluster",
                )
            )
        problem = cgroup_problem()
        if problem:
            problems.append(Problem(f"cgroups: {problem}", "run where /sys/fs/cgroup is writable (as root)"))
        else:
            log(f"  cgroups {cgroup_mode()}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster.prereqs", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-install", action="store_true", help="only report missing packages, even as root"
    )
    parser.add_argument(
        "--existing-cluster",
        action="store_true",
        help="KUBECONFIG names the cluster: the local cluster's needs (root, cgroups) are not checked",
    )
    parser.add_argument("--packages", action="store_true", help="print the package list and exit")
    parser.add_argument("--packages-file", type=Path, default=PACKAGES_FILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.packages:
        print(" ".join(read_packages(args.packages_file)))
        return 0
    print("checking prerequisites:", flush=True)
    problems = check(
        local_cluster=not args.existing_cluster,
        install=not args.no_install,
        packages_file=args.packages_file,
    )
    if not problems:
        return 0
    print("\nnot ready to build:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem.what}\n    fix: {problem.fix}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
