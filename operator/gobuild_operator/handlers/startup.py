"""Operator start-up and shut-down: the API client, metrics, the webhook's TLS and registration, and
the reporting machinery (gobuild_operator.reporting). The webhook server itself is started by
runner.py before kopf (handlers/webhook.py). kopf does not watch Pods at all: reporting/service.py
watches the injected ones itself, selected server-side on the `gobuild.dev/config` label.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import tempfile
from pathlib import Path
from typing import Any

import kopf

from gobuild_operator import pki
from gobuild_operator.constants import LABEL_CONFIG
from gobuild_operator.k8s.client import make_api_client
from gobuild_operator.k8s.metawatch import existing_configs_and_namespaces
from gobuild_operator.k8s.webhookconfig import apply_configuration, build_configuration, delete_configuration
from gobuild_operator.reporting.service import Reporting
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

PERSISTENCE_PREFIX = "operator.gobuild.dev"


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
    if ours.metrics_port is not None:
        memo.metrics.serve(port=ours.metrics_port, addr=ours.metrics_addr)

    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PERSISTENCE_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PERSISTENCE_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # Events are for users: we post our own, not kopf's INFO logs
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 30

    memo.reporting = Reporting(
        api=memo.api, metrics=memo.metrics, settings=ours, store=memo.store, namespaces=memo.namespaces
    )
    memo.reporting.start()
    logger.info("reporting started (Pods selected by label %s)", LABEL_CONFIG)
    # kopf starts its watches after the start-up handlers: wait for them in the background.
    memo.sync_task = asyncio.create_task(_when_synced(memo, logger), name="gobuild-store-sync")


#: Seconds to wait for kopf's first listing before serving (and registering) anyway.
SYNC_TIMEOUT = 60.0


async def _when_synced(memo: kopf.Memo, logger: kopf.Logger) -> None:
    """Once the store holds every GoBuildConfig and namespace that existed at start-up, admission
    answers from a complete view: mark the store synced (the webhook's /readyz) and register."""
    ours: Settings = memo.settings
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
        wait_until = min(deadline, loop.time() + 1.0)
        while not store.holds(configs, namespaces) and loop.time() < wait_until:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # the store is plain data fed by kopf's handlers: poll it
    store.synced = True
    logger.info("the store holds %d GoBuildConfigs", len(configs))
    hook = ours.webhook
    if hook.register:
        url_host = f"[{hook.host}]" if ":" in hook.host and not hook.host.startswith("[") else hook.host
        url_base = None if hook.service_name else f"https://{url_host}:{hook.port}"
        body = build_configuration(ours, ca_bundle=memo.webhook_ca, url_base=url_base)
        await apply_configuration(memo.api, body=body)
        memo.registered_webhook = hook.configuration_name
        logger.info(
            "registered MutatingWebhookConfiguration %s (failurePolicy Ignore)", hook.configuration_name
        )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    sync: asyncio.Task[None] | None = getattr(memo, "sync_task", None)
    if sync is not None:
        sync.cancel()
        await asyncio.gather(sync, return_exceptions=True)
    reporting: Reporting | None = getattr(memo, "reporting", None)
    if reporting is not None:
        await reporting.close()
        logger.info("reporting stopped; queued outcomes written")
    name = getattr(memo, "registered_webhook", None)
    if name:
        await delete_configuration(memo.api, name=name)
        memo.registered_webhook = None
        logger.info("removed the MutatingWebhookConfiguration")
    api = getattr(memo, "api", None)
    if api is not None:
        await api.close()


def remove_webhook_configuration(memo: kopf.Memo) -> None:
    """After kopf has exited without its cleanup (it died): delete what we registered, with a new
    client in a new event loop (kopf's loop is gone)."""
    name = getattr(memo, "registered_webhook", None)
    if not name:
        return

    async def remove() -> None:
        api = await make_api_client()
        try:
            await delete_configuration(api, name=name)
        finally:
            await api.close()

    asyncio.run(remove())
    memo.registered_webhook = None
