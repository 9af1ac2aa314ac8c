"""The route go takes for each module, decided from the Go settings and the config, offline.

What go does (cmd/go/internal/modfetch): a module GONOPROXY covers (GOPRIVATE when GONOPROXY is
unset) is fetched from its origin (`direct`: git, or hg..., over HTTPS or the config's SSH
rewrite); any other module is asked of the GOPROXY entries in order, moving to the next entry
after a "," only when the answer is 404 or 410, after a "|" on any error; `direct` fetches from the
origin, `off` refuses. Which entry finally serves a module is known only by asking them, so the
route names the first entry and what follows it. The checksum database is consulted for a module
only when go.sum lacks its hash, GOSUMDB is not off and GONOSUMDB (GOPRIVATE when unset) does not
cover it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from gobuild_operator.core.preflight.patterns import matching_pattern
from gobuild_operator.redact import redact_text

#: go's default checksum database (go.env in the toolchain).
DEFAULT_SUMDB: Final = "sum.golang.org"
#: The settings a route is decided from (go env names).
NAMES: Final = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE", "GOFLAGS")


@dataclass(frozen=True)
class GoEnv:
    """The Go settings a build runs with, as `go env` reports them ("" = unset)."""

    goproxy: str = "https://proxy.golang.org,direct"
    gosumdb: str = ""
    goprivate: str = ""
    gonoproxy: str = ""
    gonosumdb: str = ""
    goinsecure: str = ""
    goflags: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GoEnv:
        return cls(
            goproxy=env.get("GOPROXY", "") or cls.goproxy,
            gosumdb=env.get("GOSUMDB", ""),
            goprivate=env.get("GOPRIVATE", ""),
            gonoproxy=env.get("GONOPROXY", ""),
            gonosumdb=env.get("GONOSUMDB", ""),
            goinsecure=env.get("GOINSECURE", ""),
            goflags=env.get("GOFLAGS", ""),
        )

    def as_env(self) -> dict[str, str]:
        values = (
            self.goproxy,
            self.gosumdb,
            self.goprivate,
            self.gonoproxy,
            self.gonosumdb,
            self.goinsecure,
            self.goflags,
        )
        return {name: value for name, value in zip(NAMES, values, strict=True) if value}

    @property
    def noproxy(self) -> tuple[str, str]:
        """(variable, patterns) go reads for direct fetches: GONOPROXY, else GOPRIVATE (`go env`
        prints GONOPROXY as GOPRIVATE's value when it is unset, so equal values are named GOPRIVATE)."""
        return _named("GONOPROXY", self.gonoproxy, self.goprivate)

    @property
    def nosumdb(self) -> tuple[str, str]:
        return _named("GONOSUMDB", self.gonosumdb, self.goprivate)

    def entries(self) -> list[tuple[str, str]]:
        """(entry, separator before it) of GOPROXY ("" before the first)."""
        found: list[tuple[str, str]] = []
        separator = ""
        start = 0
        text = self.goproxy
        for i, ch in enumerate(text + ","):
            if ch in ",|":
                entry = text[start:i].strip()
                if entry:
                    found.append((entry, separator))
                separator, start = ch, i + 1
        return found

    @property
    def sumdb_name(self) -> str:
        """The checksum database's name ("off" when off)."""
        value = self.gosumdb.strip() or DEFAULT_SUMDB
        return value.split()[0] if value.split() else DEFAULT_SUMDB


def _named(name: str, value: str, goprivate: str) -> tuple[str, str]:
    if value and value != goprivate:
        return name, value
    return "GOPRIVATE", goprivate


@dataclass(frozen=True)
class Credentials:
    """What the config mounts for private modules (names only: no Secret is read)."""

    ssh_hosts: tuple[str, ...] = ()  # privateModules.ssh.hosts, host[:port]
    ssh_secret: str = ""
    netrc_secret: str = ""


@dataclass(frozen=True)
class Route:
    """How go gets one module (path@version) with these settings."""

    path: str
    version: str
    #: proxy (the first GOPROXY entry is a URL), direct, or off
    kind: str
    #: the entries go tries, with their separators, e.g. "http://mirror:8080,off", or "direct"
    via: str
    #: "GONOPROXY=git.corp.example" when a pattern sends the module direct, else ""
    noproxy: str
    #: "GONOSUMDB=git.corp.example" when a pattern keeps the checksum database out, else ""
    nosumdb: str
    #: consulted (go.sum lacks the hash), in go.sum, off, or skipped (a GONOSUMDB pattern)
    sumdb: str
    #: ssh HOST (privateModules.ssh), netrc HOST (privateModules.netrc), or none
    credential: str
    #: the module the route is for when go.mod replaces path@version by another ("" otherwise)
    replaced_by: str = ""

    @property
    def module(self) -> str:
        return f"{self.path}@{self.version}"

    def to_dict(self) -> dict[str, str]:
        return {
            "module": self.path,
            "version": self.version,
            "route": self.kind,
            "via": redact_text(self.via),
            "noproxy": self.noproxy,
            "nosumdb": self.nosumdb,
            "sumdb": self.sumdb,
            "credential": self.credential,
            "replacedBy": self.replaced_by,
        }


def route_for(path: str, version: str, *, env: GoEnv, credentials: Credentials, in_go_sum: bool) -> Route:
    """The route go takes for path@version (see the module docstring)."""
    variable, patterns = env.noproxy
    noproxy = matching_pattern(patterns, path)
    entries = env.entries()
    if noproxy is not None or not entries:
        kind, via = "direct", "direct"
    else:
        first = entries[0][0]
        kind = first if first in ("direct", "off") else "proxy"
        via = "".join(separator + entry for entry, separator in entries)
    sum_variable, sum_patterns = env.nosumdb
    nosumdb = matching_pattern(sum_patterns, path)
    if env.sumdb_name == "off":
        sumdb = "off"
    elif nosumdb is not None:
        sumdb = "skipped"
    elif in_go_sum:
        sumdb = "in go.sum"
    else:
        sumdb = f"consulted ({env.sumdb_name})"
    return Route(
        path=path,
        version=version,
        kind=kind,
        via=via,
        noproxy=f"{variable}={noproxy}" if noproxy is not None else "",
        nosumdb=f"{sum_variable}={nosumdb}" if nosumdb is not None else "",
        sumdb=sumdb,
        credential=_credential(path, kind=kind, entries=entries, credentials=credentials),
    )


def _credential(path: str, *, kind: str, entries: Sequence[tuple[str, str]], credentials: Credentials) -> str:
    if kind == "direct":
        host = path.split("/", 1)[0]
        for entry in credentials.ssh_hosts:
            if entry.split(":", 1)[0] == host:
                return f"ssh {entry}"
        return f"netrc {host}" if credentials.netrc_secret else "none"
    if kind == "proxy" and credentials.netrc_secret:
        return f"netrc {urlsplit(_with_scheme(entries[0][0])).hostname or entries[0][0]}"
    return "none"


def _with_scheme(entry: str) -> str:
    return entry if "://" in entry else "https://" + entry
