"""GoBuildConfig events: keep the store and the per-config checks current, and reconcile the status
fields that follow from the spec alone (observedGeneration, effective GOPROXY/GOSUMDB, SpecValid).

Every event goes to the store first (parsed once per generation there); the webhook, the checks and
the download reporter all read that one copy.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from gobuild_operator.api.spec import GoBuildConfigSpec
from gobuild_operator.constants import GROUP, PLURAL, VERSION
from gobuild_operator.core.injection.plan import effective_goproxy, effective_gosumdb
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.k8s.status import update_status
from gobuild_operator.redact import redact_text
from gobuild_operator.reporting.service import Reporting
from gobuild_operator.store import Store
from gobuild_operator.timeutil import now_rfc3339


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


def spec_status(
    spec: GoBuildConfigSpec | None,
    *,
    error: str,
    generation: int,
    current: dict[str, Any],
    now: str,
    reason: str = "InvalidSpec",
) -> dict[str, Any]:
    """The status fields that follow from the parsed spec alone (pure; `error` and `reason` when it
    did not parse or the operator's policy refuses it)."""
    status = dict(current)
    status["observedGeneration"] = generation
    conditions = current.get("conditions") or []
    if spec is None:
        conditions = cond.set_condition(
            conditions,
            type=cond.SPEC_VALID,
            status="False",
            reason=reason or "InvalidSpec",
            message=error,
            generation=generation,
            now=now,
        )
    else:
        # What kubectl get gbc shows: never a credential, even from a spec stored under an older CRD.
        status["goproxy"] = redact_text(effective_goproxy(spec))
        status["gosumdb"] = redact_text(effective_gosumdb(spec))
        conditions = cond.set_condition(
            conditions,
            type=cond.SPEC_VALID,
            status="True",
            reason="Valid",
            message="the spec is valid",
            generation=generation,
            now=now,
        )
    status["conditions"] = cond.with_ready(conditions, generation=generation, now=now)
    return status


async def reconcile(memo: kopf.Memo, *, namespace: str, name: str) -> None:
    """Write the status fields that follow from the spec (the leader's job).

    Event-driven rather than a kopf create/update handler: kopf would keep its progress in
    annotations on every GoBuildConfig, which every replica would then write, and a standby that
    saw a change first would mark it handled without writing the status.
    """
    store: Store = memo.store

    def apply(obj: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
        info = store.view(obj)  # the latest object; parsed only when its generation moved
        return spec_status(
            info.spec,
            error=info.error,
            reason=info.reason,
            generation=info.generation,
            current=current,
            now=now_rfc3339(),
        )

    # The label first: once observedGeneration shows, the API server calls the webhook here.
    reporting: Reporting = memo.reporting
    await reporting.labels.ensure(namespace)
    await update_status(memo.api, namespace=namespace, name=name, fn=apply)
    logging.getLogger(__name__).debug("reconciled %s/%s", namespace, name)


async def reconcile_all(memo: kopf.Memo) -> None:
    """On becoming the leader: every GoBuildConfig's spec status, whatever happened before."""
    store: Store = memo.store
    for info in store.all_configs():
        try:
            await reconcile(memo, namespace=info.namespace, name=info.name)
        except Exception:
            logging.getLogger(__name__).exception("reconciling %s/%s", info.namespace, info.name)
