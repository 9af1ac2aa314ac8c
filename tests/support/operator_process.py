"""The operator as a real process, the way `make run` starts it, stoppable and restartable."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from localcluster.cluster import free_port
from localcluster.operator_image import image_ref
from support.waiting import wait_for


@dataclass
class OperatorProcess:
    kubeconfig: Path
    workdir: Path
    operator_namespace: str = "gobuild-system"
    webhook_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    configuration_name: str = field(default_factory=lambda: f"gobuild-operator-test-{uuid.uuid4().hex[:6]}")
    extra_args: tuple[str, ...] = ()
    #: (certificate, key) it checks its own webhook with, when the webhook requires a client certificate.
    client_cert: tuple[Path, Path] | None = None
    #: --verbose (debug logs, one line per admission request); benchmarks turn it off.
    verbose: bool = True
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"operator-{self.starts}.log"

    def start(self, *, wait_for_registration: bool = True) -> None:
        """Start it and wait until it serves admission and (unless told not to: a standby beside a
        leader never registers) has registered its webhook configuration."""
        self.starts += 1
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gobuild_operator",
                "run",
                "--register-webhook",
                "--webhook-host=127.0.0.1",
                "--webhook-addr=127.0.0.1",
                f"--webhook-port={self.webhook_port}",
                f"--webhook-configuration={self.configuration_name}",
                f"--operator-namespace={self.operator_namespace}",
                f"--metrics-port={self.metrics_port}",
                "--metrics-addr=127.0.0.1",
                # Tests never make the operator look up or contact a public name (proxy.golang.org is
                # every config's default GOPROXY): it probes addresses of this machine and the
                # cluster only, and no name at all (this machine's resolver is not on it).
                "--probe-hosts=127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,localhost",
                # A killed operator's Lease must not keep its successor waiting long in tests.
                "--leader-election-lease-duration=4",
                "--leader-election-retry-period=0.5",
                # The module caches of configs run the operator's image, as installed by the chart;
                # tests that need a cache to serve import it (tests/e2e/test_module_cache.py).
                f"--cache-image={image_ref()}",
                "--cache-image-pull-policy=Never",
                *(["--verbose"] if self.verbose else []),
                *self.extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        wait_for(
            lambda: self._serving(registered=wait_for_registration),
            timeout=60,
            what=f"the operator's webhook (log: {self.log_path})",
        )

    def _serving(self, *, registered: bool = True) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{self.log()}")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.client_cert is not None:
            context.load_cert_chain(*self.client_cert)
        try:
            with (
                socket.create_connection(("127.0.0.1", self.webhook_port), timeout=1) as raw,
                context.wrap_socket(raw),
            ):
                pass
        except OSError:
            return False
        return not registered or "registered MutatingWebhookConfiguration" in self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()
