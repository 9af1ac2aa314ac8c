"""A small threaded HTTP(S) server that records every request it answers.

The e2e servers (module proxy, git over smart HTTP) are functions from Request to Response; this
module speaks HTTP/1.1 for them on a port the kernel picks, so parallel test runs never collide. It
listens on one address: the host's end of the local node's veth pair (``cluster.address``), which
the node's Pods reach and nothing outside this machine does. TLS handshakes happen on the handler
thread, so a client that refuses the certificate cannot stall the accept loop.
"""

from __future__ import annotations

import base64
import dataclasses
import ssl
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from support.httpserver import LocalHTTPServer

#: Seconds a connection may sit idle (or mid-handshake) before the server drops it.
CONNECTION_TIMEOUT = 30.0
MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    user: str | None = None  # set by require_basic_auth


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # who was authenticated, for the request log


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    user: str | None
    client: str = ""  # the peer's IP address: a Pod's own, or this machine's for host-side clients


App = Callable[[Request], Response]


def text(status: int, message: str) -> Response:
    return Response(status, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})


def require_basic_auth(app: App, users: Mapping[str, str], *, realm: str = "gobuild-e2e") -> App:
    """Wrap `app` so that only requests with HTTP Basic credentials from `users` reach it."""

    def guarded(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if user in users and users[user] == password:
                response = app(dataclasses.replace(request, user=user))
                response.user = user
                return response
        response = text(401, "authentication required\n")
        response.headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
        return response

    return guarded


class _Server(LocalHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: RecordingHTTPServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError | ConnectionError | TimeoutError):
            return  # a client that refused our certificate or hung up: its own output says so
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(CONNECTION_TIMEOUT)
        context = self.server.owner.ssl_context
        if context is not None:
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # the request log replaces stderr noise
        return

    def _dispatch(self) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self._read_body(headers)
        request = Request(self.command, unquote(url.path), url.query, headers, body)
        try:
            response = owner.app(request)
        except Exception as error:  # a bug in a test server must show up as a 500, not a hang
            response = text(500, f"e2e server error: {error!r}\n")
        owner._record(
            RequestRecord(self.command, request.path, response.status, response.user, self.client_address[0])
        )
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_HEAD = _dispatch


class RecordingHTTPServer:
    """Serves `app` on `host`:<free port> (HTTPS when given an SSLContext) from a daemon thread."""

    def __init__(self, app: App, *, host: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.host = host
        self.ssl_context = ssl_context
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered since start or the last reset(), oldest first."""
        with self._lock:
            return list(self._records)

    def requests_from(self, client: str) -> list[RequestRecord]:
        """The requests of one client address (e.g. a Pod's IP), oldest first."""
        return [record for record in self.requests if record.client == client]

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def start(self) -> None:
        httpd = _Server((self.host, 0), _Handler)
        httpd.owner = self
        httpd.start()
        self._httpd = httpd

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.stop()
        self._httpd = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
