#!/usr/bin/env python3
"""Record real Go module download failures as test fixtures for the log classifier.

The classifier (gobuild_operator.core.diagnose) is only as good as the logs it is tested on, and
hand-written "go-like" error text drifts from what go actually prints. This script provokes each
failure for real: it runs the installed `go` (and `git`, `ssh`) against failing servers that it
starts itself, and stores exactly what the tools printed (stdout and stderr interleaved) in
tests/fixtures/gofailures/<case>.txt, plus manifest.json (case -> expected reason, go version,
command, environment, how the failure was provoked).

Isolation: the script re-executes itself in a private network and mount namespace (`unshare
--net --mount`, so it must run as root). Inside, only the loopback interface exists; a tiny DNS
server on 127.0.0.1:53 answers the `*.corp.invalid` names of the fake servers with 127.0.0.1 and
NXDOMAIN for everything else; /etc/resolv.conf is bind-mounted to point at it; /srv and /run are
private tmpfs mounts. Nothing leaves the machine and nothing outside the namespace is changed,
except the fixture files written to --out.

Every `go` run has a fresh GOPATH, GOMODCACHE, GOCACHE and HOME, GOTOOLCHAIN=local, GOENV=off and
a timeout; paths and ports are fixed, so re-running produces the same text (modulo go's own
version string and temporary file names).

Regenerate:  sudo .venv/bin/python scripts/record_go_failures.py   (or as root without sudo)
One case:    ... scripts/record_go_failures.py --only git_ssh_wrong_key --only proxy_404
Go versions: ... scripts/record_go_failures.py --go go1.21.13 --go go1.24.13 --go go1.27.4
             (each toolchain fetched once from the Go module proxy as golang.org/toolchain, before
             the namespace is entered; its fixtures go to tests/fixtures/gofailures/<version>/)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import http.server
import io
import json
import os
import shlex
import shutil
import socket
import socketserver
import ssl
import stat
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "gofailures"
IN_NAMESPACE_MARKER = "GOFAILURES_IN_NAMESPACE"

# Fixed layout inside the private /srv tmpfs.
SRV = Path("/srv")
STATE = SRV / "gofail"  # certificates, keys, sshd config, module proxy files
GIT_ROOT = SRV / "git"  # bare repositories served over ssh
GOPATH = SRV / "go"  # per-case GOPATH (wiped before every case)
GOCACHE = SRV / "cache" / "go-build"
HOME = SRV / "home"
WORKSPACE = SRV / "workspace"  # the module being built

LOOPBACK = "127.0.0.1"
DOMAIN = "corp.invalid"
# Ports inside the private network namespace (nothing else listens there).
PORT_HTTPS = 443  # CA-signed *.corp.invalid: module proxies, go-get, git smart HTTP, sumdb
PORT_SELF_SIGNED = 8443  # self-signed certificate
PORT_HANG = 9443  # accepts TCP, never answers the TLS handshake
PORT_CORP_PROXY = 3128  # HTTP proxy: CONNECT -> 403 Forbidden
PORT_AUTH_PROXY = 8080  # HTTP proxy: CONNECT -> 407 Proxy Authentication Required
PORT_MITM_PROXY = 3130  # HTTP proxy: CONNECT -> 200, then TLS with its own self-signed certificate
PORT_CLOSED = 8081  # nothing listens: connection refused
PORT_BLACKHOLE = 8082  # listening, accept queue full: SYNs are dropped, like a firewall that drops
PORT_EOF = 8083  # accepts TCP and closes at once: go reads EOF where the HTTP answer should be
PORT_SSH = 22

MODULE = "example.com/hello"
GIT_MODULE = f"git.{DOMAIN}/team/lib"
SECRET_MODULE = f"git.{DOMAIN}/team/secret"
MISSING_GIT_MODULE = f"git.{DOMAIN}/team/gone"
BIG_MODULE = "example.com/big"
BIG_GIT_MODULE = f"git.{DOMAIN}/team/big"
RENAMED_MODULE = "example.com/renamed"  # its go.mod declares example.com/other
DEP_MODULE = "example.com/dep"  # v1.0.0 and v1.1.0
USES_MODULE = "example.com/uses"  # v1.0.0 requires example.com/dep v1.1.0
#: The go directive of every module here: the oldest Go the fixtures are recorded with must accept it
#: without switching toolchains.
GO_DIRECTIVE = "1.21"
MODULE_TIME = "2024-01-02T03:04:05Z"
WRONG_H1 = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


# --------------------------------------------------------------------------------------------
# Namespace setup
# --------------------------------------------------------------------------------------------


def reexec_in_namespace(
    argv: list[str],
    *,
    script: str = __file__,
    marker: str = IN_NAMESPACE_MARKER,
    needs: str = "it creates a private network namespace, runs sshd and mounts tmpfs",
) -> None:
    """Run `script` again inside a private network + mount namespace, with `marker` set in its
    environment (does not return). record_builder_failures.py uses it too."""
    name = Path(script).stem
    if os.geteuid() != 0:
        sys.exit(f"{name}: needs root ({needs}); run it as root or with sudo")
    if shutil.which("unshare") is None:
        sys.exit(f"{name}: `unshare` (util-linux) is required")
    env = {**os.environ, marker: "1"}
    cmd = ["unshare", "--net", "--mount", "--fork", "--", sys.executable, str(Path(script).resolve()), *argv]
    os.execvpe("unshare", cmd, env)  # noqa: S606 - argv built here, no shell


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, timeout=60, **kwargs)


def prepare_namespace() -> None:
    """Loopback up, private tmpfs on /srv and /run, resolv.conf pointing at our DNS server."""
    run(["ip", "link", "set", "lo", "up"])
    run(["mount", "--make-rprivate", "/"])
    run(["mount", "-t", "tmpfs", "-o", "size=1g,mode=0755", "tmpfs", str(SRV)])
    run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", "/run"])
    Path("/run/sshd").mkdir(mode=0o755)
    STATE.mkdir()
    resolv = STATE / "resolv.conf"
    resolv.write_text(f"nameserver {LOOPBACK}\noptions timeout:1 attempts:1\n")
    target = Path("/etc/resolv.conf").resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(exist_ok=True)
    run(["mount", "--bind", str(resolv), str(target)])


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


class DNSServer:
    """Authoritative for *.corp.invalid (A 127.0.0.1); NXDOMAIN for anything else.

    Names starting with `servfail.` get SERVFAIL, like a cluster DNS whose upstream is down.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 53))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(2048)
            except OSError:
                return
            with contextlib.suppress(Exception):
                self.sock.sendto(self._answer(data), addr)

    @staticmethod
    def _answer(query: bytes) -> bytes:
        ident, flags = struct.unpack(">HH", query[:4])
        pos, labels = 12, []
        while query[pos] != 0:
            length = query[pos]
            labels.append(query[pos + 1 : pos + 1 + length].decode("ascii", "replace"))
            pos += 1 + length
        qtype = struct.unpack(">H", query[pos + 1 : pos + 3])[0]
        question = query[12 : pos + 5]
        name = ".".join(labels).lower()
        rcode, answers = 3, b""  # NXDOMAIN
        if name.startswith("servfail."):
            rcode = 2
        elif name == DOMAIN or name.endswith("." + DOMAIN):
            rcode = 0
            if qtype == 1:  # A
                answers = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(LOOPBACK)
        header = struct.pack(
            ">HHHHHH",
            ident,
            0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode,
            1,
            1 if answers else 0,
            0,
            0,
        )
        return header + question + answers

    def close(self) -> None:
        self.sock.close()


class QuietThreadingHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that reject our certificate or hang up are the point of the exercise."""


class TLSThreadingHTTPServer(QuietThreadingHTTPServer):
    def __init__(
        self,
        address: tuple[str, int],
        handler: type[http.server.BaseHTTPRequestHandler],
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(address, handler)
        # Handshake lazily in the request thread, so a stalled client never blocks accept().
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)


class FakeServicesHandler(http.server.BaseHTTPRequestHandler):
    """One handler, behaviour chosen by the Host header (all names resolve to 127.0.0.1).

    goproxy.corp.invalid      a working GOPROXY serving STATE/modproxy; 404 "not found" / "unknown
                              revision" for what it does not have (like Athens)
    mirror.corp.invalid       410 Gone with the text a public proxy gives for a private module
    artifactory.corp.invalid  403 Forbidden (a proxy that wants credentials)
    broken.corp.invalid       500 Internal Server Error
    gateway.corp.invalid      502 Bad Gateway
    git.corp.invalid          go-get <meta> tags; git smart HTTP that demands credentials (401)
    sum.corp.invalid          a checksum database that does not know the module (404)
    """

    protocol_version = "HTTP/1.1"
    server_version = "fake"
    sys_version = ""
    modproxy: ClassVar[Path] = STATE / "modproxy"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self,
        code: int,
        body: str,
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        path, _, query = self.path.partition("?")
        service = host.removesuffix("." + DOMAIN)
        if service == "goproxy":
            self._goproxy(path)
        elif service == "mirror":
            module = path.strip("/").split("/@v/")[0]
            self._send(
                410,
                f"not found: {module}@v1.0.0: invalid version: git ls-remote -q origin in "
                "/tmp/gopath/pkg/mod/cache/vcs/3f6c1f0a: exit status 128:\n"  # noqa: S108 - text, not a path
                "\tfatal: could not read Username for 'https://git.corp.invalid': terminal prompts disabled\n"
                "Confirm the import path was entered correctly.\n"
                "If this is a private repository, see https://golang.org/doc/faq#git_https for additional "
                "information.",
            )
        elif service == "artifactory":
            self._send(
                403, '{"errors":[{"status":403,"message":"Forbidden"}]}', content_type="application/json"
            )
        elif service == "broken":
            self._send(500, "internal error: upstream fetch failed")
        elif service == "gateway":
            self._send(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
        elif service == "git":
            self._git(path, query)
        elif service == "sum":
            self._send(
                404, f"not found: {path.removeprefix('/lookup/')}: no such module in the checksum database"
            )
        elif service == "sumgone":  # what sum.golang.org answers for a module it cannot fetch
            module = path.removeprefix("/lookup/")
            self._send(
                410,
                f"not found: {module}: invalid version: git ls-remote -q origin in /tmp/gopath/pkg/mod/cache/"
                "vcs/9a8b7c6d: exit status 128:\n\tfatal: could not read Username for 'https://git.corp.invalid':"
                " terminal prompts disabled\nConfirm the import path was entered correctly.",
            )
        elif service == "athens":  # a proxy that fetches from the origin itself, without credentials
            module = path.strip("/").split("/@v/")[0]
            self._send(
                404,
                f"not found: {module}@v1.0.0: invalid version: git ls-remote -q origin in /athens/vcs/1f2e: "
                "exit status 128:\n\tfatal: could not read Username for 'https://git.corp.invalid': "
                "terminal prompts disabled",
            )
        elif service == "login":  # a proxy behind a single sign-on gateway: 200 and a login page
            self._send(
                200,
                '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><form action="/login">'
                "</form></body></html>\n",
                content_type="text/html; charset=utf-8",
            )
        elif service == "bad":
            self._send(400, "bad request: unsupported path\n")
        else:
            self._send(404, "404 page not found")

    def _goproxy(self, path: str) -> None:
        rel = path.lstrip("/")
        file = (self.modproxy / rel).resolve()
        if file.is_relative_to(self.modproxy) and file.is_file():
            ctype = "application/zip" if file.suffix == ".zip" else "text/plain; charset=utf-8"
            data = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        module, _, rest = rel.partition("/@v/")
        version = rest.removesuffix(".info").removesuffix(".mod").removesuffix(".zip")
        if (self.modproxy / module / "@v" / "list").is_file() and version and version != "list":
            self._send(404, f"not found: {module}@{version}: invalid version: unknown revision {version}")
        else:
            self._send(404, f"not found: module {module}: no matching versions")

    def _git(self, path: str, query: str) -> None:
        if "go-get=1" in query:
            repo = "/".join(path.strip("/").split("/")[:2])
            module = f"git.{DOMAIN}/{repo}"
            self._send(
                200,
                f'<html><head><meta name="go-import" content="{module} git https://{module}.git"></head></html>\n',
                content_type="text/html",
            )
        else:  # git smart HTTP (only reached for repositories not rewritten to ssh)
            self._send(
                401, "HTTP Basic: Access denied\n", headers={"WWW-Authenticate": 'Basic realm="GitLab"'}
            )


class ConnectProxyHandler(http.server.BaseHTTPRequestHandler):
    """A corporate HTTP proxy. Its behaviour depends on the port it listens on."""

    protocol_version = "HTTP/1.1"
    server_version = "squid/5.7"
    sys_version = ""
    mitm_context: ClassVar[ssl.SSLContext | None] = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        port = self.server.server_address[1]  # type: ignore[index]  # an AF_INET (host, port) pair
        if port == PORT_AUTH_PROXY:
            self.send_response(407, "Proxy Authentication Required")
            self.send_header("Proxy-Authenticate", 'Basic realm="corp proxy"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif port == PORT_MITM_PROXY and self.mitm_context is not None:
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            with contextlib.suppress(OSError, ssl.SSLError):
                tls = self.mitm_context.wrap_socket(self.connection, server_side=True)
                tls.close()
            self.close_connection = True
        else:
            self.send_response(403, "Forbidden")
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_GET(self) -> None:
        self.send_response(403, "Forbidden")
        self.send_header("Content-Length", "0")
        self.end_headers()


class EofServer:
    """Accepts TCP connections and closes each at once: the client reads EOF instead of an answer."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, port))
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with contextlib.suppress(OSError):
                conn.recv(4096)
            conn.close()

    def close(self) -> None:
        self.sock.close()


class HangingServer:
    """Accepts TCP connections and never says a word: a TLS handshake that never completes."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, port))
        self.sock.listen(16)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


class BlackholeServer:
    """A listener whose accept queue is full, so the kernel drops new SYNs: connect() hangs until
    the client's dial timeout, exactly like a firewall or NetworkPolicy that drops packets."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, port))
        self.sock.listen(0)
        self.fillers: list[socket.socket] = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((LOOPBACK, port))
            self.fillers.append(filler)
        time.sleep(0.3)

    def close(self) -> None:
        for filler in self.fillers:
            filler.close()
        self.sock.close()


def serve_in_thread(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


@dataclasses.dataclass
class Material:
    ca_cert: Path
    client_key: Path  # authorised on the sshd
    wrong_key: Path  # not authorised
    loose_key: Path  # the authorised key, but mode 0644 (ssh refuses it)
    known_hosts: Path  # the right host key for git.corp.invalid
    known_hosts_changed: Path  # a different host key for git.corp.invalid
    empty_known_hosts: Path


def openssl_cert(out: Path, name: str, *, san: str, ca: tuple[Path, Path] | None) -> tuple[Path, Path]:
    key, cert = out / f"{name}.key", out / f"{name}.crt"
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)])
    if ca is None:
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-new",
                "-key",
                str(key),
                "-out",
                str(cert),
                "-days",
                "3650",
                "-subj",
                f"/CN={name}",
                "-addext",
                f"subjectAltName={san}",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ]
        )
    else:
        csr = out / f"{name}.csr"
        ext = out / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        run(["openssl", "req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={name}"])
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(ca[1]),
                "-CAkey",
                str(ca[0]),
                "-CAcreateserial",
                "-out",
                str(cert),
                "-days",
                "3650",
                "-extfile",
                str(ext),
            ]
        )
    return key, cert


def ssh_keygen(path: Path, comment: str) -> Path:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path


@contextlib.contextmanager
def services() -> Iterator[Material]:
    """Start every fake server; yield the keys and certificates the cases need."""
    tls_dir = STATE / "tls"
    tls_dir.mkdir()
    ca = openssl_cert(tls_dir, "corp-root-ca", san=f"DNS:ca.{DOMAIN}", ca=None)
    server_key, server_cert = openssl_cert(tls_dir, "services", san=f"DNS:*.{DOMAIN},DNS:{DOMAIN}", ca=ca)
    self_key, self_cert = openssl_cert(tls_dir, "self-signed", san=f"DNS:*.{DOMAIN},IP:{LOOPBACK}", ca=None)

    def context(cert: Path, key: Path) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    build_module_proxy(STATE / "modproxy")
    build_git_repo()

    ssh_dir = STATE / "ssh"
    ssh_dir.mkdir()
    host_key = ssh_keygen(ssh_dir / "ssh_host_ed25519_key", "git.corp.invalid")
    other_host_key = ssh_keygen(ssh_dir / "other_host_key", "someone-else")
    client_key = ssh_keygen(ssh_dir / "id_ed25519", "ci@build")
    wrong_key = ssh_keygen(ssh_dir / "id_wrong", "ci@laptop")
    loose_key = ssh_dir / "id_loose"
    shutil.copy(client_key, loose_key)
    loose_key.chmod(0o644)
    (ssh_dir / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    pub = Path(f"{host_key}.pub").read_text().split()
    other = Path(f"{other_host_key}.pub").read_text().split()
    known = ssh_dir / "known_hosts"
    known.write_text(f"git.{DOMAIN} {pub[0]} {pub[1]}\n")
    changed = ssh_dir / "known_hosts_changed"
    changed.write_text(f"git.{DOMAIN} {other[0]} {other[1]}\n")
    empty = ssh_dir / "known_hosts_empty"
    empty.write_text("")
    sshd_config = ssh_dir / "sshd_config"
    sshd_config.write_text(
        f"Port {PORT_SSH}\nListenAddress {LOOPBACK}\nHostKey {host_key}\nPidFile none\n"
        f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )

    dns = DNSServer()
    https = TLSThreadingHTTPServer(
        (LOOPBACK, PORT_HTTPS), FakeServicesHandler, context(server_cert, server_key)
    )
    self_signed = TLSThreadingHTTPServer(
        (LOOPBACK, PORT_SELF_SIGNED), FakeServicesHandler, context(self_cert, self_key)
    )
    hang = HangingServer(PORT_HANG)
    eof = EofServer(PORT_EOF)
    blackhole = BlackholeServer(PORT_BLACKHOLE)
    ConnectProxyHandler.mitm_context = context(self_cert, self_key)
    proxies = [
        QuietThreadingHTTPServer((LOOPBACK, p), ConnectProxyHandler)
        for p in (PORT_CORP_PROXY, PORT_AUTH_PROXY, PORT_MITM_PROXY)
    ]
    for server in (https, self_signed, *proxies):
        serve_in_thread(server)
    sshd = subprocess.Popen(
        [shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(sshd_config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(PORT_SSH)
        yield Material(
            ca_cert=ca[1],
            client_key=client_key,
            wrong_key=wrong_key,
            loose_key=loose_key,
            known_hosts=known,
            known_hosts_changed=changed,
            empty_known_hosts=empty,
        )
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)
        for server in (https, self_signed, *proxies):
            server.shutdown()
            server.server_close()
        hang.close()
        eof.close()
        blackhole.close()
        dns.close()


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {LOOPBACK}:{port}")


def module_zip(module: str, version: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(f"{module}@{version}/{name}", date_time=(2024, 1, 2, 3, 4, 5))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def pseudo_random(size: int) -> bytes:
    """Deterministic incompressible bytes (so the disk-full case fails the same way every run)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def dirhash_h1(files: dict[str, bytes]) -> str:
    """golang.org/x/mod/sumdb/dirhash Hash1 of these files (name -> content)."""
    summary = "".join(f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files))
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def go_sum_lines(module: str, version: str) -> str:
    """The go.sum lines of a module version the fake proxy serves (read back from its tree)."""
    vdir = STATE / "modproxy" / module / "@v"
    with zipfile.ZipFile(vdir / f"{version}.zip") as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    go_mod = dirhash_h1({"go.mod": (vdir / f"{version}.mod").read_bytes()})
    return f"{module} {version} {dirhash_h1(files)}\n{module} {version}/go.mod {go_mod}\n"


def build_module_proxy(root: Path) -> None:
    """A GOPROXY tree (served over https by goproxy.corp.invalid): example.com/hello, a 4 MiB module,
    one whose go.mod declares another path, and a pair whose requirements go.mod must list."""

    def go_mod(module: str, *requires: str) -> bytes:
        require = "".join(f"\nrequire {line}\n" for line in requires)
        return f"module {module}\n\ngo {GO_DIRECTIVE}\n{require}".encode()

    versions: dict[tuple[str, str], dict[str, bytes]] = {
        (MODULE, "v1.0.0"): {
            "go.mod": go_mod(MODULE),
            "hello.go": b'package hello\n\nfunc Hello() string { return "hello" }\n',
        },
        (BIG_MODULE, "v1.0.0"): {
            "go.mod": go_mod(BIG_MODULE),
            "big.go": b"package big\n\nfunc Size() int { return 4 << 20 }\n",
            "testdata/blob.bin": pseudo_random(4 << 20),
        },
        (RENAMED_MODULE, "v1.0.0"): {
            "go.mod": go_mod("example.com/other"),
            "other.go": b"package other\n",
        },
        (DEP_MODULE, "v1.0.0"): {"go.mod": go_mod(DEP_MODULE), "dep.go": b"package dep\n"},
        (DEP_MODULE, "v1.1.0"): {"go.mod": go_mod(DEP_MODULE), "dep.go": b"package dep\n"},
        (USES_MODULE, "v1.0.0"): {
            "go.mod": go_mod(USES_MODULE, f"{DEP_MODULE} v1.1.0"),
            "uses.go": f'package uses\n\nimport _ "{DEP_MODULE}"\n'.encode(),
        },
    }
    for (module, version), files in versions.items():
        vdir = root / module / "@v"
        vdir.mkdir(parents=True, exist_ok=True)
        with (vdir / "list").open("a") as listing:
            listing.write(f"{version}\n")
        (vdir / f"{version}.info").write_text(json.dumps({"Version": version, "Time": MODULE_TIME}))
        (vdir / f"{version}.mod").write_bytes(files["go.mod"])
        (vdir / f"{version}.zip").write_bytes(module_zip(module, version, files))


def build_git_repo() -> None:
    """Bare repositories below /srv/git/team: lib.git (GIT_MODULE, tag v1.0.0) and big.git
    (BIG_GIT_MODULE, v1.0.0 with 4 MiB of incompressible data, to fill a small disk)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(STATE),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "ci",
        "GIT_AUTHOR_EMAIL": "ci@corp.invalid",
        "GIT_AUTHOR_DATE": MODULE_TIME,
        "GIT_COMMITTER_NAME": "ci",
        "GIT_COMMITTER_EMAIL": "ci@corp.invalid",
        "GIT_COMMITTER_DATE": MODULE_TIME,
    }
    repos = {
        "lib": (GIT_MODULE, {"lib.go": b'package lib\n\nfunc Name() string { return "lib" }\n'}),
        "big": (BIG_GIT_MODULE, {"big.go": b"package big\n", "blob.bin": pseudo_random(4 << 20)}),
    }
    for name, (module, files) in repos.items():
        src = STATE / f"{name}-src"
        src.mkdir()
        (src / "go.mod").write_text(f"module {module}\n\ngo {GO_DIRECTIVE}\n")
        for file, data in files.items():
            (src / file).write_bytes(data)
        for cmd in (
            ["git", "init", "-q", "-b", "main"],
            ["git", "add", "."],
            ["git", "commit", "-q", "-m", f"{name} v1.0.0"],
            ["git", "tag", "v1.0.0"],
        ):
            run(cmd, cwd=src, env=env)
        bare = GIT_ROOT / "team" / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        run(["git", "clone", "-q", "--bare", str(src), str(bare)], env=env)


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    reason: str
    how: str
    command: list[str]
    env: dict[str, str]
    #: go.mod requirements of the workspace module; None: no go.mod at all
    requires: dict[str, str] | None = dataclasses.field(default_factory=lambda: {MODULE: "v1.0.0"})
    go_sum: str = ""
    gitconfig: str = ""
    provoked: str = "real"
    #: mount a tmpfs of this size on GOMODCACHE
    modcache_tmpfs: str = ""
    #: mount that tmpfs read-only
    modcache_read_only: bool = False
    timeout: float = 90.0
    #: "go" (recorded with every Go version asked for), or "git"/"ssh" run on their own (once)
    tool: str = "go"
    #: The reason the log alone shows, when it differs from `reason` (which knows the Go settings)
    reason_without_settings: str | None = None
    #: More files of the workspace module (path -> text)
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The packages main.go imports; None: the required modules
    imports: list[str] | None = None
    #: The go directive of the workspace's go.mod
    go_directive: str = GO_DIRECTIVE
    #: Run in GOPATH itself instead of the workspace (go.mod and main.go are written there)
    in_gopath: bool = False
    #: PATH holds only go's own directory (no git, no ssh)
    without_git: bool = False
    #: Turn IPv6 off on loopback while the case runs
    without_ipv6: bool = False


def ssh_command(key: Path, known_hosts: Path) -> str:
    return (
        f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null -F /dev/null"
    )


def build_cases(m: Material) -> list[Case]:
    return go_cases(m) + tool_cases(m)


def go_cases(m: Material) -> list[Case]:
    goproxy = f"https://goproxy.{DOMAIN}"
    via_ssh = f'[url "ssh://root@git.{DOMAIN}{GIT_ROOT}/"]\n\tinsteadOf = https://git.{DOMAIN}/\n'
    private = {"GOPRIVATE": f"git.{DOMAIN}", "GOPROXY": goproxy}
    ok_ssh = ssh_command(m.client_key, m.known_hosts)
    download = ["go", "mod", "download"]
    build = ["go", "build", "./..."]
    return [
        Case(
            "proxy_connection_refused",
            "ProxyUnreachable",
            "GOPROXY points at a port where nothing listens (firewall reject / proxy down)",
            download,
            {"GOPROXY": f"http://goproxy.{DOMAIN}:{PORT_CLOSED}"},
        ),
        Case(
            "proxy_dial_timeout",
            "ProxyUnreachable",
            "GOPROXY port drops packets (accept queue full, like a dropping firewall); go's dial times out",
            download,
            {"GOPROXY": f"https://goproxy.{DOMAIN}:{PORT_BLACKHOLE}"},
        ),
        Case(
            "proxy_dns_nxdomain",
            "DNSResolutionFailed",
            "GOPROXY host name does not exist (NXDOMAIN from the local DNS server)",
            download,
            {"GOPROXY": "https://goproxy.nonexistent.invalid"},
        ),
        Case(
            "proxy_dns_servfail",
            "DNSResolutionFailed",
            "the DNS server answers SERVFAIL for the GOPROXY host (cluster DNS with a broken upstream)",
            build,
            {"GOPROXY": "https://servfail.goproxy.example"},
        ),
        Case(
            "direct_dns_nxdomain",
            "DNSResolutionFailed",
            "GOPROXY=direct: go's own go-get lookup of a host that does not exist",
            download,
            {"GOPROXY": "direct"},
            requires={"git.nonexistent.invalid/team/tool": "v1.2.0"},
        ),
        Case(
            "proxy_tls_handshake_timeout",
            "TLSHandshakeTimeout",
            "GOPROXY https port accepts TCP but never answers the TLS handshake (go gives up after 10s)",
            download,
            {"GOPROXY": f"https://slow.{DOMAIN}:{PORT_HANG}"},
        ),
        Case(
            "proxy_tls_timeout_then_off",
            "TLSHandshakeTimeout",
            "GOPROXY='https://<hanging>|off': the handshake times out, then go falls through to off",
            download,
            {"GOPROXY": f"https://slow.{DOMAIN}:{PORT_HANG}|off"},
        ),
        Case(
            "proxy_self_signed",
            "CertificateUntrusted",
            "GOPROXY serves a self-signed certificate that is not in the trust store",
            download,
            {"GOPROXY": f"https://selfsigned.{DOMAIN}:{PORT_SELF_SIGNED}"},
        ),
        Case(
            "corporate_proxy_tls_interception",
            "CertificateUntrusted",
            "HTTPS_PROXY is a TLS-intercepting proxy whose own CA is not trusted",
            download,
            {"GOPROXY": goproxy, "HTTPS_PROXY": f"http://proxy.{DOMAIN}:{PORT_MITM_PROXY}"},
        ),
        Case(
            "proxy_404",
            "ModuleNotFound",
            "the proxy does not have the module (404 Not Found, GOPROXY without fallback)",
            download,
            {"GOPROXY": goproxy},
            requires={"example.com/nosuch": "v1.0.0"},
        ),
        Case(
            "proxy_410_private_module",
            "AuthenticationFailed",
            "a public-style proxy answers 410 Gone for a private module: its server response says it could "
            "not read the repository without credentials",
            download,
            {"GOPROXY": f"https://mirror.{DOMAIN}"},
            requires={"git.corp.invalid/team/secret": "v1.0.0"},
        ),
        Case(
            "proxy_unknown_revision",
            "UnknownRevision",
            "the proxy knows the module but not the version (404 with 'unknown revision')",
            ["go", "get", f"{MODULE}@v1.4.0"],
            {"GOPROXY": goproxy},
        ),
        Case(
            "proxy_403",
            "AuthenticationFailed",
            "the proxy refuses the request (403 Forbidden, e.g. Artifactory without credentials)",
            download,
            {"GOPROXY": f"https://artifactory.{DOMAIN}"},
        ),
        Case(
            "proxy_500",
            "ProxyServerError",
            "the proxy fails (500 Internal Server Error)",
            download,
            {"GOPROXY": f"https://broken.{DOMAIN}"},
        ),
        Case(
            "proxy_502",
            "ProxyServerError",
            "a gateway in front of the proxy fails (502 Bad Gateway)",
            build,
            {"GOPROXY": f"https://gateway.{DOMAIN}"},
        ),
        Case(
            "goproxy_off",
            "LookupDisabled",
            "GOPROXY=off and the module is not in the cache",
            download,
            {"GOPROXY": "off"},
        ),
        Case(
            "corporate_proxy_connect_forbidden",
            "HTTPProxyError",
            "HTTPS_PROXY answers CONNECT with 403 Forbidden",
            download,
            {"GOPROXY": goproxy, "HTTPS_PROXY": f"http://proxy.{DOMAIN}:{PORT_CORP_PROXY}"},
        ),
        Case(
            "corporate_proxy_auth_required",
            "HTTPProxyError",
            "HTTPS_PROXY answers CONNECT with 407 Proxy Authentication Required",
            download,
            {"GOPROXY": goproxy, "HTTPS_PROXY": f"http://proxy.{DOMAIN}:{PORT_AUTH_PROXY}"},
        ),
        Case(
            "corporate_proxy_refused",
            "HTTPProxyError",
            "HTTPS_PROXY points at a port where nothing listens",
            download,
            {"GOPROXY": goproxy, "HTTPS_PROXY": f"http://proxy.{DOMAIN}:{PORT_CLOSED}"},
        ),
        Case(
            "git_ssh_wrong_key",
            "AuthenticationFailed",
            "private module over ssh (https rewritten to ssh by git insteadOf); the key is not authorised",
            download,
            {**private, "GIT_SSH_COMMAND": ssh_command(m.wrong_key, m.known_hosts)},
            requires={GIT_MODULE: "v1.0.0"},
            gitconfig=via_ssh,
        ),
        Case(
            "git_ssh_key_bad_permissions",
            "AuthenticationFailed",
            "private module over ssh; the right key, but mode 0644, so ssh ignores it",
            download,
            {**private, "GIT_SSH_COMMAND": ssh_command(m.loose_key, m.known_hosts)},
            requires={GIT_MODULE: "v1.0.0"},
            gitconfig=via_ssh,
        ),
        Case(
            "git_ssh_unknown_host_key",
            "HostKeyVerificationFailed",
            "private module over ssh; the server's host key is not in known_hosts (StrictHostKeyChecking)",
            build,
            {**private, "GIT_SSH_COMMAND": ssh_command(m.client_key, m.empty_known_hosts)},
            requires={GIT_MODULE: "v1.0.0"},
            gitconfig=via_ssh,
        ),
        Case(
            "git_ssh_changed_host_key",
            "HostKeyVerificationFailed",
            "private module over ssh; known_hosts holds a different key for the host",
            download,
            {**private, "GIT_SSH_COMMAND": ssh_command(m.client_key, m.known_hosts_changed)},
            requires={GIT_MODULE: "v1.0.0"},
            gitconfig=via_ssh,
        ),
        Case(
            "git_ssh_refused",
            "ProxyUnreachable",
            "private module over ssh; nothing listens on the ssh port",
            download,
            {**private, "GIT_SSH_COMMAND": ssh_command(m.client_key, m.known_hosts)},
            requires={GIT_MODULE: "v1.0.0"},
            gitconfig=f'[url "ssh://root@git.{DOMAIN}:{PORT_CLOSED}{GIT_ROOT}/"]\n'
            f"\tinsteadOf = https://git.{DOMAIN}/\n",
        ),
        Case(
            "git_https_credentials_required",
            "AuthenticationFailed",
            "private module over HTTPS; the git server answers 401 and GIT_TERMINAL_PROMPT=0",
            download,
            private,
            requires={SECRET_MODULE: "v1.0.0"},
        ),
        Case(
            "git_unknown_revision",
            "UnknownRevision",
            "private module over ssh (working key); the required version does not exist in the repository",
            download,
            {**private, "GIT_SSH_COMMAND": ok_ssh},
            requires={GIT_MODULE: "v1.4.0"},
            gitconfig=via_ssh,
        ),
        Case(
            "git_repository_not_found",
            "ModuleNotFound",
            "private module over ssh (working key); the repository does not exist on the server",
            download,
            {**private, "GIT_SSH_COMMAND": ok_ssh},
            requires={MISSING_GIT_MODULE: "v1.0.0"},
            gitconfig=via_ssh,
        ),
        Case(
            "checksum_mismatch",
            "ChecksumMismatch",
            "go.sum holds a different hash than the zip the proxy serves",
            download,
            {"GOPROXY": goproxy},
            go_sum=f"{MODULE} v1.0.0 {WRONG_H1}\n",
        ),
        Case(
            "missing_go_sum",
            "MissingGoSum",
            "go build with -mod=readonly and no go.sum entry for a required module",
            ["go", "build", "-mod=readonly", "./..."],
            {"GOPROXY": goproxy, "GOFLAGS": ""},
        ),
        Case(
            "no_go_mod",
            "NoGoMod",
            "go build . in a directory without go.mod",
            ["go", "build", "."],
            {"GOPROXY": goproxy},
            requires=None,
        ),
        Case(
            "no_go_mod_build_all",
            "NoGoMod",
            "go build ./... in a directory without go.mod",
            build,
            {"GOPROXY": goproxy},
            requires=None,
        ),
        Case(
            "no_go_mod_download",
            "NoGoMod",
            "go mod download in a directory without go.mod",
            download,
            {"GOPROXY": goproxy},
            requires=None,
        ),
        Case(
            "sumdb_refused",
            "SumDBUnreachable",
            "GOSUMDB points at a port where nothing listens; the module is not in go.sum",
            download,
            {"GOPROXY": goproxy, "GOSUMDB": f"sum.golang.org https://sum.{DOMAIN}:{PORT_CLOSED}"},
        ),
        Case(
            "sumdb_lookup_not_found",
            "SumDBModuleNotFound",
            "the checksum database does not know the module (404), as for a private module not in GONOSUMDB",
            download,
            {"GOPROXY": goproxy, "GOSUMDB": f"sum.golang.org https://sum.{DOMAIN}"},
        ),
        Case(
            "disk_full",
            "DiskFull",
            "GOMODCACHE is a 1 MiB tmpfs; the module zip is 4 MiB of incompressible data",
            download,
            {"GOPROXY": goproxy},
            requires={BIG_MODULE: "v1.0.0"},
            modcache_tmpfs="1m",
        ),
        Case(
            "cache_lock_enolck",
            "CacheLockFailed",
            "every flock(2) fails with ENOLCK (what NFS without a lock manager returns): "
            "injected by `strace -e inject=flock:error=ENOLCK`",
            [
                "strace",
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                "trace=flock",
                "-e",
                "inject=flock:error=ENOLCK",
                "go",
                "mod",
                "download",
            ],
            {"GOPROXY": goproxy},
            provoked="real go run; the flock(2) failure is injected with strace (no NFS server here)",
        ),
        Case(
            "cache_lock_enolck_modcache",
            "CacheLockFailed",
            "a cache-warming `go mod download MODULE@VERSION` outside any module, so the first lock "
            "is on the module cache; every flock(2) fails with ENOLCK: injected by strace",
            [
                "strace",
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                "trace=flock",
                "-e",
                "inject=flock:error=ENOLCK",
                "go",
                "mod",
                "download",
                f"{MODULE}@v1.0.0",
            ],
            {"GOPROXY": goproxy, "GOFLAGS": ""},
            requires=None,
            provoked="real go run; the flock(2) failure is injected with strace (no NFS server here)",
        ),
        Case(
            "ci_script_tls_timeout_then_offline_build",
            "TLSHandshakeTimeout",
            "a CI shell script (sh -x): go mod download times out in the TLS handshake, the script "
            "carries on and retries offline, which fails with 'module lookup disabled'",
            [
                "sh",
                "-xc",
                "go version; go env GOPROXY; go mod download || echo 'download failed, trying offline'; "
                "GOPROXY=off go build ./...",
            ],
            {"GOPROXY": f"https://slow.{DOMAIN}:{PORT_HANG}"},
        ),
        Case(
            "ci_script_clone_then_checksum_mismatch",
            "ChecksumMismatch",
            "a CI shell script (sh -x): git clone with progress output over ssh (works), then go mod "
            "download fails on a go.sum mismatch",
            [
                "sh",
                "-xc",
                f"git clone --progress https://git.{DOMAIN}/team/lib.git /srv/home/lib; "
                "git -C /srv/home/lib log --oneline -1; go mod download -x",
            ],
            {"GOPROXY": goproxy, "GOPRIVATE": f"git.{DOMAIN}", "GIT_SSH_COMMAND": ok_ssh},
            go_sum=f"{MODULE} v1.0.0 {WRONG_H1}\n",
            gitconfig=via_ssh,
        ),
        # --- reasons added later, and wordings that differ ----------------------------------------
        Case(
            "module_path_mismatch",
            "ModulePathMismatch",
            "the proxy serves example.com/renamed, whose go.mod declares module example.com/other",
            download,
            {"GOPROXY": goproxy},
            requires={RENAMED_MODULE: "v1.0.0"},
        ),
        Case(
            "toolchain_local_too_old",
            "ToolchainNotAvailable",
            "go.mod says go 1.99 and GOTOOLCHAIN=local forbids switching to it",
            download,
            {"GOPROXY": goproxy},
            go_directive="1.99",
        ),
        Case(
            "toolchain_not_available",
            "ToolchainNotAvailable",
            "go.mod says go 1.99.0, GOTOOLCHAIN=auto; the proxy has no golang.org/toolchain of that version",
            download,
            {"GOPROXY": goproxy, "GOTOOLCHAIN": "auto"},
            go_directive="1.99.0",
        ),
        Case(
            "sumdb_private_module_410",
            "SumDBModuleNotFound",
            "a private module not in GONOSUMDB is looked up in the checksum database, which answers 410 "
            "with its failure to read the repository (as sum.golang.org does)",
            download,
            {"GOPROXY": goproxy, "GOSUMDB": f"sum.golang.org https://sumgone.{DOMAIN}"},
        ),
        Case(
            "gomod_in_gopath",
            "GoModInGoPath",
            "the module is tidied in GOPATH itself (a Dockerfile without WORKDIR in a golang image)",
            ["go", "mod", "tidy"],
            {"GOPROXY": goproxy},
            in_gopath=True,
        ),
        Case(
            "git_not_installed",
            "VCSCommandMissing",
            "a private module fetched directly by an image without git (PATH has only go)",
            download,
            private,
            requires={GIT_MODULE: "v1.0.0"},
            without_git=True,
        ),
        Case(
            "inconsistent_vendoring",
            "InconsistentVendoring",
            "vendor/modules.txt lists another version than go.mod requires; go builds from vendor/",
            build,
            {"GOPROXY": goproxy, "GOFLAGS": ""},
            files={"vendor/modules.txt": f"# {MODULE} v0.9.0\n## explicit\n{MODULE}\n"},
        ),
        Case(
            "gomod_update_needed",
            "GoModUpdateNeeded",
            "go.mod lists example.com/dep v1.0.0 although example.com/uses needs v1.1.0; -mod=readonly",
            ["go", "build", "-mod=readonly", "./..."],
            {"GOPROXY": goproxy, "GOFLAGS": ""},
            requires={USES_MODULE: "v1.0.0", DEP_MODULE: "v1.0.0"},
            imports=[USES_MODULE],
            go_sum="".join(
                go_sum_lines(module, version)
                for module, version in (
                    (USES_MODULE, "v1.0.0"),
                    (DEP_MODULE, "v1.0.0"),
                    (DEP_MODULE, "v1.1.0"),
                )
            ),
        ),
        Case(
            "no_required_module_provides_package",
            "GoModUpdateNeeded",
            "main.go imports example.com/hello, which go.mod does not require",
            build,
            {"GOPROXY": goproxy, "GOFLAGS": ""},
            requires={},
            imports=[MODULE],
        ),
        Case(
            "cache_read_only",
            "CacheNotWritable",
            "GOMODCACHE is a read-only mount (a cache volume mounted readOnly)",
            download,
            {"GOPROXY": goproxy},
            modcache_tmpfs="1m",
            modcache_read_only=True,
        ),
        Case(
            "proxy_html_login_page",
            "ProxyInvalidResponse",
            "the proxy answers 200 with an HTML sign-in page (a single sign-on gateway in front of it)",
            download,
            {"GOPROXY": f"https://login.{DOMAIN}"},
        ),
        Case(
            "proxy_html_login_page_latest",
            "ProxyInvalidResponse",
            "go get MODULE@latest against a proxy that answers 200 with an HTML sign-in page",
            ["go", "get", f"{MODULE}@latest"],
            {"GOPROXY": f"https://login.{DOMAIN}"},
            requires={},
        ),
        Case(
            "proxy_eof",
            "ProxyUnreachable",
            "the proxy's port accepts the connection and closes it without an answer",
            download,
            {"GOPROXY": f"http://goproxy.{DOMAIN}:{PORT_EOF}"},
        ),
        Case(
            "proxy_400",
            "ProxyServerError",
            "the proxy answers 400 Bad Request",
            download,
            {"GOPROXY": f"https://bad.{DOMAIN}"},
        ),
        Case(
            "proxy_404_origin_credentials",
            "AuthenticationFailed",
            "an Athens-like proxy answers 404 for a private module: its server response says it could "
            "not read the repository without credentials",
            download,
            {"GOPROXY": f"https://athens.{DOMAIN}"},
            requires={SECRET_MODULE: "v1.0.0"},
        ),
        Case(
            "proxy_ipv6_unavailable",
            "ProxyUnreachable",
            "GOPROXY names an IPv6 address on a network without IPv6 (cannot assign requested address)",
            download,
            {"GOPROXY": f"http://[::1]:{PORT_CLOSED}"},
            without_ipv6=True,
        ),
        Case(
            "git_no_space_left",
            "DiskFull",
            "a private module cloned by git into a module cache on a 1 MiB tmpfs: git's own message",
            download,
            {**private, "GIT_SSH_COMMAND": ok_ssh},
            requires={BIG_GIT_MODULE: "v1.0.0"},
            gitconfig=via_ssh,
            modcache_tmpfs="1m",
        ),
        # --- routes: which entry of GOPROXY failed -------------------------------------------------
        Case(
            "mirror_missing_module_then_off",
            "ModuleNotFound",
            "GOPROXY=mirror,off: the mirror answers 404, so go moves on to off and reports only that",
            download,
            {"GOPROXY": f"{goproxy},off"},
            requires={"example.com/nosuch": "v1.0.0"},
            reason_without_settings="LookupDisabled",
        ),
        Case(
            "mirror_missing_module_then_direct",
            "ModuleNotFound",
            "GOPROXY=mirror,direct without egress: the mirror answers 404, go tries the origin itself and "
            "reports only that the origin's name does not resolve",
            download,
            {"GOPROXY": f"{goproxy},direct"},
            requires={"example.com/nosuch": "v1.0.0"},
            reason_without_settings="DNSResolutionFailed",
        ),
        Case(
            "proxy_refused_then_direct",
            "DNSResolutionFailed",
            "GOPROXY=refused|direct without egress: the proxy refuses, go tries the origin, whose name does "
            "not resolve; only that is reported",
            download,
            {"GOPROXY": f"http://goproxy.{DOMAIN}:{PORT_CLOSED}|direct"},
            requires={"example.com/nosuch": "v1.0.0"},
        ),
        # --- failures that are not downloads (a network error of the build's own tests) ------------
        Case(
            "go_test_database_refused",
            "Unknown",
            "go test: the test dials its database on 127.0.0.1:5432, where nothing listens",
            ["go", "test", "./..."],
            {"GOPROXY": goproxy},
            files={"db_test.go": DB_TEST},
        ),
        Case(
            "go_test_assertion_failed",
            "Unknown",
            "go test: an assertion fails",
            ["go", "test", "./..."],
            {"GOPROXY": goproxy},
            files={"add_test.go": ADD_TEST},
        ),
        Case(
            "compile_error",
            "Unknown",
            "go build: the code does not compile",
            build,
            {"GOPROXY": goproxy},
            files={"broken.go": "package main\n\nvar _ = hello.Greet()\n"},
        ),
    ]


DB_TEST = """package main

import (
	"net"
	"testing"
)

func TestDatabase(t *testing.T) {
	conn, err := net.Dial("tcp", "127.0.0.1:5432")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
"""

ADD_TEST = """package main

import "testing"

func TestAdd(t *testing.T) {
	if got := 1 + 1; got != 3 {
		t.Errorf("got %d, want 3", got)
	}
}
"""


def tool_cases(m: Material) -> list[Case]:
    """git and ssh on their own (a clone step, `go get` in GOPATH mode, a CI checkout): their own words."""
    git_env = {"GIT_SSL_CAINFO": str(m.ca_cert)}
    ls_remote = ["git", "ls-remote"]
    return [
        Case(
            "git_ls_remote_https_credentials",
            "AuthenticationFailed",
            "git over HTTPS: the server answers 401 and GIT_TERMINAL_PROMPT=0",
            [*ls_remote, f"https://git.{DOMAIN}/team/secret.git"],
            git_env,
            tool="git",
        ),
        Case(
            "git_ls_remote_self_signed",
            "CertificateUntrusted",
            "git over HTTPS to a server with a self-signed certificate",
            [*ls_remote, f"https://selfsigned.{DOMAIN}:{PORT_SELF_SIGNED}/team/lib.git"],
            git_env,
            tool="git",
        ),
        Case(
            "git_ls_remote_proxy_407",
            "HTTPProxyError",
            "git over HTTPS through a corporate proxy that wants credentials (407)",
            [*ls_remote, f"https://git.{DOMAIN}/team/lib.git"],
            {**git_env, "HTTPS_PROXY": f"http://proxy.{DOMAIN}:{PORT_AUTH_PROXY}"},
            tool="git",
        ),
        Case(
            "git_ls_remote_dns",
            "DNSResolutionFailed",
            "git over HTTPS to a host name that does not exist",
            [*ls_remote, "https://git.nonexistent.invalid/team/lib.git"],
            git_env,
            tool="git",
        ),
        Case(
            "git_ls_remote_refused",
            "ProxyUnreachable",
            "git over HTTPS to a port where nothing listens",
            [*ls_remote, f"https://git.{DOMAIN}:{PORT_CLOSED}/team/lib.git"],
            git_env,
            tool="git",
        ),
        Case(
            "git_ls_remote_403",
            "AuthenticationFailed",
            "git over HTTPS: the server answers 403",
            [*ls_remote, f"https://artifactory.{DOMAIN}/team/lib.git"],
            git_env,
            tool="git",
        ),
        Case(
            "git_ls_remote_404",
            "ModuleNotFound",
            "git over HTTPS: the repository does not exist (404)",
            [*ls_remote, f"https://goproxy.{DOMAIN}/team/nosuch.git"],
            git_env,
            tool="git",
        ),
        Case(
            "git_ls_remote_ssh_changed_host_key",
            "HostKeyVerificationFailed",
            "git over ssh: known_hosts holds another key for the host",
            [*ls_remote, f"ssh://root@git.{DOMAIN}{GIT_ROOT}/team/lib.git"],
            {"GIT_SSH_COMMAND": ssh_command(m.client_key, m.known_hosts_changed)},
            tool="git",
        ),
        Case(
            "git_ls_remote_ssh_wrong_key",
            "AuthenticationFailed",
            "git over ssh: the server refuses the key",
            [*ls_remote, f"ssh://root@git.{DOMAIN}{GIT_ROOT}/team/lib.git"],
            {"GIT_SSH_COMMAND": ssh_command(m.wrong_key, m.known_hosts)},
            tool="git",
        ),
        Case(
            "git_clone_no_space_left",
            "DiskFull",
            "git clone of a 4 MiB repository onto a 1 MiB tmpfs",
            [
                "git",
                "clone",
                "-q",
                f"ssh://root@git.{DOMAIN}{GIT_ROOT}/team/big.git",
                str(GOPATH / "pkg/mod/big"),
            ],
            {"GIT_SSH_COMMAND": ssh_command(m.client_key, m.known_hosts)},
            modcache_tmpfs="1m",
            tool="git",
        ),
        Case(
            "ssh_unresolved_host",
            "DNSResolutionFailed",
            "ssh to a host name that does not exist",
            [*ssh_command(m.client_key, m.known_hosts).split(), "root@git.nonexistent.invalid", "true"],
            {},
            tool="ssh",
        ),
        Case(
            "ssh_refused",
            "ProxyUnreachable",
            "ssh to a port where nothing listens",
            [
                *ssh_command(m.client_key, m.known_hosts).split(),
                "-p",
                str(PORT_CLOSED),
                f"root@git.{DOMAIN}",
                "true",
            ],
            {},
            tool="ssh",
        ),
    ]


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def wipe(path: Path) -> None:
    """Remove a tree, including go's read-only module cache directories."""
    if not path.exists():
        return

    def make_writable(func: Callable[..., Any], p: str, _exc: BaseException) -> None:
        parent = os.path.dirname(p)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
        func(p)

    shutil.rmtree(path, onerror=lambda func, p, exc: make_writable(func, p, exc[1]))


def go_mod_text(requires: dict[str, str], *, go_directive: str = GO_DIRECTIVE) -> str:
    lines = ["module example.com/app", "", f"go {go_directive}", ""]
    if requires:
        lines.append("require (")
        lines += [f"\t{mod} {ver}" for mod, ver in requires.items()]
        lines.append(")")
    return "\n".join(lines) + "\n"


def main_go_text(requires: dict[str, str] | None, *, imports: list[str] | None = None) -> str:
    packages = list(requires or {}) if imports is None else imports
    lines = "\n".join(f'\t_ "{mod}"' for mod in packages)
    return (
        f"package main\n\nimport (\n{lines}\n)\n\nfunc main() {{}}\n"
        if lines
        else ("package main\n\nfunc main() {}\n")
    )


#: Where the Go toolchains other than the installed one are kept (fetched once, before isolation).
TOOLCHAINS = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gobuild-operator" / "toolchains"
)


def installed_go() -> Path:
    go = shutil.which("go")
    if go is None:
        sys.exit("record_go_failures: `go` is not on PATH")
    return Path(go)


def toolchain_go(version: str) -> Path:
    """The go binary of `version` (e.g. go1.21.13): the installed one, or a golang.org/toolchain module
    in TOOLCHAINS (see fetch_toolchains)."""
    if version in ("", "local"):
        return installed_go()
    return TOOLCHAINS / "golang.org" / f"toolchain@v0.0.1-{version}.linux-amd64" / "bin" / "go"


def fetch_toolchains(versions: list[str]) -> None:
    """Fetch the Go toolchains asked for from the Go module proxy, as the go command does for
    GOTOOLCHAIN (outside the private namespace; once: they are kept in TOOLCHAINS)."""
    for version in versions:
        if version in ("", "local") or toolchain_go(version).exists():
            continue
        print(f"fetching the {version} toolchain (golang.org/toolchain) into {TOOLCHAINS}", flush=True)
        env = {**os.environ, "GOMODCACHE": str(TOOLCHAINS), "GOTOOLCHAIN": version, "GOFLAGS": "-mod=mod"}
        subprocess.run([str(installed_go()), "version"], env=env, check=True, timeout=600, cwd="/")


def go_version_of(go: Path) -> str:
    """`go version` of that binary, e.g. go1.21.13."""
    out = run([str(go), "version"], env={"GOTOOLCHAIN": "local", "HOME": str(HOME), "PATH": "/usr/bin:/bin"})
    return out.stdout.split()[2]


def base_env(ca_cert: Path | None = None, *, go: Path | None = None) -> dict[str, str]:
    """The environment of every run: fresh, isolated Go dirs; the corporate CA trusted (as a cluster
    with spec.caBundle would have it), so only the cases about certificates fail on TLS."""
    go = go or installed_go()
    path = os.pathsep.join(
        [str(go.parent), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    )
    return {
        "PATH": path,
        "HOME": str(HOME),
        "LANG": "C.UTF-8",
        "USER": "root",
        "GOPATH": str(GOPATH),
        "GOMODCACHE": str(GOPATH / "pkg" / "mod"),
        "GOCACHE": str(GOCACHE),
        "GOENV": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "GOSUMDB": "off",
        "GOTELEMETRY": "off",
        "CGO_ENABLED": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(HOME / ".gitconfig"),
        "GIT_TERMINAL_PROMPT": "0",
    } | ({"SSL_CERT_FILE": str(ca_cert), "GIT_SSL_CAINFO": str(ca_cert)} if ca_cert else {})


#: The Go settings of a case's environment that the operator reads from a container (what the
#: tests pass to the classifier as `injected`).
GO_SETTINGS = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOFLAGS")


@dataclasses.dataclass(frozen=True)
class Recorded:
    output: str
    exit_code: int
    seconds: float


def run_case(case: Case, ca_cert: Path, *, go: Path) -> Recorded:
    for path in (GOPATH, GOCACHE.parent, HOME, WORKSPACE):
        wipe(path)
        path.mkdir(parents=True)
    modcache = GOPATH / "pkg" / "mod"
    if case.modcache_tmpfs:
        modcache.mkdir(parents=True)
        options = f"size={case.modcache_tmpfs}" + (",ro" if case.modcache_read_only else "")
        run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(modcache)])
    module_dir = GOPATH if case.in_gopath else WORKSPACE
    if case.tool == "go":
        if case.requires is not None:
            (module_dir / "go.mod").write_text(go_mod_text(case.requires, go_directive=case.go_directive))
        (module_dir / "main.go").write_text(main_go_text(case.requires, imports=case.imports))
        if case.go_sum:
            (module_dir / "go.sum").write_text(case.go_sum)
        for name, text in case.files.items():
            (module_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (module_dir / name).write_text(text)
    (HOME / ".gitconfig").write_text(case.gitconfig)
    env = {**base_env(ca_cert, go=go), **case.env}
    if case.without_git:
        env["PATH"] = str(go.parent)
    env = {k: v for k, v in env.items() if v != ""}
    if case.without_ipv6:
        run(["sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1"])
    start = time.monotonic()
    try:
        proc = subprocess.run(
            case.command,
            cwd=module_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=case.timeout,
            check=False,
        )
        output, code = proc.stdout.decode("utf-8", "replace"), proc.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = (exc.stdout or b"").decode("utf-8", "replace"), -1
    finally:
        if case.modcache_tmpfs:
            subprocess.run(["umount", "-l", str(modcache)], check=False)
        if case.without_ipv6:
            subprocess.run(["sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=0"], check=False)
    return Recorded(output=output, exit_code=code, seconds=round(time.monotonic() - start, 1))


def case_key(name: str, version: str, primary: str) -> str:
    """The fixture's name: the case itself for the primary Go version (and git/ssh on their own),
    VERSION/case for the others."""
    return name if version == primary else f"{version}/{name}"


def record(out: Path, only: set[str], versions: list[str]) -> int:
    gos = {version: toolchain_go(version) for version in versions}
    missing = [version for version, go in gos.items() if not go.exists()]
    if missing:
        sys.exit(f"record_go_failures: no toolchain for {', '.join(missing)} (fetch_toolchains did not run?)")
    named = {version: go_version_of(go) for version, go in gos.items()}
    primary = named[versions[0]]
    git_version = run(["git", "--version"]).stdout.strip()
    ssh_version = run(["ssh", "-V"]).stderr.strip()
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    cases_out: dict[str, Any] = manifest.get("cases", {})
    failures = 0
    with services() as material:
        cases = build_cases(material)
        unknown = only - {c.name for c in cases}
        if unknown:
            sys.exit(f"record_go_failures: no such case: {', '.join(sorted(unknown))}")
        for version in versions:
            go, go_version = gos[version], named[version]
            for case in cases:
                if (only and case.name not in only) or (case.tool != "go" and version != versions[0]):
                    continue
                key = case_key(case.name, go_version if case.tool == "go" else primary, primary)
                result = run_case(case, material.ca_cert, go=go)
                ok = result.exit_code != 0 and result.output.strip() != ""
                status = "ok" if ok else "DID NOT FAIL AS EXPECTED"
                print(
                    f"{key:50} {case.reason:26} exit={result.exit_code:<4} {result.seconds:5.1f}s  {status}",
                    flush=True,
                )
                if not ok:
                    failures += 1
                    print(result.output, file=sys.stderr)
                    continue
                (out / f"{key}.txt").parent.mkdir(parents=True, exist_ok=True)
                (out / f"{key}.txt").write_text(result.output)
                env = {k: v for k, v in case.env.items() if v != ""}
                entry: dict[str, Any] = {
                    "reason": case.reason,
                    "how": case.how,
                    "command": shlex.join(case.command),
                    "env": env,
                    "exit_code": result.exit_code,
                    "provoked": case.provoked,
                }
                if case.tool == "go":
                    entry |= {
                        "go_mod_requires": case.requires,
                        "go_version": f"go version {go_version} linux/amd64",
                        # the Go settings the build ran with, as the operator reads them from a container
                        "injected": {
                            name: value
                            for name, value in {**base_env(go=go), **case.env}.items()
                            if name in GO_SETTINGS and value != ""
                        },
                    }
                else:
                    entry["tool"] = git_version if case.tool == "git" else ssh_version
                if case.reason_without_settings:
                    entry["reason_without_settings"] = case.reason_without_settings
                cases_out[key] = entry
    manifest = {
        "generator": "scripts/record_go_failures.py",
        "regenerate": "sudo .venv/bin/python scripts/record_go_failures.py"
        + "".join(f" --go {version}" for version in versions if version != "local"),
        "tools": {
            "go": f"go version {primary} linux/amd64",
            "go_versions": sorted({*named.values(), *manifest.get("tools", {}).get("go_versions", [])}),
            "git": git_version,
            "ssh": ssh_version,
        },
        "isolation": "private network namespace (loopback only), local DNS for *.corp.invalid, tmpfs /srv",
        "cases": dict(sorted(cases_out.items())),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="fixture directory (default: %(default)s)"
    )
    parser.add_argument("--only", action="append", default=[], metavar="CASE", help="record only this case")
    parser.add_argument(
        "--go",
        action="append",
        default=[],
        metavar="VERSION",
        help="also record with this Go toolchain (e.g. go1.21.13; fetched from the Go module proxy "
        "once); the installed go is always the first, and its fixtures have no VERSION/ prefix",
    )
    args = parser.parse_args(args_list)
    versions = ["local", *[v for v in args.go if v != "local"]]
    if os.environ.get(IN_NAMESPACE_MARKER) != "1":
        fetch_toolchains(versions)
        reexec_in_namespace(args_list)
    prepare_namespace()
    return record(args.out.resolve(), set(args.only), versions)


if __name__ == "__main__":
    sys.exit(main())
