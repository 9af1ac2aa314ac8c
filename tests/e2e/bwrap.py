"""A read-only view of this machine's system folders for bubblewrap sandboxes.

There is no container image here, so the host's own /usr (go, git, ssh) stands in for one. Both the
pod runner and the sshd server need the same thing: the host's system folders bound read-only, with
room left for their own files (a volume at /etc/gobuild/ssh, a synthetic /etc/passwd). A read-only
bind cannot grow a new mountpoint, so a host folder that has something mounted below it is rebuilt
as an empty folder whose children are bound one by one, down to the mountpoint ("the host's /etc
minus what the volumes cover").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

BWRAP = "/usr/bin/bwrap"

#: Host folders every sandbox sees (those missing on this machine are skipped).
SYSTEM_PATHS: tuple[str, ...] = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


class SandboxLayoutError(RuntimeError):
    """A requested mount cannot be placed (e.g. below a host symlink)."""


def bwrap_available() -> str | None:
    """None when sandboxes can run here, else why not (used as a pytest skip reason)."""
    if not Path(BWRAP).exists() and shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if os.geteuid() != 0:
        return "the e2e sandboxes run bwrap as root (to mount volumes and switch to real uids)"
    return None


def system_view(mountpoints: Iterable[str], *, paths: Sequence[str] = SYSTEM_PATHS) -> list[str]:
    """bwrap arguments exposing `paths` read-only, leaving every path in `mountpoints` uncovered.

    A mountpoint that coincides with a host path replaces it (the host's entry is not bound); one
    below a host folder splits that folder. The caller mounts its own things afterwards.
    """
    targets = [PurePosixPath(os.path.normpath(m)) for m in mountpoints]
    args: list[str] = []
    for path in paths:
        args += _expose(PurePosixPath(path), targets)
    return args


def _expose(path: PurePosixPath, targets: list[PurePosixPath]) -> list[str]:
    if path in targets:
        return []
    inner = [t for t in targets if path in t.parents]
    host = Path(path)
    if host.is_symlink():
        if inner:
            raise SandboxLayoutError(f"cannot mount {[str(t) for t in inner]} below host symlink {path}")
        return ["--symlink", os.readlink(host), str(path)]
    if not host.exists():
        return []
    if not inner:
        return ["--ro-bind", str(path), str(path)]
    if not host.is_dir():
        raise SandboxLayoutError(f"cannot mount {[str(t) for t in inner]} below host file {path}")
    mode = host.stat().st_mode & 0o7777
    args = ["--perms", f"{mode:04o}", "--dir", str(path)]
    for child in sorted(host.iterdir()):
        args += _expose(path / child.name, inner)
    return args
