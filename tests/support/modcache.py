"""Loopback stand-ins for everything around the module cache: mirrors, a CONNECT proxy, go itself.

Every server here listens on 127.0.0.1 and resolves nothing: the proxy maps the names it tunnels
to through a table, and the cache under test gets a resolver that knows only the names a test
gives it (any other lookup fails the test instead of leaving the machine). go runs with every
setting pinned (GOENV=off, GOPROXY and GOSUMDB on loopback, a fresh GOMODCACHE), so no test can
reach a public name even on a machine whose go env says otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import json
import os
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from prometheus_client.parser import text_string_to_metric_families

from gobuild_operator.core.modcache.paths import escape
from gobuild_operator.core.proxycache.settings import CacheSettings
from gobuild_operator.modcache import server
from support.httpserver import LocalHTTPServer
from support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
SUMDB_HELPER = REPO / "tests" / "support" / "go" / "sumdb"
#: The name the test checksum database signs as: a host go never has to resolve (connection refused).
SUMDB_NAME = "127.0.0.1:9"

# --- modules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    go_mod: bytes
    zip: bytes
    info: bytes

    @property
    def escaped(self) -> str:
        return f"{escape(self.path)}/@v/{escape(self.version)}"


def make_module(
    path: str, version: str, files: Mapping[str, bytes] | None = None, *, go_mod: str = ""
) -> Module:
    """A module version as a proxy serves it (zip entries under `path@version/`, stored, not deflated)."""
    mod = (go_mod or f"module {path}\n\ngo 1.21\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{path}@{version}/go.mod", mod)
        for name, content in (files or {"x.go": b"package x\n"}).items():
            zf.writestr(f"{path}@{version}/{name}", content)
    info = json.dumps({"Version": version, "Time": "2024-01-02T03:04:05Z"}).encode()
    return Module(path, version, mod, buf.getvalue(), info)


def write_module(root: Path, module: Module, *, zip_bytes: bytes | None = None) -> None:
    """Put `module` into a GOPROXY-layout tree at `root` (optionally with other zip bytes)."""
    base = root / escape(module.path) / "@v"
    base.mkdir(parents=True, exist_ok=True)
    stem = escape(module.version)
    (base / f"{stem}.info").write_bytes(module.info)
    (base / f"{stem}.mod").write_bytes(module.go_mod)
    (base / f"{stem}.zip").write_bytes(module.zip if zip_bytes is None else zip_bytes)
    listed = (base / "list").read_text().split() if (base / "list").exists() else []
    if module.version not in listed:
        (base / "list").write_text("".join(f"{v}\n" for v in [*listed, module.version]))
    (root / escape(module.path) / "@latest").write_bytes(module.info)


# --- a mirror with faults on demand ---------------------------------------------------------------


@dataclass
class Fault:
    """What a Mirror does instead of serving a path."""

    status: int = 0  # answer this status (with `body`)
    body: bytes = b""
    hold: threading.Event | None = None  # wait for this before answering
    after_bytes: int = -1  # with `hold`: send this many bytes of the file first, then wait


@dataclass
class Mirror:
    """A GOPROXY-layout directory served on loopback (over TLS with `tls`), recording every request."""

    root: Path
    tls: tuple[Path, Path] | None = None  # certificate and key files
    basic_auth: tuple[str, str] | None = None  # required credentials, if any
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    _server: LocalHTTPServer | None = None

    def start(self) -> Mirror:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: stop() really stops it

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                mirror.requests.append(path)
                mirror.authorizations.append(self.headers.get("Authorization", ""))
                if path in mirror.redirects:
                    self._answer(302, b"", location=mirror.redirects[path])
                    return
                if mirror.basic_auth is not None:
                    wanted = "Basic " + base64.b64encode(":".join(mirror.basic_auth).encode()).decode()
                    if self.headers.get("Authorization") != wanted:
                        self._answer(401, b"unauthorized\n")
                        return
                fault = mirror.faults.get(path)
                file = mirror.root / path.lstrip("/")
                if fault is not None and fault.hold is not None and fault.after_bytes < 0:
                    fault.hold.wait(timeout=60)
                if fault is not None and fault.status:
                    self._answer(fault.status, fault.body)
                    return
                if ".." in path.split("/") or not file.is_file():
                    self._answer(404, b"not found: " + path.encode() + b"\n")
                    return
                data = file.read_bytes()
                if fault is not None and fault.hold is not None and fault.after_bytes >= 0:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: fault.after_bytes])
                    self.wfile.flush()
                    fault.hold.wait(timeout=60)
                    self.wfile.write(data[fault.after_bytes :])
                    return
                self._answer(200, data)

            def _answer(self, status: int, body: bytes, *, location: str = "") -> None:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        srv = LocalHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.start()
        self._server = srv
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def count(self, suffix: str = "") -> int:
        return sum(1 for r in self.requests if r.endswith(suffix))

    def stop(self) -> None:
        for fault in self.faults.values():
            if fault.hold is not None:
                fault.hold.set()
        if self._server is not None:
            self._server.stop()


# --- a corporate proxy ----------------------------------------------------------------------------


@dataclass
class ConnectProxy:
    """An HTTP proxy that tunnels CONNECT to the names in `routes` (name:port -> loopback port).

    It never resolves a name: a target missing from `routes` gets 502. With `credentials` it
    answers 407 unless Proxy-Authorization carries them.
    """

    routes: dict[str, int]
    credentials: tuple[str, str] | None = None
    connects: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> ConnectProxy:
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = self.connection.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                request, _, _ = head.partition(b"\r\n\r\n")
                lines = request.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
                if proxy.credentials is not None:
                    wanted = "Basic " + base64.b64encode(":".join(proxy.credentials).encode()).decode()
                    if headers.get("proxy-authorization") != wanted:
                        proxy.refused.append(target)
                        self.connection.sendall(
                            b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                            b'Proxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n'
                        )
                        return
                port = proxy.routes.get(target)
                if method != "CONNECT" or port is None:
                    proxy.refused.append(target)
                    self.connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                proxy.connects.append(target)
                with socket.create_connection(("127.0.0.1", port)) as upstream:
                    self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    _pipe(self.connection, upstream)

        srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self._server = srv
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return
        for s in readable:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


# --- the cache, in process ------------------------------------------------------------------------


class StaticResolver(AbstractResolver):
    """Knows only the names a test gives it; any other lookup is a test failure, not a DNS query."""

    def __init__(self, hosts: Mapping[str, str]) -> None:
        self.hosts = dict(hosts)
        self.unknown: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.hosts:
            self.unknown.append(host)
            raise OSError(f"test resolver: {host} is not a test name")
        return [
            {
                "hostname": host,
                "host": self.hosts[host],
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class RunningCache:
    """The cache server on its own event loop thread, on a free loopback port."""

    def __init__(
        self,
        settings: CacheSettings,
        *,
        hosts: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.resolver = StaticResolver(hosts or {})
        self._clock = clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        kwargs: dict[str, Any] = {"resolver": self.resolver}
        if clock is not None:
            kwargs["clock"] = clock
        self.running = self.call(server.start(settings, **kwargs))

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.running.port}"

    def get(self, path: str, *, method: str = "GET", timeout: float = 60) -> Answer:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(self.url + path, method=method)  # noqa: S310 (http to 127.0.0.1)
        try:
            with opener.open(request, timeout=timeout) as resp:
                return Answer(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Answer(err.code, dict(err.headers), err.read())

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics: (name, sorted labels) -> value."""
        text = self.get("/metrics").body.decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels`."""
        return sum(
            value
            for (n, lbls), value in self.metrics().items()
            if n == name and all(dict(lbls).get(k) == v for k, v in labels.items())
        )

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self.call(self.running.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def settings(storage: Path, **values: Any) -> CacheSettings:
    """Test settings: loopback, any free port, no checksum database unless given, short timeouts."""
    base: dict[str, Any] = {
        "listen_address": "127.0.0.1",
        "port": 0,
        "storage_dir": str(storage),
        "gosumdb": "off",
        "upstream_connect_timeout_seconds": 5.0,
        "upstream_idle_timeout_seconds": 10.0,
        "revalidate_timeout_seconds": 5.0,
        "log_level": "debug",
    }
    base.update(values)
    return CacheSettings(**base)


def stored_files(storage: Path) -> set[str]:
    """The cache's files (relative to its layout directory), whatever it has in them."""
    files = storage / "v1"
    return {str(p.relative_to(files)) for p in files.rglob("*") if p.is_file()}


# --- go and the checksum database -----------------------------------------------------------------


def go_env(work: Path, *, goproxy: str, gosumdb: str = "off", **extra: str) -> dict[str, str]:
    """An environment in which go can only reach `goproxy` (and a loopback checksum database)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/go/bin:/usr/bin:/bin"),
        "HOME": str(work / "home"),
        "GOENV": "off",
        "GOPATH": str(work / "gopath"),
        "GOMODCACHE": str(work / "gomodcache"),
        "GOCACHE": str(work / "gocache"),
        "GOPROXY": goproxy,
        "GOSUMDB": gosumdb,
        "GONOSUMDB": "",
        "GOPRIVATE": "",
        "GONOPROXY": "",
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "GO111MODULE": "on",
        "CGO_ENABLED": "0",
    }
    env.update(extra)
    return env


def go_download(
    work: Path, *modules: str, goproxy: str, gosumdb: str = "off", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`go mod download -json [modules]` with a fresh module cache under `work`."""
    shutil.rmtree(work / "gomodcache", ignore_errors=True)
    shutil.rmtree(work / "gopath", ignore_errors=True)
    (work / "home").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["go", "mod", "download", "-json", *modules],
        cwd=cwd or work,
        env=go_env(work, goproxy=goproxy, gosumdb=gosumdb),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def e2e_download_tree() -> Path | None:
    """The recorded real modules of tests/e2e (make e2e-setup), if present."""
    root = Path(
        os.environ.get("GOBUILD_E2E_MODULES") or Path.home() / ".cache" / "gobuild-operator" / "e2e-modules"
    )
    download = root / "download"
    return download if (download / "golang.org" / "x" / "mod" / "@v" / "v0.22.0.zip").is_file() else None


def build_sumdb_helper(out_dir: Path) -> Path | str:
    """The Go checksum database helper, built once per source; or why it cannot be built here."""
    if shutil.which("go") is None:
        return "go is not installed"
    tree = e2e_download_tree()
    if tree is None:
        return "golang.org/x/mod is not recorded: run `make e2e-setup` (tests/e2e/modules.py) once"
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((SUMDB_HELPER / name).read_bytes())
    binary = out_dir / f"sumdb-{digest.hexdigest()[:12]}"
    if binary.exists():
        return binary
    out_dir.mkdir(parents=True, exist_ok=True)
    env = go_env(out_dir / "build", goproxy=f"file://{tree}")
    result = subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=SUMDB_HELPER,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        return f"building the checksum database helper failed: {result.stderr[-2000:]}"
    return binary


@dataclass
class SumDBServer:
    url: str
    key: str
    log: Path
    process: subprocess.Popen[str]

    @property
    def gosumdb(self) -> str:
        """GOSUMDB for the cache: the key and this server's URL."""
        return f"{self.key} {self.url}"

    def requests(self) -> list[str]:
        return [line.split()[1] for line in self.log.read_text().splitlines() if line.startswith("GET ")]


@contextlib.contextmanager
def sumdb_server(binary: Path, root: Path, *, log: Path, fill: int = 0) -> Iterator[SumDBServer]:
    """The checksum database helper vouching for the modules under `root`, until the block ends."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            [str(binary), "-root", str(root), "-name", SUMDB_NAME, "-fill", str(fill)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        yield SumDBServer(url=info["url"], key=info["key"], log=log, process=proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_until_in_flight(cache: RunningCache, count: int) -> None:
    """Until `count` requests are inside the cache at once."""
    wait_for(
        lambda: cache.metric("gomodcache_requests_in_flight") >= count,
        timeout=30,
        interval=0.02,
        what=f"{count} requests waiting in the cache",
    )


# --- the cache as a process -----------------------------------------------------------------------


def sandbox_prefix(writable: Path) -> list[str]:
    """A command prefix: a private mount namespace where / is read-only except `writable`, and the
    process keeps no capabilities (root without CAP_DAC_OVERRIDE & co.). Needs root; the host's
    mounts are untouched."""
    w = str(writable)
    script = (
        f'mount --bind "{w}" "{w}" && mount -o remount,bind,ro / && mount -o remount,bind,rw "{w}" && '
        'exec setpriv --inh-caps=-all --bounding-set=-all --no-new-privs "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sandbox"]


def sandbox_available(tmp: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run([*sandbox_prefix(tmp), "true"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@dataclass
class CacheProcess:
    """`python -m gobuild_operator.modcache` as its own process, on a free loopback port."""

    args: list[str]
    log: Path
    prefix: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> CacheProcess:
        python = str(REPO / ".venv" / "bin" / "python")
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", **self.env}
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        command = [python, "-m", "gobuild_operator.modcache", "--listen-address", "127.0.0.1"]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*self.prefix, *command, "--port", str(self.port), *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd="/",
            )
        try:
            wait_for(self._healthy, timeout=60, what=f"the cache to answer /healthz (log: {self.log})")
        except BaseException:
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the cache exited: {self.log.read_text()[-2000:]}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self, field_name: str) -> int:
        """A /proc/<pid>/status field in KiB (VmRSS, VmHWM)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        raise KeyError(field_name)

    def reset_peak(self) -> None:
        """Make VmHWM start again from the current RSS (Linux: write 5 to clear_refs)."""
        assert self.process is not None
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
