"""Real public Go modules for the e2e tests, recorded once, served later by a loopback GOPROXY.

Tests never reach the internet, yet `go mod download` should fetch real modules. So a one-time
step (CI setup, or by hand) downloads the requirements of ``testdata/consumer`` from the Go module
proxy into a GOMODCACHE outside the repository, whose ``cache/download`` tree is already in GOPROXY
layout, and keeps that tree:

    .venv/bin/python tests/e2e/modules.py            # ~5 MB into ~/.cache/gobuild-operator/e2e-modules

The checksums are pinned in ``testdata/consumer/go.sum`` (recorded against sum.golang.org). At test
time sum.golang.org is unreachable, so tests run with ``GOSUMDB=off``; that only means go does not
ask the checksum database about modules missing from go.sum. Every module the consumer needs is in
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
CONSUMER = Path(__file__).resolve().parent / "testdata" / "consumer"
RECORD_COMMAND = ".venv/bin/python tests/e2e/modules.py"


class ModulesMissing(RuntimeError):
    """The recorded modules are absent or stale; the message says how to record them."""


@dataclass(frozen=True)
class ModuleSet:
    """Recorded modules: ``download`` is a GOPROXY-layout tree for the consumer's requirements."""

    root: Path
    download: Path
    modules: tuple[tuple[str, str], ...]

    @property
    def consumer(self) -> Path:
        """The consumer project in the repository (go.mod, go.sum, main.go); copy before use."""
        return CONSUMER

    def copy_consumer(self, dest: Path) -> Path:
        """A fresh copy of the consumer project at `dest` (created), returned."""
        shutil.copytree(CONSUMER, dest, dirs_exist_ok=True)
        return dest


def default_dir() -> Path:
    return Path(os.environ.get(ENV_DIR) or Path.home() / ".cache" / "gobuild-operator" / "e2e-modules")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((CONSUMER / name).read_bytes())
    return digest.hexdigest()


def _pinned_modules() -> tuple[tuple[str, str], ...]:
    pairs = set()
    for line in (CONSUMER / "go.sum").read_text().splitlines():
        module, version, _ = line.split()
        pairs.add((module, version.removesuffix("/go.mod")))
    return tuple(sorted(pairs))


def load(root: Path | None = None) -> ModuleSet:
    """The recorded modules, or ModulesMissing naming the command that records them."""
    root = root or default_dir()
    manifest = root / "manifest.json"
    if not manifest.exists():
        raise ModulesMissing(f"real Go modules are not recorded in {root}: run `{RECORD_COMMAND}` once")
    data = json.loads(manifest.read_text())
    if data.get("format") != FORMAT or data.get("fingerprint") != _fingerprint():
        raise ModulesMissing(
            f"the modules in {root} do not match tests/e2e/testdata/consumer: run `{RECORD_COMMAND}` again"
        )
    return ModuleSet(root=root, download=root / "download", modules=_pinned_modules())


def record(root: Path | None = None, *, timeout: float = 300) -> ModuleSet:
    """Download the consumer's requirements through the configured GOPROXY and keep them at `root`."""
    root = root or default_dir()
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".recording-", dir=root.parent))
    try:
        project = work / "consumer"
        shutil.copytree(CONSUMER, project)
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
            subprocess.run(argv, cwd=project, env=env, check=True, timeout=timeout, stdout=subprocess.DEVNULL)
        out = work / "out"
        shutil.copytree(
            work / "modcache" / "cache" / "download",
            out / "download",
            ignore=lambda _dir, names: [
                n for n in names if n == "sumdb" or n.endswith((".lock", ".partial"))
            ],
        )
        manifest = {"format": FORMAT, "fingerprint": _fingerprint(), "modules": _pinned_modules()}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        old = work / "previous"
        if root.exists():
            root.rename(old)
        out.rename(root)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=False, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return load(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dir", type=Path, default=None, help=f"where to keep them (default {default_dir()})"
    )
    parser.add_argument("--force", action="store_true", help="record again even if up to date")
    args = parser.parse_args(argv)
    root: Path = args.dir or default_dir()
    if not args.force:
        try:
            modules = load(root)
        except ModulesMissing:
            pass
        else:
            print(f"e2e modules already recorded in {modules.root}")
            return 0
    modules = record(root)
    print(f"recorded {len(modules.modules)} modules in {modules.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
