"""Turn the log of a failed Go build into one reason a platform team can act on.

Build logs are long and noisy (shell traces, git progress, buildkit/kaniko step wrappers, CI
timestamps), and a failed download often prints several errors: a TLS handshake times out, the
script retries offline, and the last line says "module lookup disabled". The last line is the
wrong answer. So the classifier ranks what it finds:

1. every reason has a tier: environment failures (disk full, broken file locks) first, then the
   network, TLS, credential and integrity failures that *cause* a download to fail, then the
   outcomes that are often consequences of those (unknown revision, module not found, missing
   go.sum entry, no go.mod) and last "lookup disabled", which is nearly always an offline retry;
2. within a tier the earliest line wins (the first root cause, not the last echo of it);
3. within a line the more specific rule wins (a checksum-database URL refused is SumDBUnreachable,
   not ProxyUnreachable; a `proxyconnect` failure is the corporate proxy's, not the GOPROXY's).

Text a module proxy returns ("server response:" and the indented lines under it) is the proxy's own
story about its upstream: it is only used to tell an unknown revision from an unknown module, never
read as this build's credential or network failure.

The module is pure (no I/O): the operator runs it on a Pod's termination message and
`python -m gobuild_operator diagnose` runs it on a saved log. Tested against logs recorded from real
go/git/ssh runs (tests/fixtures/gofailures, scripts/record_go_failures.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_EVIDENCE", "REASONS", "UNKNOWN", "Diagnosis", "diagnose", "explain", "strip_ci_prefix"]

UNKNOWN: Final = "Unknown"

#: Every reason `diagnose` can return, in the order of the product contract (SPEC.md).
REASONS: Final[tuple[str, ...]] = (
    "ProxyUnreachable",
    "DNSResolutionFailed",
    "HTTPProxyError",
    "TLSHandshakeTimeout",
    "CertificateUntrusted",
    "ModuleNotFound",
    "UnknownRevision",
    "AuthenticationFailed",
    "HostKeyVerificationFailed",
    "ChecksumMismatch",
    "MissingGoSum",
    "SumDBUnreachable",
    "NoGoMod",
    "LookupDisabled",
    "ProxyServerError",
    "CacheLockFailed",
    "DiskFull",
    UNKNOWN,
)

#: Longest evidence line kept (a pathological log line must not bloat a status field).
MAX_EVIDENCE: Final = 500


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong, how to fix it, and the log line that shows it ("" when Unknown)."""

    reason: str
    summary: str
    remedy: str
    evidence: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "reason": self.reason,
            "summary": self.summary,
            "remedy": self.remedy,
            "evidence": self.evidence,
        }


_TEXT: Final[dict[str, tuple[str, str]]] = {
    "ProxyUnreachable": (
        "The module proxy or git server could not be reached: connection refused, timed out or reset.",
        "Point spec.goproxy at a proxy the cluster can reach (an in-cluster proxy or a regional mirror) and "
        "set spec.proxyFallback: OnAnyError so go moves on to the next entry; if egress must go through a "
        "corporate proxy, set spec.corporateProxy.httpsProxy; otherwise check the NetworkPolicy/firewall "
        "for the host and port in the evidence.",
    ),
    "DNSResolutionFailed": (
        "A host name on the download path (proxy, git server or checksum database) could not be resolved.",
        "Check the host name in spec.goproxy (or the private module's host) and the cluster DNS; where "
        "outside names resolve only through the corporate proxy, set spec.corporateProxy.httpsProxy so the "
        "proxy resolves them.",
    ),
    "HTTPProxyError": (
        "The corporate HTTP proxy refused or failed the connection (CONNECT rejected, 407 authentication "
        "required, or the proxy itself unreachable).",
        "Check spec.corporateProxy.httpsProxy (and httpProxy): host and port, that the proxy allows "
        "CONNECT to the GOPROXY and git hosts, and, on 407, that the proxy accepts this cluster without "
        "interactive credentials; hosts that must not go through it belong in spec.corporateProxy.noProxy.",
    ),
    "TLSHandshakeTimeout": (
        "A TLS handshake with the proxy or server never completed: something accepts the connection but "
        "does not speak TLS back (a firewall or transparent proxy swallowing HTTPS).",
        "Send egress through the corporate proxy with spec.corporateProxy.httpsProxy, or list a reachable "
        "mirror in spec.goproxy with spec.proxyFallback: OnAnyError.",
    ),
    "CertificateUntrusted": (
        "A server certificate was not trusted (unknown authority, expired, or issued for another name): "
        "typically a TLS-intercepting corporate proxy, or a private proxy or git server with an internal CA.",
        "Add the CA that signs those certificates (e.g. the intercepting proxy's root) with spec.caBundle "
        "(configMapName or secretName, key ca.crt); it is added to the system trust, not replacing it. An "
        "expired certificate or one for another host must be fixed on the server.",
    ),
    "ModuleNotFound": (
        "The proxy or git server says the module does not exist (404/410, repository not found).",
        "Check the module path in go.mod and the imports. A private module must be in spec.goprivate (or its "
        "host in spec.privateModules.ssh.hosts) so go fetches it directly instead of asking a public proxy, "
        "which answers 404/410 for what it cannot see; if another proxy has it, add it to spec.goproxy "
        "(spec.proxyFallback: OnNotFound moves on after a 404/410).",
    ),
    "UnknownRevision": (
        "The module exists but the requested version, tag, branch or commit does not.",
        "Build change: fix the version in go.mod or the `go get` argument (was the tag pushed? was it "
        "deleted?); `go list -m -versions MODULE` shows what exists. For a private module make sure "
        "spec.goprivate covers it, so go asks the repository rather than a proxy with a stale view.",
    ),
    "AuthenticationFailed": (
        "Credentials were refused or missing: the git server rejected the SSH key or asked for a username, "
        "or the proxy answered 401/403.",
        "SSH: put a key the server accepts in the secret named by spec.privateModules.ssh.secretName (key "
        "ssh-privatekey) and list the host in spec.privateModules.ssh.hosts; HTTPS git or an authenticated "
        "proxy: a .netrc with a token for the host in spec.privateModules.netrc.secretName. Keep the module "
        'in spec.goprivate so go never asks a public proxy for it. When go only says "no secure protocol '
        "found\", run `git ls-remote` on the module's URL in the same Pod: git names the real cause (a host "
        "key missing from spec.privateModules.ssh.knownHostsKey looks the same to go).",
    ),
    "HostKeyVerificationFailed": (
        "SSH refused the git server: its host key is not in known_hosts, or differs from the recorded one.",
        "Add the server's current host key (from ssh-keyscan HOST, verified out of band) to the secret "
        "spec.privateModules.ssh.secretName under the key named by spec.privateModules.ssh.knownHostsKey "
        "(default known_hosts), for every host in spec.privateModules.ssh.hosts; if the key changed, replace "
        "the old entry.",
    ),
    "ChecksumMismatch": (
        "A downloaded module does not match the hash in go.sum or in the checksum database (SECURITY ERROR).",
        "Find out why the content changed (a re-tagged release, a proxy serving altered content) before "
        "anything else. If the new content is legitimate, update go.sum in the repository (build change); "
        "private modules belong in spec.goprivate/spec.gonosumdb; a corrupt copy in the shared cache "
        "(spec.cache) must be cleaned out.",
    ),
    "MissingGoSum": (
        "go.sum (or go.mod) lacks an entry the build needs, and the build may not add it (-mod=readonly).",
        "Build change: run `go mod tidy` and commit go.mod and go.sum; or let the build update them with "
        'spec.goflags: ["-mod=mod"].',
    ),
    "SumDBUnreachable": (
        "The checksum database (GOSUMDB) could not be reached, or does not know the module.",
        "Point spec.gosumdb at a checksum database the cluster can reach (e.g. "
        '"sum.golang.org https://<your proxy>/sumdb/sum.golang.org"); list private modules in '
        'spec.goprivate or spec.gonosumdb so they are never looked up; spec.gosumdb: "off" turns '
        "verification off altogether.",
    ),
    "NoGoMod": (
        "go ran outside a module: no go.mod in the working directory or any parent.",
        "Build change: run go in the module's directory (the container's workingDir, or a `cd` in the "
        "script), or create go.mod with `go mod init`.",
    ),
    "LookupDisabled": (
        "go had to download a module but downloads were disabled (GOPROXY=off, or -mod=vendor).",
        'Set spec.goproxy to reachable proxies instead of "off" (a GOPROXY the workload sets itself wins '
        "unless spec.overrideEnv); with -mod=vendor in spec.goflags or the build, run `go mod vendor`. If "
        "the log shows an earlier failure that made the build retry offline, fix that one.",
    ),
    "ProxyServerError": (
        "The module proxy answered with a server error (5xx) or another unexpected status.",
        "The proxy is failing: check it, or add a second proxy to spec.goproxy with "
        "spec.proxyFallback: OnAnyError so go falls through to it on any error.",
    ),
    "CacheLockFailed": (
        'go could not lock a file in the module cache or the module ("no locks available": e.g. an NFS '
        "volume without a lock manager).",
        "Put the module cache on a volume with working file locks: spec.cache.storageClassName of a class "
        "that supports flock (NFSv4, or NFSv3 with lockd), or spec.cache.existingClaim on such a volume; "
        "or turn the shared cache off (spec.cache.enabled: false).",
    ),
    "DiskFull": (
        "The disk holding the module cache, build cache or temporary files is full "
        "(no space left on device).",
        "Give the cache room: raise spec.cache.size (or use a larger spec.cache.existingClaim) and clean old "
        "modules from it; without a shared cache, raise the Pod's ephemeral-storage.",
    ),
    UNKNOWN: (
        "No known Go module download failure was found in the log.",
        "Read the first `go:` error in the log; if it is a download failure this classifier should know, "
        "report it together with the log.",
    ),
}

# Lower tier wins; causes come before their usual consequences.
_TIER: Final[dict[str, int]] = {
    "DiskFull": 0,
    "CacheLockFailed": 0,
    "HTTPProxyError": 1,
    "CertificateUntrusted": 1,
    "SumDBUnreachable": 1,
    "TLSHandshakeTimeout": 1,
    "DNSResolutionFailed": 1,
    "HostKeyVerificationFailed": 1,
    "AuthenticationFailed": 1,
    "ProxyUnreachable": 1,
    "ProxyServerError": 1,
    "ChecksumMismatch": 1,
    "UnknownRevision": 2,
    "ModuleNotFound": 3,
    "MissingGoSum": 4,
    "NoGoMod": 4,
    "LookupDisabled": 5,
}

_HTTP_STATUS_TEXT = (
    r"(?:Proxy Authentication Required|Forbidden|Bad Gateway|Service Unavailable|Gateway Timeout|"
    r"Bad Request|Method Not Allowed|Not Found|Unauthorized|Internal Server Error|Too Many Requests|"
    r"Request Timeout|Not Implemented|Access Denied)"
)

# A rule: (reason, anchors, pattern, may match inside a proxy's "server response").
# Anchors are literal strings; a rule only matches on a line that holds one of them, so candidate
# lines are found with str.find (fast on multi-megabyte logs) instead of running every regex over
# the whole text. Without a pattern the anchor itself is the match; with one, the pattern (which
# never crosses a newline) must match on the anchor's line. Within a tier, list order breaks ties
# on the same line, so the more specific rule comes first.
_RULES: Final[tuple[tuple[str, tuple[str, ...], str | None, bool], ...]] = (
    # --- tier 0: the machine ---
    # go prints strerror text; bare errno names (ENOSPC) also come from unrelated tools (file watchers).
    ("DiskFull", ("no space left on device", "isk quota exceeded"), None, False),
    ("CacheLockFailed", ("no locks available",), None, False),
    (
        "CacheLockFailed",
        ("ock /",),
        r"\b(?:RLock|Lock|Unlock) /\S+: (?:function not implemented|operation not supported)",
        False,
    ),
    # --- tier 1: causes ---
    ("HTTPProxyError", ("proxyconnect ",), None, False),
    # A CONNECT the proxy refuses: go prints the bare status text, without a code.
    (
        "HTTPProxyError",
        ('Get "https://', "Get https://"),
        r'Get "?https://[^"\s]+"?: ' + _HTTP_STATUS_TEXT + r"[ \t\r]*$",
        False,
    ),
    ("HTTPProxyError", (": 407 ",), r"reading https?://\S+: 407 ", False),
    (
        "HTTPProxyError",
        (
            "from proxy after CONNECT",
            "CONNECT tunnel failed",
            "Proxy CONNECT aborted",
            "Could not resolve proxy",
            "Failed to connect to proxy",
            "Unable to connect to proxy",
        ),
        None,
        False,
    ),
    (
        "CertificateUntrusted",
        (
            "x509: ",
            "tls: failed to verify certificate",
            "SSL certificate problem",
            "server certificate verification failed",
            "certificate verify failed",
        ),
        None,
        False,
    ),
    (
        "SumDBUnreachable",
        ("/lookup/", "/tile/", "/latest"),
        r'verifying [^\n]*?(?:Get "?|reading )https?://[^\s"]+/(?:lookup|tile|latest)\b',
        False,
    ),
    ("TLSHandshakeTimeout", ("TLS handshake timeout", "SSL connection timeout"), None, False),
    ("DNSResolutionFailed", (": lookup ",), r"dial (?:tcp|udp)[46]?: lookup \S", False),
    (
        "DNSResolutionFailed",
        (
            "no such host",
            "server misbehaving",
            "Could not resolve host",
            "Temporary failure in name resolution",
            "Name or service not known",
            "nodename nor servname provided",
        ),
        None,
        False,
    ),
    (
        "HostKeyVerificationFailed",
        (
            "host key is known for",
            "has changed and you have requested strict checking",
            "Host key verification failed",
            "knownhosts: key is unknown",
            "knownhosts: key mismatch",
        ),
        None,
        False,
    ),
    ("AuthenticationFailed", ("are too open",), r"Permissions 0?\d+ for '[^'\n]*' are too open", False),
    (
        "AuthenticationFailed",
        ('Load key "',),
        r'Load key "[^"\n]*": (?:bad permissions|invalid format|error in libcrypto)',
        False,
    ),
    (
        "AuthenticationFailed",
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
            # go 1.26 for a `.git` module path: it tried each scheme with git and hides git's own
            # error (key refused, unknown host key, untrusted certificate) unless run with -x.
            "no secure protocol found for repository",
        ),
        None,
        False,
    ),
    ("AuthenticationFailed", ("The requested URL returned error: 40",), r"returned error: 40[13]\b", False),
    (
        "AuthenticationFailed",
        (": 401 ", ": 403 "),
        r"(?:reading \S+|unexpected status \(\S+\)): 40[13] ",
        False,
    ),
    (
        "ProxyUnreachable",
        ("dial tcp", "dial udp"),
        r"dial (?:tcp|udp)[46]? \S+: (?:connect: )?"
        r"(?:connection refused|i/o timeout|no route to host|network is unreachable|connection timed out)",
        False,
    ),
    (
        "ProxyUnreachable",
        ("ssh: connect to host ",),
        r"ssh: connect to host \S+ port \d+: (?:Connection refused|Connection timed out|"
        r"Operation timed out|No route to host|Network is unreachable)",
        False,
    ),
    (
        "ProxyUnreachable",
        (
            "Failed to connect to ",
            "Connection timed out after ",
            "Couldn't connect to server",
            "connection reset by peer",
            "Client.Timeout exceeded while awaiting headers",
            "timeout awaiting response headers",
            "first record does not look like a TLS handshake",
        ),
        None,
        False,
    ),
    (
        "ProxyServerError",
        ("reading http",),
        r"reading https?://\S+: (?:5\d\d|4(?:0[025689]|1[1-9]|[2-9]\d)) ",
        False,
    ),
    (
        "ProxyServerError",
        ("unexpected status (", "The requested URL returned error: 5"),
        r"unexpected status \(\S+\): 5\d\d\b|returned error: 5\d\d\b",
        False,
    ),
    ("ChecksumMismatch", ("checksum mismatch", "SECURITY ERROR"), None, False),
    # --- tiers 2 to 5: outcomes, often consequences of the above ---
    (
        "UnknownRevision",
        ("unknown revision", "couldn't find remote ref", "no matching versions for query"),
        None,
        True,
    ),
    ("UnknownRevision", ("reference is not a tree", "did not match any file(s) known to git"), None, False),
    (
        "ModuleNotFound",
        (": 404 ", ": 410 "),
        r"(?:reading \S+|unexpected status \(\S+\)): (?:404|410) ",
        False,
    ),
    ("ModuleNotFound", ("' not found",), r"[Rr]epository '[^'\n]*' not found", False),
    (
        "ModuleNotFound",
        (
            "does not appear to be a git repository",
            "Repository not found",
            "The project you were looking for could not be found",
            "no go-import meta tags",
        ),
        None,
        False,
    ),
    ("ModuleNotFound", ("reading file://",), r"reading file://\S+: no such file or directory", False),
    # "no required module provides package X: go.mod file not found" is NoGoMod: it goes first.
    (
        "NoGoMod",
        (
            "go.mod file not found in current directory or any parent directory",
            "cannot find main module",
            "does not contain main module",
            "outside main module or its selected dependencies",
            "go: no modules specified",
            "modules disabled by GO111MODULE=off",
        ),
        None,
        False,
    ),
    (
        "MissingGoSum",
        (
            "missing go.sum entry",
            "updates to go.mod needed",
            "updates to go.sum needed",
            "no required module provides package",
        ),
        None,
        False,
    ),
    (
        "LookupDisabled",
        (
            "lookup disabled by GOPROXY=off",
            "lookup disabled by -mod=vendor",
            "lookup disabled by GOFLAGS=-mod=vendor",
        ),
        None,
        False,
    ),
)


@dataclass(frozen=True)
class _Rule:
    reason: str
    order: int
    anchors: tuple[str, ...]
    pattern: re.Pattern[str] | None
    in_proxy_detail: bool


_TIERS: Final[tuple[tuple[_Rule, ...], ...]] = tuple(
    tuple(
        _Rule(reason, order, anchors, None if pattern is None else re.compile(pattern, re.MULTILINE), detail)
        for order, (reason, anchors, pattern, detail) in enumerate(_RULES)
        if _TIER[reason] == tier
    )
    for tier in sorted(set(_TIER.values()))
)

# Terminal escapes (colours, GitLab's `\e[0K` section markers, OSC titles).
_ANSI: Final = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

# What CI systems and image builders put in front of a tool's output line. Each alternative ends
# with exactly the separator it owns, so the tool's own indentation (a tab) survives.
_PREFIX: Final = re.compile(
    r"""
    (?:
        \d{4}-\d{2}-\d{2}[T\ ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?[ ]  # ISO 8601
      | \[\d{4}-\d{2}-\d{2}[T\ ][^\]\n]*\][ ]?                                     # [2024-05-01 12:34:56]
      | \[?\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\]?[ ]                                      # 12:34:56 / [12:34:56]
      | (?:stdout|stderr)[ ][FP][ ]                                                # CRI container log
      | \#\d+[ ]\d+(?:\.\d+)?[ ]                                                   # buildkit "#8 12.34 "
      | \#\d+[ ]                                                                   # buildkit "#8 "
      | \d+\.\d+[ ]                                                                # buildx error summary
      | (?:STEP|Step)[ ]\d+/\d+[ ]?:[ ]                                            # podman/buildah, docker
      | (?:INFO|WARN|ERRO|DEBU|FATA)\[\d+\][ ]*                                     # kaniko (logrus)
      | \++[ ]                                                                     # sh -x trace
      | \#\#\[[a-z]+\][ ]?                                                         # GitHub Actions
      | \[(?:step-[\w.-]+|Pipeline|pod/[^\]\n]+|[\w.-]+/[\w.-]+)\][ ]?               # tekton, jenkins
      | \[[\w.-]+[ ]:[ ][\w.-]+\][ ]?                                              # tkn "[task : step]"
      | [\w.-]+-\d+[ ]+\|[ ]                                                       # compose "build-1  | "
    )
    """,
    re.VERBOSE,
)

_PROXY_DETAIL_MARK: Final = "server response:"
_MAX_DETAIL_WALK: Final = 24  # go keeps at most 8 lines of a proxy's text; be generous


def strip_ci_prefix(line: str) -> str:
    """The line without CI/builder prefixes (timestamps, `#8 1.23`, `STEP 3/7:`, `+ `), indentation kept."""
    for _ in range(8):
        m = _PREFIX.match(line)
        if m is None or m.end() == 0:
            break
        line = line[m.end() :]
    return line


def explain(reason: str, evidence: str = "") -> Diagnosis:
    """The Diagnosis for a known reason (summary and remedy from the catalogue)."""
    try:
        summary, remedy = _TEXT[reason]
    except KeyError:
        raise ValueError(f"unknown reason {reason!r}; expected one of {', '.join(REASONS)}") from None
    return Diagnosis(reason=reason, summary=summary, remedy=remedy, evidence=evidence)


def diagnose(text: str) -> Diagnosis:
    """Classify a build log: the first root cause of a Go module download failure, or Unknown."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    for tier in _TIERS:
        best: tuple[int, int, int] | None = None  # (line start, rule order, match position)
        best_reason = UNKNOWN
        for rule in tier:
            found = _first_match(text, rule, len(text) if best is None else _line_end(text, best[0]))
            if found is not None and (best is None or (found[0], rule.order) < best[:2]):
                best, best_reason = (found[0], rule.order, found[1]), rule.reason
        if best is not None:
            return explain(best_reason, _evidence(text, best[2]))
    return explain(UNKNOWN)


def _first_match(text: str, rule: _Rule, endpos: int) -> tuple[int, int] | None:
    """(line start, match position) of the rule's earliest valid match that starts before endpos."""
    best: tuple[int, int] | None = None
    for anchor in rule.anchors:
        limit = endpos if best is None else best[0]
        pos = text.find(anchor, 0, limit)
        while pos >= 0:
            start, end = _line_start(text, pos), _line_end(text, pos)
            hit: int | None = pos
            if rule.pattern is not None:
                m = rule.pattern.search(text, start, end)
                hit = None if m is None else m.start()
            if hit is not None and (rule.in_proxy_detail or not _in_proxy_detail(text, start, hit)):
                best = (start, hit)
                break
            pos = text.find(anchor, end, limit)
    return best


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _evidence(text: str, pos: int) -> str:
    """The matched line, cut to its carriage-return segment, CI prefixes and surrounding space removed."""
    start, end = _line_start(text, pos), _line_end(text, pos)
    cr = text.rfind("\r", start, pos)
    if cr >= 0:
        start = cr + 1
    cr = text.find("\r", pos, end)
    if cr >= 0:
        end = cr
    line = strip_ci_prefix(text[start:end]).strip()
    if len(line) > MAX_EVIDENCE:
        line = line[: MAX_EVIDENCE - 1] + "…"
    return line


def _visible(line: str) -> str:
    """What a terminal shows of a line: its last carriage-return segment, without CI prefixes."""
    return strip_ci_prefix(line.rstrip("\r").rsplit("\r", 1)[-1])


def _is_indented(line: str) -> bool:
    return line[:1] in (" ", "\t")


def _in_proxy_detail(text: str, line_start: int, pos: int) -> bool:
    """Whether pos lies in text a module proxy sent back (after `server response:`, or indented under it)."""
    if _PROXY_DETAIL_MARK in text[line_start:pos]:
        return True
    line = _visible(text[line_start : _line_end(text, line_start)])
    if not _is_indented(line):
        return False
    end = line_start - 1
    for _ in range(_MAX_DETAIL_WALK):
        if end < 0:
            return False
        start = text.rfind("\n", 0, end) + 1
        previous = _visible(text[start:end])
        if _PROXY_DETAIL_MARK in previous:
            return True
        if not _is_indented(previous):
            return False
        end = start - 1
    return False
