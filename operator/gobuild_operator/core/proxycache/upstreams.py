"""How the cache reaches its upstreams: go's GOPROXY list, proxy variables and netrc, as go reads them.

The cache stands in front of the same list a build would use, so each rule here is the go
command's: `,` falls through to the next proxy only on 404/410 and `|` on any error; `direct` and
`off` end the list (go itself handles them once the cache has answered 404); HTTPS_PROXY,
HTTP_PROXY and NO_PROXY as net/http's ProxyFromEnvironment reads them (loopback never proxied, a
NO_PROXY domain matches its subdomains); netrc as cmd/go/internal/auth parses it (first machine
wins, `default` and `macdef` ignored, so a catch-all password is never sent to every upstream).
Credentials are kept apart from URLs so that whatever is logged is `redact`ed first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": "80", "https": "443"}


class UpstreamConfigError(ValueError):
    """A setting the cache cannot use; the message names it (never a credential)."""


@dataclass(frozen=True)
class UpstreamProxy:
    """One GOPROXY entry the cache can fetch from, and whether any error falls through (`|`)."""

    url: str  # http(s)://host[:port][/path], no trailing slash, no credentials
    fall_back_on_error: bool


def parse_goproxy(value: str) -> tuple[UpstreamProxy, ...]:
    """go's proxyList for the cache: the http(s) entries up to `direct`/`off`.

    `file://` entries are skipped (they name a build's files, which the cache cannot see); go
    still reads them itself after the cache. Bad URLs raise UpstreamConfigError.
    """
    entries: list[UpstreamProxy] = []
    rest = value
    while rest:
        cut = min((i for i in (rest.find(","), rest.find("|")) if i >= 0), default=-1)
        if cut >= 0:
            url, fall_back, rest = rest[:cut], rest[cut] == "|", rest[cut + 1 :]
        else:
            url, fall_back, rest = rest, False, ""
        url = url.strip()
        if not url:
            continue
        if url in ("off", "direct"):
            break
        if any(c in url for c in ".:/") and ":/" not in url and not url.startswith("/"):
            url = "https://" + url
        if url.startswith("file:"):
            continue
        entries.append(UpstreamProxy(_proxy_base(url), fall_back))
    return tuple(entries)


def _proxy_base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamConfigError(f"GOPROXY entry {redact(url)!r} is not an http(s) URL")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise UpstreamConfigError(f"GOPROXY entry {redact(url)!r} has a query or fragment")
    if parts.username is not None or parts.password is not None:
        raise UpstreamConfigError(
            f"GOPROXY entry {redact(url)!r} carries credentials: put them in the netrc file"
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def redact(url: str) -> str:
    """`url` without its user information, for logs and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc="***@" + host))


def join(base: str, path: str) -> str:
    """`base` (a GOPROXY entry or checksum database URL) followed by a relative path."""
    return base.rstrip("/") + "/" + path.lstrip("/")


# --- proxy variables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ForwardProxy:
    """The proxy a request goes through; `login`/`password` become Proxy-Authorization."""

    url: str  # scheme://host:port, no credentials
    login: str = ""
    password: str = ""


@dataclass(frozen=True)
class _NoProxyEntry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    domain: str  # ".example.com" (with the leading dot)
    match_host: bool  # also the bare domain itself
    port: str


@dataclass(frozen=True)
class ProxyRules:
    """HTTP_PROXY/HTTPS_PROXY/NO_PROXY, parsed once."""

    http: ForwardProxy | None
    https: ForwardProxy | None
    no_proxy: tuple[_NoProxyEntry, ...]
    no_proxy_all: bool

    @classmethod
    def parse(cls, *, http_proxy: str, https_proxy: str, no_proxy: Iterable[str]) -> ProxyRules:
        entries: list[_NoProxyEntry] = []
        for raw in no_proxy:
            for item in raw.split(","):
                p = item.strip().lower()
                if not p:
                    continue
                if p == "*":
                    return cls(_forward(http_proxy), _forward(https_proxy), (), True)
                entry = _no_proxy_entry(p)
                if entry is not None:
                    entries.append(entry)
        return cls(_forward(http_proxy), _forward(https_proxy), tuple(entries), False)

    def select(self, url: str) -> ForwardProxy | None:
        """The proxy for `url`, or None to connect directly (net/http's ProxyFromEnvironment)."""
        parts = urlsplit(url)
        proxy = {"https": self.https, "http": self.http}.get(parts.scheme)
        if proxy is None:
            return None
        host = (parts.hostname or "").lower()
        port = str(parts.port) if parts.port else _DEFAULT_PORTS.get(parts.scheme, "")
        if not host or host == "localhost" or self.no_proxy_all:
            return None
        ip = _ip(host)
        if ip is not None and ip.is_loopback:
            return None
        for entry in self.no_proxy:
            if entry.network is not None:
                if ip is not None and ip in entry.network and (not entry.port or entry.port == port):
                    return None
            elif (
                ip is None
                and (host.endswith(entry.domain) or (entry.match_host and host == entry.domain[1:]))
                and (not entry.port or entry.port == port)
            ):
                return None
        return proxy


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _no_proxy_entry(p: str) -> _NoProxyEntry | None:
    if "/" in p:
        try:
            return _NoProxyEntry(ipaddress.ip_network(p, strict=False), "", False, "")
        except ValueError:
            return None
    host, port = p, ""
    if p.startswith("["):
        host, _, tail = p[1:].partition("]")
        port = tail.removeprefix(":")
    elif p.count(":") == 1:
        host, _, port = p.partition(":")
    if not host:
        return None
    ip = _ip(host)
    if ip is not None:
        return _NoProxyEntry(ipaddress.ip_network(ip), "", False, port)
    host = host.removeprefix("*")
    match_host = not host.startswith(".")
    return _NoProxyEntry(None, host if not match_host else "." + host, match_host, port)


def _forward(value: str) -> ForwardProxy | None:
    value = value.strip()
    if not value:
        return None
    parts: SplitResult = urlsplit(value)
    if not parts.scheme or not parts.hostname:
        parts = urlsplit("http://" + value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamConfigError(f"proxy {redact(value)!r} is not an http(s) URL")
    netloc = parts.netloc.rpartition("@")[2]
    if not parts.port:
        netloc = f"{netloc}:{_DEFAULT_PORTS[parts.scheme]}"
    return ForwardProxy(
        f"{parts.scheme}://{netloc}", unquote(parts.username or ""), unquote(parts.password or "")
    )


# --- netrc ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    login: str
    password: str

    def __repr__(self) -> str:  # a stray log of the object shows no secret
        return "Credentials(***)"


def parse_netrc(text: str) -> Mapping[str, Credentials]:
    """Machine -> credentials, as cmd/go/internal/auth reads a netrc file (first machine wins)."""
    found: dict[str, Credentials] = {}
    machine = login = password = ""
    in_macro = False
    for line in text.split("\n"):
        if in_macro:
            in_macro = line != ""
            continue
        fields = line.split()
        i = 0
        while i < len(fields) - 1:
            key, value = fields[i], fields[i + 1]
            if key == "machine":
                machine, login, password = value, "", ""
            elif key == "login":
                login = value
            elif key == "password":
                password = value
            elif key == "macdef":
                in_macro = True
            if machine and login and password:
                found.setdefault(machine, Credentials(login, password))
                machine = login = password = ""
            i += 2
        if i < len(fields) and fields[i] == "default":
            break
    return found


def credentials_for(url: str, netrc: Mapping[str, Credentials]) -> Credentials | None:
    """The netrc entry for `url`'s host (`host:port` first, then `host`)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        found = netrc.get(f"{host}:{parts.port}")
        if found is not None:
            return found
    return netrc.get(host)
