"""`make run`, `make test` and .ci/run check the machine first (devtools/localcluster/prereqs.py):
without root, a missing Debian package stops them before anything is built, naming the package and
the one command that installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ABSENT = "gobuild-test-absent-package"


def prereqs(*args: str, as_nobody: bool) -> subprocess.CompletedProcess[str]:
    """`python -m localcluster.prereqs ARGS` as a user would run it (as `nobody` when asked)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "devtools"), "HOME": "/tmp"}
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if as_nobody else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "localcluster.prereqs", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=120,
        check=False,
    )


@pytest.fixture
def readable_dir() -> Iterator[Path]:
    """A directory another user can read (pytest's tmp_path is its owner's only)."""
    with tempfile.TemporaryDirectory(prefix="prereqs-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def test_without_root_a_missing_package_stops_it_with_the_command_that_installs_it(
    readable_dir: Path,
) -> None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot run the check as another user")
    packages = readable_dir / "packages.txt"
    packages.write_text(f"# what the project needs\nbash\n{ABSENT}  # nothing provides it\nbash\n")
    packages.chmod(0o644)

    result = prereqs("--packages-file", str(packages), as_nobody=os.geteuid() == 0)

    assert result.returncode == 1, result
    assert f"missing Debian packages: {ABSENT}\n" in result.stderr
    fix = f"sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {ABSENT}"
    assert fix in result.stderr
    assert "not root" in result.stderr  # the local cluster's node needs root
    assert "installing" not in result.stdout  # nothing was attempted without root


def test_the_package_list_is_read_once_without_comments_or_repeats() -> None:
    result = prereqs("--packages", as_nobody=False)

    names = result.stdout.split()
    lines = (REPO / "devtools" / "packages.txt").read_text().splitlines()
    expected = [line.split("#", 1)[0].strip() for line in lines]
    assert names == list(dict.fromkeys(name for name in expected if name))
    assert "libseccomp-dev" in names  # runc's build needs it (a fresh machine once stopped there)
    assert "localcluster.prereqs" in (REPO / ".ci" / "run").read_text()  # CI reads the same list
