"""BuildKit on this machine: builds the operator's image from the top-level Dockerfile as a release
pipeline would, and hands base images to it without a registry.

buildkitd (built from its Go module, with the node's runc) runs as a child process in a private
mount namespace, so its snapshot mounts never reach the host, and in a cgroup of its own, so runc's
per-step cgroups land below it and are removed with it. Its state (the layer cache) lives in the
project's cache directory; one build at a time uses it (a lock), because one buildkitd owns a root.
RUN steps use the host network (`--oci-worker-net=host`): the build steps reach the package
registries the way this machine's own pip does, and nothing else.

Base images come from images.py as OCI layouts, given to the Dockerfile frontend as named contexts
(`--opt context:python:3.11-slim-bookworm=oci-layout://...`), so the Dockerfile keeps the `FROM`
users and release pipelines build with.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localcluster import host
from localcluster.binaries import BUILDKIT, RUNC, LogFn, _stderr, ensure_binaries
from localcluster.processes import Supervisor

CGROUP = "gobuild-buildkit"


def cache_dir() -> Path:
    from localcluster.binaries import cache_root

    return cache_root().parent


@dataclass(frozen=True)
class BuildKit:
    """A running buildkitd and the buildctl that talks to it."""

    address: str
    buildctl: Path
    log: LogFn

    def build(
        self,
        *,
        context: Path,
        dockerfile: Path,
        output: Path,
        ref: str,
        named_contexts: Mapping[str, tuple[Path, str]] = {},
        secrets: Mapping[str, Path] = {},
        build_args: Mapping[str, str] = {},
        extra: Sequence[str] = (),
    ) -> Path:
        """Build `dockerfile` in `context` into a docker-archive at `output` tagged `ref`.

        `named_contexts` maps a name a FROM uses to (OCI layout directory, manifest digest).
        """
        argv = [
            str(self.buildctl),
            f"--addr={self.address}",
            "build",
            "--progress=plain",
            "--frontend=dockerfile.v0",
            f"--local=context={context}",
            f"--local=dockerfile={dockerfile.parent}",
            f"--opt=filename={dockerfile.name}",
        ]
        for index, (name, (layout, digest)) in enumerate(sorted(named_contexts.items())):
            store = f"base{index}"
            argv += [f"--oci-layout={store}={layout}", f"--opt=context:{name}=oci-layout://{store}@{digest}"]
        argv += [f"--secret=id={secret_id},src={path}" for secret_id, path in sorted(secrets.items())]
        argv += [f"--opt=build-arg:{name}={value}" for name, value in sorted(build_args.items())]
        partial = output.with_name(output.name + ".partial")
        argv += [*extra, f"--output=type=docker,name={ref},dest={partial}"]
        started = time.monotonic()
        self.log(f"building {ref} from {dockerfile} with BuildKit")
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"buildctl build failed ({result.returncode}):\n{result.stderr[-6000:]}")
        partial.rename(output)
        self.log(f"  built in {time.monotonic() - started:.0f}s: {output.stat().st_size / 2**20:.0f} MB")
        return output


@contextlib.contextmanager
def running(*, log: LogFn = _stderr) -> Iterator[BuildKit]:
    """A buildkitd for the duration of the block (one at a time per cache directory)."""
    binaries = ensure_binaries((BUILDKIT, RUNC), log=log)
    root = cache_dir() / "buildkit"
    root.mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".buildkit.lock", "w") as lock, tempfile.TemporaryDirectory() as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        socket = Path(tmp) / "buildkitd.sock"
        config = Path(tmp) / "buildkitd.toml"
        # runc's per-step cgroups go below ours (the default parent is /buildkit, on the host).
        config.write_text(f'[worker.oci]\n  defaultCgroupParent = "/{CGROUP}/steps"\n')
        supervisor = Supervisor(Path(tmp) / "logs")
        host.kill_cgroup(CGROUP)  # a killed earlier run's leftovers
        host.remove_cgroup(CGROUP)
        host.make_cgroup(f"{CGROUP}/steps")
        try:
            supervisor.spawn(
                "buildkitd",
                [
                    "unshare", "--mount", "--propagation", "private", "--",
                    str(binaries["buildkitd"]),
                    f"--config={config}",
                    f"--root={root}",
                    f"--addr=unix://{socket}",
                    "--containerd-worker=false",
                    "--oci-worker=true",
                    f"--oci-worker-binary={binaries['runc']}",
                    "--oci-worker-net=host",
                    "--oci-worker-snapshotter=overlayfs",
                    "--oci-worker-gc",
                ],
                before_exec=host.joiner(CGROUP),
            )  # fmt: skip
            kit = BuildKit(address=f"unix://{socket}", buildctl=binaries["buildctl"], log=log)
            _wait_ready(kit, supervisor)
            yield kit
        except BaseException:
            with contextlib.suppress(OSError):
                log((supervisor.log_file("buildkitd")).read_text()[-3000:])
            raise
        finally:
            supervisor.stop(timeout=10)
            host.kill_cgroup(CGROUP)
            host.remove_cgroup(CGROUP)


def _wait_ready(kit: BuildKit, supervisor: Supervisor, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.check_alive()
        probe = subprocess.run(
            [str(kit.buildctl), f"--addr={kit.address}", "debug", "workers"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.2)
    raise TimeoutError("buildkitd did not answer")


def tree_digest(root: Path, paths: Sequence[str]) -> str:
    """A content hash of the files below `paths` (relative to `root`): what a build's cache key covers."""
    digest = hashlib.sha256()
    for relative in sorted(paths):
        top = root / relative
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
