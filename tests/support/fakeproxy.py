"""A GOPROXY that serves one version list and remembers what it was asked: what the operator's
probes reach in the tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from support.httpserver import LocalHTTPServer
from support.operator_process import free_port


@dataclass
class FakeProxy:
    """A GOPROXY that serves one version list and remembers what it was asked."""

    port: int = field(default_factory=free_port)
    paths: list[str] = field(default_factory=list)
    server: LocalHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                paths.append(self.path)
                known = ("/golang.org/x/mod/@v/list", "/github.com/!masterminds/semver/@v/list")
                body = b"v0.1.0\nv0.2.0\n" if self.path in known else b"not found"
                self.send_response(200 if self.path in known else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = LocalHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture(name="goproxy")
def goproxy_fixture() -> Iterator[FakeProxy]:
    """A FakeProxy for one test (import `goproxy_fixture` into the test module to use `goproxy`)."""
    proxy = FakeProxy()
    proxy.start()
    yield proxy
    proxy.stop()
