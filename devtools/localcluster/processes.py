"""The local cluster's processes: started with their logs in the state dir, tied to their owner.

Every child gets PR_SET_PDEATHSIG, so a killed test run or `make run` leaves nothing listening,
and its own process group, so a terminal's Ctrl-C reaches the operator first (which then still has
an API server to talk to) and `stop()` ends the cluster in order, newest first.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without proxy settings (nothing here talks to a proxy)."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(extra or {})
    return env


@dataclass
class Supervisor:
    """Named child processes whose output goes to `<log_dir>/<name>.log`."""

    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        before_exec: Callable[[], None] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `argv`; `before_exec` runs in the child after fork (e.g. to join a cgroup)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.log_file(name), "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(handle)

        def prepare() -> None:
            _die_with_parent()
            if before_exec is not None:
                before_exec()

        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else clean_env(),
            start_new_session=True,
            preexec_fn=prepare,
        )
        self.processes[name] = proc
        return proc

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: see {self.log_file(name)}")

    def stop(self, names: Sequence[str] | None = None, *, timeout: float = 3) -> None:
        """Stop the named processes (default: all), newest first; logs stay for post-mortems.

        `timeout` is short: kube-apiserver takes over 10 s to honour SIGTERM, and nothing here keeps
        state worth a graceful stop (etcd's data is the cluster's own, thrown away with it).
        """
        chosen = [n for n in reversed(list(self.processes)) if names is None or n in names]
        for name in chosen:
            proc = self.processes.pop(name)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if not self.processes:
            for handle in self._logs:
                handle.close()
            self._logs.clear()
