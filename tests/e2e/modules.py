"""Real public Go modules for the e2e tests, recorded once, served later by a loopback GOPROXY.

Tests never reach the internet, yet `go mod download` should fetch real modules. So a one-time
step (CI setup, or by hand) downloads the requirements of each project in ``testdata`` from the Go
module proxy into a GOMODCACHE outside the repository, whose ``cache/download`` tree is already in
GOPROXY layout, and keeps that tree:

    .venv/bin/python tests/e2e/modules.py     # ~5 MB into ~/.cache/gobuild-operator/e2e-modules,
                                              # ~16 MB into ~/.cache/gobuild-operator/e2e-modules-yq

Two projects: ``consumer`` (three requirements, five modules; most tests) and ``yq``
(github.com/mikefarah/yq/v4, a real program with 22 modules; the two-node cache test).

The checksums are pinned in each project's ``go.sum`` (recorded against sum.golang.org). At test
time sum.golang.org is unreachable, so tests run with ``GOSUMDB=off``; that only means go does not
ask the checksum database about modules missing from go.sum. Every module a project needs is in
its go.sum, and go verifies each downloaded .mod and .zip against it, so a tampered module still
fails with "checksum mismatch".

Stdlib only, so it runs as a plain script before the test environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Overrides where the recorded modules live.
ENV_DIR = "GOBUILD_E2E_MODULES"
FORMAT = 1
TESTDATA = Path(__file__).resolve().parent / "testdata"
CONSUMER = TESTDATA / "consumer"
#: The projects whose requirements are recorded (testdata/<name>: go.mod, go.sum, main.go).
PROJECTS = ("consumer", "yq")
RECORD_COMMAND = ".venv/bin/python tests/e2e/modules.py"


class ModulesMissing(RuntimeError):
    """The recorded modules are absent or stale; the message says how to record them."""


@dataclass(frozen=True)
class ModuleSet:
    """Recorded modules: ``download`` is a GOPROXY-layout tree for ``project``'s requirements."""

    root: Path
    download: Path
    modules: tuple[tuple[str, str], ...]
    project: Path = CONSUMER

    def copy_consumer(self, dest: Path) -> Path:
        """A fresh copy of the project (go.mod, go.sum, main.go) at `dest` (created), returned."""
        shutil.copytree(self.project, dest, dirs_exist_ok=True)
        return dest


def default_dir(project: str = "consumer") -> Path:
    """Where `project`'s modules are kept (the consumer's: $GOBUILD_E2E_MODULES; others beside it)."""
    consumer = Path(os.environ.get(ENV_DIR) or Path.home() / ".cache" / "gobuild-operator" / "e2e-modules")
    return consumer if project == "consumer" else consumer.with_name(f"{consumer.name}-{project}")


def _fingerprint(project: Path) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((project / name).read_bytes())
    return digest.hexdigest()


def _pinned_modules(project: Path) -> tuple[tuple[str, str], ...]:
    pairs = set()
    for line in (project / "go.sum").read_text().splitlines():
        module, version, _ = line.split()
        pairs.add((module, version.removesuffix("/go.mod")))
    return tuple(sorted(pairs))


def load(root: Path | None = None, *, project: str = "consumer") -> ModuleSet:
    """The recorded modules of testdata/`project`, or ModulesMissing naming the command that records them."""
    root, source = root or default_dir(project), TESTDATA / project
    manifest = root / "manifest.json"
    if not manifest.exists():
        raise ModulesMissing(f"real Go modules are not recorded in {root}: run `{RECORD_COMMAND}` once")
    data = json.loads(manifest.read_text())
    if data.get("format") != FORMAT or data.get("fingerprint") != _fingerprint(source):
        raise ModulesMissing(
            f"the modules in {root} do not match tests/e2e/testdata/{project}: run `{RECORD_COMMAND}` again"
        )
    return ModuleSet(root=root, download=root / "download", modules=_pinned_modules(source), project=source)


def record(root: Path | None = None, *, project: str = "consumer", timeout: float = 300) -> ModuleSet:
    """Download testdata/`project`'s requirements through the configured GOPROXY and keep them at `root`."""
    root, source = root or default_dir(project), TESTDATA / project
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".recording-", dir=root.parent))
    try:
        project_dir = work / project
        shutil.copytree(source, project_dir)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("GO") and key not in ("GIT_CONFIG_COUNT",)
        }
        env |= {
            "GOMODCACHE": str(work / "modcache"),
            "GOCACHE": str(work / "gocache"),
            "GOFLAGS": "-mod=readonly",
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
            "CGO_ENABLED": "0",
        }
        if os.environ.get("GOPROXY"):
            env["GOPROXY"] = os.environ["GOPROXY"]
        for argv in (
            ["go", "mod", "download"],
            ["go", "list", "-m", "all"],
            ["go", "list", "-deps", "."],  # every imported package is there
            ["go", "mod", "verify"],
        ):
            subprocess.run(
                argv, cwd=project_dir, env=env, check=True, timeout=timeout, stdout=subprocess.DEVNULL
            )
        out = work / "out"
        shutil.copytree(
            work / "modcache" / "cache" / "download",
            out / "download",
            ignore=lambda _dir, names: [
                n for n in names if n == "sumdb" or n.endswith((".lock", ".partial"))
            ],
        )
        manifest = {"format": FORMAT, "fingerprint": _fingerprint(source), "modules": _pinned_modules(source)}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        old = work / "previous"
        if root.exists():
            root.rename(old)
        out.rename(root)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=False, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return load(root, project=project)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--force", action="store_true", help="record again even if up to date")
    parser.add_argument(
        "projects", nargs="*", metavar="PROJECT", help=f"of {', '.join(PROJECTS)} (default: all)"
    )
    args = parser.parse_args(argv)
    if unknown := set(args.projects) - set(PROJECTS):
        parser.error(f"no such project: {', '.join(sorted(unknown))}")
    for project in args.projects or PROJECTS:
        if not args.force:
            try:
                modules = load(project=project)
            except ModulesMissing:
                pass
            else:
                print(f"e2e modules of {project} already recorded in {modules.root}")
                continue
        modules = record(project=project)
        print(f"recorded {len(modules.modules)} modules of {project} in {modules.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
