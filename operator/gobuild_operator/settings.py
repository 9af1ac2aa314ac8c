"""The operator's run-time settings: one frozen object, built once from the command line.

Handlers receive it through kopf's memo; nothing reads configuration from module globals, so
tests start operators with different settings side by side without patching anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gobuild_operator.api.configspec.policy import Policy


@dataclass(frozen=True)
class WebhookSettings:
    """Where the admission webhook listens and how it registers itself."""

    listen_addr: str = "0.0.0.0"  # noqa: S104 - in-cluster the Service reaches it on every interface
    port: int = 9443
    #: Host name or IP the API server uses to reach us (put in the certificate and the URL).
    host: str = "127.0.0.1"
    #: Register the MutatingWebhookConfiguration ourselves (kept on exit). For local runs.
    register: bool = False
    configuration_name: str = "gobuild-operator"
    #: In-cluster: reach the webhook through this Service instead of a URL.
    service_name: str | None = None
    certificate_dir: Path | None = None
    timeout_seconds: int = 5
    #: Seconds one admission request may take; past it the object is admitted unchanged and the
    #: request counted (outcome over_budget). Well below timeout_seconds, so we answer first.
    admission_budget: float = 1.0
    #: Seconds between checks of the certificate files for a rotated certificate.
    certificate_reload_interval: float = 10.0
    #: Serve only callers with a client certificate this CA (a PEM file) signed: the API server, once
    #: its admission configuration gives it one (docs/security.md). None: any caller may connect.
    client_ca: Path | None = None
    #: In-cluster, self-managed TLS: the Secret (in the operator's namespace) that holds the CA and
    #: the serving certificate; the leader creates and renews it, every replica serves from it.
    tls_secret: str | None = None
    tls_validity_days: int = 365
    tls_renew_before_days: int = 30


@dataclass(frozen=True)
class LeaderSettings:
    """The Lease that makes one replica of many the one that writes (serving/leader.py)."""

    lease: str = "gobuild-operator-leader"
    duration: float = 15.0
    retry_period: float = 2.0
    #: Who we are in the Lease: the Pod's name in-cluster, host and PID elsewhere.
    identity: str = ""


@dataclass(frozen=True)
class Settings:
    operator_namespace: str = "gobuild-system"
    #: Read the Secrets GoBuildConfigs name to check their keys (SecretsResolved). Off where the
    #: operator may not read Secrets (the chart's default RBAC): they are then reported unchecked.
    check_secrets: bool = True
    cluster_domain: str = "cluster.local"
    webhook: WebhookSettings = WebhookSettings()
    leader: LeaderSettings = LeaderSettings()
    #: Plain-HTTP /healthz and /readyz for the kubelet's probes (None: not served).
    health_port: int | None = None
    health_addr: str = "0.0.0.0"  # noqa: S104
    #: Seconds between batched status writes of download outcomes.
    status_flush_interval: float = 0.5
    #: Seconds between checks that running injected Pods listed in status.downloads.pending still
    #: exist (their DELETED event may have been lost in a watch gap).
    settle_interval: float = 300.0
    metrics_port: int | None = 8080
    metrics_addr: str = "0.0.0.0"  # noqa: S104
    #: Serve /metrics only to callers the API server authenticates and RBAC authorizes.
    metrics_auth: bool = False
    #: Added to NO_PROXY besides the cluster-internal names: the API server's address, as Pods
    #: see it (KUBERNETES_SERVICE_HOST in the operator's own Pod), so clients never proxy it.
    extra_no_proxy: tuple[str, ...] = ()
    #: Seconds a GOPROXY probe may take before the proxy counts as unreachable.
    probe_timeout: float = 5.0
    #: Let probes reach link-local addresses and cloud metadata services (core/status/reach.py), which
    #: they refuse by default: whoever writes a GoBuildConfig chooses the URLs the operator GETs.
    probe_allow_link_local: bool = False
    #: Probe only these hosts (names, *.suffix patterns, addresses, CIDRs); empty: any host. Others
    #: are reported "not probed" without a lookup (tests keep the operator off public names).
    probe_hosts: tuple[str, ...] = ()
    #: The operator Pod's own addresses (POD_IPS from the downward API): probes never reach them.
    own_addresses: tuple[str, ...] = ()
    #: The image the Proxy caches run (the operator's own: OPERATOR_IMAGE, which the chart sets);
    #: empty: the operator cannot run Proxy caches and says so on CacheReady.
    cache_image: str = ""
    cache_image_pull_policy: str = "IfNotPresent"
    #: Give each Proxy cache a NetworkPolicy admitting only its namespace's Pods, the operator's
    #: namespace and `cache_ingress_namespaces` (the cache holds what the config's credentials fetched).
    cache_network_policy: bool = True
    cache_ingress_namespaces: tuple[str, ...] = ()
    #: Probe every config this often instead of its spec.reporting.probeIntervalSeconds (whose
    #: CRD minimum is 30 s): for tests and demos only.
    probe_interval_override: float | None = None
    #: While a config's checks find something wrong, re-check at least this often (seconds).
    recheck_interval: float = 30.0
    #: Env names and GOFLAGS configs may set beyond the default allow lists (api/configspec/policy.py;
    #: --allow-env, --allow-goflag).
    policy: Policy = field(default_factory=Policy)

    @staticmethod
    def default_namespace() -> str:
        return os.environ.get("POD_NAMESPACE", "gobuild-system")
