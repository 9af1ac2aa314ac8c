"""Every download failure reason, once: its name, tier, summary, remedy and the log lines that show it.

This registry is the one source of the reasons. The classifier (core/diagnosis/diagnose.py) runs its rules,
the CRD's `status.downloads` reason enum and descriptions, the reason table of docs/diagnosis.md
and the tests all read it, so adding a reason is one entry here plus a recorded fixture
(tests/fixtures/gofailures, scripts/record_go_failures.py).

The order of the entries is the classifier's precedence:

1. `tier`: environment failures (disk full, broken file locks) first, then the network, TLS,
   credential and integrity failures that *cause* a download to fail, then the outcomes that are
   often consequences of those (unknown revision, module not found, missing go.sum entry, no go.mod)
   and last "lookup disabled", which is nearly always an offline retry;
2. within a tier the earliest line of the log wins (the first root cause, not its last echo);
3. on one line the rule listed first wins, so a more specific reason comes before a general one (a
   checksum-database URL refused is SumDBUnreachable, not ProxyUnreachable; a `proxyconnect`
   failure is the corporate proxy's, not the GOPROXY's).

One reason has no rules of its own: BuildSettingsNotPassed is found by comparing the servers go
asked (module proxy and checksum database URLs in its errors) with the Go settings the build was
given (core/diagnosis/diagnose.py's `GoSettings`; the operator reads them from the failed container). It is
only ever reported when those settings are known, and it ranks first in its tier: go asking
proxy.golang.org when the injected GOPROXY names another proxy is the cause of whatever that
request then ran into (no DNS answer outside the cluster, a firewall, a 404 for a private module).

A rule has anchors, literal strings of which a matching line holds one (candidate lines are found
with str.find, fast on multi-megabyte logs), and optionally a pattern that must match on the
anchor's line (it never crosses a newline). `in_proxy_detail` lets a rule match text a module proxy
sent back ("server response:"), which otherwise is never read as this build's own failure: there it
is the proxy's failure to read the module's origin. `request` rules (network, TLS, DNS) only count on
lines that belong to a module download (see `Rule`).

Where the Go settings of the build are known, the route a failed request took can change the reason
(core/diagnosis/diagnose.py, "routes"): with GOPROXY="mirror,off" go reports "lookup disabled by
GOPROXY=off" only after the mirror answered 404/410, so the mirror lacks the module (ModuleNotFound).

Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from gobuild_operator.api.reasons import NAMES, ReasonName


@dataclass(frozen=True)
class Rule:
    """Lines holding one of `anchors` (and matching `pattern`, when given) show the reason.

    `request`: the line must belong to a module download (go's module proxy, checksum database or
    go-get request, or git/ssh reaching a repository); a network error of anything else (a test
    dialing its database) is not a download failure.
    """

    anchors: tuple[str, ...]
    pattern: str | None = None
    in_proxy_detail: bool = False
    request: bool = False


@dataclass(frozen=True)
class Reason:
    """One fixed failure reason (SPEC "Download failure reasons")."""

    name: ReasonName
    #: Lower wins; None for Unknown, which no rule finds.
    tier: int | None
    #: What went wrong, in one line.
    summary: str
    #: The GoBuildConfig field (spec.…) or the build change ("Build change: …") that fixes it.
    remedy: str
    rules: tuple[Rule, ...] = field(default=())


_HTTP_STATUS_TEXT: Final = (
    r"(?:Proxy Authentication Required|Forbidden|Bad Gateway|Service Unavailable|Gateway Timeout|"
    r"Bad Request|Method Not Allowed|Not Found|Unauthorized|Internal Server Error|Too Many Requests|"
    r"Request Timeout|Not Implemented|Access Denied)"
)

#: Every reason, in the classifier's order of precedence; Unknown last.
REGISTRY: Final[tuple[Reason, ...]] = (
    Reason(
        ReasonName.DiskFull,
        tier=0,
        summary=(
            "The disk holding the module cache, build cache or temporary files is full (no space left on "
            "device)."
        ),
        remedy=(
            "Give the cache room: raise spec.cache.size (or use a larger spec.cache.existingClaim) and "
            "clean old modules from it; without a shared cache, raise the Pod's ephemeral-storage."
        ),
        # Bare errno names (ENOSPC) also come from unrelated tools: only strerror text counts.
        # go prints strerror text, git capitalises it ("No space left on device").
        rules=(Rule(("o space left on device", "isk quota exceeded")),),
    ),
    Reason(
        ReasonName.CacheLockFailed,
        tier=0,
        summary=(
            'go could not lock a file in the module cache or the module ("no locks available": e.g. an '
            "NFS volume without a lock manager)."
        ),
        remedy=(
            "Put the module cache on a volume with working file locks: spec.cache.storageClassName of a "
            "class that supports flock (NFSv4, or NFSv3 with lockd), or spec.cache.existingClaim on such a "
            "volume; or turn the shared cache off (spec.cache.enabled: false)."
        ),
        rules=(
            Rule(("no locks available",)),
            Rule(
                ("ock /",),
                r"\b(?:RLock|Lock|Unlock) /\S+: (?:function not implemented|operation not supported)",
            ),
        ),
    ),
    Reason(
        ReasonName.CacheNotWritable,
        tier=0,
        summary=(
            "go could not write to the module cache (or the build cache): it is mounted read-only or "
            "belongs to another user."
        ),
        remedy=(
            "Give go a writable GOMODCACHE (spec.cache.mountPath): a volume mounted read-write and "
            "writable for the user the build runs as (fsGroup), since go writes lock and download files "
            "even for modules it already has; a cache meant to be read only belongs behind a GOPROXY "
            "(spec.goproxy), not in GOMODCACHE."
        ),
        rules=(
            Rule(
                ("read-only file system", "permission denied"),
                r"(?:cache|pkg/mod)\S*: (?:read-only file system|permission denied)"
                r"|(?:module|build) cache\b.*?(?:read-only file system|permission denied)",
            ),
        ),
    ),
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
    Reason(
        ReasonName.UnknownRevision,
        tier=2,
        summary="The module exists but the requested version, tag, branch or commit does not.",
        remedy=(
            "Build change: fix the version in go.mod or the `go get` argument (was the tag pushed? was it "
            "deleted?); `go list -m -versions MODULE` shows what exists. For a private module make sure "
            "spec.goprivate covers it, so go asks the repository rather than a proxy with a stale view."
        ),
        rules=(
            Rule(
                ("unknown revision", "couldn't find remote ref", "no matching versions for query"),
                in_proxy_detail=True,
            ),
            Rule(("reference is not a tree", "did not match any file(s) known to git")),
        ),
    ),
    Reason(
        ReasonName.ModulePathMismatch,
        tier=2,
        summary=(
            "A module's go.mod declares another path than the one it was required as (a renamed module, "
            "a fork, or a case mismatch)."
        ),
        remedy=(
            "Build change: require and import the module by the path its go.mod declares; a fork used "
            "under the original path needs `replace ORIGINAL => FORK VERSION` in go.mod."
        ),
        rules=(Rule(("module declares its path as",)),),
    ),
    Reason(
        ReasonName.ModuleNotFound,
        tier=3,
        summary="The proxy or git server says the module does not exist (404/410, repository not found).",
        remedy=(
            "Check the module path in go.mod and the imports. A private module must be in spec.goprivate "
            "(or its host in spec.privateModules.ssh.hosts) so go fetches it directly instead of asking a "
            "public proxy, which answers 404/410 for what it cannot see; if another proxy has it, add it "
            "to spec.goproxy (spec.proxyFallback: OnNotFound moves on after a 404/410)."
        ),
        rules=(
            Rule((": 404 ", ": 410 "), r"(?:reading \S+|unexpected status \(\S+\)): (?:404|410) "),
            Rule(("' not found",), r"[Rr]epository '[^'\n]*' not found"),
            Rule(
                (
                    "does not appear to be a git repository",
                    "Repository not found",
                    "The project you were looking for could not be found",
                    "no go-import meta tags",
                )
            ),
            Rule(("reading file://",), r"reading file://\S+: no such file or directory"),
        ),
    ),
    Reason(
        ReasonName.GoModInGoPath,
        tier=4,
        summary="The module sits in GOPATH itself, where go ignores (or refuses) its go.mod.",
        remedy=(
            "Build change: build the module outside GOPATH, e.g. `WORKDIR /src` before copying go.mod in a "
            "Dockerfile (golang images use GOPATH=/go as their working directory), or the container's "
            "workingDir."
        ),
        rules=(Rule(("ignoring go.mod in $GOPATH", "$GOPATH/go.mod exists but should not")),),
    ),
    Reason(
        ReasonName.NoGoMod,
        # Before MissingGoSum: "no required module provides package X: go.mod file not found" is this.
        tier=4,
        summary="go ran outside a module: no go.mod in the working directory or any parent.",
        remedy=(
            "Build change: run go in the module's directory (the container's workingDir, or a `cd` in the "
            "script), or create go.mod with `go mod init`."
        ),
        rules=(
            Rule(
                (
                    "go.mod file not found in current directory or any parent directory",
                    "cannot find main module",
                    "does not contain main module",
                    "outside main module or its selected dependencies",
                    "go: no modules specified",
                    "modules disabled by GO111MODULE=off",
                )
            ),
        ),
    ),
    Reason(
        ReasonName.InconsistentVendoring,
        tier=4,
        summary="vendor/modules.txt does not match go.mod, and go builds from vendor/.",
        remedy=(
            "Build change: run `go mod vendor` and commit vendor/; or build without it with "
            'spec.goflags: ["-mod=mod"] (or -mod=readonly), which downloads the modules instead.'
        ),
        rules=(Rule(("inconsistent vendoring",)),),
    ),
    Reason(
        ReasonName.GoModUpdateNeeded,
        tier=4,
        summary=(
            "go.mod does not list what the code needs (a missing requirement, or a version a dependency "
            "needs), and the build may not update it (-mod=readonly)."
        ),
        remedy=(
            "Build change: run `go mod tidy` and commit go.mod and go.sum; or let the build update them "
            'with spec.goflags: ["-mod=mod"].'
        ),
        rules=(
            Rule(
                (
                    "updates to go.mod needed",
                    "no required module provides package",
                    "import lookup disabled by -mod=readonly",
                )
            ),
        ),
    ),
    Reason(
        ReasonName.MissingGoSum,
        tier=4,
        summary=(
            "go.sum (or go.mod) lacks an entry the build needs, and the build may not add it (-mod=readonly)."
        ),
        remedy=(
            "Build change: run `go mod tidy` and commit go.mod and go.sum; or let the build update them "
            'with spec.goflags: ["-mod=mod"].'
        ),
        rules=(Rule(("missing go.sum entry", "updates to go.sum needed")),),
    ),
    Reason(
        ReasonName.LookupDisabled,
        tier=5,
        summary="go had to download a module but downloads were disabled (GOPROXY=off, or -mod=vendor).",
        remedy=(
            'Set spec.goproxy to reachable proxies instead of "off" (a GOPROXY the workload sets itself '
            "wins unless spec.overrideEnv); with -mod=vendor in spec.goflags or the build, run `go mod "
            "vendor`. If the log shows an earlier failure that made the build retry offline, fix that one."
        ),
        rules=(
            Rule(
                (
                    "lookup disabled by GOPROXY=off",
                    "lookup disabled by -mod=vendor",
                    "lookup disabled by GOFLAGS=-mod=vendor",
                )
            ),
        ),
    ),
    Reason(
        ReasonName.Unknown,
        tier=None,
        summary="No known Go module download failure was found in the log.",
        remedy=(
            "Read the first `go:` error in the log; if it is a download failure this classifier should "
            "know, report it together with the log."
        ),
    ),
)

BY_NAME: Final[dict[str, Reason]] = {reason.name: reason for reason in REGISTRY}


def reason(name: str) -> Reason:
    """The registry entry of `name`; ValueError naming the known reasons for anything else."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown reason {name!r}; expected one of {', '.join(NAMES)}") from None
