"""Tier 1, what causes a download to fail: settings the build was not given, the network, the corporate
proxy, TLS, DNS, credentials and host keys, a proxy's own failure, integrity, a missing VCS command
or toolchain. Within the tier the order is the precedence on one line: a more specific reason first."""

from __future__ import annotations

from typing import Final

from gobuild_operator.api.status.reasons import ReasonName
from gobuild_operator.core.diagnosis.reasons.entry import Reason, Rule

_HTTP_STATUS_TEXT: Final = (
    r"(?:Proxy Authentication Required|Forbidden|Bad Gateway|Service Unavailable|Gateway Timeout|"
    r"Bad Request|Method Not Allowed|Not Found|Unauthorized|Internal Server Error|Too Many Requests|"
    r"Request Timeout|Not Implemented|Access Denied)"
)

CAUSES: Final[tuple[Reason, ...]] = (
    Reason(
        ReasonName.BuildSettingsNotPassed,
        tier=1,
        summary=(
            "go ran with other Go settings than the GoBuildConfig injected (it asked a module proxy or "
            "checksum database the config does not name, or a proxy for a GOPRIVATE module): typically an "
            "image build whose Dockerfile does not declare them as ARG, so its RUN steps use go's defaults."
        ),
        remedy=(
            "Build change: declare the injected settings without values in every Dockerfile stage that "
            "runs go, `ARG GOPROXY GOSUMDB GOPRIVATE GONOPROXY GONOSUMDB GOFLAGS` (those the config sets), "
            "and remove any hard-coded `ENV GOPROXY=...` (or GOSUMDB, GOPRIVATE) that overrides them; a "
            "builder started through a shell needs the build arguments the admission warning lists; "
            "`python -m gobuild_operator check Dockerfile --config NAME` names the lines. Outside image "
            "builds: the build script overrides the injected GOPROXY (spec.overrideEnv decides whose "
            "value the container gets)."
        ),
    ),
    Reason(
        ReasonName.HTTPProxyError,
        tier=1,
        summary=(
            "The corporate HTTP proxy refused or failed the connection (CONNECT rejected, 407 "
            "authentication required, or the proxy itself unreachable)."
        ),
        remedy=(
            "Check spec.corporateProxy.httpsProxy (and httpProxy): host and port, that the proxy allows "
            "CONNECT to the GOPROXY and git hosts, and, on 407, that the proxy accepts this cluster "
            "without interactive credentials; hosts that must not go through it belong in "
            "spec.corporateProxy.noProxy."
        ),
        rules=(
            Rule(("proxyconnect ",), request=True),
            # A CONNECT the proxy refuses: go prints the bare status text, without a code.
            Rule(
                ('Get "https://', "Get https://"),
                r'Get "?https://[^"\s]+"?: ' + _HTTP_STATUS_TEXT + r"[ \t\r]*$",
                request=True,
            ),
            Rule((": 407 ",), r"reading https?://\S+: 407 ", request=True),
            Rule(
                (
                    "from proxy after CONNECT",
                    "CONNECT tunnel failed",
                    "Proxy CONNECT aborted",
                    "Could not resolve proxy",
                    "Failed to connect to proxy",
                    "Unable to connect to proxy",
                ),
                request=True,
            ),
        ),
    ),
    Reason(
        ReasonName.CertificateUntrusted,
        tier=1,
        summary=(
            "A server certificate was not trusted (unknown authority, expired, or issued for another "
            "name): typically a TLS-intercepting corporate proxy, or a private proxy or git server with an "
            "internal CA."
        ),
        remedy=(
            "Add the CA that signs those certificates (e.g. the intercepting proxy's root) with "
            "spec.caBundle (configMapName or secretName, key ca.crt); it is added to the system trust, not "
            "replacing it. An expired certificate or one for another host must be fixed on the server."
        ),
        rules=(
            Rule(
                (
                    "x509: ",
                    "tls: failed to verify certificate",
                    "SSL certificate problem",
                    "server certificate verification failed",
                    "certificate verify failed",
                ),
                request=True,
            ),
        ),
    ),
    Reason(
        ReasonName.SumDBModuleNotFound,
        tier=1,
        summary=(
            "The checksum database does not know the module (404/410): it could not fetch it from its "
            "origin, as for a private module."
        ),
        remedy=(
            "List the module's path prefix in spec.goprivate (or spec.gonosumdb when it may still come "
            "through the proxy), so go does not look a private module up in the public checksum "
            "database; a module that is public must exist at the version go.mod asks for."
        ),
        rules=(
            Rule(
                ("/lookup/",),
                r'verifying [^\n]*?reading https?://[^\s"]+/lookup/\S+: (?:404|410) ',
                request=True,
            ),
        ),
    ),
    Reason(
        ReasonName.SumDBUnreachable,
        tier=1,
        summary="The checksum database (GOSUMDB) could not be reached, or failed.",
        remedy=(
            'Point spec.gosumdb at a checksum database the cluster can reach (e.g. "sum.golang.org '
            'https://<your proxy>/sumdb/sum.golang.org"); list private modules in spec.goprivate or '
            'spec.gonosumdb so they are never looked up; spec.gosumdb: "off" turns verification off '
            "altogether."
        ),
        rules=(
            Rule(
                ("/lookup/", "/tile/", "/latest"),
                r'verifying [^\n]*?(?:Get "?|reading )https?://[^\s"]+/(?:lookup|tile|latest)\b',
                request=True,
            ),
        ),
    ),
    Reason(
        ReasonName.TLSHandshakeTimeout,
        tier=1,
        summary=(
            "A TLS handshake with the proxy or server never completed: something accepts the connection "
            "but does not speak TLS back (a firewall or transparent proxy swallowing HTTPS)."
        ),
        remedy=(
            "Send egress through the corporate proxy with spec.corporateProxy.httpsProxy, or list a "
            "reachable mirror in spec.goproxy with spec.proxyFallback: OnAnyError."
        ),
        rules=(Rule(("TLS handshake timeout", "SSL connection timeout"), request=True),),
    ),
    Reason(
        ReasonName.DNSResolutionFailed,
        tier=1,
        summary=(
            "A host name on the download path (proxy, git server or checksum database) could not be resolved."
        ),
        remedy=(
            "Check the host name in spec.goproxy (or the private module's host) and the cluster DNS; where "
            "outside names resolve only through the corporate proxy, set spec.corporateProxy.httpsProxy so "
            "the proxy resolves them."
        ),
        rules=(
            Rule((": lookup ",), r"dial (?:tcp|udp)[46]?: lookup \S", request=True),
            Rule(
                (
                    "no such host",
                    "server misbehaving",
                    "Could not resolve host",
                    "Temporary failure in name resolution",
                    "Name or service not known",
                    "nodename nor servname provided",
                ),
                request=True,
            ),
        ),
    ),
    Reason(
        ReasonName.HostKeyVerificationFailed,
        tier=1,
        summary=(
            "SSH refused the git server: its host key is not in known_hosts, or differs from the recorded "
            "one."
        ),
        remedy=(
            "Add the server's current host key (from ssh-keyscan HOST, verified out of band) to the secret "
            "spec.privateModules.ssh.secretName under the key named by "
            "spec.privateModules.ssh.knownHostsKey (default known_hosts), for every host in "
            "spec.privateModules.ssh.hosts; if the key changed, replace the old entry."
        ),
        rules=(
            Rule(
                (
                    "host key is known for",
                    "has changed and you have requested strict checking",
                    "Host key verification failed",
                    "knownhosts: key is unknown",
                    "knownhosts: key mismatch",
                )
            ),
        ),
    ),
    Reason(
        ReasonName.AuthenticationFailed,
        tier=1,
        summary=(
            "Credentials were refused or missing: the git server rejected the SSH key or asked for a "
            "username, or the proxy answered 401/403."
        ),
        remedy=(
            "SSH: put a key the server accepts in the secret named by spec.privateModules.ssh.secretName "
            "(key ssh-privatekey) and list the host in spec.privateModules.ssh.hosts; HTTPS git or an "
            "authenticated proxy: a .netrc with a token for the host in "
            "spec.privateModules.netrc.secretName. Keep the module in spec.goprivate so go never asks a "
            'public proxy for it. When go only says "no secure protocol found", run `git ls-remote` on '
            "the module's URL in the same Pod: git names the real cause (a host key missing from "
            "spec.privateModules.ssh.knownHostsKey looks the same to go)."
        ),
        rules=(
            Rule(("are too open",), r"Permissions 0?\d+ for '[^'\n]*' are too open"),
            Rule(
                ('Load key "',), r'Load key "[^"\n]*": (?:bad permissions|invalid format|error in libcrypto)'
            ),
            Rule(
                (
                    "Permission denied (publickey",
                    "Permission denied (password",
                    "Permission denied (keyboard",
                    "could not read Username for",
                    "could not read Password for",
                    "terminal prompts disabled",
                    "Authentication failed for",
                    "HTTP Basic: Access denied",
                    "Invalid username or password",
                    "ssh: unable to authenticate",
                    "Too many authentication failures",
                    # go 1.26 for a `.git` module path: it tried each scheme with git and hides git's
                    # own error (key refused, unknown host key, untrusted certificate) unless run with -x.
                    "no secure protocol found for repository",
                ),
                # A proxy's server response saying so: the proxy could not read the origin.
                in_proxy_detail=True,
            ),
            Rule(("The requested URL returned error: 40",), r"returned error: 40[13]\b"),
            Rule((": 401 ", ": 403 "), r"(?:reading \S+|unexpected status \(\S+\)): 40[13] "),
        ),
    ),
    Reason(
        ReasonName.ProxyUnreachable,
        tier=1,
        summary=(
            "The module proxy or git server could not be reached: connection refused, timed out or reset."
        ),
        remedy=(
            "Point spec.goproxy at a proxy the cluster can reach (an in-cluster proxy or a regional "
            "mirror) and set spec.proxyFallback: OnAnyError so go moves on to the next entry; if egress "
            "must go through a corporate proxy, set spec.corporateProxy.httpsProxy; otherwise check the "
            "NetworkPolicy/firewall for the host and port in the evidence."
        ),
        rules=(
            Rule(
                ("dial tcp", "dial udp"),
                r"dial (?:tcp|udp)[46]?(?: \S+)?: (?:connect: )?"
                r"(?:connection refused|i/o timeout|no route to host|network is unreachable|"
                r"connection timed out|cannot assign requested address)",
                request=True,
            ),
            Rule(
                ("ssh: connect to host ",),
                r"ssh: connect to host \S+ port \d+: (?:Connection refused|Connection timed out|"
                r"Operation timed out|No route to host|Network is unreachable)",
                request=True,
            ),
            # The server took the connection and closed it without an answer.
            Rule(
                (": EOF", ": unexpected EOF"),
                r'"?https?://[^\s"]+"?: (?:unexpected )?EOF[ \t\r]*$',
                request=True,
            ),
            Rule(
                (
                    "Failed to connect to ",
                    "Connection timed out after ",
                    "Couldn't connect to server",
                    "connection reset by peer",
                    "Client.Timeout exceeded while awaiting headers",
                    "timeout awaiting response headers",
                    "first record does not look like a TLS handshake",
                ),
                request=True,
            ),
        ),
    ),
    Reason(
        ReasonName.ProxyInvalidResponse,
        tier=1,
        summary=(
            "The module proxy answered 200 with something that is not a module file (an HTML sign-in "
            "page, a gateway's error page): go could not parse it."
        ),
        remedy=(
            "Point spec.goproxy at the proxy's GOPROXY endpoint itself (the URL path ends where "
            "<module>/@v/list follows), reachable without an interactive sign-in: a proxy behind single "
            "sign-on needs a token in spec.privateModules.netrc.secretName, or an exemption for builds."
        ),
        rules=(
            Rule(("invalid response from proxy",)),
            Rule(("parsing go.mod: missing module line", "not a valid zip file")),
            Rule(("parsing go.mod:",), r"@\S+: parsing go.mod:.*(?:unknown directive|unexpected)"),
        ),
    ),
    Reason(
        ReasonName.ProxyServerError,
        tier=1,
        summary=(
            "The module proxy failed the request: a server error (5xx) or an answer go cannot use "
            "(400, 429, ...)."
        ),
        remedy=(
            "The proxy is failing: check it, or add a second proxy to spec.goproxy with "
            "spec.proxyFallback: OnAnyError so go falls through to it on any error."
        ),
        rules=(
            Rule(("reading http",), r"reading https?://\S+: (?:5\d\d|4(?:0[025689]|1[1-9]|[2-9]\d)) "),
            Rule(
                ("unexpected status (", "The requested URL returned error: 5"),
                r"unexpected status \(\S+\): 5\d\d\b|returned error: 5\d\d\b",
            ),
        ),
    ),
    Reason(
        ReasonName.ChecksumMismatch,
        tier=1,
        summary=(
            "A downloaded module does not match the hash in go.sum or in the checksum database (SECURITY "
            "ERROR)."
        ),
        remedy=(
            "Find out why the content changed (a re-tagged release, a proxy serving altered content) "
            "before anything else. If the new content is legitimate, update go.sum in the repository "
            "(build change); private modules belong in spec.goprivate/spec.gonosumdb; a corrupt copy in "
            "the shared cache (spec.cache) must be cleaned out."
        ),
        rules=(Rule(("checksum mismatch", "SECURITY ERROR")),),
    ),
    Reason(
        ReasonName.VCSCommandMissing,
        tier=1,
        summary=(
            "go had to fetch a module from its repository itself, and the build image has no git (or the "
            "version control tool the repository needs)."
        ),
        remedy=(
            "Build change: install git in the build image (e.g. `apk add git`, `apt-get install git`); "
            "or let the module come through a proxy: public modules from spec.goproxy without `direct`, "
            "private ones need git and spec.privateModules."
        ),
        rules=(
            Rule(
                (
                    'exec: "git": executable file not found',
                    "missing Git command",
                    'exec: "hg": executable file not found',
                    "missing Mercurial command",
                    'exec: "svn": executable file not found',
                    'exec: "bzr": executable file not found',
                    'exec: "fossil": executable file not found',
                    "git: not found",
                    "git: command not found",
                )
            ),
        ),
    ),
    Reason(
        ReasonName.ToolchainNotAvailable,
        tier=1,
        summary=(
            "go.mod's go or toolchain line asks for a newer Go than the build has, and go may not or "
            "cannot get it (GOTOOLCHAIN=local, or no such toolchain)."
        ),
        remedy=(
            "Build change: build with an image of the Go the go/toolchain line asks for (e.g. FROM "
            "golang:<that version>), or let go download it: GOTOOLCHAIN=auto through a spec.goproxy that "
            'serves golang.org/toolchain (golang images set GOTOOLCHAIN=local); "toolchain not '
            'available" means no such Go release exists: check the version in go.mod.'
        ),
        rules=(Rule(("toolchain not available", "; GOTOOLCHAIN=")),),
    ),
)
