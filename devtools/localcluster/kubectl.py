"""The one way the project's tools, tests and benchmarks run kubectl: the venv's kubectl (installed
by `make binaries`, the same version as the API server) or the one on PATH, against a kubeconfig."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def binary() -> str:
    return shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"


def run(
    kubeconfig: Path, *args: str, input: str | None = None, check: bool = True, timeout: float | None = 300
) -> subprocess.CompletedProcess[str]:
    """kubectl ARGS against `kubeconfig`; with `check`, a failure raises RuntimeError with its stderr."""
    result = subprocess.run(
        [binary(), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    """kubectl ARGS against `kubeconfig`; its standard output (a failure raises RuntimeError)."""
    return run(kubeconfig, *args, input=stdin).stdout
