"""GoBuildConfig events: keep the store and the per-config checks current, and hand the status
writer the spec part of the status (observedGeneration, effective GOPROXY/GOSUMDB, SpecValid).

Every event goes to the store first (parsed once per generation there); the webhook, the checks and
the download reporter all read that one copy.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from gobuild_operator.constants import GROUP, PLURAL, VERSION
from gobuild_operator.core.status.compose import SpecView
from gobuild_operator.reporting.service import Reporting
from gobuild_operator.store import Store


@kopf.on.event(GROUP, VERSION, PLURAL)
async def gobuildconfig_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every replica keeps its store current; the leader also reconciles a spec it has not yet."""
    reporting: Reporting = memo.reporting
    kind = event.get("type")
    reporting.on_config(kind, body)
    status = body.get("status") or {}
    metadata = body.get("metadata") or {}
    if (
        reporting.leading
        and kind != "DELETED"
        and status.get("observedGeneration") != metadata.get("generation")
    ):
        await reconcile(memo, namespace=str(metadata.get("namespace")), name=str(metadata.get("name")))


async def reconcile(memo: kopf.Memo, *, namespace: str, name: str) -> None:
    """Write the status fields that follow from the spec (the leader's job).

    Event-driven rather than a kopf create/update handler: kopf would keep its progress in
    annotations on every GoBuildConfig, which every replica would then write, and a standby that
    saw a change first would mark it handled without writing the status.
    """
    store: Store = memo.store
    info = store.config((namespace, name))
    if info is None:  # deleted meanwhile
        return
    view = SpecView(
        spec=info.spec,
        generation=info.generation,
        error=info.error,
        reason=info.reason,
        config_name=info.name,
        namespace=info.namespace,
        cluster_domain=memo.settings.cluster_domain,
    )
    # The label first: once observedGeneration shows, the API server calls the webhook here.
    reporting: Reporting = memo.reporting
    await reporting.labels.ensure(namespace)
    await reporting.cache.ensure(info)  # the checks report what it made (CacheReady)
    await reporting.writer.write(info.key, spec=view)
    logging.getLogger(__name__).debug("reconciled %s/%s", namespace, name)


async def reconcile_all(memo: kopf.Memo) -> None:
    """On becoming the leader: every GoBuildConfig's spec status, whatever happened before."""
    store: Store = memo.store
    for info in store.all_configs():
        try:
            await reconcile(memo, namespace=info.namespace, name=info.name)
        except Exception:
            logging.getLogger(__name__).exception("reconciling %s/%s", info.namespace, info.name)
