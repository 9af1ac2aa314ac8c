"""HTTPS with a private CA: git over smart HTTP and a GOPROXY, both behind Basic auth.

It lets a test prove that a download works only when the Pod trusts the injected CA bundle and
presents the netrc token: without the CA, TLS verification fails (CertificateUntrusted); without
the token, the server answers 401 (AuthenticationFailed).

* ``git_url_base`` (``https://ADDRESS:PORT/git/``) serves the private repositories through the
  real ``git http-backend`` CGI.
* ``proxy_url`` (``https://ADDRESS:PORT/proxy``) serves the recorded public modules; go sends the
  netrc credentials of the proxy's host with every proxy request.

The certificate names the IP address it listens on; ``netrc()`` is the ``.netrc`` a GoBuildConfig's
privateModules.netrc Secret would hold. What this server shows about the clients (see test_servers):
git reads only ``$HOME/.netrc`` (not $NETRC) and trusts a CA only through GIT_SSL_CAINFO /
http.sslCAInfo (not SSL_CERT_FILE); go reads $NETRC and SSL_CERT_FILE / SSL_CERT_DIR.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gobuild_operator.serving import pki

from .gitrepos import PrivateRepos, git_config_env
from .goproxy import GoProxy, ModuleStore
from .http import RecordingHTTPServer, Request, Response, require_basic_auth, text

_CGI_TIMEOUT = 30


@dataclass(frozen=True)
class PrivateCA:
    """A certificate authority nobody trusts until a test (or the operator) says so."""

    cert_pem: bytes
    key_pem: bytes

    def issue(self, hosts: Sequence[str]) -> tuple[bytes, bytes]:
        """A server certificate for `hosts` (IPs or DNS names): (cert PEM, key PEM)."""
        ips = tuple(h for h in hosts if _is_ip(h))
        dns = tuple(h for h in hosts if not _is_ip(h))
        leaf = pki.issue(
            pki.KeyPair(self.cert_pem, self.key_pem),
            common_name=hosts[0],
            dns_names=dns,
            ip_addresses=ips,
            server=True,
        )
        return leaf.cert_pem, leaf.key_pem


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def make_private_ca(common_name: str = "gobuild e2e private CA") -> PrivateCA:
    ca = pki.make_ca(common_name)
    return PrivateCA(ca.cert_pem, ca.key_pem)


class GitHttpBackend:
    """Smart HTTP for the repositories under `project_root`, through ``git http-backend`` (CGI)."""

    def __init__(self, project_root: Path, *, prefix: str) -> None:
        self.project_root = project_root
        self.prefix = prefix.rstrip("/")

    def __call__(self, request: Request) -> Response:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path[len(self.prefix) :],
            "QUERY_STRING": request.query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(request.body)),
            "REMOTE_USER": request.user or "",
            "REMOTE_ADDR": "127.0.0.1",
        }
        for header in ("git-protocol", "content-encoding"):
            if header in request.headers:
                env["HTTP_" + header.upper().replace("-", "_")] = request.headers[header]
        result = subprocess.run(
            ["git", "http-backend"], input=request.body, env=env, capture_output=True, timeout=_CGI_TIMEOUT
        )
        head, sep, body = result.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = result.stdout.partition(b"\n\n")
        if result.returncode != 0 and not sep:
            return text(500, f"git http-backend failed: {result.stderr.decode(errors='replace')}")
        response = Response(200, body)
        for line in head.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                response.status = int(value.split()[0])
            elif name:
                response.headers[name.strip()] = value.strip()
        return response


class HttpsGitServer(RecordingHTTPServer):
    """HTTPS on `host`:<port>: /git/ (smart HTTP) and /proxy/ (GOPROXY), Basic auth on both."""

    username = "e2e-bot"

    def __init__(
        self,
        *,
        ca: PrivateCA,
        repos: PrivateRepos,
        store: ModuleStore,
        state_dir: Path,
        host: str,
        token: str = "e2e-token-c0ffee",  # noqa: S107 - a test server's credential
    ) -> None:
        self.ca = ca
        self.repos = repos
        self.token = token
        state_dir.mkdir(parents=True, exist_ok=True)
        cert_pem, key_pem = ca.issue([host])
        cert_file, key_file = state_dir / "server.crt", state_dir / "server.key"
        cert_file.write_bytes(cert_pem + ca.cert_pem)
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        self.git = GitHttpBackend(repos.root, prefix="/git")
        self.proxy = GoProxy(store, prefix="/proxy")
        users = {self.username: token}
        git_app = require_basic_auth(self.git, users)
        proxy_app = require_basic_auth(self.proxy, users)

        def route(request: Request) -> Response:
            if request.path.startswith("/git/"):
                return git_app(request)
            if request.path.startswith("/proxy/"):
                return proxy_app(request)
            return text(404, "not found\n")

        super().__init__(route, host=host, ssl_context=context)

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    @property
    def git_url_base(self) -> str:
        return f"{self.url}/git/"

    @property
    def proxy_url(self) -> str:
        return f"{self.url}/proxy"

    def netrc(self, *, token: str | None = None) -> bytes:
        """A .netrc with this server's credentials (or a wrong `token`).

        Two machine lines, because the port is not 443: git (libcurl) matches ``machine`` against
        the host alone, go (GOAUTH=netrc, the default) against host:port.
        """
        password = token or self.token
        return "".join(
            f"machine {machine}\nlogin {self.username}\npassword {password}\n"
            for machine in (self.host, f"{self.host}:{self.port}")
        ).encode()

    def rewrite_env(self) -> dict[str, str]:
        """GIT_CONFIG_* that send go's https://git.corp.example/... to this server."""
        return git_config_env({f"url.{self.git_url_base}.insteadOf": self.repos.instead_of})
