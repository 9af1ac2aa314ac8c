"""Where a failed request went: its route, module and host, and whether go asked the servers the build's
Go settings name.

Attribution: a network error is a download failure only on a line that belongs to a module download
(go's module proxy, checksum database or go-get request, git or ssh reaching a repository;
`attributed`). A test that cannot reach its database on 127.0.0.1:5432 is the build's own business,
not the proxy's.

Routes: when the caller knows the Go settings the build ran with (`GoSettings`: the operator reads
the failed container's environment, the CLI a GoBuildConfig), the failed request is placed on go's
route through GOPROXY (`routed`). With entries joined by "," go moves on only after a 404/410, so an
error from `direct` or "lookup disabled by GOPROXY=off" for a module outside GOPRIVATE means every
proxy before it lacks the module: ModuleNotFound at those proxies, however the direct fetch failed
(no egress, no credentials). The diagnosis names the module, the host and the route.

Inside an image build, go runs with whatever the Dockerfile's RUN step gives it, which is not the
builder container's environment: a Dockerfile without `ARG GOPROXY` makes go ask proxy.golang.org
however the cluster is configured. So for an image build (`Workload`) whose settings are known, the
classifier also compares the servers go asked with them (`settings_mismatch`): a module proxy or
checksum database URL the settings do not name, or a proxy asked for a module GOPRIVATE covers, is
BuildSettingsNotPassed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import urlsplit

from gobuild_operator.api.status.reasons import ReasonName
from gobuild_operator.core.diagnosis.lines import (
    PROXY_DETAIL_MARK,
    WINDOW,
    end_of_line,
    in_proxy_detail,
    is_indented,
    previous_lines,
    segment,
    start_of_line,
    strip_ci_prefix,
    visible,
)

#: The Go settings a GoBuildConfig injects, in the order they are named (remedies, ARG lines).
SETTING_NAMES: Final = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOFLAGS")


@dataclass(frozen=True)
class Facts:
    """Where a failure happened, as far as the log and the settings tell."""

    #: proxy (a GOPROXY entry), sumdb, direct (go's own fetch from the origin), vcs (git or ssh),
    #: off (GOPROXY=off), or "" when the line names no request.
    route: str = ""
    #: The module (path) the failed request was about.
    module: str = ""
    #: The server: host[:port] of the proxy, checksum database or repository.
    host: str = ""
    #: With a route read from the settings: the proxies go had tried before (they lack the module).
    proxies: tuple[str, ...] = ()
    #: The reason the log line itself shows, when the route changed it.
    shown: str = ""
    #: The GOPROXY entry go reached after the proxies (direct, off), when the route changed it.
    reached: str = ""


@dataclass(frozen=True)
class GoSettings:
    """The Go settings a build was given, as its environment holds them ("" = not set).

    What routes are read from (GOPROXY's entries and separators, GONOPROXY/GOPRIVATE), and, for image
    builds, what the servers go asked are compared with: the module proxies of `goproxy`, the
    checksum database of `gosumdb` (not compared when unset: go's default), and the private
    patterns (`gonoproxy`, else `goprivate`) no proxy may be asked about.
    """

    goproxy: str
    gosumdb: str = ""
    goprivate: str = ""
    gonoproxy: str = ""
    gonosumdb: str = ""
    goflags: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GoSettings | None:
        """From a container's (or a plan's) environment; None without a GOPROXY to compare with."""
        goproxy = env.get("GOPROXY", "").strip()
        if not goproxy:
            return None
        return cls(
            goproxy=goproxy,
            gosumdb=env.get("GOSUMDB", "").strip(),
            goprivate=env.get("GOPRIVATE", "").strip(),
            gonoproxy=env.get("GONOPROXY", "").strip(),
            gonosumdb=env.get("GONOSUMDB", "").strip(),
            goflags=env.get("GOFLAGS", "").strip(),
        )

    @property
    def declared(self) -> tuple[str, ...]:
        """The names of the settings that are set, in SETTING_NAMES order."""
        values = dict(
            zip(
                SETTING_NAMES,
                (self.goproxy, self.gosumdb, self.goprivate, self.gonoproxy, self.gonosumdb, self.goflags),
                strict=True,
            )
        )
        return tuple(name for name in SETTING_NAMES if values[name])

    def entries(self) -> list[tuple[str, str]]:
        """(entry, separator before it) of GOPROXY, in order ("" before the first)."""
        found: list[tuple[str, str]] = []
        separator = ""
        current: list[str] = []
        for ch in self.goproxy:
            if ch in ",|":
                found.append(("".join(current).strip(), separator))
                separator, current = ch, []
            else:
                current.append(ch)
        found.append(("".join(current).strip(), separator))
        return [(entry, sep) for entry, sep in found if entry]

    def private(self, module: str) -> bool:
        """Whether go fetches `module` directly (GONOPROXY, else GOPRIVATE, covers it)."""
        return bool(module) and _is_private(module, _patterns(self.gonoproxy or self.goprivate))


@dataclass(frozen=True)
class Workload:
    """What ran go: a Pod's own container, or an image builder whose RUN steps run it."""

    image_build: bool = False
    #: The build secret id that carries spec.caBundle into RUN steps (spec.imageBuilds.caSecretId).
    ca_secret_id: str = "gobuild-ca"  # noqa: S105 - an id, not a secret


POD: Final = Workload()
IMAGE_BUILD: Final = Workload(image_build=True)


#: Reasons a route can turn into ModuleNotFound at the proxies (see `routed`).
ROUTED: Final = frozenset(
    {
        ReasonName.DNSResolutionFailed,
        ReasonName.ProxyUnreachable,
        ReasonName.TLSHandshakeTimeout,
        ReasonName.CertificateUntrusted,
        ReasonName.HTTPProxyError,
        ReasonName.AuthenticationFailed,
        ReasonName.HostKeyVerificationFailed,
        ReasonName.VCSCommandMissing,
        ReasonName.LookupDisabled,
    }
)

#: What shows that a line belongs to a module download (see `attributed`).
_REQUEST_MARKS: Final = (
    "/@v/",
    "/@latest",
    "?go-get=1",
    "/lookup/",
    "/sumdb/",
    "/tile/",
    "unrecognized import path",
    "https fetch:",
    "git ls-remote",
    "git fetch",
    "unable to access '",
    "ssh: ",
    "fatal: ",
    "remote: ",
    "golang.org/toolchain",
    "verifying ",
)
#: go's prefix of a module's error: "go: example.com/x@v1.0.0: ..." (also after "main.go:4:2: ").
_MODULE_AT: Final = re.compile(
    r"(?:^|[\s\"'(])((?:[A-Za-z0-9][\w.~-]*)(?:/[\w.~!+-]+)*)@(v\d[\w.+-]*|latest|upgrade|patch|none|master|main)"
    r"(?=[:/\s\"')]|$)"
)
_IMPORT_PATH: Final = re.compile(r'unrecognized import path "([^"\s]+)"|reading (\S+)/go\.mod at revision ')
_URL: Final = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)
_HOST_WORDS: Final = re.compile(
    r"connect to host (\S+) port (\d+)|Could not resolve host(?:name)?:? ([\w.-]+)|lookup ([\w.-]+) on "
    r"|Failed to connect to ([\w.-]+) port (\d+)|Host key for ([\w.-]+) has changed|host key is known for "
    r"([\w.-]+)|@([\w.-]+): Permission denied"
)
_GIT_URL: Final = re.compile(r"(?:ssh://)?[\w.-]+@([\w.-]+)[:/]")


def attributed(text: str, line_start: int, line_end: int, pos: int) -> bool:
    """Whether the line at pos belongs to a module download: a module proxy, checksum database or
    go-get request, git or ssh, or go's own error about a module; or is indented under such a line."""
    lo, hi = segment(text, line_start, pos, line_end)
    line = strip_ci_prefix(text[lo:hi]) if lo == line_start else text[lo:hi]
    if any(mark in line for mark in _REQUEST_MARKS) or _MODULE_AT.search(line) is not None:
        return True
    if not is_indented(line):
        return False
    for _, previous in previous_lines(text, line_start):
        if not is_indented(previous):
            return any(mark in previous for mark in _REQUEST_MARKS) or _MODULE_AT.search(previous) is not None
    return False


def facts_at(text: str, line_start: int, pos: int, *, in_detail: bool) -> Facts:
    """The route, module and host of the request the line at pos is about."""
    lo, hi = segment(text, line_start, pos, end_of_line(text, pos))
    line = text[lo:hi]
    parent = ""
    if in_detail or is_indented(visible(text, line_start)) or _MODULE_AT.search(line) is None:
        for _, previous in previous_lines(text, line_start):
            if not is_indented(previous):
                parent = previous
                break
    if in_detail:
        # The proxy's account of its origin: the request is the proxy's (on the line it answered).
        source = text[lo:pos] if text.find(PROXY_DETAIL_MARK, lo, pos) >= 0 else parent
        url = _URL.search(source)
        return Facts(
            route="proxy",
            module=_module(source) or _module(parent),
            host=_host_of_url(url.group(0)) if url else "",
        )
    module = _module(line) or _module(parent)
    route, host = _route(line)
    if not route and parent:
        route, host = _route(parent)
    return Facts(route=route, module=module, host=host)


def _module(line: str) -> str:
    m = _MODULE_AT.search(line)
    if m is not None:
        return m.group(1)
    m = _IMPORT_PATH.search(line)
    return (m.group(1) or m.group(2)) if m is not None else ""


def _host_of_url(url: str) -> str:
    parts = urlsplit(url.rstrip(".,;:)]'\""))
    return _netloc(parts.scheme, parts.netloc)


def _route(line: str) -> tuple[str, str]:
    """(route, host) of a request line: which server go (or git, or ssh) asked."""
    url = _URL.search(line)
    host = _host_of_url(url.group(0)) if url else ""
    if "lookup disabled by GOPROXY=off" in line:
        return "off", ""
    if url is not None:
        path = urlsplit(url.group(0)).path
        if "/sumdb/" in path or (("/lookup/" in path or "/tile/" in path) and "verifying" in line):
            return "sumdb", host
        if "/@v/" in path or path.endswith("/@latest"):
            return "proxy", host
        if "?go-get=1" in url.group(0) or "unrecognized import path" in line:
            return "direct", host
    words = _HOST_WORDS.search(line)
    if words is not None:
        name = next((g for g in words.groups()[::1] if g and not g.isdigit()), "")
        port = words.group(2) or words.group(6)
        host = host or (f"{name}:{port}" if port and port not in ("22", "443") else name)
    if not host:
        git = _GIT_URL.search(line)
        host = git.group(1) if git and ("ssh" in line or "git" in line) else ""
    if "unrecognized import path" in line:
        return "direct", host
    if any(mark in line for mark in ("git ", "ssh", "fatal: ", "remote: ", "Permission denied", "host key")):
        return "vcs", host
    return ("vcs" if url is not None and "unable to access" in line else ""), host


def routed(reason: str, facts: Facts, settings: GoSettings | None) -> tuple[str, Facts]:
    """The reason on go's route: an error from `direct` or `off` for a module outside GOPRIVATE, reached
    through proxies joined with "," (go moves on only after a 404/410), is the proxies' not having it."""
    if settings is None or reason not in ROUTED or facts.route not in ("direct", "vcs", "off"):
        return reason, facts
    if not facts.module or settings.private(facts.module):
        return reason, facts
    reached = "off" if facts.route == "off" else "direct"
    entries = settings.entries()
    index = next((i for i, (entry, _) in enumerate(entries) if entry == reached), None)
    if index is None:
        return reason, facts
    before = entries[:index]
    urls = [entry for entry, _ in before if entry not in ("direct", "off")]
    if not urls or any(sep == "|" for _, sep in entries[1 : index + 1]):
        return reason, replace(facts, proxies=tuple(_entry_host(u) for u in urls))
    hosts = tuple(_entry_host(url) for url in urls)
    return ReasonName.ModuleNotFound.value, Facts(
        route="proxy",
        module=facts.module,
        host=hosts[-1],
        proxies=hosts,
        shown=reason,
        reached=reached,
    )


def _entry_host(entry: str) -> str:
    if "://" not in entry:
        entry = "https://" + entry
    return _host_of_url(entry) or entry


# --- comparing what go asked with the settings the build was given ------------------------------

#: Anchors of go's module proxy and checksum database requests (candidate lines, found fast).
_REQUEST_ANCHORS: Final = ("/@v/", "/@latest", "/lookup/", "/tile/", "/sumdb/")
#: A checksum database request path (also below a proxy's /sumdb/<name>/).
_SUMDB_PATH: Final = re.compile(r"/(?:lookup/\S+@v[^/\s]*|tile/\d+/\S+|latest|supported)$")
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}


def settings_mismatch(
    text: str, start: int, settings: GoSettings, proxies: Mapping[str, tuple[str, ...]]
) -> tuple[int, int] | None:
    """(line start, URL position) of the first request go made that `settings` would not have made."""
    private = _patterns(settings.gonoproxy or settings.goprivate)
    sumdb = _sumdb_host(settings.gosumdb)
    best: tuple[int, int] | None = None
    for anchor in _REQUEST_ANCHORS:
        limit = len(text) if best is None else best[0]
        pos = text.find(anchor, start, limit)
        while pos >= 0:
            line_start, line_end = start_of_line(text, pos), end_of_line(text, pos)
            lo, hi = max(line_start, pos - WINDOW), min(line_end, pos + WINDOW)
            for m in _URL.finditer(text, lo, hi):
                if in_proxy_detail(text, line_start, m.start()):
                    continue
                if _not_from(m.group(0), proxies=proxies, private=private, sumdb=sumdb):
                    best = (line_start, m.start())
                    break
            if best is not None and best[0] == line_start:
                break
            pos = text.find(anchor, line_end, limit)
    return best


def _netloc(scheme: str, netloc: str) -> str:
    """host[:port] in lower case, without userinfo or the scheme's default port."""
    host = netloc.rsplit("@", 1)[-1].lower()
    default = _DEFAULT_PORTS.get(scheme.lower())
    if default and host.endswith(f":{default}"):
        host = host[: -len(default) - 1]
    return host


def proxy_bases(goproxy: str) -> dict[str, tuple[str, ...]]:
    """host[:port] -> base paths of the GOPROXY entries that are URLs (direct and off are not)."""
    bases: dict[str, tuple[str, ...]] = {}
    for entry in re.split(r"[,|]", goproxy):
        entry = entry.strip()
        if not entry or entry in ("direct", "off") or entry.startswith("file:"):
            continue
        if "://" not in entry:
            entry = "https://" + entry  # go's rule for a proxy given without a scheme
        parts = urlsplit(entry)
        key = _netloc(parts.scheme, parts.netloc)
        bases[key] = (*bases.get(key, ()), parts.path.rstrip("/"))
    return bases


def _patterns(value: str) -> tuple[str, ...]:
    return tuple(pattern.strip().rstrip("/") for pattern in value.split(",") if pattern.strip())


def _sumdb_host(gosumdb: str) -> str | None:
    """The checksum database's host[:port]; "" for "off"; None when unset (go's default)."""
    if not gosumdb:
        return None
    if gosumdb == "off":
        return ""
    fields = gosumdb.split()
    url = next((f for f in fields[1:] if "://" in f), None)
    if url is None:
        name = fields[0].split("+", 1)[0]
        return _netloc("https", name)
    parts = urlsplit(url)
    return _netloc(parts.scheme, parts.netloc)


def _not_from(
    url: str, *, proxies: Mapping[str, tuple[str, ...]], private: tuple[str, ...], sumdb: str | None
) -> bool:
    """Whether go asking `url` shows that it ran with other settings than these."""
    parts = urlsplit(url.rstrip(".,;:)]"))
    host = _netloc(parts.scheme, parts.netloc)
    path = parts.path
    at = path.find("/@v/")
    if at < 0 and path.endswith("/@latest"):
        at = len(path) - len("/@latest")
    if at >= 0:  # a module proxy request
        if host not in proxies:
            return True
        module = _module_path(path[:at], proxies[host])
        return module is not None and _is_private(module, private)
    if not _SUMDB_PATH.search(path):
        return False
    if "/sumdb/" in path:  # the checksum database through a proxy
        return host not in proxies
    return sumdb is not None and host != sumdb


def _module_path(prefix: str, bases: tuple[str, ...]) -> str | None:
    """The module a proxy request is about: the path below the proxy's base, case-decoded (`!x` = X)."""
    for base in sorted(bases, key=len, reverse=True):
        if prefix.startswith(base + "/"):
            escaped = prefix[len(base) + 1 :]
            return re.sub(r"!([a-z])", lambda m: m.group(1).upper(), escaped)
    return None


def _is_private(module: str, patterns: tuple[str, ...]) -> bool:
    """go's GOPRIVATE matching: a pattern matches the module path's first as many elements."""
    elements = module.split("/")
    for pattern in patterns:
        wanted = pattern.split("/")
        if len(elements) >= len(wanted) and all(
            fnmatch.fnmatchcase(have, glob) for have, glob in zip(elements, wanted, strict=False)
        ):
            return True
    return False
