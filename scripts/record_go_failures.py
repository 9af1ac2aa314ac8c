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
"""

from __future__ import annotations

import argparse
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
PORT_SSH = 22

MODULE = "example.com/hello"
GIT_MODULE = f"git.{DOMAIN}/team/lib"
SECRET_MODULE = f"git.{DOMAIN}/team/secret"
MISSING_GIT_MODULE = f"git.{DOMAIN}/team/gone"
BIG_MODULE = "example.com/big"
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


def build_module_proxy(root: Path) -> None:
    """A GOPROXY tree (served over https by goproxy.corp.invalid) with two modules."""
    modules = {
        MODULE: {
            "go.mod": f"module {MODULE}\n\ngo 1.22\n".encode(),
            "hello.go": b'package hello\n\nfunc Hello() string { return "hello" }\n',
        },
        BIG_MODULE: {
            "go.mod": f"module {BIG_MODULE}\n\ngo 1.22\n".encode(),
            "big.go": b"package big\n\nfunc Size() int { return 4 << 20 }\n",
            "testdata/blob.bin": pseudo_random(4 << 20),
        },
    }
    for module, files in modules.items():
        vdir = root / module / "@v"
        vdir.mkdir(parents=True)
        (vdir / "list").write_text("v1.0.0\n")
        (vdir / "v1.0.0.info").write_text(json.dumps({"Version": "v1.0.0", "Time": MODULE_TIME}))
        (vdir / "v1.0.0.mod").write_bytes(files["go.mod"])
        (vdir / "v1.0.0.zip").write_bytes(module_zip(module, "v1.0.0", files))


def build_git_repo() -> None:
    """/srv/git/team/lib.git: a bare repository of GIT_MODULE with the tag v1.0.0."""
    src = STATE / "lib-src"
    src.mkdir()
    (src / "go.mod").write_text(f"module {GIT_MODULE}\n\ngo 1.22\n")
    (src / "lib.go").write_text('package lib\n\nfunc Name() string { return "lib" }\n')
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
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "."],
        ["git", "commit", "-q", "-m", "lib v1.0.0"],
        ["git", "tag", "v1.0.0"],
    ):
        run(cmd, cwd=src, env=env)
    bare = GIT_ROOT / "team" / "lib.git"
    bare.parent.mkdir(parents=True)
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
    timeout: float = 90.0


def ssh_command(key: Path, known_hosts: Path) -> str:
    return (
        f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null -F /dev/null"
    )


def build_cases(m: Material) -> list[Case]:
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
            "ModuleNotFound",
            "a public-style proxy answers 410 Gone for a private module (its text mentions git credentials)",
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
            "SumDBUnreachable",
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


def go_mod_text(requires: dict[str, str]) -> str:
    lines = ["module example.com/app", "", "go 1.22", ""]
    if requires:
        lines.append("require (")
        lines += [f"\t{mod} {ver}" for mod, ver in requires.items()]
        lines.append(")")
    return "\n".join(lines) + "\n"


def main_go_text(requires: dict[str, str] | None) -> str:
    imports = "\n".join(f'\t_ "{mod}"' for mod in (requires or {}))
    return (
        f"package main\n\nimport (\n{imports}\n)\n\nfunc main() {{}}\n"
        if imports
        else ("package main\n\nfunc main() {}\n")
    )


def base_env(ca_cert: Path | None = None) -> dict[str, str]:
    """The environment of every run: fresh, isolated Go dirs; the corporate CA trusted (as a cluster
    with spec.caBundle would have it), so only the cases about certificates fail on TLS."""
    go = shutil.which("go")
    if go is None:
        sys.exit("record_go_failures: `go` is not on PATH")
    path = os.pathsep.join(
        [str(Path(go).parent), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
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


@dataclasses.dataclass(frozen=True)
class Recorded:
    output: str
    exit_code: int
    seconds: float


def run_case(case: Case, ca_cert: Path) -> Recorded:
    for path in (GOPATH, GOCACHE.parent, HOME, WORKSPACE):
        wipe(path)
        path.mkdir(parents=True)
    if case.modcache_tmpfs:
        modcache = GOPATH / "pkg" / "mod"
        modcache.mkdir(parents=True)
        run(["mount", "-t", "tmpfs", "-o", f"size={case.modcache_tmpfs}", "tmpfs", str(modcache)])
    if case.requires is not None:
        (WORKSPACE / "go.mod").write_text(go_mod_text(case.requires))
    (WORKSPACE / "main.go").write_text(main_go_text(case.requires))
    if case.go_sum:
        (WORKSPACE / "go.sum").write_text(case.go_sum)
    (HOME / ".gitconfig").write_text(case.gitconfig)
    env = {**base_env(ca_cert), **case.env}
    env = {k: v for k, v in env.items() if v != ""}
    start = time.monotonic()
    try:
        proc = subprocess.run(
            case.command,
            cwd=WORKSPACE,
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
            subprocess.run(["umount", "-l", str(GOPATH / "pkg" / "mod")], check=False)
    return Recorded(output=output, exit_code=code, seconds=round(time.monotonic() - start, 1))


def record(out: Path, only: set[str]) -> int:
    go_version = run(["go", "version"], env=base_env()).stdout.strip()
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
        for case in cases:
            if only and case.name not in only:
                continue
            result = run_case(case, material.ca_cert)
            ok = result.exit_code != 0 and result.output.strip() != ""
            status = "ok" if ok else "DID NOT FAIL AS EXPECTED"
            print(
                f"{case.name:40} {case.reason:26} exit={result.exit_code:<4} {result.seconds:5.1f}s  {status}"
            )
            if not ok:
                failures += 1
                print(result.output, file=sys.stderr)
                continue
            (out / f"{case.name}.txt").write_text(result.output)
            cases_out[case.name] = {
                "reason": case.reason,
                "how": case.how,
                "command": shlex.join(case.command),
                "env": {k: v for k, v in case.env.items() if v != ""},
                "go_mod_requires": case.requires,
                "exit_code": result.exit_code,
                "go_version": go_version,
                "provoked": case.provoked,
            }
    manifest = {
        "generator": "scripts/record_go_failures.py",
        "regenerate": "sudo .venv/bin/python scripts/record_go_failures.py",
        "tools": {"go": go_version, "git": git_version, "ssh": ssh_version},
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
    args = parser.parse_args(args_list)
    if os.environ.get(IN_NAMESPACE_MARKER) != "1":
        reexec_in_namespace(args_list)
    prepare_namespace()
    return record(args.out.resolve(), set(args.only))


if __name__ == "__main__":
    sys.exit(main())
