"""GoBuildConfig events: keep the store and the per-config checks current, and reconcile the status
fields that follow from the spec alone (observedGeneration, effective GOPROXY/GOSUMDB, SpecValid).

Every event goes to the store first (parsed once per generation there); the webhook, the checks and
the download reporter all read that one copy.
"""

from __future__ import annotations

from typing import Any

import kopf

from gobuild_operator.api import GoBuildConfigSpec
from gobuild_operator.constants import GROUP, PLURAL, VERSION
from gobuild_operator.core import conditions as cond
from gobuild_operator.core.plan import effective_goproxy, effective_gosumdb
from gobuild_operator.core.redact import redact_text
from gobuild_operator.k8s.status import update_status
from gobuild_operator.reporting.service import Reporting
from gobuild_operator.store import Store
from gobuild_operator.timeutil import now_rfc3339


@kopf.on.event(GROUP, VERSION, PLURAL)
async def gobuildconfig_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    reporting: Reporting = memo.reporting
    reporting.on_config(event.get("type"), body)


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


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def reconcile(name: str, namespace: str | None, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    assert namespace is not None  # GoBuildConfig is namespaced
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

    await update_status(memo.api, namespace=namespace, name=name, fn=apply)
    logger.info("reconciled")
