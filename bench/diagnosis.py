"""What `diagnose` and `check` cost on the inputs that once hurt them, run as users run them.

- `diagnose` on a 200 MB log (noise with non-ASCII characters, a recorded failure at the end), and on
  one 200 MB line of non-ASCII characters ending in the failure: wall time and the peak memory (RSS)
  of the process, which reads the log in blocks (the bound: under 200 MB);
- `check` on a Dockerfile with one 10 MB word, with 100,000 RUN lines, and with 20,000 stages:
  wall time of the command (it used to take minutes: quadratic word splitting and stage lookups).

Each runs `python -m gobuild_operator ...` in a child process, so the memory is that process's own.
Nothing is asserted (tests/unit/test_complexity.py checks the growth); this prints the numbers.

Run: .venv/bin/python bench/diagnosis.py [--log-mb 200]   (writes two logs of that size to $TMPDIR)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAILURE = (REPO / "tests" / "fixtures" / "gofailures" / "proxy_connection_refused.txt").read_text()
NOISE = (
    "#12 3.14 go: downloading github.com/some/module v1.2.3 — résumé ✓\n"
    "+ echo step\nReceiving objects: 100% (2/2), done.\n"
    "2024-05-01T12:34:56.123Z INFO building package pkg: ok, lookup table ready, verifying graph\n"
)


def run(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB of that child alone, first line of its output) of one command."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gobuild_operator", *args], cwd=cwd, env=env, stdout=out, stderr=out
        )
        _, _, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        proc.returncode = 0  # reaped here, not by Popen
        seconds = time.perf_counter() - started
        out.seek(0)
        lines = out.read().decode("utf-8", "replace").splitlines()
    return seconds, usage.ru_maxrss / 1024, lines[0] if lines else ""


def write_repeated(path: Path, unit: str, size: int, tail: str) -> None:
    data = unit.encode()
    with path.open("wb") as fh:
        written = 0
        block = data * max(1, (1 << 20) // len(data))
        while written < size:
            fh.write(block)
            written += len(block)
        fh.write(tail.encode())


def dockerfiles() -> dict[str, Callable[[], str]]:
    head = "FROM golang:1.26 AS s0\nWORKDIR /src\nCOPY go.mod go.sum ./\n"
    return {
        "check: one 10 MB word": lambda: head + "RUN echo " + "a" * 10_000_000 + "\n",
        "check: 100,000 RUN lines": lambda: (
            head + "RUN --mount=type=cache,target=/go/pkg/mod go build ./...\n" * 100_000
        ),
        "check: 20,000 stages": lambda: (
            head
            + "".join(
                f"FROM golang:1.26 AS s{i}\nCOPY --from=s{i - 1} /src /src\nRUN go build ./...\n"
                for i in range(1, 20_000)
            )
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-mb", type=int, default=200, help="size of the logs diagnose reads (MB)")
    args = parser.parse_args()
    size = args.log_mb * 1_000_000
    print(f"{'what':<52}{'seconds':>10}{'peak RSS':>12}   result")
    with tempfile.TemporaryDirectory(prefix="gobuild-bench-") as tmp:
        work = Path(tmp)
        logs = {
            f"diagnose: {args.log_mb} MB, one long line of non-ASCII": ("é", "\n" + FAILURE),
            f"diagnose: {args.log_mb} MB log, lines, non-ASCII": (NOISE, FAILURE),
        }
        for name, (unit, tail) in logs.items():
            log = work / "build.log"
            write_repeated(log, unit, size, tail)
            seconds, peak, first = run(["diagnose", str(log), "-o", "text"], work)
            print(f"{name:<52}{seconds:>10.1f}{peak:>9.0f} MB   {first}", flush=True)
            log.unlink()
        (work / "go.mod").write_text("module example.com/app\n\ngo 1.22\n")
        (work / "go.sum").write_text("")
        for name, make in dockerfiles().items():
            (work / "Dockerfile").write_text(make())
            seconds, _, first = run(["check", "Dockerfile", "--fail-on", "none"], work)
            print(f"{name:<52}{seconds:>10.1f}{'':>12}   {first[:60] or 'no findings'}", flush=True)


if __name__ == "__main__":
    main()
