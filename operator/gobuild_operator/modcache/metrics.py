"""The cache's Prometheus metrics, on a registry of its own (two caches in one test never share counts).

The operator reads the hit ratio for the GoBuildConfig's status from these:
hits / (hits + misses + stale served), summed over kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class CacheMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "gomodcache_requests",
            "Requests answered, by kind (info, mod, zip, list, latest, query, sumdb-*) and status code.",
            ["kind", "code"],
            registry=r,
        )
        self.hits = Counter(
            "gomodcache_hits", "Requests served from the cache without asking upstream.", ["kind"], registry=r
        )
        self.misses = Counter(
            "gomodcache_misses",
            "Requests that had to ask upstream (or wait for a fetch).",
            ["kind"],
            registry=r,
        )
        self.stale = Counter(
            "gomodcache_stale_served",
            "Expired list/latest/query answers served because the upstream failed.",
            ["kind"],
            registry=r,
        )
        self.joined = Counter(
            "gomodcache_singleflight_joined",
            "Misses that waited for a fetch another request had started instead of fetching again.",
            ["kind"],
            registry=r,
        )
        self.served_bytes = Counter(
            "gomodcache_served_bytes", "Bytes of file content served.", ["kind"], registry=r
        )
        self.upstream_requests = Counter(
            "gomodcache_upstream_requests",
            "Requests to upstreams by upstream (scheme://host) and result class (ok, not_found, http_4xx, "
            "http_5xx, timeout, connect, dns, tls, proxy, protocol, too_large, redirect, storage).",
            ["upstream", "class"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "gomodcache_upstream_errors",
            "Upstream requests that failed (every class but ok and not_found).",
            ["upstream", "class"],
            registry=r,
        )
        self.verification_failures = Counter(
            "gomodcache_verification_failures",
            "Files refused because their hash differs from the checksum database's.",
            ["kind"],
            registry=r,
        )
        self.verification_unavailable = Counter(
            "gomodcache_verification_unavailable",
            "Files served without being kept because the checksum database could not vouch for them.",
            ["reason"],
            registry=r,
        )
        self.evictions = Counter("gomodcache_evictions", "Files evicted to stay within maxBytes.", registry=r)
        self.evicted_bytes = Counter("gomodcache_evicted_bytes", "Bytes evicted.", registry=r)
        self.stored_bytes = Gauge("gomodcache_stored_bytes", "Bytes of files in the cache.", registry=r)
        self.stored_files = Gauge("gomodcache_stored_files", "Files in the cache.", registry=r)
        self.max_bytes = Gauge("gomodcache_max_bytes", "The configured size bound.", registry=r)
        self.in_flight = Gauge(
            "gomodcache_requests_in_flight", "Requests being answered right now.", registry=r
        )
        self.fetches_in_flight = Gauge(
            "gomodcache_upstream_fetches_in_flight",
            "Distinct upstream fetches running right now.",
            registry=r,
        )
