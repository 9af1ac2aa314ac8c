"""Prometheus metrics, on a registry of their own so two operators in one test never share counts."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_ADMISSION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.admission_requests = Counter(
            "gobuild_admission_requests",
            "Admission requests by kind and outcome (injected, skipped, error).",
            ["kind", "outcome"],
            registry=r,
        )
        self.admission_seconds = Histogram(
            "gobuild_admission_duration_seconds",
            "Time spent deciding and building the patch for one admission request.",
            ["kind"],
            buckets=_ADMISSION_BUCKETS,
            registry=r,
        )
        self.injections = Counter(
            "gobuild_injections",
            "Objects injected, by namespace and config.",
            ["namespace", "config"],
            registry=r,
        )
        self.downloads = Counter(
            "gobuild_download_outcomes",
            "Finished injected Pods by outcome and failure reason.",
            ["namespace", "config", "outcome", "reason"],
            registry=r,
        )
        self.admission_large_waiting = Gauge(
            "gobuild_admission_large_waiting",
            "Admission requests over 256 KiB waiting for the large-review lane: large reviews are read "
            "and decided one at a time, so a few of them cannot starve ordinary ones.",
            registry=r,
        )
        self.missed_injections = Counter(
            "gobuild_missed_injections",
            "Pods that asked for injection but were admitted without it.",
            ["namespace", "config"],
            registry=r,
        )
        self.markers_refused = Counter(
            "gobuild_recorded_markers_refused",
            "gobuild.dev/recorded annotations the API server refused (an admission policy, a quota): the "
            "Pod stays in status.downloads.pending and is tried again.",
            ["namespace"],
            registry=r,
        )
        self.missed_checks_skipped = Counter(
            "gobuild_missed_checks_skipped",
            "Stored Pods the missed-injection check gave up on: they took longer than the admission budget.",
            ["namespace"],
            registry=r,
        )
        self.probe_up = Gauge(
            "gobuild_proxy_reachable",
            "1 when the last probe of a GoBuildConfig's GOPROXY URL succeeded.",
            ["namespace", "config", "url"],
            registry=r,
        )
        self.probe_seconds = Histogram(
            "gobuild_proxy_probe_duration_seconds",
            "Latency of GOPROXY probes.",
            ["namespace", "config", "url"],
            registry=r,
        )
        self.certificate_expiry = Gauge(
            "gobuild_webhook_certificate_expiry_timestamp_seconds",
            "When the serving certificate this replica's webhook presents expires (Unix time; NaN before "
            "it has one), whoever issued it: the operator itself or cert-manager.",
            registry=r,
        )
        self.certificate_expiry.set(math.nan)
        self.leader = Gauge(
            "gobuild_leader",
            "1 while this replica holds the leader lease (it reconciles, probes, counts and renews the "
            "certificate), else 0.",
            registry=r,
        )

    def follow_certificate(self, expiry: Callable[[], float]) -> None:
        """Report `expiry()` (a Unix time, NaN when unknown) at every scrape."""
        self.certificate_expiry.set_function(expiry)

    def follow_leadership(self, is_leader: Callable[[], bool]) -> None:
        """Report whether this replica leads at every scrape."""
        self.leader.set_function(lambda: 1.0 if is_leader() else 0.0)

    def forget_config(self, namespace: str, config: str) -> None:
        """Remove every series of a GoBuildConfig that is gone, so /metrics never outgrows the
        configs that exist."""
        families = (
            self.probe_up,
            self.probe_seconds,
            self.injections,
            self.downloads,
            self.missed_injections,
        )
        for family in families:
            _remove_matching(family, namespace=namespace, config=config)

    def forget_urls(self, namespace: str, config: str, *, keep: Collection[str]) -> None:
        """Remove the probe series of the GOPROXY URLs a config no longer names."""
        for family in (self.probe_up, self.probe_seconds):
            _remove_matching(family, namespace=namespace, config=config, keep_urls=keep)


def _remove_matching(
    family: Counter | Gauge | Histogram, *, namespace: str, config: str, keep_urls: Collection[str] = ()
) -> None:
    names: tuple[str, ...] = family._labelnames  # the label order remove() takes
    seen: set[tuple[str, ...]] = set()
    for metric in family.collect():
        for sample in metric.samples:
            labels = sample.labels
            if labels.get("namespace") != namespace or labels.get("config") != config:
                continue
            if labels.get("url") in keep_urls:
                continue
            values = tuple(labels[name] for name in names)
            if values not in seen:
                seen.add(values)
                family.remove(*values)
