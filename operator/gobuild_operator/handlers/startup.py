"""Operator start-up and shut-down: the API client, metrics, health, the webhook's certificate, the
leader election, and what the leader alone runs.

Every replica keeps its store current (kopf's GoBuildConfig and Namespace watches) and serves
admission from it; it is ready (/readyz) once the store holds what existed at start-up and its
webhook server has a certificate. The replica holding the Lease (serving/leader.py) also runs the
reporting machinery (gobuild_operator.reporting: injected Pods' outcomes, checks and probes,
namespace labels), reconciles every GoBuildConfig's status, manages the self-managed certificate,
and on local runs keeps the webhook configuration registered. kopf does not watch Pods at all:
reporting/service.py watches the injected ones itself, selected server-side on a label.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import logging
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import kopf

from gobuild_operator.constants import LABEL_CONFIG
from gobuild_operator.handlers.gobuildconfigs import reconcile_all
from gobuild_operator.handlers.webhook import WebhookServer
from gobuild_operator.k8s.client import make_api_client
from gobuild_operator.k8s.leases import ensure_namespace
from gobuild_operator.k8s.metawatch import existing_configs_and_namespaces
from gobuild_operator.k8s.webhookconfig import build_configuration, ensure_configuration
from gobuild_operator.reporting.service import Reporting
from gobuild_operator.serving import pki
from gobuild_operator.serving.health import HealthServer
from gobuild_operator.serving.leader import LeaderElection
from gobuild_operator.serving.metrics_server import MetricsServer
from gobuild_operator.serving.tls import CertificateExpiry, WebhookTLS
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store


def is_ip_address(host: str) -> bool:
    """Whether the webhook host is an IP address (v4 or v6): it goes into the certificate as one."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def webhook_certificates(settings: Settings) -> tuple[Path, Path, bytes]:
    """(certfile, keyfile, CA PEM): mounted ones in-cluster, or freshly made for this run."""
    hook = settings.webhook
    if hook.certificate_dir is not None:
        d = hook.certificate_dir
        bundle = d / "ca.crt" if (d / "ca.crt").exists() else d / "tls.crt"
        return d / "tls.crt", d / "tls.key", bundle.read_bytes()
    dns = ["localhost"]
    ips = []
    if is_ip_address(hook.host):
        ips.append(hook.host.strip("[]"))
    else:
        dns.append(hook.host)
    if hook.service_name:
        base = f"{hook.service_name}.{settings.operator_namespace}"
        dns += [base, f"{base}.svc", f"{base}.svc.{settings.cluster_domain}"]
    ca = pki.make_ca("gobuild-operator webhook CA")
    leaf = pki.issue(ca, common_name=dns[-1], dns_names=tuple(dns), ip_addresses=tuple(ips), server=True)
    directory = Path(tempfile.mkdtemp(prefix="gobuild-webhook-"))
    cert, key = leaf.write(directory, "tls")
    return cert, key, ca.cert_pem


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    ours: Settings = memo.settings
    memo.api = await make_api_client()
    memo.tasks = []
    if ours.metrics_port is not None:
        memo.metrics_server = MetricsServer(
            registry=memo.metrics.registry,
            addr=ours.metrics_addr,
            port=ours.metrics_port,
            api=memo.api if ours.metrics_auth else None,
        )
        await memo.metrics_server.start()

    settings.posting.level = logging.WARNING  # Events are for users: we post our own, not kopf's INFO logs
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 30

    memo.reporting = Reporting(
        api=memo.api, metrics=memo.metrics, settings=ours, store=memo.store, namespaces=memo.namespaces
    )
    if ours.health_port is not None:
        memo.health = HealthServer(addr=ours.health_addr, port=ours.health_port, checks=_readiness(memo))
        await memo.health.start()
    hook = ours.webhook
    if hook.tls_secret:
        memo.tls = _webhook_tls(memo)
        _spawn(memo, memo.tls.follow(), "gobuild-tls-follow")
        _spawn(memo, _serve_when_certified(memo, logger), "gobuild-serve-when-certified")
    # kopf starts its watches after the start-up handlers: wait for them in the background.
    memo.sync_task = asyncio.create_task(_when_synced(memo, logger), name="gobuild-store-sync")
    memo.election = LeaderElection(
        api=memo.api,
        namespace=ours.operator_namespace,
        name=ours.leader.lease,
        identity=ours.leader.identity,
        lease_duration=ours.leader.duration,
        retry_period=ours.leader.retry_period,
    )
    server: WebhookServer = memo.webhook_server
    memo.metrics.follow_certificate(CertificateExpiry(server.tls_files.certfile))
    memo.metrics.follow_leadership(lambda: memo.election.is_leader)
    if hook.register:  # local runs: the namespace of the Lease may not exist yet
        await ensure_namespace(memo.api, name=ours.operator_namespace)

    async def lost() -> None:
        memo.lost_leadership = True
        memo.stop.set()

    _spawn(memo, memo.election.run(on_lost=lost), "gobuild-leader-election")
    _spawn(memo, _lead(memo, logger), "gobuild-lead")


def _spawn(memo: kopf.Memo, coro: Coroutine[Any, Any, None], name: str) -> None:
    memo.tasks.append(asyncio.create_task(coro, name=name))


def _readiness(memo: kopf.Memo) -> list[Callable[[], str | None]]:
    store: Store = memo.store
    server: WebhookServer = memo.webhook_server
    return [
        lambda: None if store.synced else "GoBuildConfigs and namespaces still loading",
        lambda: None if server.serving else "no webhook certificate to serve yet",
    ]


def _webhook_tls(memo: kopf.Memo) -> WebhookTLS:
    ours: Settings = memo.settings
    hook = ours.webhook
    if not (hook.tls_secret and hook.service_name):
        raise kopf.PermanentError("--tls-secret needs --webhook-service (the names the certificate is for)")
    server: WebhookServer = memo.webhook_server
    base = f"{hook.service_name}.{ours.operator_namespace}.svc"
    return WebhookTLS(
        api=memo.api,
        namespace=ours.operator_namespace,
        secret=hook.tls_secret,
        configuration=hook.configuration_name,
        names=(base, f"{base}.{ours.cluster_domain}"),
        directory=server.tls_files.certfile.parent,
        validity=datetime.timedelta(days=hook.tls_validity_days),
        renew_before=datetime.timedelta(days=hook.tls_renew_before_days),
    )


async def _serve_when_certified(memo: kopf.Memo, logger: kopf.Logger) -> None:
    """Self-managed TLS: serve admission once the certificate Secret has been read."""
    tls: WebhookTLS = memo.tls
    await tls.loaded.wait()
    server: WebhookServer = memo.webhook_server
    await asyncio.to_thread(server.start)
    logger.info("serving admission with the certificate of Secret %s", tls.secret)


async def _lead(memo: kopf.Memo, logger: kopf.Logger) -> None:
    """Once this replica holds the Lease: reporting, status, probes, the certificate, registration.

    It leads on a complete view: only after the store has loaded what existed at start-up.
    """
    election: LeaderElection = memo.election
    await election.became_leader.wait()
    sync: asyncio.Task[None] = memo.sync_task
    await asyncio.shield(sync)
    ours: Settings = memo.settings
    reporting: Reporting = memo.reporting
    reporting.start()
    logger.info("leading: reporting started (Pods selected by label %s)", LABEL_CONFIG)
    tls: WebhookTLS | None = getattr(memo, "tls", None)
    if tls is not None:
        _spawn(memo, tls.manage(), "gobuild-tls-manage")
    if ours.webhook.register:
        _spawn(memo, _keep_registered(memo, logger), "gobuild-keep-registered")
    await reconcile_all(memo)


#: Seconds between checks that the webhook configuration of a local run is still there.
REGISTRATION_INTERVAL = 5.0


async def _keep_registered(memo: kopf.Memo, logger: kopf.Logger) -> None:
    """Local runs: the leader keeps the webhook configuration pointing at itself; re-created if
    someone deletes it, never deleted by a process that merely stops."""
    ours: Settings = memo.settings
    hook = ours.webhook
    url_host = f"[{hook.host}]" if ":" in hook.host and not hook.host.startswith("[") else hook.host
    url_base = None if hook.service_name else f"https://{url_host}:{hook.port}"
    body = build_configuration(ours, ca_bundle=memo.webhook_ca, url_base=url_base)
    registered = False
    while True:
        try:
            wrote = await ensure_configuration(memo.api, body=body)
            if not registered or wrote:
                logger.info(
                    "%s MutatingWebhookConfiguration %s (failurePolicy Ignore)",
                    "re-registered" if registered else "registered",
                    hook.configuration_name,
                )
            registered = True
        except Exception as exc:
            logger.warning("registering the webhook configuration: %s", exc)
        await asyncio.sleep(REGISTRATION_INTERVAL)


#: Seconds to wait for kopf's first listing before serving anyway.
SYNC_TIMEOUT = 60.0


async def _when_synced(memo: kopf.Memo, logger: kopf.Logger) -> None:
    """Once the store holds every GoBuildConfig and namespace that existed at start-up, admission
    answers from a complete view: mark the store synced (readiness)."""
    store: Store = memo.store
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SYNC_TIMEOUT
    configs: set[tuple[str, str]] = set()
    namespaces: set[str] = set()
    first = True
    while first or (not store.holds(configs, namespaces) and loop.time() < deadline):
        try:
            # Listed again until the store holds them: what was deleted since drops out.
            listed = await existing_configs_and_namespaces(memo.api, namespaces=memo.namespaces)
        except Exception as exc:  # the watches still fill the store; we only cannot tell when
            logger.warning("could not list what exists (%s); serving without waiting for it", exc)
            break
        configs, namespaces = (
            (listed[0], listed[1]) if first else (configs & listed[0], namespaces & listed[1])
        )
        first = False
        # The store signals each change; a second a round, then list again (what was deleted
        # since drops out).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, min(1.0, deadline - loop.time()))):
                await store.wait_until_holds(configs, namespaces)
    store.synced = True
    logger.info("the store holds %d GoBuildConfigs", len(configs))


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    tasks: list[asyncio.Task[None]] = list(getattr(memo, "tasks", []))
    sync = getattr(memo, "sync_task", None)
    if sync is not None:
        tasks.append(sync)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    reporting: Reporting | None = getattr(memo, "reporting", None)
    if reporting is not None and reporting.leading:
        await reporting.close()
        logger.info("reporting stopped; queued outcomes written")
    election: LeaderElection | None = getattr(memo, "election", None)
    if election is not None:
        await election.release()  # a standby takes over now, not after the lease expires
    for server in (getattr(memo, "health", None), getattr(memo, "metrics_server", None)):
        if server is not None:
            await server.stop()
    api = getattr(memo, "api", None)
    if api is not None:
        await api.close()
