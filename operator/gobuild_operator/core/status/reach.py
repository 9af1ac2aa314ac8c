"""What a GOPROXY probe may ask and reach (hardening #3): decided here, enforced by reporting/proxyprobe.py.

Whoever may create a GoBuildConfig makes the operator send GET requests from its own network
position, so the probe asks as little as go itself would and nothing more:

* One URL per GOPROXY entry: `<entry>/<escaped module>/@v/list`, built from the parsed entry (a
  `?` or `#` in the entry, refused by the CRD anyway, can no longer cut the module path off).
* Redirects only where go follows them: at most 10, never from an https:// start to http://, and
  only to http(s) URLs.
* Never to link-local addresses (169.254.0.0/16, fe80::/10) or cloud metadata services
  (fd00:ec2::254, 100.100.100.200, metadata.google.internal, ...), however written (IPv4-mapped
  IPv6, NAT64, legacy numeric IPv4 such as 0xa9fea9fe) and whatever a name resolves to, unless the
  operator is started with `--probe-allow-link-local`.
* Never to loopback (the operator's own ports answer there) unless the admin lists a loopback
  address in `--probe-hosts` (local runs and tests), and never to the operator Pod's own addresses.

The checks run before any connection: on the URL of every hop, on the corporate proxy's URL, and
on every address the resolver returns. `Guard` carries what an admin allowed.

What stays reachable is documented in docs/security.md ("What the probes reach").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from gobuild_operator.redact import has_userinfo

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: go's net/http client stops after this many redirects (cmd/go/internal/web: checkRedirect).
MAX_REDIRECTS: Final = 10
#: The HTTP statuses go follows (with a Location header).
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})

#: Link-local networks: the metadata services of AWS, GCP, Azure, OpenStack and Oracle Cloud
#: (169.254.169.254), ECS task credentials (169.254.170.2), Tencent (169.254.0.23) live here.
LINK_LOCAL: Final = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
#: Metadata services outside link-local: AWS over IPv6, Alibaba Cloud.
METADATA_ADDRESSES: Final = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
#: Names of metadata services (refused without resolving them).
METADATA_NAMES: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
#: Where the refusal message sends an admin who really wants such probes.
ALLOW_FLAG: Final = "--probe-allow-link-local"
#: Where the "outside the probe hosts" note sends an admin.
HOSTS_FLAG: Final = "--probe-hosts"
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")


def probe_url(entry: str, module: str) -> str:
    """`<entry>/<module>/@v/list` for an http(s) GOPROXY entry, or "" when the entry is not probed
    (not http(s), or carrying credentials, a query or a fragment). `module` is already escaped."""
    parts = urlsplit(entry)
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment or "?" in entry or "#" in entry:
        return ""
    if has_userinfo(entry) or "@" in parts.netloc:
        return ""
    path = f"{parts.path.rstrip('/')}/{module}/@v/list"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True)
class Guard:
    """What the operator's admin lets probes reach beyond the default."""

    #: Link-local addresses and cloud metadata services (--probe-allow-link-local).
    allow_link_local: bool = False
    #: Loopback: a loopback address listed in --probe-hosts (the operator runs as a local process).
    allow_loopback: bool = False
    #: The operator Pod's own addresses (from the downward API), refused whatever else is allowed.
    own: frozenset[IPAddress] = frozenset()


#: The default: neither link-local, metadata, loopback nor the operator's own addresses.
GUARDED: Final = Guard()


def address_refusal(address: IPAddress, *, guard: Guard = GUARDED) -> str | None:
    """Why a probe must not connect to `address`, or None."""
    for candidate in _meanings(address):
        if candidate in guard.own:
            return f"refused before connecting: {candidate} is the operator's own address"
        if candidate.is_loopback and not guard.allow_loopback:
            return (
                f"refused before connecting: {candidate} is a loopback address, where the operator's own "
                f"ports answer (operator flag {HOSTS_FLAG} with a loopback entry allows it)"
            )
        if not guard.allow_link_local and (
            candidate in METADATA_ADDRESSES or any(candidate in network for network in LINK_LOCAL)
        ):
            return (
                f"refused before connecting: {candidate} is a link-local or cloud metadata address "
                f"(operator flag {ALLOW_FLAG} allows it)"
            )
    return None


def host_refusal(host: str, *, guard: Guard = GUARDED) -> str | None:
    """Why a probe must not go to `host` (a name or an address as written in a URL), or None."""
    name = host.strip("[]").rstrip(".").lower()
    address = _address(name)
    if address is not None:
        return address_refusal(address, guard=guard)
    if name == "localhost" or name.endswith(".localhost"):
        return (
            None if guard.allow_loopback else address_refusal(ipaddress.ip_address("127.0.0.1"), guard=guard)
        )
    if guard.allow_link_local:
        return None
    if name in METADATA_NAMES:
        return (
            f"refused before connecting: {name} is a cloud metadata service (operator flag {ALLOW_FLAG} "
            "allows it)"
        )
    return None


def url_refusal(url: str, *, guard: Guard = GUARDED) -> str | None:
    """Why a probe must not GET `url` (a probe URL, a redirect target, the corporate proxy), or None."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        _ = parts.port
    except ValueError:
        return "refused: not a valid URL"
    if parts.scheme not in ("http", "https"):
        return f"refused: {_shown(parts.scheme)}: is not http(s)"
    if not hostname:
        return "refused: the URL has no host"
    return host_refusal(hostname, guard=guard)


def proxy_refusal(proxy: str, *, guard: Guard = GUARDED) -> str | None:
    """Why a probe must not go through the corporate proxy `proxy` (socks is not http(s))."""
    try:
        hostname = urlsplit(proxy).hostname or ""
    except ValueError:
        return "refused: the corporate proxy is not a valid URL"
    refusal = host_refusal(hostname, guard=guard)
    return None if refusal is None else f"corporate proxy {refusal}"


def lists_loopback(allowed: Sequence[str]) -> bool:
    """Whether an admin's --probe-hosts names a loopback host (so probes may reach loopback)."""
    for entry in allowed:
        pattern = entry.strip().lower().rstrip(".")
        if pattern == "localhost":
            return True
        try:
            network = ipaddress.ip_network(pattern.strip("[]"), strict=False)
        except ValueError:
            continue
        if network.network_address.is_loopback:
            return True
    return False


def host_listed(host: str, allowed: Sequence[str]) -> bool:
    """Whether `host` (a name or address as written in a URL) is one the operator may probe.

    `allowed` holds names (`goproxy.corp.example`), suffix patterns (`*.corp.example`, which also
    match the bare domain), addresses and CIDRs (`10.0.0.0/8`); empty means every host. Names are
    compared as written, before anything is resolved, so a host outside the list causes no lookup.
    """
    if not allowed:
        return True
    name = host.strip("[]").rstrip(".").lower()
    address = _address(name)
    for entry in allowed:
        pattern = entry.strip().lower().rstrip(".")
        if "/" in pattern or _address(pattern) is not None:
            if address is None:
                continue
            try:
                network = ipaddress.ip_network(pattern, strict=False)
            except ValueError:
                continue
            if any(candidate in network for candidate in _meanings(address)):
                return True
        elif pattern.startswith("*."):
            if name == pattern[2:] or name.endswith(pattern[1:]):
                return True
        elif name == pattern:
            return True
    return False


def unlisted_note(url: str, allowed: Sequence[str]) -> str | None:
    """Why `url` is not probed when the operator limits probes to `allowed` hosts, or None."""
    try:
        hostname = urlsplit(url).hostname or ""
    except ValueError:
        return None  # url_refusal says what is wrong with it
    if host_listed(hostname, allowed):
        return None
    return f"not probed: {hostname} is outside the hosts the operator may probe (operator flag {HOSTS_FLAG})"


def redirect_refusal(chain: Sequence[str], location: str) -> str | None:
    """Why go would not follow a redirect to `location` after the URLs of `chain` (chain[0] is the
    probe URL), or None. Addresses are checked separately (url_refusal) on the next hop."""
    if len(chain) > MAX_REDIRECTS:
        return f"stopped after {MAX_REDIRECTS} redirects, as go does"
    try:
        scheme = urlsplit(location).scheme
    except ValueError:
        return "refused: redirected to an invalid URL"
    if scheme not in ("http", "https"):
        return f"refused: redirected to a {_shown(scheme)}: URL, which go does not follow"
    if urlsplit(chain[0]).scheme == "https" and scheme != "https":
        return "refused: redirected from https:// to http://, which go does not follow"
    return None


def _meanings(address: IPAddress) -> list[IPAddress]:
    """The address, and the IPv4 address it carries (IPv4-mapped, NAT64, 6to4, IPv4-compatible)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address in _NAT64 or int(address) >> 32 == 0:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        found.extend(a for a in embedded if a is not None)
    return found


def _address(host: str) -> IPAddress | None:
    """The address `host` stands for, including the legacy IPv4 forms inet_aton (and so a corporate
    proxy's resolver) accepts: 2852039166, 0xa9fea9fe, 0251.0376.0251.0376, 169.254.43518."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                numbers.append(int(part[2:], 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            elif part.isascii() and part.isdigit():
                numbers.append(int(part))
            else:
                return None
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _shown(text: str) -> str:
    """A piece of a URL from elsewhere (a Location header), safe to put on the status."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:32])
