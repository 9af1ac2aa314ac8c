"""The mutating admission webhook: `core.inject` decides and changes, this module speaks kopf.

Everything the decision needs comes from the store (GoBuildConfigs and namespace labels kept in
memory from kopf's watches), so admission makes no API calls. The webhook fails open: whatever goes
wrong, the object is admitted unchanged with a warning that says why, never blocked.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Mapping
from typing import Any, cast

import kopf

from gobuild_operator.core.inject import Injection, inject
from gobuild_operator.k8s.webhookconfig import HOOKS
from gobuild_operator.metrics import Metrics
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

#: Prefix of every admission warning, so users see who speaks.
WARNING_PREFIX = "gobuild-operator: "


def admit(
    obj: Mapping[str, Any], *, kind: str, namespace: str, settings: Settings, store: Store
) -> Injection:
    """What admission does with one object, from the store's view of its namespace."""
    return inject(
        obj,
        kind=kind,
        namespace=namespace,
        namespace_labels=store.namespace_labels(namespace),
        operator_namespace=settings.operator_namespace,
        configs=store.specs(namespace),
        cluster_domain=settings.cluster_domain,
        extra_no_proxy=settings.extra_no_proxy,
    )


async def handle(
    *,
    kind: str,
    body: kopf.Body,
    namespace: str | None,
    memo: kopf.Memo,
    patch: kopf.Patch,
    warnings: list[str],
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """One admission request (async: it never awaits, so it runs inline without a thread hop)."""
    settings: Settings = memo.settings
    metrics: Metrics = memo.metrics
    store: Store = memo.store
    started = time.perf_counter()
    outcome = "error"
    ns = namespace or ""
    try:
        # kopf's Body is a read-only view; the core works on plain dicts.
        result = admit(dict(body), kind=kind, namespace=ns, settings=settings, store=store)
        outcome = result.outcome
        warnings.extend(WARNING_PREFIX + note for note in result.warnings)
        if result.obj is not None:
            replacement = result.obj

            def replace(target: kopf.RawBody) -> None:
                raw = cast(dict[str, Any], target)  # kopf hands a plain dict typed as a TypedDict
                raw.clear()
                raw.update(copy.deepcopy(replacement))

            patch.fns.append(replace)
            metrics.injections.labels(namespace=ns, config=result.config or "").inc()
            logger.info(
                "injected %s %s/%s with config %s",
                kind,
                ns,
                body.get("metadata", {}).get("name"),
                result.config,
            )
    except Exception:  # never block or corrupt what we do not understand: admit unchanged
        logger.exception("admitted %s in %s unchanged after an internal error", kind, ns)
        warnings.append(WARNING_PREFIX + "not injected because of an internal error; see the operator log")
        outcome = "error"
    finally:
        metrics.admission_requests.labels(kind=kind, outcome=outcome).inc()
        metrics.admission_seconds.labels(kind=kind).observe(time.perf_counter() - started)


#: The object kind each webhook path handles; paths and rules come from the one HOOKS table.
KINDS = {"pods": "Pod", "jobs": "Job", "cronjobs": "CronJob"}

for _suffix, _handler_id, _group, _version, _resource, _operations in HOOKS:
    kopf.on.mutate(
        _group,
        _version,
        _resource,
        id=_handler_id,
        operations=[cast(kopf.Operation, op) for op in _operations],
        ignore_failures=True,
        side_effects=False,
    )(functools.partial(handle, kind=KINDS[_resource]))
