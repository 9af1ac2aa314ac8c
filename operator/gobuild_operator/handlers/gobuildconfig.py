"""Reconcile GoBuildConfig objects and keep an in-memory index of them for the webhook.

The admission path must never call the API, so every GoBuildConfig (parsed once, here) and every
namespace's labels live in kopf indices that the webhook reads.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from gobuild_operator.api import GoBuildConfigSpec, SpecError, parse_spec
from gobuild_operator.constants import GROUP, PLURAL, VERSION
from gobuild_operator.core import conditions as cond
from gobuild_operator.core.plan import effective_goproxy, effective_gosumdb
from gobuild_operator.k8s.cache import ensure_claim
from gobuild_operator.k8s.status import update_status
from gobuild_operator.timeutil import now_rfc3339


@kopf.index(GROUP, VERSION, PLURAL)
def gobuildconfigs(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[str | None, tuple[str, GoBuildConfigSpec | None]]:
    """namespace -> (name, parsed spec or None when invalid)."""
    try:
        parsed: GoBuildConfigSpec | None = parse_spec(dict(spec))
    except SpecError:
        parsed = None
    return {namespace: (name, parsed)}


@kopf.index("", "v1", "namespaces")
def namespace_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(labels)}


def spec_status(
    spec: dict[str, Any], *, generation: int, current: dict[str, Any], now: str
) -> dict[str, Any]:
    """The status fields that follow from the spec alone (pure; unit-tested)."""
    status = dict(current)
    status["observedGeneration"] = generation
    conditions = current.get("conditions") or []
    try:
        parsed = parse_spec(spec)
    except SpecError as exc:
        conditions = cond.set_condition(
            conditions,
            type=cond.SPEC_VALID,
            status="False",
            reason="InvalidSpec",
            message=str(exc),
            generation=generation,
            now=now,
        )
    else:
        status["goproxy"] = effective_goproxy(parsed)
        status["gosumdb"] = effective_gosumdb(parsed)
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
async def reconcile(
    name: str,
    namespace: str | None,
    uid: str,
    spec: kopf.Spec,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    assert namespace is not None  # GoBuildConfig is namespaced
    try:
        parsed: GoBuildConfigSpec | None = parse_spec(dict(spec))
    except SpecError:
        parsed = None
    if parsed is not None:  # the module cache claim; CacheReady reports how it is doing
        error = await asyncio.to_thread(
            ensure_claim, memo.api, namespace=namespace, config_name=name, config_uid=uid, spec=parsed
        )
        if error:
            logger.warning("module cache claim: %s", error)

    def apply(obj: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
        return spec_status(
            obj.get("spec") or {},
            generation=obj["metadata"]["generation"],
            current=current,
            now=now_rfc3339(),
        )

    await update_status(memo.api, namespace, name, apply)
    logger.info("reconciled")
