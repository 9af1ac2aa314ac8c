"""Operator start-up and shut-down: API client, webhook server and its TLS, metrics, registration."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import kopf

from gobuild_operator import pki
from gobuild_operator.k8s.client import make_api_client
from gobuild_operator.k8s.webhookconfig import apply_configuration, build_configuration, delete_configuration
from gobuild_operator.metrics import Metrics
from gobuild_operator.settings import Settings

PERSISTENCE_PREFIX = "operator.gobuild.dev"


def _webhook_certificates(settings: Settings) -> tuple[Path, Path, bytes]:
    """(certfile, keyfile, CA PEM): mounted ones in-cluster, or freshly made for this run."""
    hook = settings.webhook
    if hook.certificate_dir is not None:
        d = hook.certificate_dir
        bundle = d / "ca.crt" if (d / "ca.crt").exists() else d / "tls.crt"
        return d / "tls.crt", d / "tls.key", bundle.read_bytes()
    dns = ["localhost"]
    ips = []
    if hook.host.replace(".", "").isdigit():
        ips.append(hook.host)
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
    memo.api = make_api_client()
    memo.metrics = Metrics()
    if ours.metrics_port is not None:
        memo.metrics.serve(port=ours.metrics_port, addr=ours.metrics_addr)

    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PERSISTENCE_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PERSISTENCE_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # Events are for users: we post our own, not kopf's INFO logs
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 30

    certfile, keyfile, ca_pem = _webhook_certificates(ours)
    hook = ours.webhook
    settings.admission.server = kopf.WebhookServer(
        addr=hook.listen_addr,
        port=hook.port,
        host=hook.host,
        certfile=certfile,
        pkeyfile=keyfile,
        cadata=ca_pem,
    )
    settings.admission.managed = None  # kopf's managed config fails closed; we register our own
    if hook.register:
        url_base = None if hook.service_name else f"https://{hook.host}:{hook.port}"
        body = build_configuration(ours, ca_bundle=ca_pem, url_base=url_base)
        apply_configuration(memo.api, body)
        memo.registered_webhook = hook.configuration_name
        logger.info(
            "registered MutatingWebhookConfiguration %s (failurePolicy Ignore)", hook.configuration_name
        )


def remove_webhook_configuration(memo: kopf.Memo) -> None:
    name = getattr(memo, "registered_webhook", None)
    api = getattr(memo, "api", None)
    if name and api is not None:
        delete_configuration(api, name)
        memo.registered_webhook = None


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    if getattr(memo, "registered_webhook", None):
        remove_webhook_configuration(memo)
        logger.info("removed the MutatingWebhookConfiguration")
