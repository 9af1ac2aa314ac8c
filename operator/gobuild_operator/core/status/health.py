"""What the operator checks on a timer, and how the answers read on the status.

Three checks feed three conditions: GOPROXY probes (ProxiesReachable, status.proxies), the Secrets
and ConfigMaps the spec names (SecretsResolved), and the module cache claim (CacheReady,
status.cache). The I/O (HTTP probes, API lookups) happens elsewhere; these functions decide what
to ask and turn the answers into status fields whose messages name the field to fix.

Only the presence of Secret keys is ever looked at; no value reaches this module.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.api.status.model import CacheStatus, Condition, Failure, ProxyStatus
from gobuild_operator.core.plan import cache_claim_name, cache_service_name
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.core.status import reach
from gobuild_operator.redact import has_userinfo, redact_url

Conditions = list[Condition]

#: status.proxies[].error of a file:// entry.
FILE_NOTE: Final = "not probed: a file:// GOPROXY is read inside the build container"
#: status.proxies[].error of an entry with a query or fragment (only under an older CRD).
QUERY_NOTE: Final = "not probed: a GOPROXY URL has no query or fragment; remove the ? or # part"
#: status.proxies[].error of an entry with credentials (only a spec stored under an older CRD has one).
CREDENTIALS_NOTE: Final = (
    "not probed: the URL carries credentials; put them in a .netrc Secret (spec.privateModules.netrc)"
)


# --- GOPROXY probes --------------------------------------------------------------------------


def escape_module_path(path: str) -> str:
    """The module path as the GOPROXY protocol spells it: each capital letter as '!' + lowercase."""
    return "".join(f"!{ch.lower()}" if ch.isupper() else ch for ch in path)


@dataclass(frozen=True)
class ProbeTarget:
    url: str  # the goproxy entry as shown (credentials redacted)
    probe_url: str  # what is fetched; "" when the entry is not probed
    note: str = ""
    proxy: str = ""  # the corporate proxy to go through, "" for none


def probe_targets(spec: GoBuildConfigSpec) -> list[ProbeTarget]:
    """http(s) entries are probed at `<url>/<module>/@v/list` (core.reach.probe_url); file:// is
    noted; direct/off skipped.

    Probes take the route builds take: through spec.corporateProxy unless noProxy exempts the host.
    """
    module = escape_module_path(spec.reporting.probe_module)
    targets = []
    for entry in spec.goproxy:
        scheme = urlsplit(entry).scheme
        if has_userinfo(entry):
            targets.append(ProbeTarget(redact_url(entry), "", CREDENTIALS_NOTE))
        elif scheme in ("http", "https"):
            url = reach.probe_url(entry, module)
            note = "" if url else QUERY_NOTE
            targets.append(ProbeTarget(redact_url(entry), url, note, proxy=corporate_proxy_for(spec, entry)))
        elif scheme == "file":
            targets.append(ProbeTarget(entry, "", FILE_NOTE))
    return targets


def corporate_proxy_for(spec: GoBuildConfigSpec, url: str) -> str:
    """The proxy go would use for `url` given spec.corporateProxy (Go's NO_PROXY rules: `*`, hosts
    and domain suffixes with or without a leading dot, IP addresses and CIDRs; ports ignored)."""
    proxy = spec.corporate_proxy
    parts = urlsplit(url)
    chosen = proxy.https_proxy if parts.scheme == "https" else proxy.http_proxy
    if not chosen:
        return ""
    host = (parts.hostname or "").lower()
    address = _ip(host)
    for raw in proxy.no_proxy:
        entry = raw.lower()
        if entry == "*":
            return ""
        if address is not None:
            network = _network(entry)
            if network is not None and address in network:
                return ""
            continue
        name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry
        if host == name.lstrip(".") or host.endswith("." + name.lstrip(".")):
            return ""
    return chosen


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An IP or CIDR NO_PROXY entry as a network ("10.0.0.1" is 10.0.0.1/32), else None."""
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


@dataclass(frozen=True)
class ProbeResult:
    url: str
    reachable: bool | None  # None: not probed
    latency_ms: int | None
    error: str
    time: str

    def to_status(self) -> ProxyStatus:
        return ProxyStatus(
            url=self.url,
            reachable=self.reachable,
            latency_ms=self.latency_ms,
            last_probe_time=self.time,
            error=self.error,
        )


def http_verdict(status: int, *, module: str) -> tuple[bool, str]:
    """(reachable, error) for the HTTP status a proxy answered a probe with.

    A proxy that answers is reachable; 404/410 and 401/403 still get an error saying why builds
    may not get modules from it. 5xx counts as unreachable: go stops there just the same.
    """
    if 200 <= status < 300:
        return True, ""
    if status in (404, 410):
        return True, f"HTTP {status}: the proxy does not serve {module} (spec.reporting.probeModule)"
    if status in (401, 403, 407):
        return True, f"HTTP {status}: the proxy wants credentials (spec.privateModules.netrc)"
    if status >= 500:
        return False, f"HTTP {status}: the proxy failed"
    return True, f"HTTP {status}"


def proxies_condition(
    conditions: Sequence[Condition],
    results: Sequence[ProbeResult],
    *,
    spec: GoBuildConfigSpec,
    generation: int | None,
    now: str,
) -> Conditions:
    set_proxies_reachable = cond.setter(conditions, cond.PROXIES_REACHABLE, generation=generation, now=now)
    if not spec.reporting.enabled:
        return set_proxies_reachable(
            "Unknown", "ProbesDisabled", "spec.reporting.enabled is false: GOPROXY URLs are not probed"
        )
    probed = [r for r in results if r.reachable is not None]
    if not probed:
        return set_proxies_reachable(
            "True",
            "NothingToProbe",
            "spec.goproxy has no http(s) URL to probe (direct, off and file:// are not probed)",
        )
    down = [r for r in probed if not r.reachable]
    if not down:
        listed = ", ".join(f"{r.url} ({r.latency_ms} ms)" for r in probed)
        return set_proxies_reachable(
            "True", "Reachable", f"answered the probe for {spec.reporting.probe_module}: {listed}"
        )
    message = "; ".join(f"{r.url} unreachable: {r.error}" for r in down)
    blocked = blocking_probes(spec, results)
    if blocked and spec.proxy_fallback == "OnNotFound" and len(spec.goproxy) > 1:
        message += (
            ". With spec.proxyFallback OnNotFound go does not move past an unreachable proxy: set "
            "spec.proxyFallback: OnAnyError or remove it from spec.goproxy"
        )
    if not blocked:
        message += (
            ". Builds are not stopped by it: go gets modules from an entry before it, or moves on past it "
            "(spec.proxyFallback: OnAnyError) and then depends on the next entry"
        )
        return set_proxies_reachable("False", PARTLY_UNREACHABLE, message)
    return set_proxies_reachable("False", "ProxyUnreachable", message + ": builds fail at go mod download")


#: ProxiesReachable's reason when a proxy is down but builds are not stopped by it.
PARTLY_UNREACHABLE: Final = "PartlyUnreachable"
#: ProxiesReachable's reason when the probes reach a proxy that the latest failed build could not.
UNREACHABLE_FROM_BUILDS: Final = "UnreachableFromBuilds"
#: Download failures of a request that never reached the server.
_UNREACHED: Final = frozenset({"ProxyUnreachable", "DNSResolutionFailed", "TLSHandshakeTimeout"})


def blocking_probes(spec: GoBuildConfigSpec, results: Sequence[ProbeResult]) -> list[ProbeResult]:
    """The failed probes builds cannot get past: go walks spec.goproxy in order and stops at an
    unreachable proxy unless spec.proxyFallback is OnAnyError and an entry follows (direct, off and
    file:// end the walk; so does a proxy that answers). Empty when builds are not stopped by one."""
    by_url = {r.url: r for r in results}
    entries = list(spec.goproxy)
    for index, entry in enumerate(entries):
        result = by_url.get(redact_url(entry))
        if entry in ("direct", "off") or result is None or result.reachable is None:
            return []
        if result.reachable:
            return []
        if spec.proxy_fallback == "OnAnyError" and index + 1 < len(entries):
            continue
        return [by_url[redact_url(e)] for e in entries[: index + 1] if redact_url(e) in by_url]
    return []


def consistent_proxies(
    conditions: Sequence[Condition],
    proxies: Sequence[ProxyStatus],
    last_failure: Failure | None,
    *,
    generation: int | None,
    now: str,
) -> Conditions:
    """ProxiesReachable that never contradicts DownloadsHealthy: when the latest finished build could
    not reach a proxy of the config (the failure's host, on the proxy route) that the operator's probe
    reaches, the builds' network path differs (a NetworkPolicy, an egress firewall): ProxiesReachable
    turns False (UnreachableFromBuilds), and back to the probes' verdict once builds succeed."""
    current = cond.get_condition(conditions, cond.PROXIES_REACHABLE)
    downloads = cond.get_condition(conditions, cond.DOWNLOADS_HEALTHY)
    if current is None:
        return list(conditions)
    set_proxies = cond.setter(conditions, cond.PROXIES_REACHABLE, generation=generation, now=now)
    probed = {redact_url(p.url): p for p in proxies if p.reachable is not None}
    failure = last_failure
    contradicts = (
        downloads is not None
        and downloads.status == "False"
        and failure is not None
        and failure.route == "proxy"
        and failure.reason in _UNREACHED
        and any(p.reachable and _host(url) == failure.host for url, p in probed.items())
    )
    if contradicts and current.status == "True" and failure is not None:
        return set_proxies(
            "False",
            UNREACHABLE_FROM_BUILDS,
            f"the operator's probe reaches {failure.host}, but the build of Pod {failure.pod} could not "
            f"({failure.reason}): the builds' network path differs from the operator's (a NetworkPolicy, "
            "an egress firewall, or a corporate proxy only the builds use); see DownloadsHealthy",
        )
    if current.reason == UNREACHABLE_FROM_BUILDS and not contradicts:
        if probed and all(p.reachable for p in probed.values()):
            listed = ", ".join(f"{url} ({p.latency_ms} ms)" for url, p in probed.items())
            return set_proxies("True", "Reachable", f"answered the latest probe: {listed}")
        return set_proxies("Unknown", "Checking", "waiting for the next probe of spec.goproxy")
    return list(conditions)


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    for scheme, port in (("http", ":80"), ("https", ":443")):
        if parts.scheme == scheme and host.endswith(port):
            host = host[: -len(port)]
    return host


# --- referenced Secrets and ConfigMaps --------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    kind: Literal["Secret", "ConfigMap"]
    name: str
    field: str  # the spec field naming the object
    keys: tuple[tuple[str, str], ...]  # (key, the spec field naming the key)


def references(spec: GoBuildConfigSpec) -> list[Reference]:
    refs = []
    ssh = spec.private_modules.ssh
    if ssh is not None:
        refs.append(
            Reference(
                "Secret",
                ssh.secret_name,
                "spec.privateModules.ssh.secretName",
                (
                    (c.SECRET_KEY_SSH_PRIVATE, "spec.privateModules.ssh.secretName"),
                    (ssh.known_hosts_key, "spec.privateModules.ssh.knownHostsKey"),
                ),
            )
        )
    netrc = spec.private_modules.netrc
    if netrc is not None:
        refs.append(
            Reference(
                "Secret",
                netrc.secret_name,
                "spec.privateModules.netrc.secretName",
                ((c.SECRET_KEY_NETRC, "spec.privateModules.netrc.secretName"),),
            )
        )
    bundle = spec.ca_bundle
    if bundle is not None:
        kind: Literal["Secret", "ConfigMap"] = "ConfigMap" if bundle.config_map_name else "Secret"
        where = "configMapName" if bundle.config_map_name else "secretName"
        refs.append(
            Reference(
                kind,
                bundle.config_map_name or bundle.secret_name,
                f"spec.caBundle.{where}",
                ((bundle.key, "spec.caBundle.key"),),
            )
        )
    return refs


@dataclass(frozen=True)
class Lookup:
    """What a GET of a referenced object found: existence and key names, never values."""

    found: bool
    keys: frozenset[str] = frozenset()
    error: str = ""  # the lookup itself failed (e.g. forbidden)
    unchecked: bool = False  # not looked up: the operator may not read this kind (Secrets)


#: A Secret the operator is not allowed to read (Settings.check_secrets off).
UNCHECKED = Lookup(found=False, unchecked=True)


def secrets_condition(
    conditions: Sequence[Condition],
    refs: Sequence[Reference],
    lookups: Mapping[tuple[str, str], Lookup],
    *,
    generation: int | None,
    now: str,
) -> Conditions:
    """SecretsResolved, with a message naming every missing object or key and the field naming it."""
    set_secrets_resolved = cond.setter(conditions, cond.SECRETS_RESOLVED, generation=generation, now=now)
    problems: list[tuple[str, str]] = []  # (reason, message)
    found: list[str] = []
    unchecked: list[str] = []
    for ref in refs:
        lookup = lookups.get((ref.kind, ref.name))
        if lookup is None:
            continue
        if lookup.unchecked:
            unchecked.append(f"{ref.kind} {ref.name} ({ref.field})")
        elif lookup.error:
            problems.append(
                ("LookupFailed", f"cannot read {ref.kind} {ref.name} ({ref.field}): {lookup.error}")
            )
        elif not lookup.found:
            problems.append((f"{ref.kind}NotFound", f"{ref.kind} {ref.name} not found ({ref.field})"))
        else:
            missing = [(key, field) for key, field in ref.keys if key not in lookup.keys]
            problems.extend(
                ("KeyNotFound", f"{ref.kind} {ref.name} has no key {key} ({field})") for key, field in missing
            )
            if not missing:
                found.append(f"{ref.kind} {ref.name} ({', '.join(k for k, _ in ref.keys)})")
    if problems:
        return set_secrets_resolved("False", problems[0][0], "; ".join(m for _, m in problems))
    if unchecked and len(found) + len(unchecked) == len(refs):
        return set_secrets_resolved(
            "Unknown",
            cond.NOT_CHECKED,
            (
                f"not checked: {'; '.join(unchecked)}: the operator may not read Secrets (Helm value "
                "rbac.readSecrets grants it); a missing one shows when a Pod cannot start"
                + (f"; found {'; '.join(found)}" if found else "")
            ),
        )
    if len(found) < len(refs):
        return set_secrets_resolved("Unknown", "Checking", "not all referenced objects were looked up yet")
    return set_secrets_resolved(
        "True",
        "Resolved" if refs else "NothingReferenced",
        ("found " + "; ".join(found)) if found else "the spec references no Secret or ConfigMap",
    )


# --- the cache claim ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What a GET of the cache claim found (or why the operator could not create it)."""

    found: bool
    phase: str = ""
    capacity: str = ""
    access_modes: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class ProxyCache:
    """What the checks found of a Proxy cache: its Deployment's readiness and its own counters."""

    found: bool
    available: bool = False
    #: Why it is not there or not ready, when the operator knows (an apply refused, a Pod failing).
    problem: str = ""
    hits: int | None = None
    misses: int | None = None


#: What CacheReady says of a shared volume, whatever its state: its trust model.
SHARED_VOLUME_TRUST: Final = (
    "mode SharedVolume: every build that mounts the volume can change what later builds compile; "
    "use mode Proxy unless all builds of the namespace are trusted alike"
)


def cache_check(
    conditions: Sequence[Condition],
    spec: GoBuildConfigSpec,
    *,
    config_name: str,
    claim: Claim | None,
    proxy: ProxyCache | None = None,
    url: str = "",
    generation: int | None,
    now: str,
) -> tuple[CacheStatus | None, Conditions]:
    """(status.cache or None when there is no cache, conditions with CacheReady)."""
    set_ready = cond.setter(conditions, cond.CACHE_READY, generation=generation, now=now)
    cache = spec.cache
    if not cache.enabled:
        return None, set_ready("True", "CacheDisabled", "no module cache (spec.cache.enabled is false)")
    status, (verdict, reason, message) = _claim_verdict(spec, config_name=config_name, claim=claim)
    status = status.model_copy(update={"mode": cache.mode})
    if cache.shared_volume:
        return status, set_ready(verdict, reason, f"{message}; {SHARED_VOLUME_TRUST}")
    status = status.model_copy(update={"url": url})
    if verdict == "False" or proxy is None:
        return status, set_ready(verdict, reason, message)
    if proxy.hits is not None and proxy.misses is not None:
        total = proxy.hits + proxy.misses
        status = status.model_copy(
            update={
                "hits": proxy.hits,
                "misses": proxy.misses,
                "hit_ratio": round(proxy.hits / total, 3) if total else None,
            }
        )
    status = status.model_copy(update={"available": proxy.available})
    name = cache_service_name(config_name)
    if proxy.problem:
        return status, set_ready("False", "CacheNotRunning", f"the Proxy cache {name}: {proxy.problem}")
    if not proxy.found or not proxy.available:
        return status, set_ready(
            "Unknown",
            "CacheStarting",
            f"waiting for the Proxy cache {name} to be ready ({message}); builds use the config's "
            "own GOPROXY list meanwhile",
        )
    return status, set_ready("True", "Serving", f"the Proxy cache {name} serves builds at {url}; {message}")


def _claim_verdict(
    spec: GoBuildConfigSpec, *, config_name: str, claim: Claim | None
) -> tuple[CacheStatus, tuple[cond.Status, str, str]]:
    """status.cache's claim part and (CacheReady status, reason, message) from the claim alone."""
    name = cache_claim_name(config_name, spec)
    field = "spec.cache.existingClaim" if spec.cache.existing_claim else "spec.cache"
    if claim is None:
        return CacheStatus(claim_name=name), (
            "Unknown",
            "Checking",
            f"looking up PersistentVolumeClaim {name}",
        )
    if claim.error:
        return CacheStatus(claim_name=name), (
            "False",
            "ClaimNotCreated",
            f"PersistentVolumeClaim {name}: {claim.error}",
        )
    if not claim.found:
        how = "" if spec.cache.existing_claim else "; the operator creates it"
        return CacheStatus(claim_name=name), (
            "False",
            "ClaimNotFound",
            f"PersistentVolumeClaim {name} not found ({field}){how}",
        )
    status = CacheStatus(
        claim_name=name, phase=claim.phase, capacity=claim.capacity, access_modes=list(claim.access_modes)
    )
    if claim.phase == "Pending":
        return status, (
            "Unknown",
            "ClaimPending",
            f"PersistentVolumeClaim {name} is Pending: waiting for a volume (with a WaitForFirstConsumer "
            "StorageClass it binds when the first Pod mounts it)",
        )
    if claim.phase != "Bound":
        return status, (
            "False",
            f"Claim{claim.phase or 'Unusable'}",
            f"PersistentVolumeClaim {name} is {claim.phase}",
        )
    modes = set(claim.access_modes)
    if (
        spec.cache.shared_volume
        and "ReadWriteMany" not in modes
        and modes & {"ReadWriteOnce", "ReadWriteOncePod"}
    ):
        only = "one Pod" if modes == {"ReadWriteOncePod"} else "Pods on one node"
        return status, (
            "True",
            "SingleNodeAccess",
            f"warning: PersistentVolumeClaim {name} is bound {'/'.join(sorted(modes))}: only {only} can "
            f"mount it at a time, so builds elsewhere wait; use a ReadWriteMany claim ({field}) or mode "
            "Proxy",
        )
    capacity = f" ({claim.capacity})" if claim.capacity else ""
    return status, ("True", "Bound", f"PersistentVolumeClaim {name} is bound{capacity}")


def initial_downloads_condition(
    conditions: Sequence[Condition], *, enabled: bool, generation: int | None, now: str
) -> Conditions:
    """DownloadsHealthy before any injected Pod finished (later set by core.counting)."""
    set_downloads_healthy = cond.setter(conditions, cond.DOWNLOADS_HEALTHY, generation=generation, now=now)
    current = cond.get_condition(conditions, cond.DOWNLOADS_HEALTHY)
    if not enabled:
        return set_downloads_healthy(
            "Unknown", "ReportingDisabled", "spec.reporting.enabled is false: build outcomes are not recorded"
        )
    if current is not None and current.reason != "ReportingDisabled":
        return list(conditions)
    return set_downloads_healthy("Unknown", "NoBuildsYet", "no injected Pod has finished yet")
