"""The operator's run-time settings: one frozen object, built once from the command line.

Handlers receive it through kopf's memo; nothing reads configuration from module globals, so
tests start operators with different settings side by side without patching anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gobuild_operator.core.policy import Policy


@dataclass(frozen=True)
class WebhookSettings:
    """Where the admission webhook listens and how it registers itself."""

    listen_addr: str = "0.0.0.0"  # noqa: S104 - in-cluster the Service reaches it on every interface
    port: int = 9443
    #: Host name or IP the API server uses to reach us (put in the certificate and the URL).
    host: str = "127.0.0.1"
    #: Register (and on exit remove) the MutatingWebhookConfiguration ourselves. For local runs.
    register: bool = False
    configuration_name: str = "gobuild-operator"
    #: In-cluster: reach the webhook through this Service instead of a URL.
    service_name: str | None = None
    certificate_dir: Path | None = None
    timeout_seconds: int = 5


@dataclass(frozen=True)
class Settings:
    operator_namespace: str = "gobuild-system"
    cluster_domain: str = "cluster.local"
    webhook: WebhookSettings = WebhookSettings()
    #: Seconds between batched status writes of download outcomes.
    status_flush_interval: float = 0.5
    metrics_port: int | None = 8080
    metrics_addr: str = "0.0.0.0"  # noqa: S104
    #: Added to NO_PROXY besides the cluster-internal names: the API server's address, as Pods
    #: see it (KUBERNETES_SERVICE_HOST in the operator's own Pod), so clients never proxy it.
    extra_no_proxy: tuple[str, ...] = ()
    #: Seconds a GOPROXY probe may take before the proxy counts as unreachable.
    probe_timeout: float = 5.0
    #: Let probes reach link-local addresses and cloud metadata services (core/reach.py), which
    #: they refuse by default: whoever writes a GoBuildConfig chooses the URLs the operator GETs.
    probe_allow_link_local: bool = False
    #: Probe every config this often instead of its spec.reporting.probeIntervalSeconds (whose
    #: CRD minimum is 30 s): for tests and demos only.
    probe_interval_override: float | None = None
    #: While a config's checks find something wrong, re-check at least this often (seconds).
    recheck_interval: float = 30.0
    #: Env names and GOFLAGS that run code, which configs may set only where this lifts the
    #: default deny lists (core/policy.py; --allow-env, --allow-goflag).
    policy: Policy = field(default_factory=Policy)

    @staticmethod
    def default_namespace() -> str:
        return os.environ.get("POD_NAMESPACE", "gobuild-system")
