"""The webhook's certificate when the operator manages it (the chart's default, webhook.tls.mode=self).

One Secret in the operator's namespace holds a CA and a serving certificate for the webhook
Service's names. Nothing is generated at render time, so `helm template` output is stable and
GitOps tools see no drift; the leader creates the Secret on first start, and every replica:

* follows the Secret (a watch) and writes the pair to files the webhook server re-reads, so a
  renewed certificate is served without a restart;
* reports ready only once it has a certificate to serve.

The leader also keeps the webhook configuration's caBundle equal to the CA, and renews:

* the serving certificate `renew_before` ahead of its expiry (or when the Secret is annotated
  `gobuild.dev/renew`), signed by the same CA, so the caBundle does not change and no request
  can meet a certificate the API server does not trust;
* the CA itself ahead of its (ten times longer) expiry, or when the Secret is gone or damaged:
  first the caBundle gets the new CA *besides* the one the API server trusts today, then the
  Secret gets the new pair, and only later the old CA leaves the bundle. Either certificate
  verifies in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.k8s.secrets import (
    RENEW_ANNOTATION,
    follow_tls_secret,
    read_tls_secret,
    write_tls_secret,
)
from gobuild_operator.k8s.webhookconfig import patch_ca_bundle, read_ca_bundles
from gobuild_operator.serving import pki

logger = logging.getLogger(__name__)

_PEM_END = b"-----END CERTIFICATE-----"


def split_pem(bundle: bytes) -> list[bytes]:
    """The certificates of a PEM bundle, each with its END line."""
    return [part.strip() + b"\n" + _PEM_END + b"\n" for part in bundle.split(_PEM_END) if part.strip()]


@dataclass(frozen=True)
class Plan:
    """What the leader must do this round (pure decision; see `plan`)."""

    new_ca: bool = False
    new_leaf: bool = False
    reason: str = ""


def plan(
    data: dict[str, bytes] | None,
    *,
    names: tuple[str, ...],
    now: datetime.datetime,
    renew_before: datetime.timedelta,
    ca_renew_before: datetime.timedelta,
    forced: bool = False,
) -> Plan:
    """Whether the CA and/or the serving certificate must be made anew."""
    if not data or any(key not in data for key in ("ca.crt", "ca.key", "tls.crt", "tls.key")):
        return Plan(new_ca=True, new_leaf=True, reason="no certificate yet")
    cas = split_pem(data["ca.crt"])
    try:
        ca_expiry = pki.expires(cas[0])
        leaf_expiry = pki.expires(data["tls.crt"])
    except (ValueError, IndexError):
        return Plan(new_ca=True, new_leaf=True, reason="the Secret holds no valid certificate")
    if ca_expiry - now < ca_renew_before:
        return Plan(new_ca=True, new_leaf=True, reason=f"the CA expires {ca_expiry:%Y-%m-%d}")
    if not pki.signed_by(data["tls.crt"], cas[0]):
        return Plan(new_leaf=True, reason="the serving certificate is not signed by the CA")
    if not set(names) <= set(pki.dns_names(data["tls.crt"])):
        return Plan(new_leaf=True, reason="the serving certificate lacks the Service's names")
    if forced:
        return Plan(new_leaf=True, reason="renewal requested")
    if leaf_expiry - now < renew_before:
        return Plan(new_leaf=True, reason=f"the serving certificate expires {leaf_expiry:%Y-%m-%d}")
    return Plan()


@dataclass
class WebhookTLS:
    """The certificate Secret `secret` in `namespace`, served from files in `directory`."""

    api: ApiClient
    namespace: str
    secret: str
    configuration: str
    names: tuple[str, ...]
    directory: Path
    validity: datetime.timedelta = datetime.timedelta(days=365)
    renew_before: datetime.timedelta = datetime.timedelta(days=30)
    check_interval: float = 30.0
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    on_loaded: Callable[[], None] | None = None
    #: Set by every event of the Secret: the leader looks again at once (a renewal asked for).
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def certfile(self) -> Path:
        return self.directory / "tls.crt"

    @property
    def keyfile(self) -> Path:
        return self.directory / "tls.key"

    # --- every replica ----------------------------------------------------------------------------

    async def follow(self) -> None:
        """Write each version of the Secret's pair to the files the webhook server serves."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

        def changed(data: dict[str, bytes]) -> None:
            if "tls.crt" in data and "tls.key" in data:
                self._write(data["tls.crt"], data["tls.key"])
            self.changed.set()

        while True:
            try:
                await follow_tls_secret(
                    self.api, namespace=self.namespace, name=self.secret, on_change=changed
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("watching Secret %s/%s: %s", self.namespace, self.secret, exc)
                await asyncio.sleep(2)

    def _write(self, cert: bytes, key: bytes) -> None:
        if self.certfile.exists() and self.certfile.read_bytes() == cert:
            return
        for path, content in ((self.keyfile, key), (self.certfile, cert)):
            partial = path.with_suffix(".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            partial.replace(path)
        logger.info("serving the webhook certificate valid until %s", pki.expires(cert).date())
        self.loaded.set()
        if self.on_loaded is not None:
            self.on_loaded()

    # --- the leader -------------------------------------------------------------------------------

    async def manage(self) -> None:
        """Create, renew and publish the certificate; keep the caBundle in step. Until cancelled."""
        while True:
            self.changed.clear()
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("webhook certificate: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), self.check_interval)

    async def reconcile(self, *, forced: bool = False) -> None:
        data, version = await read_tls_secret(self.api, namespace=self.namespace, name=self.secret)
        now = datetime.datetime.now(datetime.UTC)
        todo = plan(
            data,
            names=self.names,
            now=now,
            renew_before=self.renew_before,
            ca_renew_before=self.renew_before * 10,
            forced=forced or bool(data and RENEW_ANNOTATION in data),
        )
        bundles = await read_ca_bundles(self.api, name=self.configuration)
        if todo.new_leaf:
            logger.info("issuing a webhook certificate: %s", todo.reason)
            data = await self._renew(data, version, todo, trusted=bundles or [])
        if data is None:
            return
        # Once every replica can serve the current pair, the bundle is just its CA (chain).
        stale = bundles is not None and any(bundle != data["ca.crt"] for bundle in bundles)
        if stale and await patch_ca_bundle(self.api, name=self.configuration, ca_bundle=data["ca.crt"]):
            logger.info("webhook configuration %s trusts the current CA", self.configuration)

    async def _renew(
        self, data: dict[str, bytes] | None, version: str, todo: Plan, *, trusted: list[bytes]
    ) -> dict[str, bytes] | None:
        if todo.new_ca or data is None:
            ca = pki.make_ca(f"{self.secret} webhook CA", validity=self.validity * 10)
            # What the API server trusts today stays in the bundle beside the new CA.
            old = [cert for bundle in trusted for cert in split_pem(bundle) if _valid(cert)]
            chain = b"".join(dict.fromkeys([ca.cert_pem, *old]))
            await patch_ca_bundle(self.api, name=self.configuration, ca_bundle=chain)
        else:
            ca = pki.KeyPair(split_pem(data["ca.crt"])[0], data["ca.key"])
            chain = data["ca.crt"]
        leaf = pki.issue(
            ca, common_name=self.names[0], dns_names=self.names, server=True, validity=self.validity
        )
        new = {"ca.crt": chain, "ca.key": ca.key_pem, "tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem}
        if not await write_tls_secret(
            self.api, namespace=self.namespace, name=self.secret, data=new, resource_version=version
        ):
            return None  # someone else wrote it meanwhile: decide again next round
        return new


@dataclass
class CertificateExpiry:
    """The expiry of the certificate in `path` as a Unix time (NaN without a readable one), read
    again only when the file changes: for the certificate-expiry metric, read at every scrape."""

    path: Path
    _seen: tuple[int, int] = (0, 0)
    _expiry: float = math.nan

    def __call__(self) -> float:
        try:
            stat = self.path.stat()
        except OSError:
            return math.nan
        if (stat.st_mtime_ns, stat.st_size) != self._seen:
            try:
                self._expiry = pki.expires(self.path.read_bytes()).timestamp()
            except (OSError, ValueError):
                self._expiry = math.nan
            self._seen = (stat.st_mtime_ns, stat.st_size)
        return self._expiry


def _valid(cert: bytes) -> bool:
    try:
        return pki.expires(cert) > datetime.datetime.now(datetime.UTC)
    except ValueError:
        return False
